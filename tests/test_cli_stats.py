"""`powercycle stats` end to end on moto: metrics written the way CloudWatch extracts them
from the passes' EMF lines, read back per kind, as JSON and as a table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from powercycle.cli import main, output
from tests.helpers import REGION


def put(cloudwatch: Any, kind: str, metric: str, value: float, when: datetime) -> None:
    cloudwatch.put_metric_data(
        Namespace="powercycle",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": "Kind", "Value": kind}],
                "Timestamp": when,
                "Value": value,
                "Unit": "None" if metric == "HoursOff" else "Count",
            }
        ],
    )


@pytest.fixture
def metrics_written(moto: None) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    recent = datetime.now(UTC) - timedelta(hours=2)
    for hours_ago in range(3):
        when = recent - timedelta(hours=hours_ago)
        put(cloudwatch, "ec2", "Stopped", 2, when)
        put(cloudwatch, "ec2", "HoursOff", 0.5, when)
    put(cloudwatch, "eks", "Failed", 1, recent)
    put(cloudwatch, "ec2", "Stopped", 7, recent - timedelta(days=10))  # outside --since 7d


def test_stats_json_sums_each_kind_over_the_period(
    metrics_written: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stats", "--since", "7d", "--json", "--region", REGION]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kinds"]["ec2"]["stopped"] == 6 and report["kinds"]["ec2"]["hoursOff"] == 1.5
    assert report["kinds"]["eks"]["failed"] == 1
    assert report["total"]["stopped"] == 6 and report["calls"] == 1


def test_stats_table_on_a_terminal(
    metrics_written: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "stdout_is_terminal", lambda: True)
    assert main(["stats", "--region", REGION]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:7] == [
        "kind",
        "started",
        "stopped",
        "failed",
        "errors",
        "deferred",
        "hours",
    ]
    assert any(line.split()[:3] == ["ec2", "0", "6"] for line in lines)


def test_stats_refuses_a_bad_period(moto: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--since", "a week", "--region", REGION]) == 2
    assert "powercycle:" in capsys.readouterr().err
