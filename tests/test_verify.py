"""Verified actions through the real handler (moto): a start EC2 accepted and then undid is
found on the next pass, reported with EC2's own reason and retried a bounded number of
times; a capacity refusal starts the instance on a fallback type, and its own type comes
back at the next stop.

EC2's bounce is reproduced as EC2 shows it: the start is accepted, then the instance is
back to `stopped` with a `StateReason` (`Client.InternalError: Client error on launch`,
what a KMS key the caller may not use gives). Capacity refusals come from botocore's event
hooks on the test's client (`tests.helpers.refuse`), before the request is sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from powercycle.config import Config
from powercycle.core.schedule import ScheduleError, parse_schedule
from powercycle.core.tags import Attempts
from powercycle.core.verify import ATTEMPTS_TAG, TYPE_TAG, judge
from powercycle.handler import run_event
from tests.helpers import (
    REGION,
    STATE_TAG,
    TAG,
    Calls,
    at,
    image,
    instance_arn,
    launch,
    moto_instance,
    refuse,
    schedule_tag,
    sealed_tags,
    set_launch_time,
    set_state,
    state_of,
    states,
    tags_of,
)

pytestmark = pytest.mark.usefixtures("ec2_only", "shared_client")

DAILY = schedule_tag(start="30 6 * * *", stop="0 19 * * *")
START = "start@2026-11-23T06:30:00Z"
MORNING = at("2026-11-23 06:35")  # Monday, UTC: the 06:30 start is due
KMS = ("Client.InternalError: Client error on launch", "Client.InternalError")


def config(**overrides: Any) -> Config:
    # The operator admits the fallback types these tests use (larger than t3.micro).
    overrides.setdefault("allowed_types", ("m5.*", "m6i.*"))
    return Config(regions=(REGION,), kinds=("ec2",), retry_delay_s=0.0, **overrides)


def run(now: datetime, **overrides: Any) -> dict[str, Any]:
    return run_event({}, config(**overrides), now)


def bounce(*ids: str, reason: tuple[str, str] = KMS) -> None:
    """What EC2 does a minute after accepting a start it cannot carry out."""
    from moto.ec2.models.instances import StateReason

    for instance_id in ids:
        set_state(instance_id, "stopped")
        moto_instance(instance_id).state_reason = StateReason(*reason)


def errors_of(result: dict[str, Any]) -> dict[str, str]:
    return {e["id"]: e["error"] for e in result["errors"]}


def action_of(result: dict[str, Any], instance_id: str) -> dict[str, Any] | None:
    return next((a for a in result["actions"] if a["id"] == instance_id), None)


def test_a_bounced_start_is_reported_with_ec2_s_reason_and_retried(ec2: Any) -> None:
    (box,) = launch(ec2, {TAG: DAILY}, state="stopped")
    first = run(MORNING)
    assert action_of(first, box) == {
        "id": box, "kind": "ec2", "region": REGION, "action": "start",
        "reason": "first-sight", "result": "done",
    }  # fmt: skip
    assert tags_of(ec2, box)[ATTEMPTS_TAG] == f"{START}/1"
    bounce(box)

    calls = Calls(ec2)
    second = run(at("2026-11-23 06:50"))

    error = errors_of(second)[box]
    assert error.startswith("start did not take (attempt 1 of 3): ")
    assert "Client.InternalError: Client error on launch" in error
    assert "KMS key" in error and "kms:CreateGrant" in error and "KmsKeyArns" in error
    retried = action_of(second, box)
    assert retried is not None and retried["result"] == "done"
    assert retried["reason"] == "retry"  # its own reason, not a deleted state tag's first-sight
    assert calls.of("StartInstances") == [{"InstanceIds": [box]}]
    assert state_of(ec2, box) == "running"
    tags = tags_of(ec2, box)
    assert tags[ATTEMPTS_TAG] == f"{START}/2"
    assert tags[STATE_TAG] == START

    # This time it took: judged from the describe answer, nothing written (the tag stays
    # until the next action overwrites it), and the pass after is quiet.
    third = run(at("2026-11-23 07:05"))
    assert box not in errors_of(third) and action_of(third, box) is None
    assert tags_of(ec2, box)[ATTEMPTS_TAG] == f"{START}/2"
    assert calls.of("DeleteTags") == []


def test_a_second_pass_at_the_same_moment_writes_nothing(ec2: Any) -> None:
    """Idempotent: after an action and its check, a pass with nothing new to do makes no
    call that changes anything, for the instances checked and the others alike."""
    boxes = launch(ec2, {TAG: DAILY}, state="stopped", count=3)
    run(MORNING)
    run(at("2026-11-23 06:50"))  # the check: all three took
    calls = Calls(ec2)
    for _ in range(2):
        result = run(at("2026-11-23 06:50"))
        assert result["errors"] == [] and result["actions"] == []
    assert calls.of("CreateTags") == [] and calls.of("DeleteTags") == []
    assert calls.of("StartInstances") == [] and calls.of("StopInstances") == []
    assert states(ec2, boxes) == dict.fromkeys(boxes, "running")


def test_retries_are_bounded_and_the_failure_stays_reported_until_the_next_event(
    ec2: Any,
) -> None:
    (box,) = launch(ec2, {TAG: DAILY}, state="stopped")
    calls = Calls(ec2)
    for minute in ("06:35", "06:50", "07:05"):
        run(at(f"2026-11-23 {minute}"))
        bounce(box)
    assert len(calls.of("StartInstances")) == 3
    assert tags_of(ec2, box)[ATTEMPTS_TAG] == f"{START}/3"

    calls.clear()
    for minute in ("07:20", "09:00", "18:45"):
        result = run(at(f"2026-11-23 {minute}"))
        error = errors_of(result)[box]
        assert error.startswith(f"start did not take after 3 attempts for {START}: ")
        assert "Client.InternalError" in error and "next event" in error
        assert action_of(result, box) is None  # an error, not an action
        assert result["counts"] == {"none": 1}
    assert calls.mutating() == []
    assert state_of(ec2, box) == "stopped"

    # The 19:00 stop is the next event: recorded (already stopped), then the tag is stale.
    evening = run(at("2026-11-23 19:05"))
    assert tags_of(ec2, box)[STATE_TAG] == "stop@2026-11-23T19:00:00Z"
    assert box in errors_of(evening)  # still the 06:30 start's tag, reported once more
    later = run(at("2026-11-23 19:20"))
    assert box not in errors_of(later)
    assert tags_of(ec2, box)[ATTEMPTS_TAG] == f"{START}/3"  # stale: read, never acted on

    # The next morning is a new event with attempts of its own.
    calls.clear()
    run(at("2026-11-24 06:35"))
    assert calls.of("StartInstances") == [{"InstanceIds": [box]}]
    assert tags_of(ec2, box)[ATTEMPTS_TAG] == "start@2026-11-24T06:30:00Z/1"


def test_enforce_asks_again_but_an_exhausted_event_makes_no_call(ec2: Any) -> None:
    enforced = schedule_tag(start="30 6 * * *", stop="0 19 * * *", enforce=True)
    (box,) = launch(ec2, {TAG: enforced}, state="stopped")
    calls = Calls(ec2)
    for minute in ("06:35", "06:50", "07:05"):
        run(at(f"2026-11-23 {minute}"))
        bounce(box)
    assert len(calls.of("StartInstances")) == 3
    calls.clear()

    result = run(at("2026-11-23 07:20"))

    assert calls.of("StartInstances") == []
    assert "after 3 attempts" in errors_of(result)[box]


def test_a_good_start_then_a_person_s_stop_is_respected(ec2: Any) -> None:
    (box, other) = launch(ec2, {TAG: DAILY}, state="stopped", count=2)
    run(MORNING)
    # One seen running before the person stops it, one stopped before any pass saw it up:
    # both were stopped by a person (Client.UserInitiatedShutdown), after a start that took.
    run(at("2026-11-23 06:50"))
    assert tags_of(ec2, box)[ATTEMPTS_TAG] == f"{START}/1"  # took; kept, judged again
    ec2.stop_instances(InstanceIds=[box])
    ec2.create_tags(Resources=[other], Tags=[{"Key": ATTEMPTS_TAG, "Value": f"{START}/1"}])
    ec2.stop_instances(InstanceIds=[other])
    calls = Calls(ec2)

    result = run(at("2026-11-23 07:05"))

    assert result["errors"] == [] and result["actions"] == []
    assert calls.of("StartInstances") == []
    assert states(ec2, [box, other]) == {box: "stopped", other: "stopped"}
    assert calls.of("DeleteTags") == [] and calls.of("CreateTags") == []


def test_one_bouncing_instance_in_a_batch_of_six_is_confined(ec2: Any) -> None:
    fleet = launch(ec2, {TAG: DAILY}, state="stopped", count=6)
    calls = Calls(ec2)
    run(MORNING)
    assert calls.of("StartInstances") == [{"InstanceIds": fleet}]
    # One CreateTags for the six: state and attempts in the same call.
    (written,) = calls.of("CreateTags")
    assert sorted(written["Resources"]) == sorted(fleet)
    assert {t["Key"] for t in written["Tags"]} == {STATE_TAG, ATTEMPTS_TAG}
    bad = fleet[3]
    bounce(bad)
    calls.clear()

    result = run(at("2026-11-23 06:50"))

    assert calls.of("StartInstances") == [{"InstanceIds": [bad]}]
    assert list(errors_of(result)) == [bad]
    assert [a["id"] for a in result["actions"]] == [bad]
    # The five that took cost nothing: no DeleteTags, their tags stay as they were.
    assert calls.of("DeleteTags") == []
    assert all(tags_of(ec2, i)[ATTEMPTS_TAG] == f"{START}/1" for i in fleet if i != bad)
    assert tags_of(ec2, bad)[ATTEMPTS_TAG] == f"{START}/2"


def test_a_stop_that_never_took_is_reported_and_retried(ec2: Any) -> None:
    (box,) = launch(ec2, {TAG: DAILY})
    set_launch_time(box, at("2026-11-23 06:31"))
    run(at("2026-11-23 19:05"))
    assert tags_of(ec2, box)[ATTEMPTS_TAG] == "stop@2026-11-23T19:00:00Z/1"
    set_state(box, "running")  # accepted, and yet still up since the morning

    result = run(at("2026-11-23 19:20"))

    error = errors_of(result)[box]
    assert error.startswith("stop did not take (attempt 1 of 3): the instance is still running")
    assert tags_of(ec2, box)[ATTEMPTS_TAG] == "stop@2026-11-23T19:00:00Z/2"


def test_no_call_for_instances_without_a_pending_check(ec2: Any) -> None:
    launch(ec2, {TAG: DAILY, STATE_TAG: START}, count=5)
    calls = Calls(ec2)
    result = run(at("2026-11-23 09:00"))
    assert result["errors"] == []
    assert calls.count == {"DescribeInstances": 1}


# --- capacity fallback ----------------------------------------------------------------------

FALLBACK = schedule_tag(
    start="30 6 * * *", stop="0 19 * * *", fallbackTypes=["m5.large", "m6i.large"]
)


def no_capacity_for(ec2: Any, *types: str) -> Any:
    """EC2 refusing a start while the instance is of one of `types` (all of the call)."""

    def short(params: dict[str, Any]) -> bool:
        return any(moto_instance(i).instance_type in types for i in params["InstanceIds"])

    return refuse(
        ec2,
        "StartInstances",
        short,
        "InsufficientInstanceCapacity",
        "We currently do not have sufficient capacity in the Availability Zone you requested.",
    )


def test_a_capacity_refusal_starts_on_the_first_fallback_and_the_type_comes_back(
    ec2: Any,
) -> None:
    (box,) = launch(ec2, {TAG: FALLBACK}, state="stopped")
    no_capacity_for(ec2, "t3.micro")
    calls = Calls(ec2)

    result = run(MORNING)

    assert action_of(result, box)["result"] == "done"  # type: ignore[index]
    # Said in the summary, not only in a log line: the type used and EC2's refusal code.
    note = (
        "started on fallback type m5.large: EC2 refused t3.micro "
        "(InsufficientInstanceCapacity); its own type t3.micro comes back at its next stop"
    )
    assert action_of(result, box)["warning"] == note  # type: ignore[index]
    assert [w["warning"] for w in result["warnings"] if w["id"] == box] == [note]
    assert state_of(ec2, box) == "running"
    assert moto_instance(box).instance_type == "m5.large"
    assert calls.of("ModifyInstanceAttribute") == [
        {"InstanceId": box, "InstanceType": {"Value": "m5.large"}}
    ]
    tags = tags_of(ec2, box)
    assert tags[TYPE_TAG] == "t3.micro"
    assert tags[ATTEMPTS_TAG] == f"{START}/1"

    run(at("2026-11-23 07:00"))  # seen running: confirmed, still on m5.large
    assert moto_instance(box).instance_type == "m5.large"
    run(at("2026-11-23 19:05"))  # the stop
    assert state_of(ec2, box) == "stopped"
    calls.clear()

    run(at("2026-11-23 19:20"))  # seen stopped: its own type back, the tag gone

    assert moto_instance(box).instance_type == "t3.micro"
    assert calls.of("ModifyInstanceAttribute") == [
        {"InstanceId": box, "InstanceType": {"Value": "t3.micro"}}
    ]
    assert TYPE_TAG not in tags_of(ec2, box)


def test_run_s_table_names_the_fallback_type_and_the_refusal(
    ec2: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`powercycle run` on a terminal: the result column says which type it started on."""
    from freezegun import freeze_time

    from powercycle.cli import main, output

    monkeypatch.setattr(output, "stdout_is_terminal", lambda: True)
    monkeypatch.setenv("POWERCYCLE_ALLOWED_TYPES", "m5.*")
    (box,) = launch(ec2, {TAG: FALLBACK}, state="stopped")
    no_capacity_for(ec2, "t3.micro")
    with freeze_time(MORNING):
        assert main(["run"]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith(box)]
    assert row.endswith(
        "done (started on fallback type m5.large: EC2 refused t3.micro "
        "(InsufficientInstanceCapacity); its own type t3.micro comes back at its next stop)"
    )


