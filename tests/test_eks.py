"""EKS clusters scheduled through CAST AI: engine + EKS provider on moto, CAST AI stand-in
over real HTTP on loopback.

Times are UTC; 2026-11-23 is a Monday. The seed schedule is ec2-powercycle's
`{ "start": "0 8 * * 1-5", "stop": "55 17 * * 1-5" }` (UTC, no tz key).
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto import mock_aws

from powercycle import engine
from powercycle.config import Config
from powercycle.core.decide import Power
from powercycle.handler import run_event
from powercycle.local.castai_standin import CastAIStandin
from powercycle.providers import ActRequest, Provider, all_providers, ec2
from powercycle.providers import eks as eks_provider
from powercycle.providers.eks import CastAIAccess, EksProvider
from powercycle.runtime.budget import Budget

REGION = "eu-west-1"
OTHER_REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account
KEY = "castai-secret-key-9c1b7e4a"
SEED = '{ "start": "0 8 * * 1-5", "stop": "55 17 * * 1-5" }'
RESUMING_SEED = json.dumps(
    {"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5", "resume": {"instanceType": "m5.large"}}
)
TAG = "ec2Powercycle"
STATE = "powercycle:state"
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)


def at(text: str) -> datetime:
    """A moment in UTC: at("2026-11-23 18:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "CASTAI_API_KEY", "CASTAI_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # moto checks each CreateCluster role ARN against a freshly loaded boto3 Session
    # (a quarter of a second per cluster); the role is not what these tests are about.
    monkeypatch.setattr("moto.eks.models.validate_role_arn", lambda arn: None, raising=False)
    with mock_aws():
        yield


@pytest.fixture
def castai() -> Iterator[CastAIStandin]:
    with CastAIStandin(api_key=KEY) as server:
        yield server


class RecordingBudget(Budget):
    """A budget whose sleeps are recorded, not slept (refused when they do not fit)."""

    def __init__(self, seconds: float = 600.0) -> None:
        super().__init__(seconds)
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> bool:
        if seconds > self.remaining() - self.reserve:
            return False
        self.slept.append(seconds)
        return True


def config(castai: CastAIStandin | None = None, **overrides: Any) -> Config:
    settings: dict[str, Any] = {
        "regions": (REGION,),
        "castai_api_url": castai.url if castai else "http://127.0.0.1:9",
        "castai_api_key": KEY,
        "retry_delay_s": 0.0,
    }
    settings.update(overrides)
    return Config(**settings)


def eks_client(region: str = REGION) -> Any:
    return boto3.client("eks", region_name=region)


def make_cluster(name: str, tags: dict[str, str] | None = None, region: str = REGION) -> str:
    """An EKS cluster in moto; returns its ARN."""
    answer = eks_client(region).create_cluster(
        name=name,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks",
        resourcesVpcConfig={},
        tags=tags or {},
    )
    return str(answer["cluster"]["arn"])


def cluster_tags(name: str, region: str = REGION) -> dict[str, str]:
    return dict(eks_client(region).describe_cluster(name=name)["cluster"]["tags"])


def make_instance(tags: dict[str, str], *, stopped: bool = False) -> str:
    ec2_client = boto3.client("ec2", region_name=REGION)
    reservation = ec2_client.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ],
    )
    instance_id = str(reservation["Instances"][0]["InstanceId"])
    if stopped:
        ec2_client.stop_instances(InstanceIds=[instance_id])
    return instance_id


def instance_state(instance_id: str) -> str:
    answer = boto3.client("ec2", region_name=REGION).describe_instances(InstanceIds=[instance_id])
    return str(answer["Reservations"][0]["Instances"][0]["State"]["Name"])


def run(cfg: Config, now: datetime, providers: Sequence[Provider] | None = None) -> dict[str, Any]:
    """One pass; EKS providers only unless told (moto's EC2 costs seconds to start)."""
    if providers is None:
        providers = eks_provider.providers(cfg, cfg.regions)
    return engine.run_pass(cfg, now, providers=providers).to_dict()


def run_all(cfg: Config, now: datetime) -> dict[str, Any]:
    """One pass with every registered provider, as the Lambda runs it."""
    return engine.run_pass(cfg, now, providers=all_providers(cfg, cfg.regions)).to_dict()


def by_id(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["id"]: a for a in summary["actions"]}


