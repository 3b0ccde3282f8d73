"""Business metrics: EMF blobs as Powertools prints them, flushed by the handlers."""

from __future__ import annotations

import pytest

from functions.email_worker import handler as email_handler
from horizon import metrics
from horizon.metrics import names
from horizon.uploads import UploadService
from tests.events import load_event
from tests.unit.email_jobs.test_worker import FakeSes, make_job


def test_counts_are_summed_per_dimension_set_in_the_default_namespace(emf, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "event-horizon-api")
    metrics.count(names.BATCH_TASKS_ENDED, status="completed")
    metrics.count(names.BATCH_TASKS_ENDED, status="completed")
    metrics.count(names.BATCH_TASKS_ENDED, status="failed")
    metrics.count(names.EMAILS_SENT, 3)

    blobs = emf.read()

    assert len(blobs) == 3  # one per dimension set: a blob has one set of dimensions
    assert {blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] for blob in blobs} == {"EventHorizon"}
    assert emf.values(names.BATCH_TASKS_ENDED, status="completed") == [1.0, 1.0]
    assert emf.values(names.BATCH_TASKS_ENDED, status="failed") == [1.0]
    # Platform-wide figures: no `service` dimension splits them by function.
    assert emf.values(names.EMAILS_SENT) == [3.0]
    [sent] = [blob for blob in blobs if names.EMAILS_SENT in blob]
    assert sent["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": names.EMAILS_SENT, "Unit": "Count"}
    ]
    assert emf.read() == blobs  # flushed: nothing printed twice


def test_the_namespace_comes_from_powertools_variable(emf, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Staging")
    metrics.reset_metrics_settings()
    metrics.count(names.JOBS_ACCEPTED)

    [blob] = emf.read()

    assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Staging"


def test_an_empty_flush_prints_nothing_and_warns_nothing(emf, recwarn):
    assert emf.read() == []
    assert not [w for w in recwarn if "metrics" in str(w.message).lower()]


def test_publishing_never_raises(emf, caplog):
    metrics.count("", 1)  # Powertools refuses the name: logged, not raised
    metrics.count(names.EMAILS_SENT)

    assert emf.values(names.EMAILS_SENT) == [] and len(emf.read()) == 1
    assert "could not publish the metric" in caplog.text


def test_powertools_switch_silences_them_locally(emf, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics.count(names.JOBS_ACCEPTED)

    assert emf.read() == []


def test_a_flushing_handler_flushes_even_when_it_raises(emf):
    @metrics.flushing
    def handler(event, context):
        metrics.count(names.JOBS_ACCEPTED)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        handler({}, None)

    emf.read(flush=False)
    assert emf.values(names.JOBS_ACCEPTED) == [1.0]


def test_an_upload_counts_one_accepted_job(aws, emf):
    UploadService().upload("tenant-a", "app.jsonl", "application/x-ndjson", b'{"a": 1}\n')
    UploadService().presign("tenant-a", "big.jsonl", size_bytes=10)

    emf.read()

    assert emf.values(names.JOBS_ACCEPTED) == [1.0, 1.0]


def test_the_email_worker_handler_flushes_the_emails_it_sent(aws, emf, lambda_context, monkeypatch):
    _, body = make_job(["a@x.org", "b@x.org"])
    monkeypatch.setattr(
        email_handler, "get_worker", lambda: email_handler.EmailWorker(ses=FakeSes())
    )
    event = load_event("local_sqs_event")
    event["Records"] = [{**event["Records"][0], "body": body}]

    email_handler.handler(event, lambda_context)

    emf.read(flush=False)  # the handler flushed
    assert emf.values(names.EMAILS_SENT) == [1.0, 1.0]
