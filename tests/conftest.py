"""Shared fixtures: an in-process moto AWS plane provisioned from the wiring, and a Lambda context."""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws

from horizon import metrics
from horizon.aws import reset_clients
from horizon.batches.settings import reset_batch_settings
from horizon.email_jobs.settings import reset_email_settings
from horizon.executions.settings import reset_execution_settings
from horizon.jobs import Job, JobStore
from horizon.settings import get_settings, reset_settings
from horizon.uploads import new_job
from local.provision import Provisioned, provision

# botocore reads each service's model (JSON, tens of ms a service) for every new session, and
# the tests make new sessions all the time (moto resets boto3's default one, each test resets
# horizon.aws's): one loader for all of them, as the models never change, saves ~0.15 s a test.
botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)

REGION = "us-east-1"
PLACEHOLDER_CALLBACK = "https://example.execute-api.us-east-1.amazonaws.com/prod"


@dataclass
class Aws:
    """The mocked AWS plane of one test: clients and what the wiring provisioned."""

    provisioned: Provisioned
    dynamodb: Any
    sqs: Any
    s3: Any
    ses: Any

    @property
    def env(self) -> dict[str, str]:
        return self.provisioned.env


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto in-process, every table/queue/bucket of the wiring created, settings pointed at them."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        clients = {
            name: boto3.client(name, region_name=REGION)
            for name in ("dynamodb", "sqs", "s3", "ses")
        }
        provisioned = provision(clients, prefix=f"t{uuid.uuid4().hex[:8]}", region=REGION)
        for name, value in provisioned.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("WEBSOCKET_CALLBACK_URL", PLACEHOLDER_CALLBACK)
        reset_settings()
        reset_execution_settings()
        reset_batch_settings()
        reset_email_settings()
        reset_clients()
        yield Aws(provisioned=provisioned, **clients)
    reset_settings()
    reset_execution_settings()
    reset_batch_settings()
    reset_email_settings()
    reset_clients()


def create_job(aws: Aws, data: bytes, file_name: str, owner: str) -> Job:
    """A queued job with its uploaded object in place, as the upload API leaves it."""
    job = JobStore().create(new_job(owner, file_name, len(data)))
    aws.s3.put_object(Bucket=get_settings().uploads_bucket, Key=job.object_key, Body=data)
    return job


class FakeLambdaContext:
    """The parts of Lambda's context object that handlers use."""

    def __init__(self, timeout_s: float = 30.0, function_name: str = "test-function") -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


class EmfOutput:
    """The business metrics a test printed as EMF (Powertools prints them to stdout)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self.blobs: list[dict[str, Any]] = []

    def read(self, flush: bool = True) -> list[dict[str, Any]]:
        """Flush (unless a handler already did), then return every EMF blob printed so far."""
        if flush:
            metrics.flush()
        out = self._capsys.readouterr().out
        self.blobs += [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
        return self.blobs

    def values(self, name: str, **dimensions: str) -> list[float]:
        """Every value of metric `name` printed with exactly `dimensions`."""
        found: list[float] = []
        for blob in self.blobs:
            [directive] = blob["_aws"]["CloudWatchMetrics"]
            declared = {metric["Name"] for metric in directive["Metrics"]}
            keys = set(directive["Dimensions"][0])
            if name in declared and {key: blob[key] for key in keys} == dimensions:
                value = blob[name]
                found += value if isinstance(value, list) else [value]
        return found


@pytest.fixture
def emf(capsys: pytest.CaptureFixture[str]) -> Iterator[EmfOutput]:
    """A fresh metrics publisher; read what the test published with `emf.read()`."""
    metrics.reset_publisher()
    metrics.reset_metrics_settings()
    capsys.readouterr()
    yield EmfOutput(capsys)
    metrics.reset_publisher()
    metrics.reset_metrics_settings()
