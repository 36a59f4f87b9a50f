"""CAST AI faults through the real handler: moto for EKS, the stand-in on loopback.

Each case has a canary cluster that must still act where that makes sense. Times are UTC;
2026-11-23 is a Monday; the seed schedule stops at 17:55 on weekdays.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from powercycle.config import Config
from powercycle.core.tags import OPERATION as OPERATION_TAG
from powercycle.handler import run_event
from powercycle.local.castai_standin import CastAIStandin
from powercycle.providers import eks as eks_provider
from powercycle.runtime import logs
from powercycle.runtime.budget import Budget

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's account
KEY = "castai-fault-key-31d7c2"
SEED = '{ "start": "0 8 * * 1-5", "stop": "55 17 * * 1-5" }'
TAG = "ec2Powercycle"
STATE = "powercycle:state"
STOP_EVENT = "stop@2026-11-23T17:55:00Z"



def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "CASTAI_API_KEY", "CASTAI_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setattr("moto.eks.models.validate_role_arn", lambda arn: None, raising=False)
    with mock_aws():
        yield


@pytest.fixture
def castai() -> Iterator[CastAIStandin]:
    with CastAIStandin(api_key=KEY) as server:
        yield server


def config(castai: CastAIStandin | None, **overrides: Any) -> Config:
    settings: dict[str, Any] = {
        "regions": (REGION,),
        "kinds": ("eks",),
        "castai_api_url": castai.url if castai else "http://127.0.0.1:9",
        "castai_api_key": KEY,
        "retry_delay_s": 0.0,
    }
    settings.update(overrides)
    return Config(**settings)


def make_cluster(name: str, tags: dict[str, str] | None = None, region: str = REGION) -> str:
    answer = boto3.client("eks", region_name=region).create_cluster(
        name=name,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks",
        resourcesVpcConfig={},
        tags=tags or {},
    )
    return str(answer["cluster"]["arn"])


def cluster_tags(name: str, region: str = REGION) -> dict[str, str]:
    eks = boto3.client("eks", region_name=region)
    return dict(eks.describe_cluster(name=name)["cluster"]["tags"])


def pair(castai: CastAIStandin) -> dict[str, str]:
    """Two tagged, running clusters: `dev` (the one the fault hits) and `canary`."""
    ids = {}
    for name in ("dev", "canary"):
        make_cluster(name, {TAG: SEED})
        ids[name] = castai.add_cluster(name, region=REGION)
    return ids


def by_id(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["id"]: a for a in summary["actions"]}


def errors(summary: dict[str, Any]) -> dict[str, str]:
    return {e["id"]: e["error"] for e in summary["errors"]}


# --- the faults --------------------------------------------------------------------------------


def test_retry_after_600_ends_the_pass_quickly_and_the_next_pass_retries(
    aws: None, castai: CastAIStandin
) -> None:
    """429 with Retry-After: 600 on one hibernate: no wait, that cluster reported failed,
    the canary hibernated; the next pass hibernates the first."""
    ids = pair(castai)
    castai.fail_next(1, 429, route="hibernate", retry_after=600)
    started = time.monotonic()
    first = run_event({}, config(castai), at("2026-11-23 18:00"))
    assert time.monotonic() - started < 5
    results = {name: by_id(first)[name]["result"] for name in ids}
    assert sorted(results.values()) == ["done", "failed"]
    hit = next(n for n, r in results.items() if r == "failed")
    assert "HTTP 429" in by_id(first)[hit]["error"]
    assert "does not fit the pass" in by_id(first)[hit]["error"]
    assert STATE not in cluster_tags(hit)

    second = run_event({}, config(castai), at("2026-11-23 18:15"))
    assert by_id(second)[hit]["result"] == "done"
    assert castai.counts["hibernate"] == 3
    assert cluster_tags(hit)[STATE] == STOP_EVENT


def test_a_dropped_hibernate_is_sent_exactly_once(aws: None, castai: CastAIStandin) -> None:
    """CAST AI receives the hibernate, acts, and drops the connection: not sent again;
    the next pass finds the cluster hibernated and records the event without a call."""
    ids = pair(castai)
    castai.drop_next(1, route="hibernate")
    first = run_event({}, config(castai), at("2026-11-23 18:00"))
    dropped = [c for c in castai.calls if c.route == "hibernate" and c.status == 0]
    assert len(dropped) == 1
    cid = dropped[0].path.split("/")[-2]
    hit = next(n for n, i in ids.items() if i == cid)
    other = next(n for n in ids if n != hit)
    assert castai.counts["hibernate"] == 2  # one per cluster, the dropped one not resent
    assert by_id(first)[hit]["result"] == "failed"
    assert "connection dropped" in by_id(first)[hit]["error"]
    assert by_id(first)[other]["result"] == "done"

    second = run_event({}, config(castai), at("2026-11-23 18:15"))
    assert castai.counts["hibernate"] == 2
    assert second["reasons"].get("already-stopped") == 1
    assert cluster_tags(hit)[STATE] == STOP_EVENT


def test_a_redirect_never_carries_the_key(aws: None, castai: CastAIStandin) -> None:
    """A 307 to another host on one hibernate: not followed; the other host (a second
    loopback server) sees no X-API-Key; the canary hibernates."""
    ids = pair(castai)
    with CastAIStandin(api_key="other-host") as elsewhere:
        castai.redirect_next(1, elsewhere.url, route="hibernate")
        summary = run_event({}, config(castai), at("2026-11-23 18:00"))
        seen = elsewhere.calls
    assert all(c.api_key is None for c in seen)
    assert seen == []
    results = {name: by_id(summary)[name] for name in ids}
    failed = [a for a in results.values() if a["result"] == "failed"]
    assert len(failed) == 1
    assert "HTTP 307 redirect to 127.0.0.1:" in failed[0]["error"]
    assert sum(a["result"] == "done" for a in results.values()) == 1
    assert KEY not in json.dumps(summary)


def test_a_malformed_listing_item_is_an_error_for_that_item_only(
    aws: None, castai: CastAIStandin
) -> None:
    """`"eks": "x"` and other broken items: the canary hibernates; the cluster that only
    that item could have matched says so."""
    make_cluster("canary", {TAG: SEED})
    make_cluster("qa", {TAG: SEED})
    castai.add_cluster("canary", region=REGION)
    castai.add_raw_item({"id": "broken-qa", "name": "qa", "status": "ready", "eks": "x"})
    castai.add_raw_item({"name": "no-id", "eks": {"clusterName": "zz"}})
    castai.add_raw_item(["not", "an", "object"])
    summary = run_event({}, config(castai), at("2026-11-23 18:00"))
    assert by_id(summary)["canary"]["result"] == "done"
    error = errors(summary)["qa"]
    assert "malformed" in error and "broken-qa" in error and "'eks' is 'x'" in error
    assert castai.counts["hibernate"] == 1
    assert castai.counts["list"] == 1


def test_the_listing_is_fetched_once_for_three_regions(aws: None, castai: CastAIStandin) -> None:
    regions = (REGION, "us-east-1", "us-west-2")
    for region in regions:
        make_cluster(f"c-{region}", {TAG: SEED}, region=region)
        castai.add_cluster(f"c-{region}", region=region)
    summary = run_event({}, config(castai, regions=regions), at("2026-11-23 18:00"))
    assert summary["counts"] == {"done": 3}
    assert castai.counts["list"] == 1
    assert castai.path_counts["GET /v1/kubernetes/external-clusters"] == 1


def test_a_failed_operation_is_retried_on_the_next_pass(aws: None, castai: CastAIStandin) -> None:
    """The hibernate is accepted, its operation then fails: the next pass reads the
    operation (its id is in `powercycle:operation`), reports CAST AI's reason and
    hibernates again; the canary's finished operation just has its tag removed.

    The reason in the summary needs the engine's handling of `Resource.unhandled`."""
    ids = pair(castai)
    castai.fail_operations(
        1, reason="HibernationFailed", details="node drain timed out", cluster_id=ids["dev"]
    )
    first = run_event({}, config(castai), at("2026-11-23 18:00"))
    assert {by_id(first)[n]["result"] for n in ids} == {"done"}
    operation = cluster_tags("dev")[OPERATION_TAG]
    assert operation.startswith("hibernate@") and "/" in operation
    assert cluster_tags("dev")[STATE] == STOP_EVENT

    second = run_event({}, config(castai), at("2026-11-23 18:15"))
    assert castai.counts["operation"] == 2  # one GET per tagged cluster, no more
    assert OPERATION_TAG not in cluster_tags("canary")
    assert castai.counts["hibernate"] == 3
    assert by_id(second)["dev"]["result"] == "done"
    assert castai.status(ids["dev"]) == "hibernating"
    new_operation = cluster_tags("dev")[OPERATION_TAG]
    assert new_operation != operation
    assert "HibernationFailed node drain timed out" in json.dumps(second)


