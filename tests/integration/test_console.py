"""The web console in a real browser (Debian's chromium, driven by playwright) against the
local stack: an upload whose bar reaches 100 %, an agent task in the terminal, a code session
run. Every test fails on a browser console error or an uncaught page error, and leaves a
screenshot in build/test-artifacts/.

Chromium comes from the Makefile's `system-packages` (apt), never from `playwright install`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.clients import jsonl
from tests.integration.conftest import ROOT, RunningStack, start_local_stack

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "build" / "test-artifacts"
# No sandbox: tests run as root in containers, where chromium's sandbox cannot start. The rest
# keeps the browser off the network: nothing but 127.0.0.1 is asked for.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 30_000
ADMIN_KEY = "console-test-admin-key-0123"


def ensure_chromium() -> str | None:
    """Return why the browser tests cannot run, or None once /usr/bin/chromium is there
    (installed with apt-get when missing, as `make system-packages` does)."""
    if CHROMIUM.exists():
        return None
    if shutil.which("apt-get"):
        command = ["apt-get", "install", "-y", "-qq", "chromium"]
        if os.geteuid() != 0 and shutil.which("sudo"):
            command[:0] = ["sudo", "-n"]  # never wait for a password
        subprocess.run(command, check=False, capture_output=True, timeout=600)
    return (
        None
        if CHROMIUM.exists()
        else "/usr/bin/chromium is missing and apt-get could not install it"
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    reason = ensure_chromium()
    if reason:
        pytest.skip(reason)
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@contextmanager
def console_tab(
    browser, stack: RunningStack, name: str, allowed: tuple[str, ...] = ()
) -> Iterator[object]:
    """A fresh tab (its own sessionStorage) on the console; fails on a console error other
    than one containing an `allowed` text, and leaves a screenshot named `name`."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    problems: list[str] = []

    def on_console(message) -> None:
        if message.type == "error" and not any(text in message.text for text in allowed):
            problems.append(f"console: {message.text}")

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.goto(f"{stack.rest_url}/console/")
    try:
        yield tab
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)
        context.close()
    assert not problems, problems


@pytest.fixture
def page(browser, local_stack: RunningStack, request: pytest.FixtureRequest) -> Iterator[object]:
    with console_tab(browser, local_stack, request.node.name) as tab:
        yield tab


def run_in_terminal(tab, task: str) -> list[str]:
    """Run `task` in the console's terminal; return its stdout chunks once it exited 0."""
    tab.goto(tab.url.split("#")[0] + "#/terminal")
    tab.fill("#terminal-input", task)
    tab.press("#terminal-input", "Enter")
    output = tab.locator("#terminal-output")
    output.locator(".meta", has_text="[completed, exit code 0]").wait_for()
    return output.locator(".stdout").all_inner_texts()


def test_upload_shows_the_bar_reaching_100_percent(page, tmp_path: Path):
    lines = [
        {"timestamp": f"2026-11-22T10:{minute:02d}:00Z", "response_time_ms": 10 + minute * 5}
        for minute in range(5)
    ]
    sample = tmp_path / "sample.jsonl"
    sample.write_bytes(jsonl([*lines, "not json"]))
    page.wait_for_selector("#view-jobs:not([hidden])")
    page.set_input_files("#upload-file", str(sample))
    page.click("#upload-form button[type=submit]")
    row = page.locator("#jobs-body tr", has_text="sample.jsonl").first
    row.locator(".percent", has_text="100 %").wait_for()
    assert row.locator("td").nth(1).inner_text() == "completed"
    assert row.locator(".bar").get_attribute("aria-valuenow") == "100"
    assert [row.locator("td").nth(i).inner_text() for i in (3, 4, 5)] == ["6", "5", "1"]

    # The job page: entries, the invalid line and the latency chart (5 one-minute windows).
    row.locator("a").click()
    page.locator("#errors-body tr", has_text="not json").wait_for()
    assert page.locator("#entries-body tr").count() == 5
    page.locator("#chart svg circle").nth(4).wait_for()


def test_terminal_streams_a_task(page):
    assert run_in_terminal(page, "echo hello") == ["hello\n"]


def test_code_session_runs(page):
    page.goto(page.url.split("#")[0] + "#/code")
    page.locator("#code-saved", has_text="version").wait_for()
    page.fill("#code-editor", "print(6*7)")
    page.locator("#code-saved", has_text="saved").wait_for()  # the autosave
    page.click("#code-run")
    page.locator("#code-status", has_text="COMPLETED").wait_for()
    assert page.locator("#code-stdout").inner_text() == "42\n"


def test_sign_in_with_a_key(browser):
    """On a stack with keys: the sign-in form first, a refused key, then the admin key, whose
    WebSocket connection (`?token=`) runs a task."""
    with (
        start_local_stack(HORIZON_ADMIN_KEY=ADMIN_KEY) as stack,
        # The refused key's 401 is logged by the browser itself.
        console_tab(browser, stack, "sign_in", allowed=("status of 401",)) as tab,
    ):
        tab.wait_for_selector("#view-signin:not([hidden])")
        tab.fill("#signin-key", "not-a-key")
        tab.click("#signin-form button[type=submit]")
        tab.locator("#signin-error", has_text="refused").wait_for()
        tab.fill("#signin-key", ADMIN_KEY)
        tab.click("#signin-form button[type=submit]")
        tab.wait_for_selector("#view-jobs:not([hidden])")
        assert tab.locator("#sign-out").is_visible()
        assert run_in_terminal(tab, "echo signed-in") == ["signed-in\n"]