def errors(summary: dict[str, Any]) -> dict[str, str]:
    return {e["id"]: e["error"] for e in summary["errors"]}


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- the seed schedule over a week ---------------------------------------------------------


@pytest.mark.slow
def test_a_week_of_the_seed_schedule(aws: None, castai: CastAIStandin) -> None:
    """15-minute ticks Mon 00:00 .. next Mon 00:00: hibernated nights and the weekend,
    resumed weekday mornings; every event acted on once, at the first tick at or after it."""
    make_cluster("dev", {TAG: RESUMING_SEED})
    cid = castai.add_cluster("dev-castai", cluster_name="dev", region=REGION)
    cfg = config(castai)
    client = eks_client()
    acted: list[tuple[datetime, str]] = []
    seen: dict[datetime, str] = {}
    now = MONDAY
    while now <= MONDAY + timedelta(days=7):
        shared = CastAIAccess(cfg, cfg.regions)
        summary = run(cfg, now, [EksProvider(cfg, REGION, shared, client=client)])
        assert summary["errors"] == [], (now, summary["errors"])
        acted += [(now, a["action"]) for a in summary["actions"] if a["result"] == "done"]
        seen[now] = castai.status(cid)
        now += timedelta(minutes=15)

    expected = [(at("2026-11-23 00:00"), "stop")]  # first sight: Friday's 17:55 stop
    for day in range(5):
        expected += [
            (MONDAY + timedelta(days=day, hours=8), "start"),
            (MONDAY + timedelta(days=day, hours=18), "stop"),  # 17:55 seen at 18:00
        ]
    assert acted == expected
    for moment, status in seen.items():
        working = moment.weekday() < 5 and 8 <= moment.hour < 18
        assert status in (("ready", "resuming") if working else ("hibernated", "hibernating")), (
            moment,
            status,
        )
    assert cluster_tags("dev")[STATE] == "stop@2026-11-27T17:55:00Z"
    counts = castai.counts
    assert counts["hibernate"] == 6
    assert counts["resume"] == 5
    assert counts["list"] == len(seen)  # one listing per pass
    resume_bodies = [c.body for c in castai.calls if c.route == "resume"]
    assert all(
        b == {"instanceType": "m5.large", "spotConfig": {"isSpot": False}} for b in resume_bodies
    )


# --- statuses ---------------------------------------------------------------------------------


def test_already_hibernated_is_recorded_without_a_call(aws: None, castai: CastAIStandin) -> None:
    """A stop is due and CAST AI says hibernated: no call, the event is recorded."""
    make_cluster("dev", {TAG: SEED})
    castai.add_cluster("dev", region=REGION, status="hibernated")
    summary = run(config(castai), at("2026-11-23 18:00"))
    assert summary["reasons"] == {"already-stopped": 1}
    assert castai.counts["hibernate"] == 0
    assert cluster_tags("dev")[STATE] == "stop@2026-11-23T17:55:00Z"


def test_hibernating_waits_and_records_nothing(aws: None, castai: CastAIStandin) -> None:
    """In transition: wait for a later run, no call, no state tag."""
    make_cluster("dev", {TAG: RESUMING_SEED})
    castai.add_cluster("dev", region=REGION, status="hibernating")
    summary = run(config(castai), at("2026-11-23 08:00"))
    assert summary["reasons"] == {"in-transition": 1}
    assert summary["actions"] == []
    assert castai.counts["resume"] == castai.counts["hibernate"] == 0
    assert STATE not in cluster_tags("dev")


@pytest.mark.parametrize("status", ["failed", "deleting", "warning-ish"])
def test_unschedulable_status_is_an_error(aws: None, castai: CastAIStandin, status: str) -> None:
    """failed, deleting or an unknown status: an error naming it, nothing done."""
    make_cluster("dev", {TAG: SEED})
    castai.add_cluster("dev", region=REGION, status=status)
    summary = run(config(castai), at("2026-11-23 18:00"))
    if status == "deleting":
        # A deleting cluster is no match at all.
        assert "unknown to CAST AI" in errors(summary)["dev"]
    else:
        assert f"is {status!r}: not schedulable" in errors(summary)["dev"]
    assert castai.counts["hibernate"] == 0
    assert STATE not in cluster_tags("dev")


