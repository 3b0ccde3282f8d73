"""The operations dashboard and the alarms on the REST API and on every function's throttles."""

from __future__ import annotations

from typing import Any

from horizon import wiring
from horizon.metrics import names as metric_names
from infra import names
from tests.infra.lookup import functions, of_type, referenced_ids


def _alarms(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return of_type(resources, "AWS::CloudWatch::Alarm")


def _topic_id(resources: dict[str, Any]) -> str:
    [topic_id] = of_type(resources, "AWS::SNS::Topic")
    return topic_id


def _text(value: Any) -> str:
    """The literal parts of a template value (a dashboard body is an Fn::Join)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(_text(item) for item in value)
    if isinstance(value, dict) and "Fn::Join" in value:
        return _text(value["Fn::Join"][1])
    return ""


def test_one_dashboard_graphs_the_api_every_function_the_queues_and_the_business(resources):
    [dashboard] = of_type(resources, "AWS::CloudWatch::Dashboard").values()
    body = _text(dashboard["DashboardBody"])
    for metric in (
        '"AWS/ApiGateway","5XXError"',
        '"AWS/ApiGateway","4XXError"',
        '"AWS/ApiGateway","Count"',
        '"AWS/ApiGateway","Latency"',
        '"AWS/Lambda","Errors"',
        '"AWS/Lambda","Throttles"',
        '"AWS/Lambda","Duration"',
        '"AWS/SQS","ApproximateNumberOfMessagesVisible"',
        '"AWS/SQS","ApproximateAgeOfOldestMessage"',
        f'"{names.METRICS_NAMESPACE}","{metric_names.JOBS_ACCEPTED}"',
        f'"{names.METRICS_NAMESPACE}","{metric_names.EMAILS_SENT}"',
    ):
        assert metric in body, metric
    assert '"stat":"p99"' in body
    for name in (metric_names.BATCH_TASKS_ENDED, metric_names.EXECUTIONS_ENDED):
        assert f"SEARCH('{{{names.METRICS_NAMESPACE},status}} MetricName=\\\"{name}\\\"'" in body
    # Every function and every queue of the wiring has its graphs.
    shown = referenced_ids(dashboard["DashboardBody"])
    assert {logical_id for logical_id, _ in functions(resources).values()} <= shown
    queues = of_type(resources, "AWS::SQS::Queue")
    assert set(queues) <= shown
    assert len(queues) == 2 * len(wiring.QUEUES)  # each work queue and its DLQ


def test_the_rest_5xx_rate_alarm_divides_5xx_by_requests(resources):
    [alarm] = [
        a
        for a in _alarms(resources).values()
        if any("errors / requests" in query.get("Expression", "") for query in a.get("Metrics", []))
    ]
    queries = {query["Id"]: query for query in alarm["Metrics"]}
    [expression] = [q for q in queries.values() if "Expression" in q]
    assert expression.get("ReturnData", True) is True
    assert queries["errors"]["MetricStat"]["Metric"]["MetricName"] == "5XXError"
    assert queries["requests"]["MetricStat"]["Metric"]["MetricName"] == "Count"
    for name in ("errors", "requests"):
        metric = queries[name]["MetricStat"]["Metric"]
        assert metric["Namespace"] == "AWS/ApiGateway"
        assert queries[name]["MetricStat"]["Stat"] == "Sum"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Threshold"] == 5
    assert alarm["AlarmActions"] == [{"Ref": _topic_id(resources)}]


def test_the_rest_p99_latency_alarm(resources):
    [alarm] = [
        a
        for a in _alarms(resources).values()
        if a.get("MetricName") == "Latency" and a.get("Namespace") == "AWS/ApiGateway"
    ]
    assert alarm["ExtendedStatistic"] == "p99"
    assert alarm["Threshold"] < 29_000  # before API Gateway cuts requests off
    assert alarm["AlarmActions"] == [{"Ref": _topic_id(resources)}]


def test_every_function_has_a_throttles_alarm(resources):
    throttled = {
        alarm["Dimensions"][0]["Value"]["Ref"]: alarm
        for alarm in _alarms(resources).values()
        if alarm.get("MetricName") == "Throttles"
    }
    assert set(throttled) == {logical_id for logical_id, _ in functions(resources).values()}
    assert len(throttled) == len(wiring.FUNCTIONS)
    for alarm in throttled.values():
        assert alarm["Namespace"] == "AWS/Lambda"
        assert alarm["Statistic"] == "Sum"
        assert alarm["Threshold"] == 0
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == [{"Ref": _topic_id(resources)}]


def test_every_function_publishes_its_metrics_to_the_dashboards_namespace(resources):
    for _, props in functions(resources).values():
        variables = props["Environment"]["Variables"]
        assert variables[names.METRICS_NAMESPACE_ENV] == names.METRICS_NAMESPACE
