"""The grading chore on moto: ten word-count tasks against local pages end with each URL's
count in `result`; a 404, a timeout, a non-HTML page and refused URLs fail their own task."""

from __future__ import annotations

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
