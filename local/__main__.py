"""`python -m local`: run the whole platform on this machine (`make up`).

Environment: PORT (default 8000), AWS_ENDPOINT_URL (an external plane such as LocalStack;
unset starts moto), LOCAL_VISIBILITY_TIMEOUT_S (queues' visibility timeout, default 10 s so a
failed message comes back quickly), and whatever the handlers read (API_TOKENS, ...).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

# Lambda puts the layer's python/ folder on the path; do the same for the core layer, and the
# repository root for `functions.*`, whatever the working directory.
_ROOT = Path(__file__).resolve().parent.parent
for _path in (_ROOT / "layers" / "core" / "python", _ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from local.stack import LocalStack  # noqa: E402  (needs the path above)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", "8000")),
        help="gateway port; 0 picks a free one (default $PORT or 8000)",
    )
    parser.add_argument(
        "--print-json",
        action="store_true",
        help="print one JSON line with the URLs and the handlers' environment, for tools",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start the stack, wait for Ctrl-C or SIGTERM, stop everything; return the exit code."""
    args = _parse(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # moto's embedded server logs every request it serves; only its problems are news.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # botocore announces where it found credentials for every client it makes.
    logging.getLogger("botocore.credentials").setLevel(logging.WARNING)
    stopping = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    out = sys.stdout
    if args.print_json:
        # The JSON line must be alone on stdout, but handlers log there (Powertools' Logger
        # writes to stdout, as Lambda expects): send everything else, down to fd 1, to stderr.
        out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        sys.stdout = sys.stderr
    stack = LocalStack(host=args.host, port=args.port)
    try:
        stack.start()
        # Hundreds of thousands of objects from start-up (moto's service models, the handlers'
        # imports) never die: out of the collector's way, a full collection stops the
        # process for milliseconds instead of a third of a second.
        gc.freeze()
        if args.print_json:
            document = {
                "rest_url": stack.rest_url,
                "ws_url": stack.ws_url,
                "docs_url": stack.docs_url,
                "aws_endpoint_url": stack.aws_endpoint_url,
                "env": stack.env,
            }
            out.write(json.dumps(document) + "\n")
        else:
            out.write(
                f"REST API      {stack.rest_url}\n"
                f"WebSocket API {stack.ws_url}  (also {stack.ws_url}/task, {stack.ws_url}/jobs/{{job_id}})\n"
                f"API docs      {stack.docs_url}\n"
                f"AWS plane     {stack.aws_endpoint_url}\n"
                f"Health        {stack.rest_url}/_local/health\n"
                "Ctrl-C stops everything.\n"
            )
        out.flush()
        while not stopping.wait(0.5):
            pass
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
