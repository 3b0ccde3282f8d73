"""The SQS work queues of `wiring.QUEUES`, each with its own dead-letter queue."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from horizon import wiring


class WorkQueues(Construct):
    """A queue and a DLQ per spec: SQS-managed encryption, TLS only, redrive from the spec.

    The visibility timeout comes from the spec, which keeps it at 6× the consumer's timeout so
    that a message is not delivered again while its first consumer still works on it; the same
    holds for a DLQ that has a consumer (`dlq_visibility_timeout_s`).

    Attributes:
        queues: resource key → work queue.
        dead_letter_queues: resource key of the work queue → that queue's DLQ.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, specs: Iterable[wiring.QueueSpec]
    ) -> None:
        """Create the queues.

        Args:
            scope: the parent construct.
            construct_id: this construct's id.
            specs: the queues to create (normally `wiring.QUEUES`).
        """
        super().__init__(scope, construct_id)
        self.queues: dict[str, sqs.Queue] = {}
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        for spec in specs:
            self._add(spec)

    def _add(self, spec: wiring.QueueSpec) -> None:
        name = "".join(part.capitalize() for part in spec.key.split("_"))
        dlq = sqs.Queue(
            self,
            f"{name}DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(spec.dlq_retention_days),
            visibility_timeout=(
                Duration.seconds(spec.dlq_visibility_timeout_s)
                if spec.dlq_visibility_timeout_s is not None
                else None
            ),
        )
        queue = sqs.Queue(
            self,
            f"{name}Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(spec.visibility_timeout_s),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=dlq, max_receive_count=spec.max_receive_count
            ),
        )
        self.queues[spec.key] = queue
        self.dead_letter_queues[spec.key] = dlq
