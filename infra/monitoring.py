"""Alarms: an encrypted SNS topic, an alarm on every dead-letter queue that holds messages, and
the alarms other constructs add (`Monitoring.add_alarm`)."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct


class Monitoring(Construct):
    """The alarm topic and one alarm per DLQ: a message there is work that failed for good.

    Attributes:
        topic: the SNS topic alarms publish to (subscribe people or a pager to it).
        alarms: resource key of the work queue → its DLQ alarm.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dead_letter_queues: Mapping[str, sqs.IQueue],
    ) -> None:
        """Create the topic and the alarms.

        Args:
            scope: the parent construct.
            construct_id: this construct's id.
            dead_letter_queues: work queue key → its DLQ.
        """
        super().__init__(scope, construct_id)
        # CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, so the
        # topic has its own key, which lets CloudWatch use it.
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description="Encrypts the Event Horizon alarm topic",
            enable_key_rotation=True,
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=["*"],  # in a key policy "*" means this key
            )
        )
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name="Event Horizon alarms",
            master_key=key,
            enforce_ssl=True,
        )
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for key_name, dlq in dead_letter_queues.items():
            name = "".join(part.capitalize() for part in key_name.split("_"))
            self.alarms[key_name] = self.add_alarm(
                f"{name}DeadLetterAlarm",
                description=f"Messages of the {key_name} queue failed for good and wait in its DLQ",
                metric=dlq.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic="Maximum"
                ),
                threshold=0,
            )

    def add_alarm(
        self,
        construct_id: str,
        *,
        description: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        evaluation_periods: int = 1,
    ) -> cloudwatch.Alarm:
        """Alarm on the topic when `metric` goes above `threshold`.

        Missing data (an idle queue reports nothing) does not raise the alarm.

        Args:
            construct_id: the alarm's construct id, under this construct.
            description: what the alarm means, for whoever receives it.
            metric: the metric to watch.
            threshold: the alarm rises when the metric is above it.
            evaluation_periods: consecutive periods above the threshold before it rises.

        Returns:
            The alarm, publishing to `topic`.
        """
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=evaluation_periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        return alarm
