"""`python -m horizon.agent.wordcount URL…`: download each URL and count the words of its HTML
<body> (stdlib only). Prints one line per URL, `<count> <url>`, and a total for several.

Run as a step of a task, so it streams and is stopped like any other process.
"""

from __future__ import annotations

import re
import sys
import urllib.request
from html.parser import HTMLParser

TIMEOUT_S = 30
MAX_BYTES = 20 * 1024 * 1024
_WORD = re.compile(r"\w+(?:['’-]\w+)*")
_SKIPPED = {"script", "style", "noscript", "template"}


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


def fetch(url: str) -> str:
    """Download `url` (http, https or file) and decode it by its declared charset."""
    if not url.startswith(("http://", "https://", "file://")):
        raise ValueError(f"unsupported URL scheme: {url}")
    request = urllib.request.Request(url, headers={"User-Agent": "event-horizon-agent"})  # noqa: S310 - schemes checked above
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
        data = response.read(MAX_BYTES + 1)
        charset = response.headers.get_content_charset() or "utf-8"
    if len(data) > MAX_BYTES:
        raise ValueError(f"{url} is larger than {MAX_BYTES} bytes")
    return data.decode(charset, errors="replace")


def main(urls: list[str]) -> int:
    total = 0
    for url in urls:
        try:
            count = count_words(fetch(url))
        except (OSError, ValueError) as error:
            print(f"could not count the words of {url}: {error}", file=sys.stderr, flush=True)
            return 1
        total += count
        print(f"{count} {url}", flush=True)
    if len(urls) > 1:
        print(f"{total} total", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) if len(sys.argv) > 1 else 2)
