"""providers/ecs.py on moto, through the real handler: ECS services to zero on an uptime
schedule and back to exactly their sizes, with and without an Application Auto Scaling
target (its minimum to 0 and back, its maximum never touched nor exceeded), the sealed
memory, DAEMON services refused, faults confined to their service, production and dry run
untouched, discovery calls counted, a failed deployment reported.

moto's ECS runs no task: a service reports `runningCount` = the environment variable
`MOTO_ECS_SERVICE_RUNNING` when it is created, and = its desired count after every
UpdateService that sets one. `service()` sets the variable to the desired count of the
service it creates, so moto answers as ECS does once the tasks have started (or drained).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from freezegun import freeze_time
from moto.core import DEFAULT_ACCOUNT_ID

from powercycle import aws
from powercycle.config import Config
from powercycle.core.decide import Power
from powercycle.core.seal import unsealed
from powercycle.core.tags import CAPACITY, seal_tag
from powercycle.handler import handler, run_event
from powercycle.providers import REGISTRY
from powercycle.providers.ecs import EcsProvider
from powercycle.providers.ecs_services import power_of, tag_command
from tests.helpers import KEY_SECRET, REGION, STATE_TAG, TAG, TEST_KEY, at, client_error

UPTIME = "Mon-Fri 08:00-17:55"  # tag-safe: ECS takes no JSON in a tag value
EVENING = at("2026-11-23 18:00")  # Monday, UTC: the 17:55 stop is due
MORNING = at("2026-11-24 08:05")  # Tuesday: the 08:00 start
STOPPED = "stop@2026-11-23T17:55:00Z"
ECS_ONLY = Config(regions=(REGION,), kinds=("ecs",), retry_delay_s=0.0, key_secret=KEY_SECRET)
KEY = TEST_KEY.encode()
DIMENSION = "ecs:service:DesiredCount"


@pytest.fixture
def ecs(moto: None) -> Any:
    """The ECS client the handler's providers use (clients are cached per process)."""
    client = aws.client("ecs", REGION)
    client.register_task_definition(
        family="web", containerDefinitions=[{"name": "web", "image": "nginx", "memory": 128}]
    )
    return client


@pytest.fixture
def scaling(moto: None) -> Any:
    return aws.client("application-autoscaling", REGION)


@pytest.fixture
def service(ecs: Any, scaling: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """`service(name, desired, tags=..., cluster=..., target=(min, max), daemon=...)`: a
    service on moto, its ARN returned."""
    clusters: set[str] = set()

    def make(
        name: str,
        desired: int,
        tags: Mapping[str, str] | None = None,
        *,
        cluster: str = "dev",
        target: tuple[int, int] | None = None,
        daemon: bool = False,
    ) -> str:
        if cluster not in clusters:
            ecs.create_cluster(clusterName=cluster)
            clusters.add(cluster)
        monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", str(desired))
        extra: dict[str, Any] = {"schedulingStrategy": "DAEMON"} if daemon else {}
        created = ecs.create_service(
            cluster=cluster,
            serviceName=name,
            taskDefinition="web",
            desiredCount=desired,
            tags=[{"key": k, "value": v} for k, v in (tags or {TAG: UPTIME}).items()],
            **extra,
        )
        if target is not None:
            scaling.register_scalable_target(
                ServiceNamespace="ecs",
                ResourceId=f"service/{cluster}/{name}",
                ScalableDimension=DIMENSION,
                MinCapacity=target[0],
                MaxCapacity=target[1],
            )
        return str(created["service"]["serviceArn"])

    return make


def described(ecs: Any, name: str, cluster: str = "dev") -> dict[str, Any]:
    (found,) = ecs.describe_services(cluster=cluster, services=[name], include=["TAGS"])["services"]
    return dict(found)


def sizes(ecs: Any, scaling: Any, name: str, cluster: str = "dev") -> tuple[Any, int, Any]:
    """(target min or None, desired count, target max or None)."""
    targets = scaling.describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=[f"service/{cluster}/{name}"]
    )["ScalableTargets"]
    low, high = (targets[0]["MinCapacity"], targets[0]["MaxCapacity"]) if targets else (None, None)
    return low, described(ecs, name, cluster)["desiredCount"], high


