"""`horizon query`: conditions into the API's filter, answers into tables."""

from __future__ import annotations

import json

import pytest

from horizon_cli.commands.query import build_body, parse_filter
from horizon_cli.errors import UsageProblem


def test_conditions_become_the_filter_object() -> None:
    assert parse_filter(
        [
            "api_id=api-123",
            "response_time_ms>100",
            "response_time_ms<=900",
            "http_status in 500,503",
            'version_id="200"',
            "region != eu",
        ],
        "2026-11-22T10:00:00Z",
        None,
    ) == {
        "api_id": "api-123",
        "response_time_ms": {"gt": 100, "lte": 900},
        "http_status": {"in": [500, 503]},
        "version_id": "200",
        "region": {"ne": "eu"},
        "timestamp": {"from": "2026-11-22T10:00:00Z"},
    }
    assert parse_filter([]) is None
    with pytest.raises(UsageProblem):
        parse_filter(["http_status>"])


def test_anchors_need_a_duration() -> None:
    body = build_body(
        ["j1"],
        "count",
        None,
        ["error_code>=500"],
        None,
        None,
        None,
        False,
        None,
        ["event_type=deployment"],
        "1h",
        ["j2"],
    )
    assert body["relative_to"] == {
        "duration": "1h",
        "filter": {"event_type": "deployment"},
        "job_ids": ["j2"],
    }
    with pytest.raises(UsageProblem, match="--within"):
        build_body(
            ["j1"],
            "count",
            None,
            [],
            None,
            None,
            None,
            False,
            None,
            ["event_type=deploy"],
            None,
            [],
        )


def test_query_posts_the_question_and_shows_the_windows(cli, api) -> None:
    answer = {
        "metric": "count",
        "field": None,
        "value": 7,
        "n": 20,
        "source": "aggregates",
        "exact": True,
        "window": {"size": "10m", "mode": "sliding"},
        "windows": [
            {"start": "2026-11-22T10:00:00Z", "end": "2026-11-22T10:10:00Z", "count": 7, "value": 7}
        ],
    }
    api.on("POST", "/api/v1/query", answer)
    result = cli(
        "query",
        "j1",
        "j2",
        "--where",
        "event_type=login",
        "--window",
        "10m",
        "--sliding",
        "--top",
        "3",
    )
    assert result.exit_code == 0, result.output
    assert api.bodies("POST", "/api/v1/query") == [
        {
            "job_ids": ["j1", "j2"],
            "metric": "count",
            "filter": {"event_type": "login"},
            "window": {"size": "10m", "mode": "sliding"},
            "top": 3,
        }
    ]
    assert "2026-11-22T10:10:00Z" in result.stdout and "aggregates" in result.stdout
    assert json.loads(cli("query", "j1", "--json").stdout)["value"] == 7
