"""providers/ec2.py on moto: discovery (filters, pagination, power, ASG), batched actions
(splitting, in-run retries, hibernation fallback) and state tags grouped by value."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from powercycle.config import Config
from powercycle.core.decide import Power
from powercycle.core.schedule import parse_schedule
from powercycle.providers import ActRequest, Resource
from powercycle.providers import ec2 as ec2_module
from powercycle.providers.ec2 import ACTION_BATCH, PAGE_SIZE, Ec2Provider
from tests.helpers import (
    REGION,
    SEED,
    STATE_TAG,
    TAG,
    Calls,
    launch,
    launch_fleet,
    refuse,
    set_launch_time,
    set_state,
    states,
    tags_of,
)

HIBERNATE = parse_schedule({"stop": "0 18 * * *", "hibernate": True})
PLAIN = parse_schedule({"stop": "0 18 * * *"})


def requests(provider: Ec2Provider, ids: list[str], schedule: Any = PLAIN) -> list[ActRequest]:
    by_id = provider.lookup(ids)
    return [ActRequest(by_id[i], schedule) for i in ids]


def containing(instance_id: str) -> Any:
    return lambda params: instance_id in params.get("InstanceIds", ())


# --- discovery ---------------------------------------------------------------------------


def test_discovers_tagged_instances_with_their_power(
    ec2: Any, provider: Ec2Provider, calls: Calls
) -> None:
    """Tagged instances in every live state; untagged and terminated ones are not seen."""
    running = launch(ec2, {TAG: SEED, "Name": "web"})[0]
    stopped = launch(ec2, {TAG: SEED}, state="stopped")[0]
    pending, stopping = launch(ec2, {TAG: SEED}, count=2)
    set_state(pending, "pending")
    set_state(stopping, "stopping")
    launch(ec2, {"Name": "untagged"})
    launch(ec2, {"ec2powercycle": SEED})  # tag keys are case-sensitive
    gone = launch(ec2, {TAG: SEED})[0]
    ec2.terminate_instances(InstanceIds=[gone])
    launched = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
    set_launch_time(running, launched)
    calls.clear()

    found = {r.id: r for r in provider.discover(TAG)}

    assert set(found) == {running, stopped, pending, stopping}
    assert found[running].power is Power.RUNNING
    assert found[stopped].power is Power.STOPPED
    assert found[pending].power is Power.TRANSITION
    assert found[stopping].power is Power.TRANSITION
    assert found[running].running_since == launched
    assert found[stopped].running_since is None
    assert found[running].tags == {TAG: SEED, "Name": "web"}
    assert {r.region for r in found.values()} == {REGION}
    assert {r.kind for r in found.values()} == {"ec2"}
    assert all(r.skip is None and r.error is None for r in found.values())
    # One call, with the filters applied server-side.
    assert calls.count == {"DescribeInstances": 1}
    filters = {f["Name"]: f["Values"] for f in calls.of("DescribeInstances")[0]["Filters"]}
    assert filters["tag-key"] == [TAG]
    assert set(filters["instance-state-name"]) == {"pending", "running", "stopping", "stopped"}


def test_auto_scaling_group_members_are_marked_to_skip(ec2: Any, provider: Ec2Provider) -> None:
    member = launch(ec2, {TAG: SEED, "aws:autoscaling:groupName": "workers"})[0]
    (resource,) = provider.discover(TAG)
    assert (resource.id, resource.skip) == (member, "autoscaling-group")


def test_page_size_is_within_the_ec2_limits() -> None:
    """DescribeInstances accepts MaxResults from 5 to 1000."""
    assert 5 <= PAGE_SIZE <= 1000


def test_pagination_follows_every_page(
    ec2: Any, config: Config, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ec2-powercycle read one page and lost half of a 2,000-instance fleet. moto counts
    MaxResults in reservations: 23 reservations at 5 per page need 5 pages. (The
    1,260-instance fleet of test_engine does the same at scale.)"""
    ids = launch_fleet(ec2, reservations=23, per_reservation=3, tags={TAG: SEED})
    launch(ec2, {"Name": "untagged"}, count=3)
    monkeypatch.setattr(ec2_module, "PAGE_SIZE", 5)
    calls.clear()

    found = [r.id for r in Ec2Provider(config, REGION, client=ec2).discover(TAG)]

    assert len(found) == len(set(found)) == 69
    assert set(found) == set(ids)
    describes = calls.of("DescribeInstances")
    assert len(describes) == 5
    assert all(call["MaxResults"] == 5 for call in describes)
    assert sum(1 for call in describes if "NextToken" in call) == 4


