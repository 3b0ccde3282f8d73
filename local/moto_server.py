"""The embedded moto server, keeping its HTTP connections open between requests.

moto's `ThreadedMotoServer` runs werkzeug's development server, which closes the connection
after every response (http.server cannot find the next request line unless the body before it
was read to its end, and werkzeug then discards whatever else the client sent). So every AWS
call of the local stack paid a new TCP connection and a new server thread, and botocore
re-opened its pooled connection each time. This server runs moto's own application (and
moto's request parsing, `MotoRequestHandler.make_environ`) with HTTP/1.1 keep-alive: each
request's body is read exactly to its end, the response goes out whole with its
`Content-Length`, and the connection then waits for the next request.

moto builds every response in memory anyway (an S3 object's body included), so sending it
whole costs no more than werkzeug's streaming did.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wsgi import LimitedStream

# An idle connection's server thread ends after this long (botocore opens a new one).
IDLE_CONNECTION_TIMEOUT_S = 120
_DRAIN_CHUNK = 64 * 1024
# Hop-by-hop or length headers: this server sets its own.
_OWN_HEADERS = {"connection", "content-length", "transfer-encoding", "keep-alive"}


class KeepAliveRequestHandler(MotoRequestHandler):
    """moto's request handler, leaving the connection open after each response."""

    # Headers and body are written apart: without this, Nagle's algorithm holds the body
    # back until the client's delayed ACK (~40 ms) on a connection that stays open.
    disable_nagle_algorithm = True
    timeout = IDLE_CONNECTION_TIMEOUT_S

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        if not environ.get("wsgi.input_terminated"):  # not chunked: Content-Length says
            try:
                length = max(0, int(environ.get("CONTENT_LENGTH") or 0))
            except ValueError:
                self.send_error(400, "invalid Content-Length")
                self.close_connection = True
                return
            environ["wsgi.input"] = LimitedStream(self.rfile, length)
        body = environ["wsgi.input"]
        started: list[Any] = []
        chunks: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started[:] = [status, headers]
            return lambda data: chunks.append(data)  # the legacy write()

        try:
            result: Iterable[bytes] = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            while body.read(_DRAIN_CHUNK):  # what the application left unread
                pass
        except Exception:
            self.log_error("moto failed a request")
            self.send_error(500)
            self.close_connection = True
            return
        self._respond(environ, started, b"".join(chunks))

    def _respond(self, environ: dict[str, Any], started: list[Any], payload: bytes) -> None:
        status, headers = started
        code, _, reason = status.partition(" ")
        self.send_response_only(int(code), reason)
        length = str(len(payload))
        for name, value in headers:
            if name.lower() == "content-length" and environ["REQUEST_METHOD"] == "HEAD":
                length = value  # the size of what a GET would return (S3's HeadObject)
            elif name.lower() not in _OWN_HEADERS:
                self.send_header(name, value)
        self.send_header("Content-Length", length)
        # Head and body in one write: one packet for a small answer, not two.
        self._headers_buffer.append(b"\r\n")
        if environ["REQUEST_METHOD"] != "HEAD":
            self._headers_buffer.append(payload)
        self.flush_headers()


class EmbeddedMotoServer:
    """moto on `host:port`, served from threads of this process with keep-alive connections."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._server = make_server(
            self.host,
            self.port,
            DomainDispatcherApplication(create_backend_app),
            threaded=True,
            request_handler=KeepAliveRequestHandler,
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="moto-server", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            with contextlib.suppress(OSError):
                self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