def test_a_hanging_castai_ends_within_the_budget(
    aws: None, castai: CastAIStandin
) -> None:
    """One hibernate held without an answer: the pass ends within its 3 s budget, that
    cluster is failed (not resent), the canary hibernated."""
    ids = pair(castai)
    castai.hang_next(1, 60.0, route="hibernate")
    started = time.monotonic()
    summary = run_event({}, config(castai), at("2026-11-23 18:00"), budget=Budget(3.0))
    assert time.monotonic() - started < 4.5
    results = sorted(by_id(summary)[n]["result"] for n in ids)
    assert results == ["done", "failed"]
    assert any("no answer in time" in e for e in errors(summary).values())
    assert castai.counts["hibernate"] == 2


def test_a_hanging_listing_ends_within_the_budget(
    aws: None, castai: CastAIStandin
) -> None:
    pair(castai)
    castai.hang_next(5, 60.0, route="list")
    started = time.monotonic()
    summary = run_event({}, config(castai), at("2026-11-23 18:00"), budget=Budget(2.0))
    assert time.monotonic() - started < 3.5
    assert set(errors(summary)) == {"dev", "canary"}
    assert castai.counts["list"] == 1  # a read timeout is not retried
    assert castai.counts["hibernate"] == 0


def test_a_password_in_the_url_is_in_no_summary_and_no_log(
    aws: None, castai: CastAIStandin, caplog: pytest.LogCaptureFixture
) -> None:
    """user:password in CASTAI_API_URL: the pass works; neither the password nor the user
    appears in the summaries or any log record (every logger at DEBUG), even when the URL
    is unreachable."""
    pair(castai)
    secret = "pw-9f8e7d6c"
    url = castai.url.replace("http://", f"http://opsuser:{secret}@")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://opsuser:{secret}@127.0.0.1:{sock.getsockname()[1]}"
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "botocore", "powercycle", "requests"):
        caplog.set_level(logging.DEBUG, logger=name)
    good = run_event({}, config(castai, castai_api_url=url), at("2026-11-23 18:00"))
    bad = run_event({}, config(None, castai_api_url=closed), at("2026-11-24 18:00"))
    assert good["counts"] == {"done": 2}
    assert all("unreachable at http://127.0.0.1:" in e for e in errors(bad).values())
    text = json.dumps([good, bad]) + caplog.text
    text += "\n".join(r.getMessage() for r in caplog.records)
    text += "\n".join(logs.line(r) for r in caplog.records if r.name.startswith("powercycle"))
    assert secret not in text
    assert "opsuser" not in text