def test_lookup_finds_known_ids_only(ec2: Any, provider: Ec2Provider) -> None:
    known = launch(ec2, {"Name": "not even tagged"})[0]
    gone = launch(ec2)[0]
    ec2.terminate_instances(InstanceIds=[gone])
    found = provider.lookup([known, gone, "i-0123456789abcdef0"])
    assert set(found) == {known}
    assert found[known].power is Power.RUNNING
    assert provider.lookup([]) == {}


# --- actions -----------------------------------------------------------------------------


def test_start_in_batches_of_50(ec2: Any, provider: Ec2Provider, calls: Calls) -> None:
    ids = [i for _ in range(6) for i in launch(ec2, {TAG: SEED}, state="stopped", count=20)]
    reqs = requests(provider, ids)
    calls.clear()

    results = provider.act("start", reqs)

    assert calls.count == {"StartInstances": 3}
    sizes = [len(call["InstanceIds"]) for call in calls.of("StartInstances")]
    assert sizes == [ACTION_BATCH, ACTION_BATCH, 20]
    assert results == dict.fromkeys(ids)
    assert set(states(ec2, ids).values()) == {"running"}


def test_one_refusing_id_is_isolated_and_the_rest_act(
    ec2: Any, provider: Ec2Provider, calls: Calls
) -> None:
    """EC2 refuses a whole call for one bad id (say, terminated since discovery); the batch
    is halved until that id is alone, so the other 49 still stop."""
    ids = [i for _ in range(5) for i in launch(ec2, {TAG: SEED}, count=10)]
    reqs = requests(provider, ids)
    bad = ids[17]
    message = f"The instance '{bad}' is not in a state from which it can be stopped."
    refuse(ec2, "StopInstances", containing(bad), "IncorrectInstanceState", message)
    calls.clear()

    results = provider.act("stop", reqs)

    error = results.pop(bad)
    assert error is not None and error.code == "IncorrectInstanceState"
    assert bad in str(error)
    assert results == dict.fromkeys(i for i in ids if i != bad)
    now = states(ec2, ids)
    assert now.pop(bad) == "running"
    assert set(now.values()) == {"stopped"}
    # Not retried in-run (not a retryable error); halving costs O(log n) calls.
    assert len(calls.of("StopInstances")) <= 1 + 2 * math.ceil(math.log2(len(ids)))


def test_capacity_errors_are_retried_in_the_run(ec2: Any, calls: Calls) -> None:
    """InsufficientInstanceCapacity twice, then accepted: started, after two backoffs."""
    config = Config(regions=(REGION,), retry_delay_s=1.0)
    slept: list[float] = []
    provider = Ec2Provider(config, REGION, client=ec2, sleep=slept.append)
    ids = launch(ec2, {TAG: SEED}, state="stopped", count=3)
    reqs = requests(provider, ids)
    refuse(ec2, "StartInstances", lambda p: True, "InsufficientInstanceCapacity", times=2)
    calls.clear()

    results = provider.act("start", reqs)

    assert results == dict.fromkeys(ids)
    assert set(states(ec2, ids).values()) == {"running"}
    assert len(calls.of("StartInstances")) == 3
    assert slept == [1.0, 2.0]


def test_persistent_capacity_error_is_reported_per_instance(
    ec2: Any, provider: Ec2Provider, calls: Calls, sleeps: list[float]
) -> None:
    ids = launch(ec2, {TAG: SEED}, state="stopped", count=2)
    reqs = requests(provider, ids)
    refuse(ec2, "StartInstances", lambda p: True, "InsufficientInstanceCapacity", "no m5 in 1a")
    calls.clear()

    results = provider.act("start", reqs)

    assert set(results) == set(ids)
    for error in results.values():
        assert error is not None
        assert str(error) == "InsufficientInstanceCapacity: no m5 in 1a"
    assert set(states(ec2, ids).values()) == {"stopped"}
    # Capacity is about the batch, not an id: two retries of the whole batch, never halved.
    assert len(calls.of("StartInstances")) == 3
    assert len(sleeps) == 2


def test_hibernate_asks_ec2_to_hibernate(ec2: Any, provider: Ec2Provider, calls: Calls) -> None:
    hib = launch(ec2, {TAG: SEED}, count=2)
    plain = launch(ec2, {TAG: SEED}, count=2)
    reqs = requests(provider, hib, HIBERNATE) + requests(provider, plain, PLAIN)
    calls.clear()

    results = provider.act("stop", reqs)

    assert results == dict.fromkeys(hib + plain)
    stops = calls.of("StopInstances")
    assert {(tuple(c["InstanceIds"]), c.get("Hibernate")) for c in stops} == {
        (tuple(hib), True),
        (tuple(plain), None),
    }
    assert set(states(ec2, hib + plain).values()) == {"stopped"}