def tags(ecs: Any, name: str, cluster: str = "dev") -> dict[str, str]:
    return {t["key"]: t["value"] for t in described(ecs, name, cluster).get("tags", ())}


def calls_of(*clients: Any) -> Counter[str]:
    """Counts the operations made through `clients` and the tagging API from now on."""
    seen: Counter[str] = Counter()
    for client in (*clients, aws.client("resourcegroupstaggingapi", REGION)):
        client.meta.events.register(
            "provide-client-params.*", lambda model, **_: seen.update([model.name])
        )
    return seen


WRITES = {"UpdateService", "RegisterScalableTarget", "TagResource", "UntagResource"}


def actions_of(result: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    return [(a["id"], a["action"], a["result"]) for a in result["actions"]]


def errors_of(result: Mapping[str, Any]) -> dict[str, str]:
    return {e["id"]: e["error"] for e in result["errors"]}


# --- round trips -------------------------------------------------------------------------


def test_a_service_without_a_scaling_target_goes_to_zero_and_back(
    ecs: Any, scaling: Any, service: Callable[..., str]
) -> None:
    arn = service("web", 2)
    seen = calls_of(ecs, scaling)
    result = run_event({}, ECS_ONLY, EVENING)
    assert actions_of(result) == [("dev/web", "stop", "done")] and not result["errors"]
    assert sizes(ecs, scaling, "web") == (None, 0, None)
    held = tags(ecs, "web")
    assert held[CAPACITY] == "-/2/-"
    assert unsealed(KEY, arn, CAPACITY, held) == {CAPACITY: "-/2/-"}
    assert held[STATE_TAG] == STOPPED
    assert seen["RegisterScalableTarget"] == 0

    result = run_event({}, ECS_ONLY, MORNING)
    assert actions_of(result) == [("dev/web", "start", "done")] and not result["errors"]
    assert sizes(ecs, scaling, "web") == (None, 2, None)
    held = tags(ecs, "web")
    assert CAPACITY not in held and seal_tag(CAPACITY) not in held
    assert held[STATE_TAG] == "start@2026-11-24T08:00:00Z"


def test_with_a_scaling_target_min_goes_to_zero_max_is_kept_and_all_come_back(
    ecs: Any, scaling: Any, service: Callable[..., str]
) -> None:
    service("api", 3, target=(1, 6))
    result = run_event({}, ECS_ONLY, EVENING)
    assert actions_of(result) == [("dev/api", "stop", "done")] and not result["errors"]
    assert sizes(ecs, scaling, "api") == (0, 0, 6)  # scaling cannot put tasks back
    assert tags(ecs, "api")[CAPACITY] == "1/3/6"
    assert power_of(described(ecs, "api")) is Power.STOPPED

    result = run_event({}, ECS_ONLY, MORNING)
    assert actions_of(result) == [("dev/api", "start", "done")] and not result["errors"]
    assert sizes(ecs, scaling, "api") == (1, 3, 6)
    assert CAPACITY not in tags(ecs, "api")
    # The evening after, the same again: nothing was lost on the way.
    run_event({}, ECS_ONLY, at("2026-11-24 18:00"))
    assert sizes(ecs, scaling, "api") == (0, 0, 6)
    assert tags(ecs, "api")[CAPACITY] == "1/3/6"


def test_a_target_at_min_zero_keeps_its_desired_count_exactly(
    ecs: Any, scaling: Any, service: Callable[..., str]
) -> None:
    service("batch", 5, target=(0, 10))
    seen = calls_of(ecs, scaling)
    run_event({}, ECS_ONLY, EVENING)
    assert tags(ecs, "batch")[CAPACITY] == "0/5/10"
    assert seen["RegisterScalableTarget"] == 0  # its minimum is 0 already
    run_event({}, ECS_ONLY, MORNING)
    assert sizes(ecs, scaling, "batch") == (0, 5, 10)


# --- a tag is a request, never a grant ---------------------------------------------------


@pytest.mark.parametrize("forged", ["5/8/10", "1/3/6 ", "-/9/-", "1,3,6"])
def test_a_tampered_memory_is_refused_and_nothing_changes(
    ecs: Any, scaling: Any, service: Callable[..., str], forged: str
) -> None:
    arn = service("api", 3, target=(1, 6))
    run_event({}, ECS_ONLY, EVENING)
    ecs.tag_resource(resourceArn=arn, tags=[{"key": CAPACITY, "value": forged}])
    before = tags(ecs, "api")
    seen = calls_of(ecs, scaling)

    result = run_event({}, ECS_ONLY, MORNING)

    assert CAPACITY in errors_of(result)["dev/api"]
    assert not WRITES & set(seen)
    assert sizes(ecs, scaling, "api") == (0, 0, 6)
    assert tags(ecs, "api") == before  # every tag kept


def test_a_start_never_goes_above_the_current_maximum(
    ecs: Any, scaling: Any, service: Callable[..., str]
) -> None:
    """A memory powercycle sealed, but the maximum was lowered since: clamped, said."""
    service("api", 3, target=(1, 6))
    run_event({}, ECS_ONLY, EVENING)
    scaling.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId="service/dev/api",
        ScalableDimension=DIMENSION,
        MaxCapacity=2,
    )
    result = run_event({}, ECS_ONLY, MORNING)
    assert sizes(ecs, scaling, "api") == (1, 2, 2)  # the maximum untouched
    (warning,) = [w["warning"] for w in result["warnings"] if w["id"] == "dev/api"]
    assert "clamped to the current scaling maximum 2" in warning


