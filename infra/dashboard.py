"""The operations dashboard: the REST API, every function, the queues and the business figures.

One CloudWatch dashboard for the on-call view, in rows: the REST API (5xx, 4xx, requests, p99
latency), each Lambda function (errors, throttles, p99 duration), the queues (DLQ depths, age
of the oldest waiting message) and the business metrics the services publish as EMF
(`horizon.metrics`). Alarms live in `infra.monitoring`; their widgets are added here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from horizon.metrics import names as metric_names

PERIOD = Duration.minutes(5)
WIDTH = 24  # a dashboard row is 24 units wide
HEIGHT = 6


def _graph(
    title: str, metrics: Sequence[cloudwatch.IMetric], *, width: int = 12
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title, left=list(metrics), width=width, height=HEIGHT, period=PERIOD
    )


def _by_status(namespace: str, metric_name: str) -> cloudwatch.MathExpression:
    """One line per status value the services published (SEARCH finds them as they appear)."""
    return cloudwatch.MathExpression(
        expression=(
            f"SEARCH('{{{namespace},{metric_names.STATUS}}} "
            f"MetricName=\"{metric_name}\"', 'Sum', {int(PERIOD.to_seconds())})"
        ),
        using_metrics={},
        label=metric_name,
        period=PERIOD,
    )


class OperationsDashboard(Construct):
    """The dashboard.

    Attributes:
        dashboard: the CloudWatch dashboard.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rest_api: apigateway.RestApi,
        functions: Mapping[str, lambda_.IFunction],
        queues: Mapping[str, sqs.IQueue],
        dead_letter_queues: Mapping[str, sqs.IQueue],
        alarms: Sequence[cloudwatch.IAlarm] = (),
        metrics_namespace: str = metric_names.DEFAULT_NAMESPACE,
    ) -> None:
        """Create the dashboard.

        Args:
            scope: the parent construct.
            construct_id: this construct's id.
            rest_api: the REST API.
            functions: function key → function (one row of graphs each).
            queues: work queue key → queue.
            dead_letter_queues: work queue key → its DLQ.
            alarms: shown as a status grid at the top.
            metrics_namespace: where the business metrics are published.
        """
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        if alarms:
            self.dashboard.add_widgets(
                cloudwatch.AlarmStatusWidget(
                    title="Alarms", alarms=list(alarms), width=WIDTH, height=4
                )
            )
        self.dashboard.add_widgets(*self._rest_api(rest_api))
        for key, function in functions.items():
            self.dashboard.add_widgets(*self._function(key, function))
        self.dashboard.add_widgets(
            _graph(
                "DLQ depth (messages that failed for good)",
                [
                    dlq.metric_approximate_number_of_messages_visible(
                        label=key, statistic="Maximum", period=PERIOD
                    )
                    for key, dlq in dead_letter_queues.items()
                ],
            ),
            _graph(
                "Age of the oldest waiting message (s)",
                [
                    queue.metric_approximate_age_of_oldest_message(
                        label=key, statistic="Maximum", period=PERIOD
                    )
                    for key, queue in queues.items()
                ],
            ),
        )
        self.dashboard.add_widgets(*self._business(metrics_namespace))

    @staticmethod
    def _rest_api(api: apigateway.RestApi) -> list[cloudwatch.IWidget]:
        width = WIDTH // 4
        return [
            _graph(
                "REST 5xx", [api.metric_server_error(period=PERIOD, statistic="Sum")], width=width
            ),
            _graph(
                "REST 4xx", [api.metric_client_error(period=PERIOD, statistic="Sum")], width=width
            ),
            _graph(
                "REST requests", [api.metric_count(period=PERIOD, statistic="Sum")], width=width
            ),
            _graph(
                "REST latency p99 (ms)",
                [api.metric_latency(period=PERIOD, statistic="p99")],
                width=width,
            ),
        ]

    @staticmethod
    def _function(key: str, function: lambda_.IFunction) -> list[cloudwatch.IWidget]:
        width = WIDTH // 3
        return [
            _graph(
                f"{key}: errors",
                [function.metric_errors(period=PERIOD, statistic="Sum")],
                width=width,
            ),
            _graph(
                f"{key}: throttles",
                [function.metric_throttles(period=PERIOD, statistic="Sum")],
                width=width,
            ),
            _graph(
                f"{key}: duration p99 (ms)",
                [function.metric_duration(period=PERIOD, statistic="p99")],
                width=width,
            ),
        ]

    @staticmethod
    def _business(namespace: str) -> list[cloudwatch.IWidget]:
        def total(name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=namespace, metric_name=name, statistic="Sum", period=PERIOD
            )

        width = WIDTH // 4
        return [
            _graph("Jobs accepted", [total(metric_names.JOBS_ACCEPTED)], width=width),
            _graph("Emails sent", [total(metric_names.EMAILS_SENT)], width=width),
            _graph(
                "Batch tasks ended, by status",
                [_by_status(namespace, metric_names.BATCH_TASKS_ENDED)],
                width=width,
            ),
            _graph(
                "Executions ended, by status",
                [_by_status(namespace, metric_names.EXECUTIONS_ENDED)],
                width=width,
            ),
        ]