@pytest.mark.parametrize("code", ["UnsupportedHibernationConfiguration", "UnsupportedOperation"])
def test_hibernation_refused_falls_back_to_a_plain_stop(
    ec2: Any, provider: Ec2Provider, calls: Calls, code: str
) -> None:
    ids = launch(ec2, {TAG: SEED}, count=2)
    reqs = requests(provider, ids, HIBERNATE)
    refuse(ec2, "StopInstances", lambda p: p.get("Hibernate") is True, code)
    calls.clear()

    results = provider.act("stop", reqs)

    assert results == dict.fromkeys(ids)
    assert set(states(ec2, ids).values()) == {"stopped"}
    plain = [c for c in calls.of("StopInstances") if "Hibernate" not in c]
    assert sorted(i for c in plain for i in c["InstanceIds"]) == sorted(ids)


def test_hibernation_refused_for_one_instance_only(
    ec2: Any, provider: Ec2Provider, calls: Calls
) -> None:
    """Only the instance that cannot hibernate gets a plain stop."""
    ids = launch(ec2, {TAG: SEED}, count=4)
    reqs = requests(provider, ids, HIBERNATE)
    bad = ids[2]
    refuse(
        ec2,
        "StopInstances",
        lambda p: p.get("Hibernate") is True and bad in p["InstanceIds"],
        "UnsupportedHibernationConfiguration",
    )
    calls.clear()

    results = provider.act("stop", reqs)

    assert results == dict.fromkeys(ids)
    plain = [c["InstanceIds"] for c in calls.of("StopInstances") if "Hibernate" not in c]
    assert plain == [[bad]]


def test_no_plain_stop_after_an_error_it_cannot_fix(
    ec2: Any, provider: Ec2Provider, calls: Calls
) -> None:
    (instance,) = launch(ec2, {TAG: SEED})
    reqs = requests(provider, [instance], HIBERNATE)
    refuse(ec2, "StopInstances", lambda p: True, "IncorrectInstanceState", "it is pending")
    calls.clear()

    results = provider.act("stop", reqs)

    error = results[instance]
    assert error is not None and error.code == "IncorrectInstanceState"
    assert [c.get("Hibernate") for c in calls.of("StopInstances")] == [True]


def test_act_on_nothing_makes_no_call(provider: Ec2Provider, calls: Calls) -> None:
    assert provider.act("start", []) == {}
    assert provider.act("stop", []) == {}
    assert calls.log == []


# --- state tags --------------------------------------------------------------------------


def test_record_makes_one_create_tags_per_value(
    ec2: Any, provider: Ec2Provider, calls: Calls
) -> None:
    a = launch(ec2, {TAG: SEED}, count=5)
    b = launch(ec2, {TAG: SEED}, count=3)
    values = {
        **dict.fromkeys(a, "stop@2026-11-23T17:55:00Z"),
        **dict.fromkeys(b, "start@2026-11-23T08:00:00Z"),
    }
    calls.clear()

    assert provider.record(STATE_TAG, values) == {}

    assert calls.count == {"CreateTags": 2}
    for instance_id, value in values.items():
        assert tags_of(ec2, instance_id)[STATE_TAG] == value


def test_record_reports_the_ids_whose_tag_failed(ec2: Any, provider: Ec2Provider) -> None:
    a = launch(ec2, {TAG: SEED}, count=2)
    b = launch(ec2, {TAG: SEED}, count=2)
    refuse(
        ec2,
        "CreateTags",
        lambda p: p["Tags"][0]["Value"].startswith("start"),
        "UnauthorizedOperation",
        "not allowed to tag",
    )
    errors = provider.record(
        STATE_TAG,
        {
            **dict.fromkeys(a, "stop@2026-11-23T17:55:00Z"),
            **dict.fromkeys(b, "start@2026-11-23T08:00:00Z"),
        },
    )
    assert set(errors) == set(b)
    assert all("UnauthorizedOperation" in e for e in errors.values())
    assert STATE_TAG in tags_of(ec2, a[0]) and STATE_TAG not in tags_of(ec2, b[0])


def test_resource_without_a_known_state_carries_an_error() -> None:
    provider = Ec2Provider(Config(regions=(REGION,)), REGION, client=object())
    resource: Resource = provider._resource(
        {"InstanceId": "i-1", "State": {"Name": "shutting-down"}, "Tags": []}
    )
    assert resource.power is None
    assert resource.error == "unexpected instance state 'shutting-down'"
