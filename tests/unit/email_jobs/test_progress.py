from horizon.email_jobs.models import EmailJob, JobStatus
from horizon.realtime import messages
from horizon.realtime.connections import job_topic
from horizon.realtime.publisher import EmailJobProgressPublisher


def _job(**fields):
    base = dict(
        job_id="j1",
        owner="o",
        status=JobStatus.PROCESSING,
        total_emails=4,
        sent=1,
        failed=1,
        done=2,
        template="t",
        subject="s",
        created_at="2026-01-01T00:00:00.000Z",
    )
    return EmailJob(**{**base, **fields})


def test_email_progress_grows_with_settled_recipients_and_the_end():
    running = messages.email_progress(_job())
    assert running == {
        "type": "progress",
        "kind": "email",
        "job_id": "j1",
        "seq": 2,
        "status": "processing",
        "percent": 50,
        "total_emails": 4,
        "sent": 1,
        "failed": 1,
    }
    ended = messages.email_progress(
        _job(status=JobStatus.COMPLETED, done=4, sent=3, completed_at="2026-01-01T00:00:01.000Z")
    )
    assert (ended["seq"], ended["percent"], ended["finished_at"]) == (
        5,
        100,
        "2026-01-01T00:00:01.000Z",
    )


class _Recorder:
    def __init__(self):
        self.calls = []

    def publish_to(self, topic, message):
        self.calls.append((topic, message["kind"], message["sent"]))


def test_the_publisher_posts_to_the_jobs_subscription():
    recorder = _Recorder()
    EmailJobProgressPublisher(recorder).publish(_job())
    assert recorder.calls == [(job_topic("o", "j1"), "email", 1)]