def test_no_memory_at_zero_is_an_error_and_no_call(
    ecs: Any, scaling: Any, service: Callable[..., str]
) -> None:
    service("idle", 0)
    seen = calls_of(ecs, scaling)
    result = run_event({}, ECS_ONLY, MORNING)
    (action,) = result["actions"]
    assert action["result"] == "failed" and "NothingRemembered" in action["error"]
    assert set(seen) == {"GetResources", "DescribeServices"}
    assert sizes(ecs, scaling, "idle") == (None, 0, None)


def test_a_daemon_service_is_refused_with_the_reason(
    ecs: Any, scaling: Any, service: Callable[..., str]
) -> None:
    service("agent", 0, daemon=True)
    service("web", 1)
    seen = calls_of(ecs, scaling)
    result = run_event({}, ECS_ONLY, EVENING)
    assert "DAEMON" in errors_of(result)["dev/agent"]
    assert actions_of(result) == [("dev/web", "stop", "done")]
    assert seen["UpdateService"] == 1  # web's alone


# --- faults, guards, dry run ---------------------------------------------------------------


class Refusal:
    """Refuses `operation` for the service `name` before it is sent."""

    def __init__(self, client: Any, operation: str, name: str) -> None:
        self.active = True
        self.refused: list[str] = []
        self._args = (name, operation)
        client.meta.events.register(f"before-parameter-build.ecs.{operation}", self.hook)

    def hook(self, params: dict[str, Any], **_: Any) -> None:
        name, operation = self._args
        if self.active and params.get("service") == name:
            self.refused.append(name)
            raise client_error("InvalidParameterException", "refused by the test", operation)


