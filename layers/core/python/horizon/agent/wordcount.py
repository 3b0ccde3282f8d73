"""`python -m horizon.agent.wordcount [--web-only] [--timeout S] [--runtime-api HOST:PORT] URL…`:
download each URL and count the words of its HTML <body> (stdlib only). Prints one line per
URL, `<count> <url>`, and a total for several.

A word is a run of letters and digits (`\\w`), possibly joined by apostrophes or hyphens
("don't", "state-of-the-art" are one word each), in the text of <body> outside script, style,
noscript and template, with entities decoded; the text of separate elements is never glued
together (`<p>a</p><p>b</p>` is two words). A document without <body> counts whole.

`--web-only` (the batch worker's mode) allows http(s) only, refuses metadata and link-local
addresses (checked again on every redirect, see horizon.agent.urlguard) and documents that are
not HTML; with `--runtime-api`, that host and port too (the Lambda Runtime API), on every
request and redirect: the counter runs as a step, whose clean environment has no
`AWS_LAMBDA_RUNTIME_API` to read, so the batch worker passes it. Run as a step of a task, so it
streams and is stopped like any other process.
"""

from __future__ import annotations

import re
import sys
import urllib.request
from html.parser import HTMLParser
from typing import Any

from horizon.agent.urlguard import Endpoint, UrlRefusedError, check_url

TIMEOUT_S = 30
MAX_BYTES = 20 * 1024 * 1024
_WORD = re.compile(r"\w+(?:['’-]\w+)*")
_SKIPPED = {"script", "style", "noscript", "template"}
_HTML_TYPES = ("text/html", "application/xhtml+xml")


class BodyText(HTMLParser):
    """Collects the text inside <body>, leaving out scripts and styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.in_body = False
        self.saw_body = False
        self.skipping = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.in_body = self.saw_body = True
        elif tag in _SKIPPED:
            self.skipping += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "body":
            self.in_body = False
        elif tag in _SKIPPED and self.skipping:
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if self.in_body and not self.skipping:
            self.parts.append(data)


def count_words(html: str) -> int:
    """Return the number of words in the document's <body> (the whole text if it has none)."""
    parser = BodyText()
    parser.in_body = "<body" not in html.lower()  # a fragment without <body> counts whole
    parser.feed(html)
    parser.close()
    return len(_WORD.findall(" ".join(parser.parts)))


class _GuardedRedirects(urllib.request.HTTPRedirectHandler):
    """Checks every redirect's target like the first URL (web-only mode)."""

    def __init__(self, runtime_api: Endpoint | None) -> None:
        self._runtime_api = runtime_api

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        check_url(newurl, runtime_api=self._runtime_api)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch(
    url: str,
    web_only: bool = False,
    timeout_s: float = TIMEOUT_S,
    runtime_api: Endpoint | None = None,
) -> str:
    """Download `url` (http, https, or file unless `web_only`) and decode it by its charset.

    Args:
        runtime_api: (web-only) the Lambda Runtime API's address, refused like metadata.

    Raises:
        UrlRefusedError: (web-only) a URL or redirect that may not be reached.
        ValueError: an unsupported scheme, too large, or (web-only) not HTML.
        OSError: the download failed (HTTP errors such as 404, timeouts, refused connections).
    """
    if web_only:
        check_url(url, runtime_api=runtime_api)
        opener = urllib.request.build_opener(_GuardedRedirects(runtime_api))
    elif url.startswith(("http://", "https://", "file://")):
        opener = urllib.request.build_opener()
    else:
        raise ValueError(f"unsupported URL scheme: {url}")
    request = urllib.request.Request(url, headers={"User-Agent": "event-horizon-agent"})  # noqa: S310 - schemes checked above
    with opener.open(request, timeout=timeout_s) as response:
        content_type = response.headers.get_content_type()
        if web_only and content_type not in _HTML_TYPES:
            raise ValueError(f"{url} is not HTML (Content-Type {content_type})")
        data = response.read(MAX_BYTES + 1)
        charset = response.headers.get_content_charset() or "utf-8"
    if len(data) > MAX_BYTES:
        raise ValueError(f"{url} is larger than {MAX_BYTES} bytes")
    return data.decode(charset, errors="replace")


def main(argv: list[str]) -> int:
    """Count the words of each URL in `argv` (after the options); 1 at the first failure."""
    web_only, timeout_s, urls = False, float(TIMEOUT_S), list(argv)
    runtime_api: Endpoint | None = None
    while urls and urls[0].startswith("--"):
        option = urls.pop(0)
        if option == "--web-only":
            web_only = True
        elif option == "--timeout" and urls:
            timeout_s = float(urls.pop(0))
        elif option == "--runtime-api" and urls:
            runtime_api = Endpoint.parse(urls.pop(0))
        else:
            print(f"unknown option {option}", file=sys.stderr)
            return 2
    if not urls:
        return 2
    total = 0
    for url in urls:
        try:
            count = count_words(fetch(url, web_only, timeout_s, runtime_api))
        except UrlRefusedError as error:
            print(f"refused to fetch {url}: {error}", file=sys.stderr, flush=True)
            return 1
        except (OSError, ValueError) as error:
            print(f"could not count the words of {url}: {error}", file=sys.stderr, flush=True)
            return 1
        total += count
        print(f"{count} {url}", flush=True)
    if len(urls) > 1:
        print(f"{total} total", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
