"""One house: a kind registers itself and goes through the engine, the handler and `plan`
untouched; the CLI's tagging and manual actions go through the providers of every kind,
account and region (Auto Scaling groups, EC2 Name tags, role accounts), and a name held
by several resources is refused, listing them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from freezegun import freeze_time

from powercycle import aws
from powercycle.cli import main
from powercycle.config import Config, ConfigError
from powercycle.core.decide import Power
from powercycle.core.model import ActionError, ActRequest, Resource
from powercycle.core.schedule import Action
from powercycle.events import manual_event
from powercycle.handler import EventError, run_event
from powercycle.providers import REGISTRY, Kind, Provider, register
from tests.helpers import REGION, SEED, STATE_TAG, TAG, at, image, launch, state_of, tags_of

EVENING = at("2026-11-23 18:00")  # Monday: the seed's 17:55 stop is due
ROLE_A = "arn:aws:iam::111111111111:role/powercycle"


# --- a fake kind, registered by the test alone --------------------------------------------


class FakeProvider:
    kind = "fake"

    def __init__(self, region: str, world: dict[str, Any]) -> None:
        self.region = region
        self.world = world

    def _resource(self, rid: str) -> Resource:
        return Resource(
            kind=self.kind,
            id=rid,
            region=self.region,
            tags=self.world["tags"][rid],
            power=self.world["power"][rid],
        )

    def discover(self, tag: str) -> Iterator[Resource]:
        for rid, tags in self.world["tags"].items():
            if tag in tags:
                yield self._resource(rid)

    def lookup(self, refs: Sequence[str]) -> dict[str, Resource]:
        return {ref: self._resource(ref) for ref in refs if ref in self.world["tags"]}

    def act(self, action: Action, requests: Sequence[ActRequest]) -> dict[str, ActionError | None]:
        for request in requests:
            self.world["acted"].append((action, request.resource.id))
            self.world["power"][request.resource.id] = (
                Power.STOPPED if action == "stop" else Power.RUNNING
            )
        return {r.resource.id: None for r in requests}

    def record(self, key: str, values: Mapping[str, str]) -> dict[str, str]:
        for rid, value in values.items():
            self.world["tags"][rid] = {**self.world["tags"][rid], key: value}
        return {}


@pytest.fixture
def fake_kind() -> Iterator[dict[str, Any]]:
    world: dict[str, Any] = {
        "tags": {"f-1": {TAG: SEED, "Name": "thing"}, "f-2": {"Name": "untagged"}},
        "power": {"f-1": Power.RUNNING, "f-2": Power.RUNNING},
        "acted": [],
    }

    def factory(config: Config, regions: Sequence[str], **scope: Any) -> list[Provider]:
        return [FakeProvider(region, world) for region in regions]

    register(
        Kind(
            name="fake",
            payload_key="fakeIds",
            title="fake thing",
            refs="a fake id",
            factory=factory,
            ref_pattern=re.compile(r"f-[0-9]+"),
        )
    )
    try:
        yield world
    finally:
        REGISTRY.unregister("fake")


def test_a_kind_registered_outside_goes_through_the_engine_and_the_handler(
    fake_kind: dict[str, Any],
) -> None:
    config = Config(regions=(REGION,), kinds=("fake",))

    result = run_event({}, config, EVENING)

    assert result["counts"]["done"] == 1
    assert fake_kind["acted"] == [("stop", "f-1")]
    assert fake_kind["tags"]["f-1"][STATE_TAG].startswith("stop@")
    assert result["fleet"] == [{"kind": "fake", "region": REGION, "scanned": 1, "stopped": 1}]


def test_its_manual_payload_key_comes_from_its_declaration(fake_kind: dict[str, Any]) -> None:
    config = Config(regions=(REGION,), kinds=("fake",))
    with pytest.raises(EventError, match="fakeIds"):
        run_event({"instanceIdz": ["f-1"], "action": "stop"}, config, EVENING)

    payload = manual_event("fake", ["f-1"], "stop")
    assert payload == {"fakeIds": ["f-1"], "action": "stop", "dryRun": False}
    result = run_event(payload, config, EVENING)

    assert [(a["kind"], a["id"], a["result"]) for a in result["actions"]] == [
        ("fake", "f-1", "done")
    ]
    assert fake_kind["acted"] == [("stop", "f-1")]


def test_its_name_is_a_setting_once_registered(
    fake_kind: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("POWERCYCLE_KINDS", "fake,ec2")
    assert Config.from_env().kinds == ("fake", "ec2")
    REGISTRY.unregister("fake")
    with pytest.raises(ConfigError, match="'fake' is not one of ec2, eks, asg"):
        Config.from_env()


def test_plan_shows_it(
    fake_kind: dict[str, Any], moto: None, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("POWERCYCLE_KINDS", "fake")
    with freeze_time("2026-11-23 18:00:00"):
        code = main(["plan", "--json", "--region", REGION])
    rows = json.loads(capsys.readouterr().out)["resources"]
    assert code == 0
    assert [(r["kind"], r["id"], r["action"]) for r in rows] == [("fake", "f-1", "stop")]
    assert fake_kind["acted"] == []  # a plan changes nothing


# --- the CLI on Auto Scaling groups and EC2 Name tags ------------------------------------


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    with freeze_time("2026-11-23 12:00:00"):
        code = main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out else None


@pytest.fixture
def autoscaling(ec2: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("POWERCYCLE_KINDS", "ec2,asg")
    ec2.create_launch_template(
        LaunchTemplateName="wiring-lt",
        LaunchTemplateData={"ImageId": image(ec2), "InstanceType": "t3.micro"},
    )
    client = aws.client("autoscaling", REGION)
    client.create_auto_scaling_group(
        AutoScalingGroupName="web-asg",
        LaunchTemplate={"LaunchTemplateName": "wiring-lt", "Version": "$Latest"},
        MinSize=1,
        DesiredCapacity=1,
        MaxSize=2,
        AvailabilityZones=[f"{REGION}a"],
    )
    return client


def asg_tags(autoscaling: Any, name: str) -> dict[str, str]:
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ]
    return {t["Key"]: t["Value"] for t in group.get("Tags", ())}


def test_tag_snooze_untag_and_stop_an_auto_scaling_group_by_name(
    autoscaling: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows = cli(capsys, "tag", "web-asg", "--schedule", SEED)
    assert code == 0, rows
    assert (rows[0]["kind"], rows[0]["id"], rows[0]["result"]) == (
        "asg",
        "web-asg",
        f"tagged {TAG}",
    )
    assert asg_tags(autoscaling, "web-asg")[TAG] == SEED

    code, rows = cli(capsys, "snooze", "web-asg", "--for", "3h")
    assert code == 0, rows
    assert asg_tags(autoscaling, "web-asg")["powercycle:skip-until"] == "2026-11-23T15:00:00Z"

    code, summary = cli(capsys, "stop", "web-asg")
    assert code == 0, summary
    assert [(a["kind"], a["id"], a["result"]) for a in summary["actions"]] == [
        ("asg", "web-asg", "done")
    ]
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])[
        "AutoScalingGroups"
    ]
    assert group["DesiredCapacity"] == 0

    # Its sealed capacity memory goes too only when asked (a tag is a request).
    code, rows = cli(capsys, "untag", "web-asg", "--memories")
    assert code == 0, rows
    assert not [
        k for k in asg_tags(autoscaling, "web-asg") if k == TAG or k.startswith("powercycle:")
    ]


def test_tag_snooze_and_stop_an_instance_by_its_name_tag(
    ec2: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("POWERCYCLE_KINDS", "ec2")
    (box,) = launch(ec2, {"Name": "dev-web"})

    code, rows = cli(capsys, "tag", "dev-web", "--schedule", SEED)
    assert code == 0, rows
    assert (rows[0]["kind"], rows[0]["id"]) == ("ec2", box)
    assert tags_of(ec2, box)[TAG] == SEED

    assert cli(capsys, "snooze", "dev-web", "--for", "1h")[0] == 0
    assert tags_of(ec2, box)["powercycle:skip-until"] == "2026-11-23T13:00:00Z"

    code, summary = cli(capsys, "stop", "dev-web")
    assert code == 0, summary
    assert [(a["id"], a["result"]) for a in summary["actions"]] == [(box, "done")]
    assert state_of(ec2, box) == "stopped"


def test_a_name_held_twice_is_refused_listing_the_candidates(
    autoscaling: Any, ec2: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    boxes = launch(ec2, {"Name": "twin"}, count=2)
    (named_like_the_group,) = launch(ec2, {"Name": "web-asg"})

    code, rows = cli(capsys, "tag", "twin", "web-asg", "--schedule", SEED)

    assert code == 1
    twin, clash = (row["error"] for row in rows)
    assert twin.startswith("'twin' names 2 resources, nothing changed: ")
    assert all(f"ec2 {box} ({REGION})" in twin for box in boxes)
    assert f"ec2 {named_like_the_group} ({REGION})" in clash
    assert f"asg web-asg ({REGION}, arn:aws:autoscaling:{REGION}:" in clash
    for box in (*boxes, named_like_the_group):
        assert TAG not in tags_of(ec2, box)
    assert TAG not in asg_tags(autoscaling, "web-asg")
    code, summary = cli(capsys, "stop", "twin")
    assert code == 1 and "names 2 resources" in summary["errors"][0]["error"]
    assert {state_of(ec2, box) for box in boxes} == {"running"}


# --- role accounts -------------------------------------------------------------------------


def test_cli_start_and_stop_reach_a_role_account(
    ec2: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("POWERCYCLE_KINDS", "ec2")
    monkeypatch.setenv("POWERCYCLE_ACCOUNT_ROLES", ROLE_A)
    other = aws.client("ec2", REGION, credentials=aws.assume(ROLE_A))
    (box,) = launch(other, {"Name": "far"})

    code, summary = cli(capsys, "stop", box)
    assert code == 0, summary
    assert [(a["account"], a["id"], a["result"]) for a in summary["actions"]] == [
        ("111111111111", box, "done")
    ]
    assert state_of(other, box) == "stopped"

    code, summary = cli(capsys, "start", "far")  # by its Name tag, in the role's account
    assert code == 0, summary
    assert state_of(other, box) == "running"
    code, _ = cli(capsys, "tag", "far", "--schedule", SEED)
    assert code == 0 and tags_of(other, box)[TAG] == SEED