def test_one_failing_service_is_confined_to_itself(
    ecs: Any, scaling: Any, service: Callable[..., str]
) -> None:
    for name in ("a", "b", "c"):
        service(name, 2, target=(1, 4))
    refused = Refusal(ecs, "UpdateService", "b")
    result = run_event({}, ECS_ONLY, EVENING)
    by_id = {a["id"]: a for a in result["actions"]}
    assert {n: by_id[f"dev/{n}"]["result"] for n in "abc"} == {
        "a": "done",
        "b": "failed",
        "c": "done",
    }
    assert "InvalidParameterException" in by_id["dev/b"]["error"]
    assert sizes(ecs, scaling, "a") == sizes(ecs, scaling, "c") == (0, 0, 4)
    assert sizes(ecs, scaling, "b") == (1, 2, 4)  # its minimum set back after the refusal
    assert STATE_TAG not in tags(ecs, "b")  # retried next pass
    refused.active = False
    result = run_event({}, ECS_ONLY, at("2026-11-23 18:15"))
    assert actions_of(result) == [("dev/b", "stop", "done")]
    assert tags(ecs, "b")[CAPACITY] == "1/2/4"  # remembered as it was, not as half-stopped
    run_event({}, ECS_ONLY, MORNING)
    assert {sizes(ecs, scaling, n) for n in "abc"} == {(1, 2, 4)}


def test_production_and_dry_run_are_never_touched(
    ecs: Any, scaling: Any, service: Callable[..., str]
) -> None:
    service("prod", 2, {TAG: UPTIME, "Environment": "Production"}, target=(1, 4))
    service("web", 2, target=(1, 4))
    seen = calls_of(ecs, scaling)
    result = run_event({"dryRun": True}, ECS_ONLY, EVENING)
    assert result["dryRun"] is True
    assert actions_of(result) == [("dev/web", "stop", "planned")]
    assert result["reasons"]["excluded:environment=production"] == 1
    assert set(seen) == {"GetResources", "DescribeServices"}
    result = run_event({}, ECS_ONLY, EVENING)
    assert actions_of(result) == [("dev/web", "stop", "done")]
    refused = run_event({"ecsServices": ["dev/prod"], "action": "stop"}, ECS_ONLY, EVENING)
    assert refused["counts"] == {"error": 1} and "excluded" in refused["errors"][0]["error"]
    assert sizes(ecs, scaling, "prod") == (1, 2, 4)
    assert set(tags(ecs, "prod")) == {TAG, "Environment"}


