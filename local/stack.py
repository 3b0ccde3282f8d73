"""The front object of the local stack: AWS plane, handler environment, gateway, pollers.

Usable in-process (tests pass fake handlers) and from `python -m local`:

    with LocalStack(port=0, handlers={"api": echo}) as stack:
        httpx.get(stack.rest_url + "/health")
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import uvicorn

from horizon import wiring
from horizon.aws import reset_clients
from horizon.batches.settings import reset_batch_settings
from horizon.email_jobs.settings import reset_email_settings
from horizon.executions.settings import get_execution_settings, reset_execution_settings
from horizon.settings import reset_settings
from local.aws_plane import FAKE_CREDENTIALS, AwsPlane, start_aws_plane
from local.executions import SandboxWorkers
from local.gateway.app import GatewayApp
from local.gateway.websocket import HARD_TIMEOUT_S, IDLE_TIMEOUT_S, MAX_MESSAGE_BYTES
from local.lambda_runtime import Handler, Runtime, load_handlers
from local.pollers import (
    EXTERNAL_PLANE_WAIT_TIME_S,
    WAIT_TIME_S,
    PollerConfig,
    PollerGroup,
)

log = logging.getLogger(__name__)

_STARTUP_TIMEOUT_S = 30.0


# How many local workers poll the batch task queue (the benchmark's scaling 1 → 2 → 4); the
# wiring's max_concurrency when unset.
LOCAL_BATCH_WORKERS_ENV = "LOCAL_BATCH_WORKERS"


def _local_pollers(trigger: wiring.QueueTrigger) -> int | None:
    if trigger.function == wiring.BATCH_WORKER_FUNCTION.key and os.environ.get(
        LOCAL_BATCH_WORKERS_ENV
    ):
        return max(1, int(os.environ[LOCAL_BATCH_WORKERS_ENV]))
    return None


class LocalStack:
    """Everything `make up` runs, started and stopped as one.

    Args:
        host: the gateway's address (127.0.0.1: nothing listens beyond this machine).
        port: the gateway's port; 0 picks a free one.
        handlers: function key → callable; default the wiring's real handlers, imported
            after the environment is set.
        endpoint_url: an external AWS plane (LocalStack); default AWS_ENDPOINT_URL, and when
            that is unset an embedded moto server.
        region: default AWS_REGION or us-east-1.
        visibility_timeout_s: the queues' visibility timeout; default LOCAL_VISIBILITY_TIMEOUT_S (10).
        pollers: whether to run the SQS event source mappings.
        sandbox_workers: threads running code executions (a fork server with pandas loaded
            is started for them); default LOCAL_SANDBOX_WORKERS (2) with the real handlers,
            0 with handlers passed in (tests of other parts need no sandbox).
        gateway_options: passed to `GatewayApp` (timeouts, limits) for tests.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8000,
        handlers: Mapping[str, Handler] | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        visibility_timeout_s: int | None = None,
        pollers: bool = True,
        sandbox_workers: int | None = None,
        **gateway_options: Any,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.handlers = handlers
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        self.region = region or os.environ.get("AWS_REGION") or "us-east-1"
        self.visibility_timeout_s = visibility_timeout_s
        self.run_pollers = pollers
        if sandbox_workers is None:
            sandbox_workers = (
                int(os.environ.get("LOCAL_SANDBOX_WORKERS", "2")) if handlers is None else 0
            )
        self.sandbox_worker_count = sandbox_workers
        self.sandbox_workers: SandboxWorkers | None = None
        self.gateway_options = {
            "idle_timeout_s": IDLE_TIMEOUT_S,
            "hard_timeout_s": HARD_TIMEOUT_S,
            **gateway_options,
        }
        self.port = 0
        self.env: dict[str, str] = {}
        self.plane: AwsPlane | None = None
        self.app: GatewayApp | None = None
        self.pollers: PollerGroup | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._saved_env: dict[str, str | None] = {}

    # ---- URLs -----------------------------------------------------------------------------

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def docs_url(self) -> str:
        return f"{self.rest_url}/docs"

    @property
    def aws_endpoint_url(self) -> str:
        assert self.plane is not None, "start() first"
        return self.plane.endpoint_url

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> LocalStack:
        """Start the AWS plane, set the handlers' environment, start gateway and pollers.

        Raises:
            RuntimeError: the gateway did not come up.
            OSError: the port is taken.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: uvicorn writes a response's head and body apart, and
        # with Nagle on, the body waits for the client's delayed ACK (~40 ms per request).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.requested_port))
        self.port = int(sock.getsockname()[1])
        try:
            self._saved_env = {
                name: os.environ.get(name)
                for name in (
                    "AWS_ENDPOINT_URL",
                    "AWS_REGION",
                    "AWS_DEFAULT_REGION",
                    *FAKE_CREDENTIALS,
                )
            }
            self.plane = start_aws_plane(
                self.region, self.endpoint_url, visibility_timeout_s=self.visibility_timeout_s
            )
            self._set_env()
            runtime = Runtime(self.handlers or load_handlers(), self.region)
            self.app = GatewayApp(runtime, health=self.health, **self.gateway_options)
            self._start_gateway(sock)
            if self.run_pollers:
                self._start_pollers(runtime)
            if self.sandbox_worker_count > 0:
                self._start_sandbox_workers()
        except BaseException:
            sock.close()
            self.stop()
            raise
        return self

    def _set_env(self) -> None:
        assert self.plane is not None
        env = dict(self.plane.provisioned.env)
        env.update(
            {
                "AWS_ENDPOINT_URL": self.plane.endpoint_url,
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                # The @connections API is served by the gateway itself.
                "WEBSOCKET_CALLBACK_URL": self.rest_url,
                # The local user pool is always there: valid tokens of it are accepted, but it
                # alone does not close `make up`'s open development tenant (an admin key or
                # API_TOKENS does) unless asked to.
                "COGNITO_REQUIRES_CREDENTIALS": os.environ.get(
                    "COGNITO_REQUIRES_CREDENTIALS", "false"
                ),
            }
        )
        if self.plane.embedded:
            env.update(FAKE_CREDENTIALS)
        self._saved_env.update({name: os.environ.get(name) for name in env})
        os.environ.update(env)
        self.env = env
        reset_settings()
        reset_execution_settings()
        reset_batch_settings()
        reset_email_settings()
        reset_clients()

    def _start_gateway(self, sock: socket.socket) -> None:
        assert self.app is not None
        config = uvicorn.Config(
            self.app,
            ws="websockets-sansio",
            lifespan="off",
            log_level="warning",
            # uvicorn refuses far larger frames itself (1009); the gateway checks 128 KB exactly.
            ws_max_size=4 * MAX_MESSAGE_BYTES,
            timeout_graceful_shutdown=3,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="gateway", daemon=True
        )
        self._thread.start()
        waited = 0.0
        while not self._server.started:
            if not self._thread.is_alive() or waited > _STARTUP_TIMEOUT_S:
                raise RuntimeError("the gateway did not start")
            threading.Event().wait(0.05)
            waited += 0.05

    def _start_pollers(self, runtime: Runtime) -> None:
        assert self.plane is not None
        provisioned = self.plane.provisioned
        configs = [
            PollerConfig(
                trigger=trigger,
                queue_url=provisioned.queue_urls[trigger.queue],
                queue_arn=provisioned.queue_arns[trigger.queue],
                region=self.region,
                pollers=_local_pollers(trigger),
            )
            for trigger in wiring.QUEUE_TRIGGERS
            if trigger.function in runtime.handlers
        ]
        plane = self.plane
        wait_time_s = WAIT_TIME_S if plane.embedded else EXTERNAL_PLANE_WAIT_TIME_S
        self.pollers = PollerGroup(
            configs, lambda: plane.client("sqs"), runtime.invoke, wait_time_s
        )
        self.pollers.start()

    def _start_sandbox_workers(self) -> None:
        assert self.plane is not None
        self.sandbox_workers = SandboxWorkers(
            get_execution_settings(), self.plane.client("sqs"), self.sandbox_worker_count
        )
        self.sandbox_workers.start()

    def health(self) -> dict[str, Any]:
        """Return the `/_local/health` document: which parts are up."""
        reachable = self.plane.reachable() if self.plane else False
        alive = self.pollers.alive() if self.pollers else {}
        expected = {
            p.config.trigger.queue: p.config.count
            for p in (self.pollers.pollers if self.pollers else [])
        }
        ok = reachable and all(alive.get(q, 0) == n for q, n in expected.items())
        sandbox_alive = self.sandbox_workers.alive() if self.sandbox_workers else 0
        ok = ok and sandbox_alive == self.sandbox_worker_count
        return {
            "status": "ok" if ok else "degraded",
            "aws_plane": {
                "endpoint_url": self.plane.endpoint_url if self.plane else None,
                "embedded": self.plane.embedded if self.plane else False,
                "reachable": reachable,
            },
            "pollers": {q: {"alive": alive.get(q, 0), "expected": n} for q, n in expected.items()},
            "sandbox_workers": {
                "alive": sandbox_alive,
                "expected": self.sandbox_worker_count,
                "isolation": (
                    self.sandbox_workers.sandbox.isolation_in_effect
                    if self.sandbox_workers and self.sandbox_workers.sandbox
                    else None
                ),
            },
            "gateway": {
                "url": self.rest_url,
                "connections": len(self.app.registry) if self.app else 0,
            },
        }

    def stop(self) -> None:
        """Stop pollers, gateway and AWS plane; restore the environment. Safe to call twice."""
        if self.pollers is not None:
            self.pollers.stop()
            self.pollers = None
        if self.sandbox_workers is not None:
            self.sandbox_workers.stop()
            self.sandbox_workers = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self._server = None
        if self.app is not None:
            self.app.executor.shutdown(wait=False, cancel_futures=True)
            self.app = None
        if self.plane is not None:
            self.plane.stop()
            self.plane = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}
        reset_settings()
        reset_execution_settings()
        reset_batch_settings()
        reset_email_settings()
        reset_clients()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