def test_the_next_fallback_when_the_first_has_no_capacity_either(ec2: Any) -> None:
    (box,) = launch(ec2, {TAG: FALLBACK}, state="stopped")
    no_capacity_for(ec2, "t3.micro", "m5.large")
    result = run(MORNING)
    assert action_of(result, box)["result"] == "done"  # type: ignore[index]
    assert moto_instance(box).instance_type == "m6i.large"
    assert tags_of(ec2, box)[TYPE_TAG] == "t3.micro"


def test_every_type_refused_is_a_failure_that_names_them(ec2: Any) -> None:
    (box,) = launch(ec2, {TAG: FALLBACK}, state="stopped")
    refusal = no_capacity_for(ec2, "t3.micro", "m5.large", "m6i.large")
    result = run(MORNING)
    failed = action_of(result, box)
    assert failed is not None and failed["result"] == "failed"
    assert "InsufficientInstanceCapacity" in failed["error"]
    assert "m5.large, m6i.large" in failed["error"]
    assert STATE_TAG not in tags_of(ec2, box)  # not handled: the next pass tries again
    # Left stopped on the last type tried, its own remembered: given back before anything
    # else on the next pass, which then starts it on its own type (capacity is back).
    assert moto_instance(box).instance_type == "m6i.large"
    assert tags_of(ec2, box)[TYPE_TAG] == "t3.micro"
    refusal.lift()
    again = run(at("2026-11-23 06:50"))
    assert action_of(again, box)["result"] == "done"  # type: ignore[index]
    assert state_of(ec2, box) == "running"
    assert moto_instance(box).instance_type == "t3.micro"
    assert TYPE_TAG not in tags_of(ec2, box)