def test_a_manual_pause_of_a_production_cluster_in_an_unscanned_region_is_refused(
    aws: None, castai: CastAIStandin
) -> None:
    """`{"clusterNames":["prod"],"action":"pause"}` for a cluster in us-west-2 while the
    Lambda scans eu-west-1: described in its own region, its `Environment=P` tag read and
    handed over, the pause refused (exclusion keys compare case-insensitively)."""
    make_cluster("prod", {"Environment": "P"}, region="us-west-2")
    make_cluster("canary", region="us-west-2")
    castai.add_cluster("prod", region="us-west-2")
    castai.add_cluster("canary", region="us-west-2")
    summary = run_event(
        {"clusterNames": ["prod", "canary"], "action": "pause"},
        config(castai),
        at("2026-11-23 21:00"),
    )
    assert "prod" in errors(summary)
    assert "refused" in errors(summary)["prod"]
    assert by_id(summary)["canary"]["result"] == "done"
    assert by_id(summary)["canary"]["region"] == "us-west-2"
    assert castai.counts["hibernate"] == 1


def test_a_manual_pause_of_a_lowercase_production_tag_in_an_unscanned_region_is_refused(
    aws: None, castai: CastAIStandin
) -> None:
    """The same with `environment=p`: the tags read in us-west-2 reach the guard."""
    make_cluster("prod", {"environment": "p"}, region="us-west-2")
    castai.add_cluster("prod", region="us-west-2")
    summary = run_event(
        {"clusterNames": ["prod"], "action": "pause"}, config(castai), at("2026-11-23 21:00")
    )
    assert "excluded by environment=p" in errors(summary)["prod"]
    assert castai.counts["hibernate"] == 0