def test_the_kinds_setting_alone_turns_ecs_on(
    ecs: Any, scaling: Any, service: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    service("web", 1)
    monkeypatch.setenv("POWERCYCLE_REGIONS", REGION)
    monkeypatch.setenv("POWERCYCLE_KINDS", "ecs")
    with freeze_time(EVENING):
        result = handler({})
    assert [(a["kind"], a["id"], a["result"]) for a in result["actions"]] == [
        ("ecs", "dev/web", "done")
    ]
    monkeypatch.setenv("POWERCYCLE_KINDS", "ec2")
    seen = calls_of(ecs, scaling)
    with freeze_time(MORNING):
        assert handler({})["actions"] == []
    assert not seen


# --- discovery, power, verification ---------------------------------------------------------


def test_discovery_makes_bounded_calls_and_a_quiet_pass_writes_nothing(
    ecs: Any, scaling: Any, service: Callable[..., str]
) -> None:
    for i in range(23):
        service(f"s{i}", 1, {TAG: UPTIME} if i % 2 else {"team": "x"}, cluster="big")
    service("web", 1, cluster="small")
    ecs.create_cluster(clusterName="empty")
    seen = calls_of(ecs, scaling)
    found = {r.id: r for r in EcsProvider(ECS_ONLY, REGION).discover(TAG)}
    assert len(found) == 12 and "small/web" in found and "big/s1" in found and "big/s0" not in found
    assert all(r.power is Power.RUNNING and r.error is None for r in found.values())
    # One GetResources names the 12 tagged services; DescribeServices 10 at a time per
    # cluster: 2 for big's 11, 1 for small's; the untagged ones and the empty cluster: none.
    assert seen == {"GetResources": 1, "DescribeServices": 3}
    first = run_event({}, ECS_ONLY, at("2026-11-23 12:00"))  # in office hours: nothing due
    assert first["actions"] == [] and not first["errors"]
    assert seen["TagResource"] == 12  # first sight: the state each one is in, recorded
    seen.clear()
    run_event({}, ECS_ONLY, at("2026-11-23 12:15"))
    assert seen == {"GetResources": 1, "DescribeServices": 3}


def test_discovery_pages_and_ecs_s_own_tags_decide(
    ecs: Any, scaling: Any, service: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tagging API may still name a service whose tag was just removed: not a resource."""
    from powercycle.providers import ecs_services

    monkeypatch.setattr(ecs_services, "PAGE_SIZE", 5)
    for i in range(12):
        service(f"s{i}", 1)
    untagged = service("gone", 1, {"team": "x"})

    lagged: list[str] = []

    def lagging(parsed: dict[str, Any], **_: Any) -> None:
        if not lagged:
            parsed["ResourceTagMappingList"].append({"ResourceARN": untagged, "Tags": []})
            lagged.append(untagged)

    tagging = aws.client("resourcegroupstaggingapi", REGION)
    tagging.meta.events.register("after-call.resource-groups-tagging-api.GetResources", lagging)
    seen = calls_of(ecs, scaling)
    found = [r.id for r in EcsProvider(ECS_ONLY, REGION).discover(TAG)]
    assert sorted(found) == sorted(f"dev/s{i}" for i in range(12))
    assert seen["GetResources"] == 3  # 12 a page of 5
    assert lagged == [untagged]  # named, described, and left out


@pytest.mark.parametrize(
    ("desired", "running", "pending", "power"),
    [
        (2, 2, 0, Power.RUNNING),
        (3, 1, 2, Power.RUNNING),  # scaling out: still running
        (2, 0, 2, Power.TRANSITION),  # starting
        (0, 0, 0, Power.STOPPED),
        (0, 1, 0, Power.TRANSITION),  # draining
        (0, 0, 1, Power.TRANSITION),
    ],
)
def test_power_from_the_describe_answer(
    desired: int, running: int, pending: int, power: Power
) -> None:
    answer = {"desiredCount": desired, "runningCount": running, "pendingCount": pending}
    assert power_of(answer) is power


def test_a_start_whose_deployment_failed_reports_ecs_s_reason(
    ecs: Any, scaling: Any, service: Callable[..., str]
) -> None:
    """moto never fails a deployment: the describe answer is what ECS gives once the
    circuit breaker has given up on tasks that cannot start."""
    service("web", 2)
    run_event({}, ECS_ONLY, EVENING)
    run_event({}, ECS_ONLY, MORNING)
    assert tags(ecs, "web")["powercycle:attempts"] == "start@2026-11-24T08:00:00Z/1"
    reason = "ECS deployment circuit breaker: tasks failed to start."

    def failed(parsed: dict[str, Any], **_: Any) -> None:
        for found in parsed.get("services", ()):
            found["runningCount"] = 0
            found["deployments"] = [
                {
                    "id": "ecs-svc/1",
                    "status": "PRIMARY",
                    "rolloutState": "FAILED",
                    "rolloutStateReason": reason,
                }
            ]

    ecs.meta.events.register("after-call.ecs.DescribeServices", failed)
    seen = calls_of(ecs, scaling)
    result = run_event({}, ECS_ONLY, at("2026-11-24 08:20"))
    error = errors_of(result)["dev/web"]
    assert "start has not taken" in error and reason in error and "0 of 2 tasks" in error
    assert not WRITES & set(seen)  # reported, not retried: the same update changes nothing


def test_a_start_that_took_is_judged_without_a_call(
    ecs: Any, scaling: Any, service: Callable[..., str]
) -> None:
    service("web", 2)
    run_event({}, ECS_ONLY, EVENING)
    run_event({}, ECS_ONLY, MORNING)
    seen = calls_of(ecs, scaling)
    result = run_event({}, ECS_ONLY, at("2026-11-24 08:20"))
    assert not result["errors"] and result["actions"] == []
    assert set(seen) == {"GetResources", "DescribeServices"}


# --- manual payloads, refs, the CLI ------------------------------------------------------


def test_a_payload_names_services_by_cluster_service_or_arn(
    ecs: Any, scaling: Any, service: Callable[..., str]
) -> None:
    arn = service("web", 2, {"team": "x"})  # no schedule tag needed to act by name
    service("api", 1, {"team": "x"}, cluster="other")
    result = run_event(
        {"ecsServices": ["dev/web", "other/api", "dev/nope", "nope"], "action": "stop"},
        ECS_ONLY,
        EVENING,
    )
    assert sorted(actions_of(result)) == [
        ("dev/web", "stop", "done"),
        ("other/api", "stop", "done"),
    ]
    assert set(errors_of(result)) == {"dev/nope", "nope"}
    assert REGISTRY["ecs"].claims(arn) and REGISTRY["ecs"].arn_parts(arn) == (REGION, "dev/web")
    assert not REGISTRY["ecs"].claims("dev/web")  # a name: every kind is asked
    assert REGISTRY["ecs"].json_tags is False


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from powercycle.cli import main

    with freeze_time("2026-11-23 12:00:00"):
        code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cli_tags_snoozes_stops_starts_and_untags_a_service(
    ecs: Any,
    scaling: Any,
    service: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POWERCYCLE_KINDS", "ecs")
    arn = service("web", 2, {"team": "x"}, target=(1, 4))
    code, out, _ = cli(capsys, "tag", "dev/web", "--schedule", UPTIME, "--json")
    assert code == 0, out
    assert tags(ecs, "web")[TAG] == UPTIME
    code, out, _ = cli(capsys, "plan", "--json")
    assert code == 0 and "dev/web" in out
    assert cli(capsys, "snooze", arn, "--for", "3h", "--json")[0] == 0
    assert tags(ecs, "web")["powercycle:skip-until"] == "2026-11-23T15:00:00Z"
    code, out, _ = cli(capsys, "stop", arn, "--json")
    assert code == 0, out
    assert sizes(ecs, scaling, "web") == (0, 0, 4) and tags(ecs, "web")[CAPACITY] == "1/2/4"
    code, out, _ = cli(capsys, "start", "dev/web", "--json")
    assert code == 0, out
    assert sizes(ecs, scaling, "web") == (1, 2, 4) and CAPACITY not in tags(ecs, "web")
    code, out, _ = cli(capsys, "untag", "dev/web", "--json")
    assert code == 0, out
    assert TAG not in tags(ecs, "web")
    code, out, _ = cli(capsys, "stop", "dev/nope", "--json")
    assert code == 1 and "dev/nope" in out


def test_a_notice_offers_the_aws_cli_command_for_a_service() -> None:
    arn = f"arn:aws:ecs:{REGION}:{DEFAULT_ACCOUNT_ID}:service/dev/web"
    command = tag_command(REGION, "dev/web", arn, {"powercycle:skip-until": "x"})
    assert command.startswith(f"aws ecs tag-resource --region {REGION} --resource-arn {arn}")
    assert json.loads(command.split("--tags ")[1].strip("'")) == [
        {"key": "powercycle:skip-until", "value": "x"}
    ]
    assert "describe-services" in tag_command(REGION, "dev/web", "", {"k": "v"})


def test_seal_reviews_a_service_s_memory_against_its_maximum_now(
    ecs: Any,
    scaling: Any,
    service: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A memory written by hand (the older comma spelling here) is sealed once reviewed."""
    monkeypatch.setenv("POWERCYCLE_KINDS", "ecs")
    service("web", 0, {TAG: UPTIME, CAPACITY: "1,3,6", STATE_TAG: STOPPED}, target=(0, 6))
    service("big", 0, {TAG: UPTIME, CAPACITY: "1/9/9", STATE_TAG: STOPPED}, target=(0, 6))
    code, out, _ = cli(capsys, "seal", "dev/big", "--json", "--yes")
    assert code == 1 and "maximum 6" in out
    assert seal_tag(CAPACITY) not in tags(ecs, "big")
    code, out, _ = cli(capsys, "seal", "dev/web", "--json", "--yes")
    assert code == 0 and "sealed" in out
    run_event({}, ECS_ONLY, MORNING)
    assert sizes(ecs, scaling, "web") == (1, 3, 6)