def test_a_batch_refused_for_one_type_starts_the_others_on_their_own(ec2: Any) -> None:
    (short,) = launch(ec2, {TAG: FALLBACK}, state="stopped")
    others = launch(ec2, {TAG: FALLBACK}, state="stopped", count=3)
    moto_instance(short).instance_type = "p3.2xlarge"
    no_capacity_for(ec2, "p3.2xlarge")
    calls = Calls(ec2)

    result = run(MORNING)

    assert {a["id"]: a["result"] for a in result["actions"]} == dict.fromkeys(
        [short, *others], "done"
    )
    assert moto_instance(short).instance_type == "m5.large"
    assert all(moto_instance(i).instance_type == "t3.micro" for i in others)
    # Whole batch (1 + 2 retries), each type alone once, then the fallback: 6 calls.
    assert len(calls.of("StartInstances")) == 6
    assert calls.of("ModifyInstanceAttribute") == [
        {"InstanceId": short, "InstanceType": {"Value": "m5.large"}}
    ]


def test_an_instance_whose_type_cannot_change_is_an_error_with_that_reason(ec2: Any) -> None:
    box = ec2.run_instances(
        ImageId=image(ec2),
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        HibernationOptions={"Configured": True},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": TAG, "Value": FALLBACK}]}],
    )["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[box])
    no_capacity_for(ec2, "t3.micro")
    calls = Calls(ec2)

    result = run(MORNING)

    error = errors_of(result)[box]
    assert "InsufficientInstanceCapacity" in error and "hibernation is enabled" in error
    assert calls.of("ModifyInstanceAttribute") == []
    assert moto_instance(box).instance_type == "t3.micro"


def test_a_refused_type_change_is_an_error_with_ec2_s_reason(ec2: Any) -> None:
    (box,) = launch(ec2, {TAG: FALLBACK}, state="stopped")
    no_capacity_for(ec2, "t3.micro")
    refuse(ec2, "ModifyInstanceAttribute", lambda p: True, "UnsupportedOperation", "no way")
    result = run(MORNING)
    error = errors_of(result)[box]
    assert "cannot be changed to m5.large: UnsupportedOperation: no way" in error
    assert state_of(ec2, box) == "stopped"


# --- dry run --------------------------------------------------------------------------------


def test_a_dry_run_changes_nothing(ec2: Any) -> None:
    (bounced,) = launch(ec2, {TAG: FALLBACK}, state="stopped")
    (on_fallback,) = launch(ec2, {TAG: FALLBACK, STATE_TAG: START}, state="stopped")
    (confirmed,) = launch(ec2, {TAG: FALLBACK, STATE_TAG: START})
    ec2.create_tags(
        Resources=[bounced, confirmed], Tags=[{"Key": ATTEMPTS_TAG, "Value": f"{START}/1"}]
    )
    ec2.create_tags(Resources=[bounced], Tags=[{"Key": STATE_TAG, "Value": START}])
    bounce(bounced)
    moto_instance(on_fallback).instance_type = "m5.large"
    memory = sealed_tags(instance_arn(on_fallback), TYPE_TAG, {TYPE_TAG: "t3.micro"})
    ec2.create_tags(
        Resources=[on_fallback], Tags=[{"Key": k, "Value": v} for k, v in memory.items()]
    )
    before = {i: tags_of(ec2, i) for i in (bounced, on_fallback, confirmed)}
    calls = Calls(ec2)

    result = run_event({"dryRun": True}, config(), at("2026-11-23 06:50"))

    assert calls.count == {"DescribeInstances": 1}
    assert {i: tags_of(ec2, i) for i in before} == before
    assert moto_instance(on_fallback).instance_type == "m5.large"
    assert "start did not take (attempt 1 of 3)" in errors_of(result)[bounced]
    planned = action_of(result, bounced)
    assert planned is not None and planned["result"] == "planned"
    # It says what a live pass may change.
    (said,) = [w["warning"] for w in result["warnings"] if w["id"] == bounced]
    assert "changes the type to" in said and said.startswith("dry run:")


# --- the pieces -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("m5.large", "must be a list"),
        (["m5.large"] * 3 + ["c5.large", "r5.large", "t3.large"], "at most 5"),
        (["M5.large"], "not an EC2 instance type"),
        (["m5"], "not an EC2 instance type"),
        (["m5.large; rm -rf /"], "not an EC2 instance type"),
        (["a" * 30 + ".large"], "not an EC2 instance type"),
        ([3], "not an EC2 instance type"),
    ],
)
def test_fallback_types_are_validated(value: object, problem: str) -> None:
    with pytest.raises(ScheduleError, match=problem) as caught:
        parse_schedule({"start": "0 8 * * *", "fallbackTypes": value})
    assert "fallbackTypes" in str(caught.value)


