"""Jobs: the record of one piece of work (an ingested file), its lifecycle and counts."""

from horizon.jobs.exceptions import JobFinishedError, JobLeasedError, LeaseLostError
from horizon.jobs.models import Job, JobCounts, JobPublic, JobStatus
from horizon.jobs.store import JobStore

__all__ = [
    "Job",
    "JobCounts",
    "JobFinishedError",
    "JobLeasedError",
    "JobPublic",
    "JobStatus",
    "JobStore",
    "LeaseLostError",
]
