"""Powertools at the door and at scale: events told apart by its event data classes (the
strict parsing kept), and a pass meeting every kind in 30 regions printing EMF documents
that each stay within EMF's 100 metrics and 30 dimensions (checked by `test_metrics`'
validator against real Powertools output)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, LambdaFunctionUrlEvent

from powercycle import events
from powercycle.aws import targets as tg
from powercycle.events import EventError, Payload, WorkerEvent
from powercycle.handler import is_http
from powercycle.providers import REGISTRY
from powercycle.report import metrics
from powercycle.report.metrics import fleet_counts
from tests.test_metrics import emf_violations
from tests.test_powertools import url_request

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
# A rule's scheduled event, as the EventBridge user guide shows it.
SCHEDULED = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-11-23T18:00:00Z",
    "region": "eu-west-1",
    "resources": ["arn:aws:events:eu-west-1:123456789012:rule/powercycle"],
    "detail": {},
}
# 30 region names (EMF's dimension limit, should anyone count regions as dimensions).
REGIONS = [
    f"{area}-{side}-{n}"
    for area in ("eu", "us", "ap")
    for side in ("west", "east")
    for n in range(1, 6)
]


def test_a_pass_over_every_kind_in_30_regions_stays_within_emf_limits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every registered kind in 30 regions, each with a stop, a start, a failure and an
    error: every printed line is a valid EMF document of at most 7 metrics and 2
    dimensions, and the documents add up to the totals."""
    kinds = list(REGISTRY)
    actions: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    fleet: list[tuple[str, str, bool]] = []
    for kind in kinds:
        for region in REGIONS:
            for n, (action, result) in enumerate(
                [("stop", "done"), ("start", "done"), ("stop", "failed")]
            ):
                ident = f"{kind}-{region}-{n}"
                actions.append(
                    {
                        "id": ident,
                        "kind": kind,
                        "region": region,
                        "action": action,
                        "reason": "new-event",
                        "result": result,
                    }
                )
                fleet.append((kind, region, action == "stop"))
            errors.append({"id": f"{kind}:{region}", "error": "discovery failed"})
    summary = {
        "now": "2026-11-23T18:00:00Z",
        "dryRun": False,
        "scanned": len(fleet),
        "actions": actions,
        "errors": errors,
        "counts": {"done": 2 * len(kinds) * len(REGIONS), "failed": len(kinds) * len(REGIONS)},
        "fleet": fleet_counts(fleet),
    }
    capsys.readouterr()
    printed = metrics.publish(summary, now=NOW)
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert printed == len(docs) == 1 + 2 * len(kinds) * len(REGIONS)
    for doc in docs:
        assert emf_violations(doc) == []
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert len(directive["Metrics"]) <= 7
        assert all(len(dimension_set) <= 2 for dimension_set in directive["Dimensions"])
    totals = docs[0]
    assert totals["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[]]
    by_region = [d for d in docs[1:] if "Region" in d]
    assert {(d["Kind"], d["Region"]) for d in by_region} == {(k, r) for k in kinds for r in REGIONS}
    for name in ("Stopped", "Started", "Failed", "Errors", "Scanned"):
        assert sum(d[name][0] for d in by_region) == totals[name][0], name


# --- events ---------------------------------------------------------------------------------


def test_the_scheduled_event_is_an_eventbridge_event_and_a_pass() -> None:
    shape = events.classify(SCHEDULED)
    assert isinstance(shape, EventBridgeEvent)
    assert (shape.detail_type, shape.source, shape.detail) == ("Scheduled Event", "aws.events", {})
    assert events.parse(SCHEDULED) == events.Scheduled(dry_run=False)
    assert events.parse({**SCHEDULED, "dryRun": True}) == events.Scheduled(dry_run=True)
    with pytest.raises(EventError, match="unknown payload key 'dryrun'"):
        events.parse({**SCHEDULED, "dryrun": True})  # a typo beside the envelope: refused


def test_a_worker_event_is_read_through_its_data_class_and_parsed_strictly() -> None:
    ref = tg.TargetRef("123456789012", "eu-west-1")
    sent = tg.worker_event(ref, now=NOW, dry_run=True)
    shape = events.classify(sent)
    assert isinstance(shape, WorkerEvent)
    assert (shape.target, shape.now, shape.dry_run) == (
        {"account": "123456789012", "region": "eu-west-1"},
        "2026-11-23T18:00:00Z",
        True,
    )
    assert events.parse(sent, received=NOW) == events.Worker(ref, NOW, True)
    with pytest.raises(EventError, match="worker event: unknown key 'extra'"):
        events.parse({**sent, "extra": 1}, received=NOW)
    with pytest.raises(EventError, match="too far"):
        events.parse(sent, received=datetime(2026, 11, 23, 19, 0, tzinfo=UTC))


def test_payloads_name_their_keys_and_stay_strict() -> None:
    shape = events.classify({"instanceIds": ["i-1"], "action": "Start"})
    assert isinstance(shape, Payload)
    assert (shape.manual_keys, shape.action, shape.unknown_keys) == (["instanceIds"], "Start", [])
    assert events.parse(shape) == events.Manual("ec2", ["i-1"], "start", dry_run=False)
    assert isinstance(events.classify({}), Payload) and events.parse({}) == events.Scheduled(False)
    typo = events.classify({"dry_run": True, "zz": 1})
    assert isinstance(typo, Payload) and typo.unknown_keys == ["dry_run", "zz"]
    with pytest.raises(EventError, match="action needs one of instanceIds"):
        events.parse({"action": "stop"})


def test_a_function_url_request_is_told_apart_and_is_no_payload() -> None:
    request = url_request("/keep")
    assert isinstance(events.classify(request), LambdaFunctionUrlEvent) and is_http(request)
    assert not is_http(SCHEDULED) and not is_http({"requestContext": {"http": "GET"}})
    with pytest.raises(EventError, match="unknown payload key"):
        events.parse(request)  # the handler sends it to the resolver, never into a pass
