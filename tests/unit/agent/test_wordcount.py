"""Counting the words of an HTML <body>, stdlib only (file:// URLs: no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from horizon.agent.wordcount import count_words, main

PAGE = """<!doctype html><html><head><title>Not counted</title>
<style>body { color: red }</style></head>
<body><h1>Hello, world!</h1><p>It&rsquo;s a well-known <b>test</b> page.</p>
<script>var notCounted = 1;</script></body></html>"""


def test_only_the_body_text_counts() -> None:
    # Hello, world, It's, a, well-known, test, page
    assert count_words(PAGE) == 7


def test_a_fragment_without_body_counts_whole() -> None:
    assert count_words("<p>one two</p> three") == 3


def test_main_prints_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "page.html"
    page.write_text(PAGE)
    assert main([page.as_uri(), page.as_uri()]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"7 {page.as_uri()}",
        f"7 {page.as_uri()}",
        "14 total",
    ]


def test_main_fails_on_unsupported_schemes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ftp://example.com/x"]) == 1
    assert "unsupported" in capsys.readouterr().err
