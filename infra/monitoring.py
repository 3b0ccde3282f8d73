"""Alarms: an encrypted SNS topic, an alarm on every dead-letter queue that holds messages, on the
REST API's 5xx rate and p99 latency, on every function's throttles, and the alarms other
constructs add (`Monitoring.add_alarm`)."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

API_PERIOD = Duration.minutes(5)
# 5xx answers as a percentage of requests, over API_PERIOD. Below MIN_REQUESTS requests in a
# period the rate counts as 0: one fault among three requests is not an outage.
SERVER_ERROR_RATE_PERCENT = 5.0
MIN_REQUESTS = 20
# `POST /execute` holds its request up to EXECUTE_WAIT_S (20 s) by design, so a p99 well above
# the other routes' is normal; above this it nears API Gateway's 29 s integration timeout,
# where requests are cut off.
P99_LATENCY_MS = 25_000


class Monitoring(Construct):
    """The alarm topic and one alarm per DLQ: a message there is work that failed for good.

    Attributes:
        topic: the SNS topic alarms publish to (subscribe people or a pager to it).
        alarms: resource key of the work queue → its DLQ alarm.
        every_alarm: every alarm made through `add_alarm`, DLQ alarms included.
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
        self.every_alarm: list[cloudwatch.Alarm] = []  # in order, for the dashboard
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for key_name, dlq in dead_letter_queues.items():
            self.alarms[key_name] = self.add_alarm(
                f"{_pascal(key_name)}DeadLetterAlarm",
                description=f"Messages of the {key_name} queue failed for good and wait in its DLQ",
                metric=dlq.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic="Maximum"
                ),
                threshold=0,
            )

    def alarm_on_rest_api(self, api: apigateway.RestApi) -> list[cloudwatch.Alarm]:
        """Alarm on the REST API's 5xx rate (5xx / requests) and its p99 latency.

        Returns:
            The two alarms.
        """
        errors = api.metric_server_error(period=API_PERIOD, statistic="Sum")
        requests = api.metric_count(period=API_PERIOD, statistic="Sum")
        rate = cloudwatch.MathExpression(
            expression=f"IF(requests >= {MIN_REQUESTS}, 100 * errors / requests, 0)",
            using_metrics={"errors": errors, "requests": requests},
            label="5xx rate (%)",
            period=API_PERIOD,
        )
        return [
            self.add_alarm(
                "RestServerErrorRateAlarm",
                description=f"Over {SERVER_ERROR_RATE_PERCENT:g}% of REST requests answered 5xx "
                f"in two consecutive {API_PERIOD.to_minutes():g} min periods",
                metric=rate,
                threshold=SERVER_ERROR_RATE_PERCENT,
                evaluation_periods=2,
            ),
            self.add_alarm(
                "RestLatencyP99Alarm",
                description=f"REST p99 latency above {P99_LATENCY_MS} ms for three periods: "
                "requests near API Gateway's 29 s limit",
                metric=api.metric_latency(period=API_PERIOD, statistic="p99"),
                threshold=P99_LATENCY_MS,
                evaluation_periods=3,
            ),
        ]

    def alarm_on_throttles(
        self, functions: Mapping[str, lambda_.IFunction]
    ) -> dict[str, cloudwatch.Alarm]:
        """Alarm on any throttled invocation of each function: a throttled API call is a 429
        or 5xx to a user, a throttled poller delays its queue.

        Returns:
            function key → its alarm.
        """
        return {
            key: self.add_alarm(
                f"{_pascal(key)}ThrottlesAlarm",
                description=f"Invocations of the {key} function were throttled "
                "(reserved or account concurrency exhausted)",
                metric=function.metric_throttles(period=API_PERIOD, statistic="Sum"),
                threshold=0,
            )
            for key, function in functions.items()
        }

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
        self.every_alarm.append(alarm)
        return alarm


def _pascal(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("_"))