def test_warning_counts_as_running(aws: None, castai: CastAIStandin) -> None:
    make_cluster("dev", {TAG: SEED})
    castai.add_cluster("dev", region=REGION, status="warning")
    summary = run(config(castai), at("2026-11-23 18:00"))
    assert by_id(summary)["dev"]["result"] == "done"


def test_unknown_to_castai_is_an_error(aws: None, castai: CastAIStandin) -> None:
    """A tagged EKS cluster CAST AI does not know: an error naming it, region and account."""
    make_cluster("dev", {TAG: SEED})
    castai.add_cluster("dev", region=OTHER_REGION)  # same name, other region: not a match
    summary = run(config(castai), at("2026-11-23 18:00"))
    error = errors(summary)["dev"]
    assert "'dev'" in error and REGION in error and ACCOUNT in error
    assert "unknown to CAST AI" in error
    assert castai.counts["hibernate"] == 0


def test_two_matches_are_an_error(aws: None, castai: CastAIStandin) -> None:
    """Two live CAST AI clusters for one EKS cluster: error with both ids, no action."""
    make_cluster("dev", {TAG: SEED})
    first = castai.add_cluster("dev-a", cluster_name="dev", region=REGION)
    second = castai.add_cluster("dev-b", cluster_name="dev", region=REGION)
    castai.add_cluster("dev-old", cluster_name="dev", region=REGION, status="deleted")
    summary = run(config(castai), at("2026-11-23 18:00"))
    error = errors(summary)["dev"]
    assert "2 CAST AI clusters match" in error
    assert first in error and second in error
    assert castai.counts["hibernate"] == 0


def test_untagged_clusters_are_ignored(aws: None, castai: CastAIStandin) -> None:
    make_cluster("dev", {TAG: SEED})
    make_cluster("other", {"team": "x"})
    castai.add_cluster("dev", region=REGION)
    summary = run(config(castai), at("2026-11-23 18:00"))
    assert summary["scanned"] == 1
    assert list(by_id(summary)) == ["dev"]


def test_excluded_cluster_is_skipped_without_asking_castai(
    aws: None, castai: CastAIStandin
) -> None:
    """environment=p: never touched, and CAST AI is not even asked."""
    make_cluster("prod", {TAG: SEED, "environment": "P"})
    castai.add_cluster("prod", region=REGION)
    summary = run(config(castai), at("2026-11-23 18:00"))
    assert summary["counts"] == {"skipped": 1}
    assert sum(castai.counts.values()) == 0


# --- resume ----------------------------------------------------------------------------------


def test_resume_uses_the_schedule_resume_options(aws: None, castai: CastAIStandin) -> None:
    """resume.instanceType and resume.spot go into the body; the start is recorded."""
    schedule = {"start": "0 8 * * 1-5", "resume": {"instanceType": "c6i.large", "spot": True}}
    make_cluster("dev", {TAG: json.dumps(schedule)})
    castai.add_cluster("dev", region=REGION, status="hibernated")
    summary = run(config(castai, castai_resume_instance_type="m5.large"), at("2026-11-23 08:05"))
    assert by_id(summary)["dev"] == {
        "id": "dev",
        "kind": "eks",
        "region": REGION,
        "action": "start",
        "reason": "first-sight",
        "result": "done",
    }
    (call,) = [c for c in castai.calls if c.route == "resume"]
    assert call.body == {"instanceType": "c6i.large", "spotConfig": {"isSpot": True}}
    assert cluster_tags("dev")[STATE] == "start@2026-11-23T08:00:00Z"


def test_resume_falls_back_to_the_configured_instance_type(
    aws: None, castai: CastAIStandin
) -> None:
    make_cluster("dev", {TAG: SEED})
    castai.add_cluster("dev", region=REGION, status="hibernated")
    run(config(castai, castai_resume_instance_type="m5.xlarge"), at("2026-11-23 08:05"))
    (call,) = [c for c in castai.calls if c.route == "resume"]
    assert call.body == {"instanceType": "m5.xlarge", "spotConfig": {"isSpot": False}}


def test_no_instance_type_is_an_error_and_no_call(aws: None, castai: CastAIStandin) -> None:
    """No resume.instanceType and no CASTAI_RESUME_INSTANCE_TYPE: clear error, no call."""
    make_cluster("dev", {TAG: SEED})
    castai.add_cluster("dev", region=REGION, status="hibernated")
    summary = run(config(castai), at("2026-11-23 08:05"))
    action = by_id(summary)["dev"]
    assert action["result"] == "failed"
    assert "NoInstanceType" in action["error"]
    assert "CASTAI_RESUME_INSTANCE_TYPE" in action["error"]
    assert castai.counts["resume"] == 0
    assert STATE not in cluster_tags("dev")


