"""The grading chore on moto: ten word-count tasks against local pages end with each URL's
count in `result`; a 404, a timeout, a non-HTML page and refused URLs fail their own task."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from horizon.batches.models import TaskStatus
from horizon.batches.settings import reset_batch_settings
from tests.batch_pages import grading_task, page_words, serve_pages
from tests.unit.batches.conftest import OWNER


@pytest.fixture
def pages():
    with serve_pages() as base:
        yield base


def test_ten_grading_tasks_end_with_each_urls_count(service, queues, pages):
    urls = [f"{pages}/page-{n}.html" for n in range(1, 11)]
    batch_id = service.create(OWNER, [grading_task(url) for url in urls]).batch_id
    queues.run_batch()
    batch = service.describe(OWNER, batch_id)
    assert batch.counts.completed == 10
    assert [task.result for task in batch.tasks] == [
        {"url": url, "words": len(page_words(n))} for n, url in enumerate(urls, start=1)
    ]


def test_all_ten_urls_in_one_task_give_a_list(service, queues, pages):
    urls = [f"{pages}/page-{n}.html" for n in range(1, 11)]
    task = (
        "Download the HTML content of "
        + ", ".join(urls)
        + (" and count the number of words in the <body> tag of each")
    )
    batch_id = service.create(OWNER, [task]).batch_id
    queues.run_batch()
    [ended] = service.describe(OWNER, batch_id).tasks
    assert ended.status is TaskStatus.COMPLETED
    assert ended.result == [
        {"url": url, "words": len(page_words(n))} for n, url in enumerate(urls, start=1)
    ]


def test_bad_urls_fail_their_own_task_and_the_rest_go_on(service, queues, pages, monkeypatch):
    monkeypatch.setenv("BATCH_FETCH_TIMEOUT_S", "1")
    reset_batch_settings()
    tasks = [
        grading_task(f"{pages}/missing.html"),
        grading_task(f"{pages}/slow.html"),
        grading_task(f"{pages}/plain.txt"),
        grading_task(f"{pages}/to-metadata.html"),
        grading_task("file:///etc/passwd"),
        grading_task("http://169.254.169.254/latest/meta-data/"),
        grading_task("http://169.254.170.2/v2/credentials"),
        grading_task("http://[fd00:ec2::254]/latest/meta-data/"),
        grading_task(f"{pages}/page-2.html"),
    ]
    batch_id = service.create(OWNER, tasks).batch_id
    queues.run_batch()
    batch = service.describe(OWNER, batch_id)
    assert batch.counts.failed == 8 and batch.counts.completed == 1
    errors = [task.error for task in batch.tasks]
    assert "404" in errors[0]
    assert "timed out" in errors[1]
    assert "not HTML" in errors[2]
    assert "metadata or link-local" in errors[3]  # refused at the redirect
    assert "only http and https" in errors[4]
    assert all("metadata or link-local" in error for error in errors[5:8])
    assert batch.tasks[8].result == {"url": f"{pages}/page-2.html", "words": len(page_words(2))}
    assert all(task.result is None for task in batch.tasks[:8])


def test_tasks_never_reach_the_lambda_runtime_api(service, queues, pages, monkeypatch):
    # A page server stands in for the Runtime API: were it reached, its task would complete.
    with serve_pages() as runtime_base:
        address = runtime_base.removeprefix("http://")
        monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", address)
        port = address.rsplit(":", 1)[1]
        next_invocation = f"{runtime_base}/2018-06-01/runtime/invocation/next"
        tasks = [
            grading_task(next_invocation),
            grading_task(f"http://localhost:{port}/page-1.html"),
            f"Run `echo {next_invocation}`",  # a literal URL in a shell step: refused as well
            # Allowed by the first check; its redirect is refused by the word counter.
            grading_task(f"{pages}/redirect?to={quote(next_invocation, safe='')}"),
            grading_task(f"{pages}/page-2.html"),  # another port of 127.0.0.1
            "env",
        ]
        batch_id = service.create(OWNER, tasks).batch_id
        queues.run_batch()
    batch = service.describe(OWNER, batch_id)
    assert [task.status for task in batch.tasks] == [TaskStatus.FAILED] * 4 + [
        TaskStatus.COMPLETED
    ] * 2
    errors = [task.error or "" for task in batch.tasks]
    for error in errors[:3]:  # refused before anything ran
        assert error.startswith("refused: ") and f"{address} is the Lambda Runtime API" in error
    assert batch.tasks[2].stdout == ""
    assert "refused to fetch" in errors[3] and "Lambda Runtime API" in errors[3]
    assert batch.tasks[4].result == {"url": f"{pages}/page-2.html", "words": len(page_words(2))}
    # The steps' environment does not carry the Runtime API's address.
    assert (
        "HOME=" in batch.tasks[5].stdout and "AWS_LAMBDA_RUNTIME_API" not in batch.tasks[5].stdout
    )