def test_a_failed_operation_unhandles_the_event(aws: None, castai: CastAIStandin) -> None:
    """Provider level: the failed operation is read on the next pass, the cluster comes
    back `unhandled` with CAST AI's reason with its state tag kept and `retry` set; acting again
    replaces the operation tag."""
    ids = pair(castai)
    castai.fail_operations(1, reason="HibernationFailed", details="drain", cluster_id=ids["dev"])
    run_event({}, config(castai), at("2026-11-23 18:00"))
    cfg = config(castai)
    (provider,) = eks_provider.providers(cfg, cfg.regions)
    found = {r.id: r for r in provider.discover(TAG)}
    dev = found["dev"]
    assert dev.unhandled is not None
    # Folded into the attempts rule (providers.verify): its attempt, then CAST AI's reason.
    assert dev.unhandled.startswith("stop did not take (attempt 1 of 3): hibernate operation ")
    assert dev.unhandled.endswith("failed: HibernationFailed drain")
    # A retry is its own reason: the state tag is kept, the resource says `retry`.
    assert dev.retry and dev.tags[STATE] == cluster_tags("dev")[STATE]
    assert found["canary"].unhandled is None
    # Done: removed once the engine screened it (`tidy`), never during discovery.
    assert OPERATION_TAG in cluster_tags("canary")
    provider.tidy(list(found.values()))
    assert OPERATION_TAG not in cluster_tags("canary")
    assert castai.counts["operation"] == 2


def test_a_manual_pause_of_a_cluster_whose_tags_cannot_be_read_is_refused(
    aws: None, castai: CastAIStandin
) -> None:
    """CAST AI knows it (us-west-2), EKS there does not: refused with the reason."""
    castai.add_cluster("ghost-prod", region="us-west-2")
    summary = run_event(
        {"clusterNames": ["ghost-prod"], "action": "pause"}, config(castai), at("2026-11-23 21:00")
    )
    error = errors(summary)["ghost-prod"]
    assert "us-west-2" in error and "ResourceNotFoundException" in error
    assert "tags must be read" in error
    assert castai.counts["hibernate"] == 0


def test_a_bad_state_tag_fails_only_its_cluster(aws: None, castai: CastAIStandin) -> None:
    """A state tag whose time overflows: that cluster is reported, the canary acts.
    (The handler-level part needs the engine's per-resource exception boundary.)"""
    make_cluster("dev", {TAG: SEED, STATE: "stop@9999-12-31T23:59:59-23:59"})
    make_cluster("canary", {TAG: SEED})
    castai.add_cluster("dev", region=REGION)
    castai.add_cluster("canary", region=REGION)
    cfg = config(castai)
    (provider,) = eks_provider.providers(cfg, cfg.regions)
    found = {r.id: r for r in provider.discover(TAG)}
    assert found["canary"].error is None and found["dev"].power is not None
    summary = run_event({}, cfg, at("2026-11-23 18:00"))
    assert by_id(summary)["canary"]["result"] == "done"
    assert "dev" in errors(summary)


def test_a_snoozed_cluster_keeps_its_finished_operation_tag(
    aws: None, castai: CastAIStandin
) -> None:
    """Screen before any write: a finished operation's tag is removed only from a cluster
    the pass screened; a snoozed (or excluded) one gets no write of any kind."""
    pair(castai)
    run_event({}, config(castai), at("2026-11-23 18:00"))
    arn = boto3.client("eks", region_name=REGION).describe_cluster(name="canary")["cluster"]["arn"]
    boto3.client("eks", region_name=REGION).tag_resource(
        resourceArn=arn, tags={"powercycle:skip-until": "2026-11-30T00:00:00Z"}
    )
    before = cluster_tags("canary")
    run_event({}, config(castai), at("2026-11-23 18:15"))
    assert OPERATION_TAG not in cluster_tags("dev")  # screened: its finished operation forgotten
    assert cluster_tags("canary") == before  # snoozed: nothing written, nothing removed