# --- CAST AI trouble ---------------------------------------------------------------------------


def test_429_then_success(aws: None, castai: CastAIStandin) -> None:
    """A 429 with Retry-After on hibernate: waited, retried, done and recorded."""
    make_cluster("dev", {TAG: SEED})
    castai.add_cluster("dev", region=REGION)
    castai.fail_next(1, 429, route="hibernate", retry_after=3)
    cfg = config(castai)
    budget = RecordingBudget()
    summary = run(
        cfg, at("2026-11-23 18:00"), eks_provider.providers(cfg, cfg.regions, budget=budget)
    )
    assert by_id(summary)["dev"]["result"] == "done"
    assert castai.counts["hibernate"] == 2
    assert budget.slept == [3]
    assert cluster_tags("dev")[STATE] == "stop@2026-11-23T17:55:00Z"


def test_500_on_hibernate_fails_then_next_run_retries(aws: None, castai: CastAIStandin) -> None:
    """A 500 on hibernate (CAST AI may have acted): sent once, failed, nothing recorded;
    the next run acts."""
    make_cluster("dev", {TAG: SEED})
    cid = castai.add_cluster("dev", region=REGION)
    castai.fail_next(1, 500, route="hibernate")
    first = run(config(castai), at("2026-11-23 18:00"))
    action = by_id(first)["dev"]
    assert action["result"] == "failed"
    assert "HTTP 500" in action["error"]
    assert castai.counts["hibernate"] == 1
    assert STATE not in cluster_tags("dev")

    second = run(config(castai), at("2026-11-23 18:15"))
    assert by_id(second)["dev"]["result"] == "done"
    assert castai.status(cid) == "hibernating"
    assert cluster_tags("dev")[STATE] == "stop@2026-11-23T17:55:00Z"


def test_bad_key_errors_eks_and_ec2_still_acts(aws: None, castai: CastAIStandin) -> None:
    """A rejected key: each EKS cluster gets the plain error, EC2 in the same run acts."""
    make_cluster("dev", {TAG: SEED})
    make_cluster("qa", {TAG: SEED})
    castai.add_cluster("dev", region=REGION)
    instance = make_instance({TAG: SEED})
    summary = run_all(config(castai, castai_api_key="not-the-key"), at("2026-11-23 18:00"))
    errs = errors(summary)
    for name in ("dev", "qa"):
        assert "CAST AI rejected the API key (bad or under-privileged key)" in errs[name]
    assert "not-the-key" not in json.dumps(summary)
    assert by_id(summary)[instance]["result"] == "done"
    assert instance_state(instance) == "stopped"
    assert castai.counts == {"list": 1}  # one listing for both clusters, not retried


def test_castai_unreachable_eks_errors_and_ec2_still_acts(aws: None) -> None:
    """CAST AI on a closed port: EKS clusters get an error, EC2 instances act."""
    make_cluster("dev", {TAG: SEED})
    instance = make_instance({TAG: SEED})
    url = closed_port_url()
    summary = run_all(config(castai_api_url=url), at("2026-11-23 18:00"))
    assert "unreachable" in errors(summary)["dev"]
    assert url in errors(summary)["dev"]
    assert by_id(summary)[instance]["result"] == "done"
    assert instance_state(instance) == "stopped"
    assert STATE not in cluster_tags("dev")


def test_missing_secret_errors_eks_only(aws: None, castai: CastAIStandin) -> None:
    """No CASTAI_API_KEY and no secret: a clear error naming the secret; EC2 goes on."""
    make_cluster("dev", {TAG: SEED})
    castai.add_cluster("dev", region=REGION)
    instance = make_instance({TAG: SEED})
    summary = run_all(config(castai, castai_api_key=None), at("2026-11-23 18:00"))
    error = errors(summary)["dev"]
    assert "secret 'CastAI-API'" in error and "Secrets Manager" in error
    assert by_id(summary)[instance]["result"] == "done"
    assert sum(castai.counts.values()) == 0


