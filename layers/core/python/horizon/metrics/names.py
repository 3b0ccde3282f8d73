"""The business metrics' names and dimensions, shared by the services and the dashboard.

Plain constants (no Powertools import): `infra/` reads them to graph what the services publish.
"""

from __future__ import annotations

# CloudWatch namespace when POWERTOOLS_METRICS_NAMESPACE is not set (CDK sets it to this too).
DEFAULT_NAMESPACE = "EventHorizon"
NAMESPACE_ENV = "POWERTOOLS_METRICS_NAMESPACE"

# An ingest job was created for an upload (through the API or a presigned upload).
JOBS_ACCEPTED = "JobsAccepted"
# A batch task's ending was stored (once per task), by STATUS.
BATCH_TASKS_ENDED = "BatchTasksEnded"
# SES accepted an email of an email job.
EMAILS_SENT = "EmailsSent"
# A code execution's ending was stored (once per execution), by STATUS.
EXECUTIONS_ENDED = "ExecutionsEnded"

# The dimension of the metrics counted by status.
STATUS = "status"