def test_fallback_types_keep_their_order_once_each() -> None:
    doc = {"start": "0 8 * * *", "fallbackTypes": ["m6i.large", "m5.large", "m6i.large"]}
    assert parse_schedule(doc).fallback_types == ("m6i.large", "m5.large")


def test_attempts_tags_powercycle_did_not_write_are_dropped() -> None:
    for raw in ("", "start@2026-11-23T06:30:00Z", "start@yesterday/1", "reboot@x/1", f"{START}/0",
                "start@2026-13-45T06:30:00Z/1"):
        assert Attempts.parse(raw) is None
        assert judge(raw, START, None, max_attempts=3).drop_tag
    assert Attempts.parse(f"{START}/2") == Attempts(START, 2)


# --- Auto Scaling groups --------------------------------------------------------------------


def test_an_asg_whose_scaling_activity_failed_is_reported_with_its_status_message(
    ec2: Any,
) -> None:
    from botocore.awsrequest import AWSResponse
    from moto.autoscaling.models import autoscaling_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    from powercycle import aws

    autoscaling = aws.client("autoscaling", REGION)
    ec2.create_launch_template(
        LaunchTemplateName="verify", LaunchTemplateData={"ImageId": image(ec2)}
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchTemplate={"LaunchTemplateName": "verify", "Version": "$Latest"},
        MinSize=1,
        DesiredCapacity=2,
        MaxSize=4,
        AvailabilityZones=[f"{REGION}a"],
        Tags=[{"Key": TAG, "Value": DAILY, "PropagateAtLaunch": False}],
    )
    asg_only = Config(regions=(REGION,), kinds=("asg",), retry_delay_s=0.0)
    run_event({}, asg_only, at("2026-11-22 19:05"))  # Sunday's stop: sizes remembered, zero
    run_event({}, asg_only, MORNING)  # Monday's start: sizes given back
    group = autoscaling_backends[DEFAULT_ACCOUNT_ID][REGION].autoscaling_groups["web"]
    assert group.desired_capacity == 2
    # The launches fail: no instance comes up, and the group's activity says why.
    group.instance_states = []
    message = (
        "You have requested more vCPU capacity than your current vCPU limit of 32 allows "
        "for the instance bucket that the specified instance type belongs to."
    )
    activity = {
        "ActivityId": "a-1",
        "AutoScalingGroupName": "web",
        "Cause": "an instance was started in response to a difference in desired capacity",
        "Description": "Launching a new EC2 instance.  Status Reason: " + message,
        "StartTime": at("2026-11-23 06:36"),
        "StatusCode": "Failed",
        "StatusMessage": message,
        "Progress": 100,
    }
    asked: list[str] = []

    def activities(params: dict[str, Any], **_: Any) -> Any:
        asked.append(params["body"]["AutoScalingGroupName"])  # the request, as it would go
        return AWSResponse("https://autoscaling", 200, {}, None), {"Activities": [activity]}

    autoscaling.meta.events.register(
        "before-call.auto-scaling.DescribeScalingActivities", activities
    )

    result = run_event({}, asg_only, at("2026-11-23 06:50"))

    error = errors_of(result)["web"]
    assert error.startswith("start has not taken: scaling activity failed: You have requested")
    assert message in error
    assert asked == ["web"]
    tags = {
        t["Key"]: t["Value"]
        for t in autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])[
            "AutoScalingGroups"
        ][0]["Tags"]
    }
    assert tags[ATTEMPTS_TAG] == f"{START}/1" and tags[STATE_TAG] == START
    assert result["actions"] == []  # the group retries its launches itself

    # The limit raised, the group fills up: confirmed from the description, nothing
    # written (the tag stays until the next action overwrites it), no more reading.
    autoscaling.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=2)
    asked.clear()
    calm = run_event({}, asg_only, at("2026-11-23 07:05"))
    assert "web" not in errors_of(calm)
    assert asked == []
    tags = {
        t["Key"]
        for t in autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])[
            "AutoScalingGroups"
        ][0]["Tags"]
    }
    assert ATTEMPTS_TAG in tags