def test_key_from_secrets_manager(aws: None, castai: CastAIStandin) -> None:
    """The seed's secret: name CastAI-API, JSON key CastAIKey."""
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="CastAI-API", SecretString=json.dumps({"CastAIKey": KEY})
    )
    make_cluster("dev", {TAG: SEED})
    castai.add_cluster("dev", region=REGION)
    summary = run(config(castai, castai_api_key=None), at("2026-11-23 18:00"))
    assert by_id(summary)["dev"]["result"] == "done"


def test_secret_without_castai_key_is_an_error(aws: None, castai: CastAIStandin) -> None:
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="CastAI-API", SecretString=json.dumps({"apiKey": KEY})
    )
    make_cluster("dev", {TAG: SEED})
    castai.add_cluster("dev", region=REGION)
    summary = run(config(castai, castai_api_key=None), at("2026-11-23 18:00"))
    assert "not JSON with a non-empty 'CastAIKey'" in errors(summary)["dev"]
    assert KEY not in json.dumps(summary)


@dataclass
class CountingSecrets:
    calls: list[str] = field(default_factory=list)

    def get_secret_value(self, SecretId: str) -> dict[str, str]:
        self.calls.append(SecretId)
        return {"SecretString": json.dumps({"CastAIKey": KEY})}


def test_no_tagged_cluster_no_secret_no_castai(aws: None, castai: CastAIStandin) -> None:
    """Untagged EKS clusters and tagged EC2 only: no secret read, no CAST AI call."""
    make_cluster("other", {"team": "x"})
    instance = make_instance({TAG: SEED})
    cfg = config(castai, castai_api_key=None)
    secrets = CountingSecrets()
    shared = CastAIAccess(cfg, cfg.regions, secrets=secrets)
    providers = [
        *ec2.providers(cfg, cfg.regions),
        *eks_provider.providers(cfg, cfg.regions, castai=shared),
    ]
    summary = run(cfg, at("2026-11-23 18:00"), providers)
    assert by_id(summary)[instance]["result"] == "done"
    assert summary["errors"] == []
    assert secrets.calls == []
    assert sum(castai.counts.values()) == 0


def test_secret_read_once_for_many_clusters_and_regions(aws: None, castai: CastAIStandin) -> None:
    """Three tagged clusters in two regions: one secret read, one listing."""
    for name, region in (("a", REGION), ("b", REGION), ("c", OTHER_REGION)):
        make_cluster(name, {TAG: SEED}, region=region)
        castai.add_cluster(name, region=region)
    cfg = config(castai, castai_api_key=None, regions=(REGION, OTHER_REGION))
    secrets = CountingSecrets()
    shared = CastAIAccess(cfg, cfg.regions, secrets=secrets)
    summary = run(
        cfg, at("2026-11-23 18:00"), eks_provider.providers(cfg, cfg.regions, castai=shared)
    )
    assert summary["counts"] == {"done": 3}
    assert secrets.calls == ["CastAI-API"]
    assert castai.counts["list"] == 1
    assert castai.counts["hibernate"] == 3


# --- EC2 and EKS together, scale ----------------------------------------------------------------


def test_ec2_and_eks_in_the_same_pass(aws: None, castai: CastAIStandin) -> None:
    """One pass, both kinds, the same decision: start due -> EC2 started, EKS resumed."""
    make_cluster("dev", {TAG: RESUMING_SEED})
    cid = castai.add_cluster("dev", region=REGION, status="hibernated")
    instance = make_instance({TAG: SEED}, stopped=True)
    summary = run_all(config(castai), at("2026-11-24 08:10"))
    actions = by_id(summary)
    assert actions["dev"]["kind"] == "eks" and actions["dev"]["result"] == "done"
    assert actions[instance]["kind"] == "ec2" and actions[instance]["result"] == "done"
    assert actions["dev"]["action"] == actions[instance]["action"] == "start"
    assert castai.status(cid) == "resuming"
    assert instance_state(instance) == "running"
    assert cluster_tags("dev")[STATE] == "start@2026-11-24T08:00:00Z"


@pytest.mark.slow
def test_fifty_clusters_cost_one_listing(aws: None, castai: CastAIStandin) -> None:
    """50 tagged EKS clusters: exactly one CAST AI listing call, 50 hibernate calls."""
    for i in range(50):
        make_cluster(f"dev-{i:02d}", {TAG: SEED})
        castai.add_cluster(f"dev-{i:02d}", region=REGION)
    summary = run(config(castai), at("2026-11-23 18:00"))
    assert summary["counts"] == {"done": 50}
    assert castai.counts["list"] == 1
    assert castai.counts["get"] == 0
    assert castai.counts["hibernate"] == 50
    assert all(cluster_tags(f"dev-{i:02d}")[STATE] == "stop@2026-11-23T17:55:00Z" for i in (0, 49))


