"""An HTTP server on 127.0.0.1 with pages whose word counts are known by construction.

Each page's visible body text is built from a list of words, so a test knows the count without
the word counter; around it sit what must not count: <head>, script, style, noscript and
template, comments, and markup that must not glue words together.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Words as the documented definition counts them, one each.
SPECIAL_WORDS = ["don't", "state-of-the-art", "café", "naïve", "2026", "x-ray's"]


def page_words(number: int) -> list[str]:
    """The words of page `number`'s visible body text, in order."""
    return [f"word{number}x{i}" for i in range(number * 7 + 3)] + SPECIAL_WORDS[: number % 6 + 1]


def page_html(number: int) -> str:
    words = page_words(number)
    half = len(words) // 2
    first = " ".join(words[:half]).replace("café", "caf&eacute;")
    second = "</span><span>".join(words[half:]).replace("café", "caf&eacute;")
    return (
        f"<!DOCTYPE html><html><head><title>not counted title</title>"
        f"<style>body {{ color: red }}</style></head><body>"
        f"<p>{first}</p><script>var notCounted = 1;</script>"
        f"<noscript>not counted</noscript><template>not counted</template>"
        f"<!-- not counted --><div><span>{second}</span></div></body></html>"
    )


class _Pages(BaseHTTPRequestHandler):
    slow_s = 5.0

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path.startswith("/page-") and path.endswith(".html"):
            self._send(200, "text/html; charset=utf-8", page_html(int(path[6:-5])))
        elif path == "/plain.txt":
            self._send(200, "text/plain", "just text, not html")
        elif path == "/slow.html":
            time.sleep(self.slow_s)
            self._send(200, "text/html", "<body>late</body>")
        elif path == "/to-metadata.html":
            self._redirect("http://169.254.169.254/latest/meta-data/")
        elif path == "/redirect":  # /redirect?to=URL
            self._redirect(urllib.parse.unquote(self.path.split("?to=", 1)[1]))
        else:
            self._send(404, "text/html", "<body>not found</body>")

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.end_headers()

    def _send(self, status: int, content_type: str, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve_pages() -> Iterator[str]:
    """Serve the pages; yields the base URL, http://127.0.0.1:PORT."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def grading_task(url: str) -> str:
    """The grading chore's phrasing."""
    return f"Download the HTML content of {url} and count the number of words in the `<body>` tag"
