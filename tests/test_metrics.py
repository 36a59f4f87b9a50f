"""Each pass's counts as EMF (checked against the published specification), and `stats`
reading a week of them back from CloudWatch (moto)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import jsonschema
import pytest

from powercycle.report import metrics
from powercycle.report.metrics import (
    emf_breakdown,
    emf_line,
    fleet_counts,
    format_stats,
    parse_since,
    stats,
)
from tests.helpers import REGION, ticks

# The JSON schema of CloudWatch's "Specification: Embedded metric format" (Amazon
# CloudWatch User Guide), written out here so that no test reaches the internet. Its
# rules: `_aws` holds an integer `Timestamp` (ms since the epoch) and `CloudWatchMetrics`,
# an array of MetricDirectives; a MetricDirective has a `Namespace` (1-255 characters),
# `Dimensions` (an array of at least one DimensionSet, each an array of at most 30
# dimension names, possibly empty) and `Metrics` (at most 100 MetricDefinitions: a `Name`,
# an optional CloudWatch `Unit`, an optional `StorageResolution` of 1 or 60). "Unless
# otherwise noted, objects defined by this specification MUST NOT contain any additional
# members": the root node may hold anything else.
_UNITS = (
    "Seconds|Microseconds|Milliseconds|Bytes|Kilobytes|Megabytes|Gigabytes|Terabytes|Bits|"
    "Kilobits|Megabits|Gigabits|Terabits|Percent|Count|Bytes/Second|Kilobytes/Second|"
    "Megabytes/Second|Gigabytes/Second|Terabytes/Second|Bits/Second|Kilobits/Second|"
    "Megabits/Second|Gigabits/Second|Terabits/Second|Count/Second|None"
)
_NAME = {"type": "string", "minLength": 1, "maxLength": 255}
EMF_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Root Node",
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "title": "Metadata",
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "additionalProperties": False,
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {
                    "title": "MetricDirectives",
                    "type": "array",
                    "items": {
                        "title": "MetricDirective",
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "additionalProperties": False,
                        "properties": {
                            "Namespace": {**_NAME, "pattern": "^(.*)$"},
                            "Dimensions": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "title": "DimensionSet",
                                    "type": "array",
                                    "minItems": 0,
                                    "maxItems": 30,
                                    "items": {**_NAME, "pattern": "^(.*)$"},
                                },
                            },
                            "Metrics": {
                                "title": "MetricDefinitions",
                                "type": "array",
                                "maxItems": 100,
                                "items": {
                                    "title": "MetricDefinition",
                                    "type": "object",
                                    "required": ["Name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "Name": {**_NAME, "pattern": "^(.*)$"},
                                        "Unit": {"type": "string", "pattern": f"^({_UNITS})$"},
                                        "StorageResolution": {"type": "integer", "enum": [1, 60]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}


_VALIDATOR = jsonschema.Draft7Validator(EMF_SCHEMA)


def emf_violations(doc: dict[str, Any]) -> list[str]:
    """The specification's rules a JSON schema cannot say: references and target members."""
    _VALIDATOR.validate(doc)
    problems = []
    if len(json.dumps(doc).encode()) > 256 * 1024:
        problems.append("larger than a log event may be")
    for directive in doc["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for name in dimension_set:
                if not isinstance(doc.get(name), str):
                    problems.append(f"dimension {name!r} has no string target on the root")
        for metric in directive["Metrics"]:
            value = doc.get(metric["Name"])
            values = value if isinstance(value, list) else [value]
            if not values or len(values) > 100 or not all(_is_number(v) for v in values):
                problems.append(f"metric {metric['Name']!r} has no numeric target on the root")
    return problems


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def value(doc: dict[str, Any], name: str) -> float:
    """A metric's value in an EMF document: Powertools writes an array of values (one here)."""
    values = doc[name]
    assert isinstance(values, list) and len(values) == 1, values
    return float(values[0])


NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


def summary(**extra: Any) -> dict[str, Any]:
    """A pass's summary as the handler returns it (what `metrics` reads of it)."""
    base: dict[str, Any] = {
        "now": "2026-11-23T18:00:00Z",
        "dryRun": False,
        "scanned": 6,
        "actions": [
            {
                "id": "i-1",
                "kind": "ec2",
                "region": "eu-west-1",
                "action": "stop",
                "reason": "new-event",
                "result": "done",
            },
            {
                "id": "i-2",
                "kind": "ec2",
                "region": "eu-west-1",
                "action": "stop",
                "reason": "new-event",
                "result": "done",
            },
            {
                "id": "i-3",
                "kind": "ec2",
                "region": "us-east-1",
                "action": "stop",
                "reason": "new-event",
                "result": "failed",
                "error": "IncorrectInstanceState: no",
            },
            {
                "id": "dev",
                "kind": "eks",
                "region": "eu-west-1",
                "action": "start",
                "reason": "new-event",
                "result": "done",
            },
            {
                "id": "i-4",
                "kind": "ec2",
                "region": "eu-west-1",
                "action": "stop",
                "reason": "new-event",
                "result": "deferred",
            },
        ],
        "errors": [
            {"id": "i-3", "error": "IncorrectInstanceState: no"},  # the failed action's own
            {"id": "i-9", "kind": "ec2", "region": "eu-west-1", "error": "bad tag"},
            {"id": "eks:us-east-1", "error": "discovery failed"},
            {"id": "sns", "error": "SNS notice not sent"},
        ],
        "counts": {"done": 3, "failed": 1, "deferred": 1, "error": 3, "none": 1},
        "fleet": fleet_counts(
            [
                ("ec2", "eu-west-1", True),
                ("ec2", "eu-west-1", True),
                ("ec2", "eu-west-1", False),
                ("ec2", "us-east-1", False),
                ("eks", "eu-west-1", False),
                ("eks", "eu-west-1", True),
            ]
        ),
    }
    return {**base, **extra}


# --- EMF ------------------------------------------------------------------------------


def test_the_pass_totals_are_a_valid_emf_document() -> None:
    """The totals form a valid EMF document of their own (beside the summary log line)."""
    s = summary()
    line = json.loads(json.dumps(emf_line(s, now=NOW)))
    assert emf_violations(line) == []
    assert line["_aws"]["Timestamp"] == 1795456800000
    assert line["_aws"]["CloudWatchMetrics"] == [
        {
            "Namespace": "powercycle",
            "Dimensions": [[]],
            "Metrics": [
                {"Name": name, "Unit": "Count"}
                for name in ("Scanned", "Started", "Stopped", "Failed", "Errors", "Deferred")
            ]
            + [{"Name": "HoursOff", "Unit": "None"}],
        }
    ]
    values = {k: value(line, k) for k in (*metrics.COUNTS, "HoursOff")}
    # Errors: the failed action's own error is Failed, not also Errors.
    assert values == {
        "Scanned": 6,
        "Started": 1,
        "Stopped": 2,
        "Failed": 1,
        "Errors": 3,
        "Deferred": 1,
        "HoursOff": 0.75,  # 3 stopped x 0.25 h
    }


def test_two_documents_per_kind_and_region_one_per_dimension_set() -> None:
    """Kind, then Kind+Region, each a document of its own (Powertools writes one dimension
    set per document); errors placed by kind, `kind:region` or unknown."""
    docs = emf_breakdown(summary(), now=NOW)
    for doc in docs:
        assert emf_violations(doc) == []
    assert [d["Dimensions"] for doc in docs for d in doc["_aws"]["CloudWatchMetrics"]] == [
        [["Kind"]],
        [["Kind", "Region"]],
    ] * (len(docs) // 2)
    by_kind, by_region = docs[0::2], docs[1::2]
    assert [(d["Kind"], value(d, "Scanned")) for d in by_kind] == [
        (d["Kind"], value(d, "Scanned")) for d in by_region
    ]
    assert all("Region" not in d for d in by_kind)
    table = {
        (d["Kind"], d["Region"]): {k: value(d, k) for k in (*metrics.COUNTS, "HoursOff")}
        for d in by_region
    }
    zero = dict.fromkeys((*metrics.COUNTS, "HoursOff"), 0)
    assert table == {
        ("ec2", "eu-west-1"): {
            **zero,
            "Scanned": 3,
            "Stopped": 2,
            "Errors": 1,
            "Deferred": 1,
            "HoursOff": 0.5,
        },
        ("ec2", "us-east-1"): {**zero, "Scanned": 1, "Failed": 1},
        ("eks", "eu-west-1"): {**zero, "Scanned": 2, "Started": 1, "HoursOff": 0.25},
        ("eks", "us-east-1"): {**zero, "Errors": 1},
        ("unknown", "unknown"): {**zero, "Errors": 1},
    }


def test_error_entries_with_kind_and_region_are_placed_by_them() -> None:
    """Once the engine adds kind and region to errors, they are used as they are."""
    s = summary(
        errors=[{"id": "sns", "kind": "ec2", "region": "ap-south-1", "error": "x"}],
        actions=[],
        fleet=[],
    )
    [by_kind, doc] = emf_breakdown(s, now=NOW)
    assert (doc["Kind"], doc["Region"], value(doc, "Errors")) == ("ec2", "ap-south-1", 1)
    assert (by_kind["Kind"], value(by_kind, "Errors")) == ("ec2", 1)


def test_a_dry_run_counts_nothing_done_and_no_hours_off() -> None:
    """`planned` actions are not Started/Stopped; a dry run publishes no HoursOff."""
    planned = [{**a, "result": "planned"} for a in summary()["actions"]]
    line = emf_line(summary(dryRun=True, actions=planned, errors=[]), now=NOW)
    assert emf_violations(line) == []
    assert [value(line, k) for k in ("Started", "Stopped", "Failed")] == [0, 0, 0]
    assert "HoursOff" not in line
    assert all(m["Name"] != "HoursOff" for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"])


def test_manual_runs_publish_no_hours_off() -> None:
    """`pass_interval=None` (a payload or a CLI run): the scheduled passes count the hours."""
    line = emf_line(summary(), now=NOW, pass_interval=None)
    assert "HoursOff" not in line and value(line, "Stopped") == 2
    assert all("HoursOff" not in d for d in emf_breakdown(summary(), now=NOW, pass_interval=None))


def test_a_summary_without_fleet_still_has_its_totals() -> None:
    """Without the `fleet` entry: Scanned in the totals only, no HoursOff."""
    s = summary()
    del s["fleet"]
    line = emf_line(s, now=NOW)
    assert emf_violations(line) == [] and value(line, "Scanned") == 6 and "HoursOff" not in line
    assert all(value(d, "Scanned") == 0 for d in emf_breakdown(s, now=NOW))


def test_the_validator_catches_broken_documents() -> None:
    """The checks can fail: a missing target, a bad unit, too many dimensions."""
    line = emf_line(summary(), now=NOW)
    missing = {k: v for k, v in line.items() if k != "Failed"}
    assert emf_violations(missing) == ["metric 'Failed' has no numeric target on the root"]
    doc = emf_breakdown(summary(), now=NOW)[1]  # under Kind + Region
    assert emf_violations({**doc, "Kind": 3}) == [
        "dimension 'Kind' has no string target on the root",
    ]
    bad_unit = json.loads(json.dumps(line))
    bad_unit["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = "Hours"
    with pytest.raises(jsonschema.ValidationError):
        emf_violations(bad_unit)
    wide = json.loads(json.dumps(line))
    wide["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = [[f"d{n}" for n in range(31)]]
    with pytest.raises(jsonschema.ValidationError):
        emf_violations(wide)


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        emf_line(summary(), now=datetime(2026, 11, 23, 18, 0))


# --- stats on moto: a week of passes ----------------------------------------------------


def extract(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """What CloudWatch Logs makes of one EMF document: one datum per metric and dimension set."""
    when = datetime.fromtimestamp(doc["_aws"]["Timestamp"] / 1000, tz=UTC)
    out = []
    for directive in doc["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for metric in directive["Metrics"]:
                raw = doc[metric["Name"]]
                for datum in raw if isinstance(raw, list) else [raw]:
                    out.append(
                        {
                            "MetricName": metric["Name"],
                            "Dimensions": [{"Name": d, "Value": doc[d]} for d in dimension_set],
                            "Timestamp": when,
                            "Value": float(datum),
                            "Unit": metric.get("Unit", "None"),
                        }
                    )
    return out


def week_of_passes(start: datetime) -> Iterator[dict[str, Any]]:
    """Office hours on 3 EC2 instances (eu-west-1) and a cluster (us-east-1), every 15 min.

    Mon-Fri 08:00 start, 18:00 stop; Wednesday's cluster start fails once and takes at
    08:15; Thursday 12:00 a bad tag on i-bad (an error with no kind); Friday 18:00 one stop
    is deferred to 18:15.
    """
    ec2 = ["i-1", "i-2", "i-3"]
    up: set[str] = set()
    actions: list[dict[str, Any]] = []

    def act(rid: str, kind: str, region: str, action: str, result: str = "done") -> None:
        actions.append(
            {
                "id": rid,
                "kind": kind,
                "region": region,
                "action": action,
                "reason": "new-event",
                "result": result,
            }
        )
        if result == "done":
            (up.add if action == "start" else up.discard)(rid)

    for now in ticks(start, start + timedelta(days=7) - timedelta(minutes=15)):
        actions = []
        errors: list[dict[str, Any]] = []
        weekday, hhmm = now.weekday(), now.strftime("%H:%M")

        if weekday < 5 and hhmm == "08:00":
            for rid in ec2:
                act(rid, "ec2", "eu-west-1", "start")
            if weekday == 2:
                act("dev", "eks", "us-east-1", "start", "failed")
                errors.append({"id": "dev", "error": "CAST AI: 500"})
            else:
                act("dev", "eks", "us-east-1", "start")
        if weekday == 2 and hhmm == "08:15":
            act("dev", "eks", "us-east-1", "start")
        if weekday < 5 and hhmm == "18:00":
            for rid in ec2:
                act(
                    rid,
                    "ec2",
                    "eu-west-1",
                    "stop",
                    "deferred" if weekday == 4 and rid == "i-3" else "done",
                )
            act("dev", "eks", "us-east-1", "stop")
        if weekday == 4 and hhmm == "18:15":
            act("i-3", "ec2", "eu-west-1", "stop")
        if weekday == 3 and hhmm == "12:00":
            errors.append({"id": "i-bad", "error": "ec2Powercycle: bad cron"})
        fleet = fleet_counts(
            [("ec2", "eu-west-1", rid not in up) for rid in ec2]
            + [("eks", "us-east-1", "dev" not in up)]
        )
        yield {
            "now": now.isoformat(),
            "dryRun": False,
            "scanned": 4,
            "actions": actions,
            "errors": errors,
            "counts": {"deferred": sum(a["result"] == "deferred" for a in actions)},
            "fleet": fleet,
        }


WEEK_START = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)  # a Monday


@pytest.fixture(scope="module")
def week() -> Iterator[tuple[Any, dict[str, dict[str, float]]]]:
    """One moto CloudWatch holding a week of passes, shared by the tests that read it
    (writing 23,000 data points to moto takes seconds). Credentials are explicit: the
    per-test environment clean-up must not take them away from this client."""
    from moto import mock_aws

    with mock_aws():
        client = boto3.client(
            "cloudwatch",
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        yield client, put_week(client, WEEK_START)


def put_week(cloudwatch: Any, start: datetime) -> dict[str, dict[str, float]]:
    """Publish a week of passes as CloudWatch would extract them; returns the expected sums."""
    expected: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    data: list[dict[str, Any]] = []
    for s in week_of_passes(start):
        now = datetime.fromisoformat(s["now"])
        for doc in [emf_line(s, now=now), *emf_breakdown(s, now=now)]:
            assert emf_violations(doc) == []
            data += extract(doc)
        # The expectation, counted straight from the passes.
        for a in s["actions"]:
            key = {"done": "started" if a["action"] == "start" else "stopped"}.get(
                a["result"], a["result"]
            )
            expected[a["kind"]][key] += 1
        for e in s["errors"]:
            if not any(a["id"] == e["id"] and a["result"] == "failed" for a in s["actions"]):
                expected["unknown"]["errors"] += 1
        for f in s["fleet"]:
            expected[f["kind"]]["hoursOff"] += f["stopped"] * 0.25
    for first in range(0, len(data), 1000):
        cloudwatch.put_metric_data(Namespace="powercycle", MetricData=data[first : first + 1000])
    return expected


@pytest.mark.slow
def test_stats_reads_a_week_of_passes_back(week: tuple[Any, Any]) -> None:
    """Started, stopped, failed, errors, deferred and hours off per kind, in one call."""
    cloudwatch, expected = week
    report = stats(cloudwatch, since=parse_since("7d"), now=WEEK_START + timedelta(days=7))
    zero = dict.fromkeys(("started", "stopped", "failed", "errors", "deferred", "hoursOff"), 0)
    assert report["kinds"] == {
        "ec2": {
            **zero,
            "started": 15,
            "stopped": 15,
            "deferred": 1,
            "hoursOff": expected["ec2"]["hoursOff"],
        },
        "eks": {
            **zero,
            "started": 5,
            "stopped": 5,
            "failed": 1,
            "hoursOff": expected["eks"]["hoursOff"],
        },
        "unknown": {**zero, "errors": 1},
    }
    for kind, sums in expected.items():
        for key, value in sums.items():
            assert report["kinds"][kind][key] == value, (kind, key)
    # Each instance: Monday 00:00-08:00, four weekday nights of 14 h, the weekend from
    # Friday 18:00 (54 h); less the quarter hour i-3 ran on, deferred, on Friday.
    assert report["kinds"]["ec2"]["hoursOff"] == 3 * (8 + 4 * 14 + 54) - 0.25
    assert report["kinds"]["eks"]["hoursOff"] == 8 + 4 * 14 + 54 + 0.25  # Wednesday's retry
    assert report["total"] == {
        "started": 20,
        "stopped": 20,
        "failed": 1,
        "errors": 1,
        "deferred": 1,
        "hoursOff": pytest.approx(expected["ec2"]["hoursOff"] + expected["eks"]["hoursOff"]),
    }
    assert report["calls"] == 1
    assert (report["since"], report["until"]) == ("2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z")

    text = format_stats(report)
    assert text.splitlines()[0] == "powercycle stats 2026-11-16T00:00:00Z .. 2026-11-23T00:00:00Z"
    assert text.splitlines()[1].split() == [
        "kind",
        "started",
        "stopped",
        "failed",
        "errors",
        "deferred",
        "hours",
        "off",
    ]
    ec2_row = next(line for line in text.splitlines() if line.startswith("ec2"))
    assert ec2_row.split()[:6] == ["ec2", "15", "15", "0", "0", "1"]
    assert text.splitlines()[-1].split()[:6] == ["total", "20", "20", "1", "1", "1"]


@pytest.mark.slow
def test_a_shorter_window_reads_less(week: tuple[Any, Any]) -> None:
    """`--since 1d` on the Friday evening: Friday's stops and the deferred one."""
    cloudwatch, _ = week
    report = stats(
        cloudwatch, since=parse_since("1d"), now=datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
    )
    assert report["kinds"]["ec2"]["started"] == 3
    assert report["kinds"]["ec2"]["stopped"] == 3  # 18:00 twice, 18:15 the deferred one
    assert report["kinds"]["ec2"]["deferred"] == 1
    assert report["kinds"]["eks"]["failed"] == 0


@pytest.mark.slow
def test_an_empty_period_says_so(week: tuple[Any, Any]) -> None:
    cloudwatch, _ = week
    report = stats(cloudwatch, since=timedelta(hours=2), now=datetime(2026, 1, 1, tzinfo=UTC))
    assert report["kinds"] == {}
    assert "(no powercycle metrics in this period)" in format_stats(report)


class Paging:
    """moto answers in one page; this one hands the results out 7 to a page with a
    `NextToken`, as CloudWatch pages a large answer, and counts the calls."""

    def __init__(self, client: Any) -> None:
        self.client, self.calls = client, 0
        self.sizes: list[int] = []
        self.results: list[dict[str, Any]] = []

    def get_metric_data(self, **params: Any) -> dict[str, Any]:
        self.calls += 1
        page = int(params.pop("NextToken", "0"))
        if page == 0:  # a new batch: ask moto once, then hand its answer out page by page
            self.sizes.append(len(params["MetricDataQueries"]))
            self.results = self.client.get_metric_data(**params)["MetricDataResults"]
        results = self.results
        more = len(results) > (page + 1) * 7
        return {
            "MetricDataResults": results[page * 7 : (page + 1) * 7],
            **({"NextToken": str(page + 1)} if more else {}),
        }


@pytest.mark.slow
def test_stats_follows_next_token_and_batches_500_queries(week: tuple[Any, Any]) -> None:
    """Pages are all read; 540 queries make two batches of at most 500."""
    cloudwatch, _ = week
    now = WEEK_START + timedelta(days=7)
    plain = stats(cloudwatch, since=timedelta(days=7), now=now)
    paging = Paging(cloudwatch)
    paged = stats(paging, since=timedelta(days=7), now=now)
    assert paged["kinds"] == plain["kinds"] and paged["total"] == plain["total"]
    # One query per statistic and kind (the registry's kinds and `unknown`), 7 to a page.
    queries = len(metrics.STATS) * len(metrics.kind_names())
    pages = -(-queries // 7)
    assert paging.sizes == [queries] and paging.calls == pages
    assert paged["calls"] == pages
    many = Paging(cloudwatch)
    names = metrics.kind_names()
    kinds = [*names, *(f"k{n}" for n in range(90 - len(names)))]  # 90 kinds: 540 queries
    # Outside the week: moto answers 540 queries quickly when there is nothing to sum.
    stats(many, since=timedelta(days=1), now=datetime(2026, 1, 1, tzinfo=UTC), kinds=kinds)
    assert many.sizes == [500, 40] and many.calls == 72 + 6  # 500 and 40 results, 7 a page


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        (" 2w ", timedelta(weeks=2)),
    ],
)
def test_parse_since(text: str, expected: timedelta) -> None:
    assert parse_since(text) == expected


@pytest.mark.parametrize("text", ["", "7", "0d", "-1d", "1y", "1.5h", "d"])
def test_parse_since_refuses_other_durations(text: str) -> None:
    with pytest.raises(ValueError, match="like 30m, 12h, 7d or 2w"):
        parse_since(text)


def test_the_template_alarms_on_the_failed_total_the_summary_line_publishes() -> None:
    """template.yaml: Failed > 0 in an hour, on the metric emf_line writes (no dimension),
    wired to the topic only when one is given."""
    from pathlib import Path

    from cfnlint.decode import decode_str

    parsed, matches = decode_str((Path(__file__).parents[1] / "template.yaml").read_text())
    assert not matches and parsed is not None
    alarm = parsed["Resources"]["FailedActionsAlarm"]
    assert alarm["Type"] == "AWS::CloudWatch::Alarm"
    props = alarm["Properties"]
    line = emf_line(summary(), now=NOW)
    [directive] = line["_aws"]["CloudWatchMetrics"]
    assert props["Namespace"] == directive["Namespace"] == metrics.NAMESPACE
    assert (
        props["MetricName"] == "Failed"
        and {"Name": "Failed", "Unit": "Count"} in directive["Metrics"]
    )
    assert directive["Dimensions"] == [[]] and "Dimensions" not in props
    assert (props["Statistic"], props["Period"], props["EvaluationPeriods"]) == ("Sum", 3600, 1)
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)
    assert props["TreatMissingData"] == "notBreaching"
    wired = {"Fn::If": ["HasSnsTopic", [{"Ref": "SnsTopicArn"}], {"Ref": "AWS::NoValue"}]}
    assert props["AlarmActions"] == props["OKActions"] == wired


def test_without_fleet_scanned_comes_from_the_scopes() -> None:
    """The engine's `scopes` (resources per kind and region) give Scanned per group."""
    s = summary(
        scopes=[
            {"kind": "ec2", "region": "eu-west-1", "status": "ok", "resources": 3},
            {"kind": "eks", "region": "eu-west-1", "status": "ok", "resources": 2},
            {"kind": "ec2", "region": "us-east-1", "status": "error"},
        ]
    )
    del s["fleet"]
    scanned = {
        (d["Kind"], d["Region"]): value(d, "Scanned")
        for d in emf_breakdown(s, now=NOW)
        if "Region" in d
    }
    assert scanned[("ec2", "eu-west-1")] == 3 and scanned[("eks", "eu-west-1")] == 2
    assert scanned[("ec2", "us-east-1")] == 0