def test_listing_paginates(
    aws: None, castai: CastAIStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ListClusters is read page by page (page size forced to 2 here)."""
    monkeypatch.setattr(eks_provider, "PAGE_SIZE", 2)
    for i in range(5):
        make_cluster(f"c{i}", {TAG: SEED})
        castai.add_cluster(f"c{i}", region=REGION)
    summary = run(config(castai), at("2026-11-23 18:00"))
    assert summary["counts"] == {"done": 5}


# --- maxRuntime from the recorded start -------------------------------------------------------


def test_max_runtime_counts_from_the_recorded_start(aws: None, castai: CastAIStandin) -> None:
    """EKS has no launch time: maxRuntime runs from the start in the state tag."""
    schedule = json.dumps({"start": "0 8 * * *", "maxRuntime": "4h"})
    make_cluster("dev", {TAG: schedule, STATE: "start@2026-11-23T08:00:00Z"})
    castai.add_cluster("dev", region=REGION)
    before = run(config(castai), at("2026-11-23 11:45"))
    assert before["reasons"] == {"handled": 1}
    after = run(config(castai), at("2026-11-23 12:15"))
    assert by_id(after)["dev"]["reason"] == "max-runtime"
    assert by_id(after)["dev"]["result"] == "done"
    assert cluster_tags("dev")[STATE] == "stop@2026-11-23T12:15:00Z"


def test_running_since_is_none_without_a_recorded_start(aws: None, castai: CastAIStandin) -> None:
    make_cluster("a", {TAG: SEED, STATE: "stop@2026-11-20T17:55:00Z"})
    make_cluster("b", {TAG: SEED, STATE: "start@2026-11-23T08:00:00Z"})
    castai.add_cluster("a", region=REGION)
    castai.add_cluster("b", region=REGION)
    cfg = config(castai)
    provider = eks_provider.providers(cfg, cfg.regions)[0]
    found = {r.id: r for r in provider.discover(TAG)}
    assert found["a"].running_since is None
    assert found["b"].running_since == at("2026-11-23 08:00")


# --- the seed's payload --------------------------------------------------------------------------


def test_seed_payload_with_a_known_and_an_unknown_name(aws: None, castai: CastAIStandin) -> None:
    """{"clusterNames": [...], "action": "pause"}: the known one hibernated, the unknown
    one reported (not skipped silently). The cluster need not carry a schedule tag."""
    cid = castai.add_cluster("boutique-110821-pa-AcmeCo", cluster_name="boutique", region=REGION)
    make_cluster("boutique")
    event = {"clusterNames": ["boutique-110821-pa-AcmeCo", "ghost"], "action": "pause"}
    summary = run_event(event, config(castai), at("2026-11-23 21:00"))
    assert by_id(summary)["boutique-110821-pa-AcmeCo"]["result"] == "done"
    assert by_id(summary)["boutique-110821-pa-AcmeCo"]["action"] == "stop"
    assert "'ghost'" in errors(summary)["ghost"] and "found" in errors(summary)["ghost"]
    assert castai.counts["hibernate"] == 1
    assert castai.status(cid) == "hibernating"

    # Resume: by eks.clusterName this time; the instance type from the configuration.
    castai.set_status(cid, "hibernated")
    resumed = run_event(
        {"clusterNames": ["boutique"], "action": "resume"},
        config(castai, castai_resume_instance_type="m5.large"),
        at("2026-11-24 07:00"),
    )
    assert by_id(resumed)["boutique"]["result"] == "done"
    assert castai.status(cid) == "resuming"


def test_payload_does_not_resume_a_ready_cluster(aws: None, castai: CastAIStandin) -> None:
    """Status is checked first: resuming a ready cluster makes no call."""
    make_cluster("dev")
    castai.add_cluster("dev", region=REGION)
    summary = run_event(
        {"clusterNames": ["dev"], "action": "start"},
        config(castai, castai_resume_instance_type="m5.large"),
        at("2026-11-23 21:00"),
    )
    assert summary["reasons"] == {"already-running": 1}
    assert summary["actions"] == []
    assert castai.counts["resume"] == 0


def test_payload_skips_a_cluster_in_transition(aws: None, castai: CastAIStandin) -> None:
    make_cluster("dev")
    castai.add_cluster("dev", region=REGION, status="resuming")
    summary = run_event(
        {"clusterNames": ["dev"], "action": "hibernate"}, config(castai), at("2026-11-23 21:00")
    )
    assert summary["counts"] == {"skipped": 1}
    assert castai.counts["hibernate"] == 0


def test_payload_respects_the_production_guard(aws: None, castai: CastAIStandin) -> None:
    """The EKS cluster's environment=p tag refuses a manual pause too."""
    make_cluster("prod", {"environment": "p"})
    castai.add_cluster("prod", region=REGION)
    summary = run_event(
        {"clusterNames": ["prod"], "action": "pause"}, config(castai), at("2026-11-23 21:00")
    )
    assert "excluded by environment=p" in errors(summary)["prod"]
    assert castai.counts["hibernate"] == 0


def test_payload_over_several_regions_acts_once(aws: None, castai: CastAIStandin) -> None:
    """Each region's provider sees the listing; only the cluster's own region returns it,
    and a cluster in an unscanned region is handled by the first region, described (and
    reported) in its own region."""
    make_cluster("east", region=OTHER_REGION)
    make_cluster("far", region="ap-southeast-2")
    castai.add_cluster("east", region=OTHER_REGION)
    castai.add_cluster("far", region="ap-southeast-2")
    cfg = config(castai, regions=(REGION, OTHER_REGION))
    summary = run_event(
        {"clusterNames": ["east", "far"], "action": "pause"}, cfg, at("2026-11-23 21:00")
    )
    actions = by_id(summary)
    assert actions["east"]["region"] == OTHER_REGION
    assert actions["far"]["region"] == "ap-southeast-2"
    assert len(summary["actions"]) == 2
    assert castai.counts["hibernate"] == 2
    assert castai.counts["list"] == 1


def test_payload_ambiguous_name_is_reported_once(aws: None, castai: CastAIStandin) -> None:
    castai.add_cluster("dup", region=REGION)
    castai.add_cluster("dup", region=OTHER_REGION)
    cfg = config(castai, regions=(REGION, OTHER_REGION))
    summary = run_event({"clusterNames": ["dup"], "action": "pause"}, cfg, at("2026-11-23 21:00"))
    assert [e["id"] for e in summary["errors"]] == ["dup"]
    assert "2 CAST AI clusters named 'dup'" in summary["errors"][0]["error"]
    assert castai.counts["hibernate"] == 0


def test_payload_with_a_bad_key_reports_each_name(aws: None, castai: CastAIStandin) -> None:
    castai.add_cluster("dev", region=REGION)
    cfg = config(castai, castai_api_key="wrong", regions=(REGION, OTHER_REGION))
    summary = run_event(
        {"clusterNames": ["dev", "qa"], "action": "pause"}, cfg, at("2026-11-23 21:00")
    )
    errs = errors(summary)
    assert set(errs) == {"dev", "qa"}
    assert all("rejected the API key" in e for e in errs.values())


# --- the key stays secret -------------------------------------------------------------------------


def test_the_key_appears_in_no_log_line_and_no_summary(
    aws: None, castai: CastAIStandin, caplog: pytest.LogCaptureFixture
) -> None:
    """Key from Secrets Manager, every logger at DEBUG (urllib3, botocore too), a run with
    actions, a 401 and a 500: the key is in no captured record and not in the summaries."""
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="CastAI-API", SecretString=json.dumps({"CastAIKey": KEY})
    )
    make_cluster("dev", {TAG: SEED})
    make_cluster("qa", {TAG: RESUMING_SEED})
    castai.add_cluster("dev", region=REGION)
    castai.add_cluster("qa", region=REGION, status="hibernated")
    cfg = config(castai, castai_api_key=None)
    castai.fail_next(4, 500, route="resume")
    # Capture from here on: the set-up above wrote the secret, the tool must not log it.
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "botocore", "powercycle", "requests"):
        caplog.set_level(logging.DEBUG, logger=name)
    summaries = [
        run(cfg, at("2026-11-23 18:00")),
        run(cfg, at("2026-11-24 08:00")),
        run_event({"clusterNames": ["dev"], "action": "pause"}, cfg, at("2026-11-24 09:00")),
    ]
    castai.fail_next(1, 401)
    summaries.append(run(cfg, at("2026-11-24 18:00")))

    records = caplog.records
    assert any(r.name.startswith("urllib3") for r in records)  # the debug logs were captured
    assert any("GetSecretValue" in r.getMessage() for r in records)  # so was the secret read
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in records)
    assert KEY not in text
    assert KEY not in caplog.text
    assert KEY not in json.dumps(summaries)
    assert any(a["result"] == "done" for s in summaries for a in s["actions"])
    assert any("rejected the API key" in e["error"] for s in summaries for e in s["errors"])


def test_the_key_is_in_no_repr(aws: None, castai: CastAIStandin) -> None:
    cfg = config(castai)
    shared = CastAIAccess(cfg, cfg.regions)
    client = shared.client()
    assert KEY not in repr(cfg) + repr(shared) + repr(client)


def test_requests_reach_the_standin_under_mock_aws(aws: None, castai: CastAIStandin) -> None:
    """moto's mock passes plain HTTP to loopback through: the stand-in really answers."""
    answer = requests.get(
        castai.url + "/v1/kubernetes/external-clusters", headers={"X-API-Key": KEY}, timeout=5
    )
    assert answer.json() == {"items": []}
    assert castai.counts["list"] == 1


class FlakyEks:
    """An EKS client stub: two clusters listed, DescribeCluster refused for one."""

    def get_paginator(self, name: str) -> Any:
        assert name == "list_clusters"
        return self

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        return [{"clusters": ["ok"]}, {"clusters": ["locked"]}]

    def describe_cluster(self, name: str) -> dict[str, Any]:
        if name == "locked":
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}},
                "DescribeCluster",
            )
        arn = f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{name}"
        return {"cluster": {"name": name, "arn": arn, "tags": {TAG: SEED}}}


def test_describe_failure_is_an_error_for_that_cluster_only(castai: CastAIStandin) -> None:
    """One cluster whose tags cannot be read is reported; the others are scheduled."""
    castai.add_cluster("ok", region=REGION)
    cfg = config(castai)
    provider = EksProvider(cfg, REGION, CastAIAccess(cfg, cfg.regions), client=FlakyEks())
    found = {r.id: r for r in provider.discover(TAG)}
    assert found["ok"].power is Power.RUNNING and found["ok"].error is None
    assert found["locked"].error == "DescribeCluster failed: AccessDeniedException: not allowed"


# --- budget and concurrency ------------------------------------------------------------------


class Closable(Budget):
    """An unlimited budget that a test can close."""

    def __init__(self) -> None:
        super().__init__(600.0)
        self.closed = False

    def open(self) -> bool:
        return not self.closed and super().open()


def test_a_spent_budget_defers_every_action(aws: None, castai: CastAIStandin) -> None:
    """Budget spent after discovery: no hibernate is sent, each answer is `Deferred`."""
    for name in ("a", "b"):
        make_cluster(name, {TAG: SEED})
        castai.add_cluster(name, region=REGION)
    cfg = config(castai)
    budget = Closable()
    (provider,) = eks_provider.providers(cfg, cfg.regions, budget=budget)
    found = list(provider.discover(TAG))
    budget.closed = True
    answers = provider.act("stop", [ActRequest(r, None) for r in found])
    assert {a.code for a in answers.values() if a is not None} == {"Deferred"}
    assert len(answers) == 2
    assert castai.counts["hibernate"] == 0


def test_hibernates_of_a_region_run_concurrently(aws: None, castai: CastAIStandin) -> None:
    """8 hibernates each held 0.5 s: about 0.5 s in all, not 4 s one after another."""
    for i in range(8):
        make_cluster(f"c{i}", {TAG: SEED})
        castai.add_cluster(f"c{i}", region=REGION)
    castai.hang_next(8, 0.5, route="hibernate")
    cfg = config(castai)
    (provider,) = eks_provider.providers(cfg, cfg.regions)
    found = list(provider.discover(TAG))
    started = time.monotonic()
    answers = provider.act("stop", [ActRequest(r, None) for r in found])
    assert time.monotonic() - started < 2.0
    assert castai.counts["hibernate"] == 8  # each held, dropped, and not sent again
    assert all(a is not None and "connection dropped" in a.message for a in answers.values())
