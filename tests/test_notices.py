"""Warnings before a stop: which stops are due (pure), and what reaches a subscriber (moto)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from powercycle.core.decide import Event, Power, decide, parse_state, parse_utc
from powercycle.core.schedule import Schedule, parse_schedule
from powercycle.report.notices import (
    NOTICE_TAG,
    SKIP_UNTIL_TAG,
    Notice,
    NoticeCandidate,
    due_notices,
    max_runtime_deadline,
    owner_of,
    parse_notice_minutes,
    publish_notices,
    raw_snooze_command,
    tags_to_record,
)
from powercycle.runtime.budget import Budget
from tests.helpers import REGION, at, ticks

STATE = "powercycle:state"
OFFICE = {"start": "0 8 * * 1-5", "stop": "0 18 * * 1-5", "tz": "Europe/London"}
# 2026-11-23 is a Monday; London is on GMT (= UTC) in November.
MONDAY = "2026-11-23"


def sched(**doc: Any) -> Schedule:
    return parse_schedule(doc or OFFICE)


def candidate(
    schedule: Schedule | None = None,
    *,
    power: Power = Power.RUNNING,
    tags: dict[str, str] | None = None,
    kind: str = "ec2",
    id: str = "i-0123456789abcdef0",
    excluded: bool = False,
    running_since: datetime | None = None,
    arn: str | None = None,
) -> NoticeCandidate:
    return NoticeCandidate.from_tags(
        kind=kind,
        id=id,
        region=REGION,
        tags=tags or {},
        schedule=schedule if schedule is not None else sched(),
        power=power,
        running_since=running_since,
        excluded=excluded,
        arn=arn,
    )


# --- which stops are due --------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("17:15", None),
        ("17:30", None),
        ("17:44", None),
        ("17:45", "stop@2026-11-23T18:00:00Z"),  # the pass before the stop
        ("18:00", "stop@2026-11-23T18:00:00Z"),  # the stop's own pass, at the latest
    ],
)
def test_a_scheduled_stop_is_announced_within_the_lead_time(
    moment: str, expected: str | None
) -> None:
    """The warning goes out once the stop is no more than 15 minutes away."""
    now = at(f"{MONDAY} {moment}", "Europe/London")
    notices = due_notices(
        [candidate(tags={STATE: "start@2026-11-23T08:00:00Z"})], now, lead_minutes=15
    )
    assert [n.tag_value for n in notices] == ([expected] if expected else [])


def test_a_longer_lead_time_warns_earlier() -> None:
    """`POWERCYCLE_NOTICE_MINUTES=60`: the 17:00 pass warns of the 18:00 stop."""
    now = at(f"{MONDAY} 17:00", "Europe/London")
    assert [n.tag_value for n in due_notices([candidate()], now, lead_minutes=60)] == [
        "stop@2026-11-23T18:00:00Z"
    ]
    assert due_notices([candidate()], now, lead_minutes=59) == []


def test_zero_lead_time_turns_warnings_off() -> None:
    """0 minutes = off, even on the stop's own pass."""
    assert due_notices([candidate()], at(f"{MONDAY} 18:00"), lead_minutes=0) == []


def test_never_twice_for_the_same_stop() -> None:
    """The recorded `powercycle:notice` holds the stop: no second warning for it."""
    tags = {NOTICE_TAG: "stop@2026-11-23T18:00:00Z"}
    for moment in ("17:45", "18:00"):
        assert due_notices([candidate(tags=tags)], at(f"{MONDAY} {moment}"), lead_minutes=15) == []
    # The next day's stop is another stop.
    tomorrow = due_notices([candidate(tags=tags)], at("2026-11-24 17:50"), lead_minutes=15)
    assert [n.tag_value for n in tomorrow] == ["stop@2026-11-24T18:00:00Z"]


def test_a_stop_already_handled_is_not_announced() -> None:
    """Started by hand at 21:00 after the 18:00 stop: it stays up, nothing to warn of."""
    tags = {STATE: "stop@2026-11-23T18:00:00Z"}
    assert due_notices([candidate(tags=tags)], at(f"{MONDAY} 21:00"), lead_minutes=15) == []


def test_enforce_announces_the_stop_it_will_reassert() -> None:
    """With `enforce` a handled stop is carried out again: warned once, on that pass."""
    schedule = sched(**OFFICE, enforce=True)
    tags = {STATE: "stop@2026-11-23T18:00:00Z"}
    notices = due_notices([candidate(schedule, tags=tags)], at(f"{MONDAY} 21:00"), lead_minutes=15)
    assert [(n.tag_value, n.due_now) for n in notices] == [("stop@2026-11-23T18:00:00Z", True)]


def test_a_first_sight_stop_is_announced_on_its_own_pass() -> None:
    """Seen for the first time after its stop: the pass stops it, and says so."""
    notices = due_notices([candidate()], at(f"{MONDAY} 19:30"), lead_minutes=15)
    assert len(notices) == 1 and notices[0].due_now
    assert "is being carried out now" in notices[0].text()
    assert "is stopping now" in notices[0].subject()


@pytest.mark.parametrize("power", [Power.STOPPED, Power.TRANSITION, None])
def test_nothing_for_a_resource_that_is_not_running(power: Power | None) -> None:
    """Already stopped, or on its way somewhere: no warning."""
    c = candidate(power=Power.RUNNING)
    c = NoticeCandidate(**{**c.__dict__, "power": power})
    assert due_notices([c], at(f"{MONDAY} 17:45"), lead_minutes=15) == []


def test_nothing_for_an_excluded_resource() -> None:
    assert due_notices([candidate(excluded=True)], at(f"{MONDAY} 17:45"), lead_minutes=15) == []


def test_nothing_without_a_schedule() -> None:
    c = NoticeCandidate(
        kind="ec2", id="i-1", region=REGION, tags={}, schedule=None, power=Power.RUNNING
    )
    assert due_notices([c], at(f"{MONDAY} 17:45"), lead_minutes=15) == []


def test_nothing_while_snoozed_then_one_warning_before_the_snooze_ends() -> None:
    """Snoozed until 20:00 past the 18:00 stop: no warning while the snooze lasts, one on
    the pass before it ends (the stop happens then), none again on the stop's pass."""
    tags = {STATE: "start@2026-11-23T08:00:00Z", SKIP_UNTIL_TAG: "2026-11-23T20:00:00Z"}
    for moment in ("17:45", "18:00", "19:30"):
        assert due_notices([candidate(tags=tags)], at(f"{MONDAY} {moment}"), lead_minutes=15) == []
    [notice] = due_notices([candidate(tags=tags)], at(f"{MONDAY} 19:45"), lead_minutes=15)
    assert (notice.tag_value, notice.due_now, notice.after_snooze) == (
        "stop@2026-11-23T20:00:00Z",
        False,
        True,
    )
    assert "Scheduled stop: 2026-11-23 20:00 GMT" in notice.text()
    assert "Put off until its powercycle:skip-until ran out." in notice.text()
    recorded = {**tags, NOTICE_TAG: notice.tag_value}
    assert due_notices([candidate(tags=recorded)], at(f"{MONDAY} 20:00"), lead_minutes=15) == []
    # Not recorded (the 19:45 pass was missed): the stop's own pass, the same stop.
    [late] = due_notices([candidate(tags=tags)], at(f"{MONDAY} 20:00"), lead_minutes=15)
    assert (late.tag_value, late.due_now) == ("stop@2026-11-23T20:00:00Z", True)


def test_a_snooze_that_ended_before_the_stop_changes_nothing() -> None:
    tags = {SKIP_UNTIL_TAG: "2026-11-23T12:00:00Z"}
    [notice] = due_notices([candidate(tags=tags)], at(f"{MONDAY} 17:45"), lead_minutes=15)
    assert (notice.tag_value, notice.after_snooze) == ("stop@2026-11-23T18:00:00Z", False)


def test_a_snooze_over_the_next_start_leaves_nothing_to_stop() -> None:
    """Snoozed overnight until Tuesday 12:00: the 08:00 start is then the latest event."""
    tags = {STATE: "start@2026-11-23T08:00:00Z", SKIP_UNTIL_TAG: "2026-11-24T12:00:00Z"}
    assert due_notices([candidate(tags=tags)], at("2026-11-24 11:45"), lead_minutes=15) == []


def test_start_wins_a_tie_so_no_stop_is_announced() -> None:
    """A start and a stop at the same minute: the start wins, nothing stops."""
    schedule = sched(start="0 18 * * *", stop="0 18 * * *")
    assert due_notices([candidate(schedule)], at(f"{MONDAY} 17:50"), lead_minutes=15) == []


def test_skip_dates_have_no_stop_to_announce() -> None:
    """A holiday: Friday's stop was the last one, and it is handled."""
    schedule = sched(**OFFICE, skip=[MONDAY])
    tags = {STATE: "stop@2026-11-20T18:00:00Z"}
    assert (
        due_notices([candidate(schedule, tags=tags)], at(f"{MONDAY} 17:50"), lead_minutes=15) == []
    )


def test_a_max_runtime_stop_is_announced_before_the_deadline() -> None:
    """Started by hand at 12:10 with `maxRuntime` 4h: the 16:00 pass warns of 16:10."""
    schedule = sched(start="0 8 * * 1-5", maxRuntime="4h")
    since = at(f"{MONDAY} 12:10:30")
    c = candidate(schedule, running_since=since, tags={STATE: "start@2026-11-23T08:00:00Z"})
    assert due_notices([c], at(f"{MONDAY} 15:45"), lead_minutes=15) == []
    [notice] = due_notices([c], at(f"{MONDAY} 16:00"), lead_minutes=15)
    assert notice.reason == "max-runtime"
    assert notice.tag_value == "stop@2026-11-23T16:10:30Z"
    assert "maxRuntime (4h)" in notice.text()
    # The same deadline on the next pass: already warned.
    again = candidate(schedule, running_since=since, tags={NOTICE_TAG: notice.tag_value})
    assert due_notices([again], at(f"{MONDAY} 16:15"), lead_minutes=15) == []


def test_a_scheduled_start_renews_the_max_runtime_clock() -> None:
    """Up since the night before, the 08:00 start restarts the clock: 12:00, not 03:00."""
    schedule = sched(start="0 8 * * 1-5", maxRuntime="4h")
    night = at("2026-11-22 23:00")
    latest = schedule.latest_event(at(f"{MONDAY} 08:05"))
    assert max_runtime_deadline(schedule, latest, None, night) == at(f"{MONDAY} 12:00")
    handled = Event(at(f"{MONDAY} 08:00").astimezone(UTC), "start")
    assert max_runtime_deadline(schedule, None, handled, night) == at(f"{MONDAY} 12:00")
    assert max_runtime_deadline(schedule, latest, None, None) is None  # no clock, no stop
    assert max_runtime_deadline(sched(), latest, None, night) is None  # no maxRuntime


def test_the_earlier_of_two_stops_is_announced() -> None:
    """A max-runtime deadline before the scheduled stop is the one warned of."""
    schedule = sched(**OFFICE, maxRuntime="9h")
    c = candidate(schedule, running_since=at(f"{MONDAY} 08:50"))
    [notice] = due_notices([c], at(f"{MONDAY} 17:45"), lead_minutes=15)
    assert (notice.reason, notice.tag_value) == ("max-runtime", "stop@2026-11-23T17:50:00Z")


def test_the_stop_time_is_shown_in_the_schedule_zone_and_in_utc() -> None:
    """New York in November is UTC-5: 18:00 EST is 23:00 UTC."""
    schedule = sched(**{**OFFICE, "tz": "America/New_York"})
    [notice] = due_notices(
        [candidate(schedule, tags={"Name": "web-dev", "owner": "team-a"})],
        at(f"{MONDAY} 17:50", "America/New_York"),
        lead_minutes=15,
    )
    text = notice.text()
    assert "2026-11-23 18:00 EST (America/New_York), 2026-11-23T23:00:00Z UTC" in text
    assert "Resource: i-0123456789abcdef0 (Name: web-dev)" in text
    assert "Owner:    team-a" in text
    assert notice.tag_value == "stop@2026-11-23T23:00:00Z"
    assert (
        notice.subject()
        == "powercycle: ec2 i-0123456789abcdef0 (web-dev) stops at 2026-11-23 18:00 EST"
    )


def test_the_message_says_exactly_how_to_snooze() -> None:
    """The powercycle command and the AWS CLI command with the tag in its JSON form."""
    [notice] = due_notices([candidate()], at(f"{MONDAY} 17:45"), lead_minutes=15)
    text = notice.text()
    assert f"powercycle snooze i-0123456789abcdef0 --region {REGION} --for 3h" in text
    command = (
        f"aws ec2 create-tags --region {REGION} --resources i-0123456789abcdef0 "
        """--tags '[{"Key":"powercycle:skip-until","Value":"2026-11-23T21:00:00Z"}]'"""
    )
    assert command in text
    argv = shlex.split(command)
    assert json.loads(argv[-1]) == [{"Key": SKIP_UNTIL_TAG, "Value": "2026-11-23T21:00:00Z"}]
    assert json.loads(notice.message()) == {"default": text}


def test_clusters_and_groups_get_their_own_tag_command() -> None:
    """EKS: tag-resource on the ARN (looked up when unknown); Auto Scaling: its tag call."""
    arn = f"arn:aws:eks:{REGION}:123456789012:cluster/dev"
    eks = due_notices(
        [candidate(kind="eks", id="dev", arn=arn)], at(f"{MONDAY} 17:45"), lead_minutes=15
    )
    assert raw_snooze_command(eks[0]) == (
        f"aws eks tag-resource --region {REGION} --resource-arn {arn} "
        """--tags '{"powercycle:skip-until":"2026-11-23T21:00:00Z"}'"""
    )
    no_arn = due_notices([candidate(kind="eks", id="dev")], at(f"{MONDAY} 17:45"), lead_minutes=15)
    assert (
        f'--resource-arn "$(aws eks describe-cluster --region {REGION} --name dev '
        '--query cluster.arn --output text)"' in raw_snooze_command(no_arn[0])  # type: ignore[operator]
    )
    asg = due_notices([candidate(kind="asg", id="web asg")], at(f"{MONDAY} 17:45"), lead_minutes=15)
    argv = shlex.split(raw_snooze_command(asg[0]) or "")
    assert argv[:5] == ["aws", "autoscaling", "create-or-update-tags", "--region", REGION]
    assert json.loads(argv[-1])[0]["ResourceId"] == "web asg"
    other = due_notices([candidate(kind="vm", id="x")], at(f"{MONDAY} 17:45"), lead_minutes=15)
    assert raw_snooze_command(other[0]) is None
    assert "powercycle snooze x" in other[0].text()


def test_owner_tag_spellings() -> None:
    assert owner_of({"owner": " team-a "}) == "team-a"
    assert owner_of({"Owner": "team-b"}) == "team-b"
    assert owner_of({"Name": "x"}) is None
    assert owner_of({"owner": "  "}) is None


def test_attributes_for_filter_policies() -> None:
    """kind, resource, owner (absent when there is no owner tag: SNS refuses empty values)."""
    [with_owner] = due_notices(
        [candidate(tags={"owner": "team-a"})], at(f"{MONDAY} 17:45"), lead_minutes=15
    )
    assert {k: v["StringValue"] for k, v in with_owner.attributes().items()} == {
        "type": "stop-notice",
        "kind": "ec2",
        "resource": "i-0123456789abcdef0",
        "region": REGION,
        "owner": "team-a",
    }
    [without] = due_notices([candidate()], at(f"{MONDAY} 17:45"), lead_minutes=15)
    assert "owner" not in without.attributes()


def test_tags_are_grouped_by_the_callers_ref() -> None:
    """The engine hands its provider as `ref` and gets the tags to record per provider."""
    providers = {"a": object(), "b": object()}
    candidates = [
        NoticeCandidate.from_tags(
            kind="eks",
            id="dev",
            region=REGION,
            tags={},
            schedule=sched(),
            power=Power.RUNNING,
            ref=providers[account],
        )
        for account in ("a", "b")  # the same cluster name in two accounts
    ]
    notices = due_notices(candidates, at(f"{MONDAY} 17:45"), lead_minutes=15)
    assert [n.ref for n in notices] == [providers["a"], providers["b"]]
    results = [(notices[0], None), (notices[1], "refused")]
    assert tags_to_record(results, group=lambda n: n.ref) == {
        providers["a"]: {"dev": "stop@2026-11-23T18:00:00Z"}
    }


def test_a_bad_tag_is_refused_when_read() -> None:
    """An unreadable state or snooze tag raises, as the engine's own reading does."""
    from powercycle.core.decide import StateTagError

    for tags in ({STATE: "stopped"}, {SKIP_UNTIL_TAG: "tomorrow"}):
        with pytest.raises(StateTagError):
            candidate(tags=tags)


def test_notice_minutes_setting() -> None:
    assert parse_notice_minutes(None) == 15
    assert parse_notice_minutes(" ") == 15
    assert parse_notice_minutes("0") == 0
    assert parse_notice_minutes("30") == 30
    for bad in ("-5", "15m", "1.5"):
        with pytest.raises(ValueError, match="POWERCYCLE_NOTICE_MINUTES must be whole minutes"):
            parse_notice_minutes(bad)


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_notices([candidate()], datetime(2026, 11, 23, 17, 45), lead_minutes=15)


# --- on moto: SNS -> SQS, pass after pass ---------------------------------------------


@dataclass
class Box:
    """A resource of the simulated fleet; the scheduler's passes change it."""

    id: str
    schedule: Schedule
    tags: dict[str, str] = field(default_factory=dict)
    kind: str = "ec2"
    power: Power = Power.RUNNING
    running_since: datetime | None = None
    excluded: bool = False


@pytest.fixture
def topic(moto: None) -> Iterator[dict[str, Any]]:
    """A topic with two SQS subscribers: everything, and team-a's notices only."""
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    arn = sns.create_topic(Name="powercycle")["TopicArn"]
    queues = {}
    for name, policy in (("all", None), ("team-a", {"owner": ["team-a"]})):
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        attributes = {"FilterPolicy": json.dumps(policy)} if policy else {}
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn, Attributes=attributes)
        queues[name] = url
    yield {"arn": arn, "sns": sns, "sqs": sqs, "queues": queues}


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every SNS envelope waiting in the queue."""
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        for message in got:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def one_pass(
    boxes: list[Box], now: datetime, topic: dict[str, Any], *, dry_run: bool = False
) -> list[Notice]:
    """Notices first (recorded as the engine will), then the scheduler's own decision."""
    candidates = [
        NoticeCandidate.from_tags(
            kind=b.kind,
            id=b.id,
            region=REGION,
            tags=b.tags,
            schedule=b.schedule,
            power=b.power,
            running_since=b.running_since,
            excluded=b.excluded,
        )
        for b in boxes
    ]
    notices = due_notices(candidates, now, lead_minutes=15)
    results = publish_notices(
        notices, topic_arn=topic["arn"], sns_client=topic["sns"], dry_run=dry_run
    )
    by_id = {b.id: b for b in boxes}
    for (_kind, _region), values in tags_to_record(results).items():
        for resource_id, value in values.items():
            by_id[resource_id].tags[NOTICE_TAG] = value
    for b in boxes:
        if b.excluded:
            continue
        raw_skip = b.tags.get(SKIP_UNTIL_TAG)
        decision = decide(
            b.schedule,
            parse_state(b.tags.get(STATE)),
            b.power,
            now,
            running_since=b.running_since,
            skip_until=parse_utc(raw_skip, what="skip", value=raw_skip) if raw_skip else None,
        )
        if dry_run:
            continue
        if decision.action == "stop":
            b.power, b.running_since = Power.STOPPED, None
        elif decision.action == "start":
            b.power, b.running_since = Power.RUNNING, now
        if decision.record is not None:
            b.tags[STATE] = decision.record.tag_value()
    return notices


def fleet() -> list[Box]:
    started = {STATE: "start@2026-11-23T08:00:00Z"}
    return [
        Box(
            "i-web",
            sched(**{**OFFICE, "stop": "55 17 * * 1-5"}),
            {**started, "Name": "web", "owner": "team-a"},
        ),
        Box("dev", sched(**OFFICE), {**started, "owner": "team-b"}, kind="eks"),
        Box("i-prod", sched(**OFFICE), {**started, "environment": "P"}, excluded=True),
        Box("i-snoozed", sched(**OFFICE), {**started, SKIP_UNTIL_TAG: "2026-11-23T22:00:00Z"}),
        Box(
            "i-adhoc",
            sched(start="0 8 * * 1-5", maxRuntime="4h"),
            dict(started),
            running_since=at(f"{MONDAY} 12:10"),
        ),
    ]


def test_one_warning_per_stop_across_the_passes_before_it(topic: dict[str, Any]) -> None:
    """A day of passes every 15 minutes: each stop is announced once, on the pass before it."""
    boxes = fleet()
    sent_at: dict[str, datetime] = {}
    for now in ticks(at(f"{MONDAY} 12:00"), at(f"{MONDAY} 23:45")):
        for notice in one_pass(boxes, now, topic):
            assert notice.id not in sent_at, f"{notice.id} warned twice"
            sent_at[notice.id] = now
    assert sent_at == {
        "i-adhoc": at(f"{MONDAY} 16:00"),  # maxRuntime runs out at 16:10
        "i-web": at(f"{MONDAY} 17:45"),  # stop at 17:55
        "dev": at(f"{MONDAY} 17:45"),  # stop at 18:00
        # i-snoozed: its snooze puts the 18:00 stop off until 22:00
        "i-snoozed": at(f"{MONDAY} 21:45"),
    }
    assert {b.id: b.power for b in boxes} == {
        "i-web": Power.STOPPED,
        "dev": Power.STOPPED,
        "i-prod": Power.RUNNING,
        "i-snoozed": Power.STOPPED,
        "i-adhoc": Power.STOPPED,
    }

    received = drain(topic["sqs"], topic["queues"]["all"])
    assert sorted(m["MessageAttributes"]["resource"]["Value"] for m in received) == [
        "dev",
        "i-adhoc",
        "i-snoozed",
        "i-web",
    ]
    web = next(m for m in received if m["MessageAttributes"]["resource"]["Value"] == "i-web")
    assert {k: v["Value"] for k, v in web["MessageAttributes"].items()} == {
        "type": "stop-notice",
        "kind": "ec2",
        "resource": "i-web",
        "region": REGION,
        "owner": "team-a",
    }
    assert web["Subject"] == "powercycle: ec2 i-web (web) stops at 2026-11-23 17:55 GMT"
    assert (
        "Scheduled stop: 2026-11-23 17:55 GMT (Europe/London), 2026-11-23T17:55:00Z UTC"
        in web["Message"]
    )
    assert "powercycle snooze i-web" in web["Message"]

    # The team's filtered subscription gets its own notice and nothing else.
    team = drain(topic["sqs"], topic["queues"]["team-a"])
    assert [m["MessageAttributes"]["resource"]["Value"] for m in team] == ["i-web"]


def test_no_warning_in_a_dry_run(topic: dict[str, Any]) -> None:
    """A dry run computes the notices but sends nothing and records nothing."""
    boxes = fleet()
    planned = []
    for now in ticks(at(f"{MONDAY} 17:30"), at(f"{MONDAY} 18:00")):
        planned += one_pass(boxes, now, topic, dry_run=True)
    assert {n.id for n in planned} >= {"i-web", "dev"}
    assert drain(topic["sqs"], topic["queues"]["all"]) == []
    assert all(NOTICE_TAG not in b.tags for b in boxes)


class FlakySns:
    """The moto SNS client, refusing messages about one resource."""

    def __init__(self, sns: Any, refuse: str) -> None:
        self.sns, self.refuse, self.calls = sns, refuse, 0

    def publish(self, **kwargs: Any) -> Any:
        self.calls += 1
        if kwargs["MessageAttributes"]["resource"]["StringValue"] == self.refuse:
            raise ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}}, "Publish")
        return self.sns.publish(**kwargs)


def test_a_failed_message_is_isolated_and_sent_on_the_next_pass(topic: dict[str, Any]) -> None:
    """One refused publish: the others go out; its tag is not recorded, so it is retried."""
    candidates = [candidate(id=f"i-{n}", tags={"owner": "team-a"}) for n in range(5)]
    notices = due_notices(candidates, at(f"{MONDAY} 17:45"), lead_minutes=15)
    flaky = FlakySns(topic["sns"], refuse="i-3")
    results = publish_notices(notices, topic_arn=topic["arn"], sns_client=flaky, dry_run=False)
    errors = {n.id: e for n, e in results if e}
    assert errors == {"i-3": f"stop notice to {topic['arn']} not sent: Throttling: slow down"}
    assert tags_to_record(results) == {
        ("ec2", REGION): {f"i-{n}": "stop@2026-11-23T18:00:00Z" for n in (0, 1, 2, 4)}
    }
    assert len(drain(topic["sqs"], topic["queues"]["all"])) == 4

    recorded = tags_to_record(results)[("ec2", REGION)]
    again = [
        candidate(id=c.id, tags={NOTICE_TAG: recorded[c.id]} if c.id in recorded else {})
        for c in candidates
    ]
    retry = due_notices(again, at(f"{MONDAY} 18:00"), lead_minutes=15)
    assert [n.id for n in retry] == ["i-3"]


def test_no_new_message_once_the_budget_is_spent(topic: dict[str, Any]) -> None:
    """Near the end of the pass nothing new starts: the notices wait for the next pass."""
    notices = due_notices([candidate()], at(f"{MONDAY} 17:45"), lead_minutes=15)
    results = publish_notices(
        notices, topic_arn=topic["arn"], sns_client=topic["sns"], dry_run=False, budget=Budget(0)
    )
    assert [e for _, e in results] == ["deferred: the pass budget is spent; sent on the next pass"]
    assert tags_to_record(results) == {}
    assert drain(topic["sqs"], topic["queues"]["all"]) == []


def test_many_notices_are_published_in_parallel_each_once(topic: dict[str, Any]) -> None:
    """40 resources, 8 at a time: 40 messages, one per resource."""
    candidates = [candidate(id=f"i-{n:03d}") for n in range(40)]
    notices = due_notices(candidates, at(f"{MONDAY} 17:45"), lead_minutes=15)
    results = publish_notices(
        notices, topic_arn=topic["arn"], sns_client=topic["sns"], dry_run=False
    )
    assert [n.id for n, _ in results] == [n.id for n in notices]
    assert [e for _, e in results] == [None] * 40
    got = drain(topic["sqs"], topic["queues"]["all"])
    assert sorted(m["MessageAttributes"]["resource"]["Value"] for m in got) == [
        f"i-{n:03d}" for n in range(40)
    ]


# --- the snooze instruction works as written ------------------------------------------


@pytest.mark.slow
def test_the_raw_snooze_commands_work_with_the_aws_cli(tmp_path: Any) -> None:
    """The message's commands, run by bash and the AWS CLI against a moto server, set the
    tag; the next pass then leaves the resource alone."""
    import subprocess

    from tests.deploy_support import FAKE_CREDENTIALS, moto_server, subprocess_env

    with moto_server(tmp_path / "moto.log") as endpoint:
        env = subprocess_env(tmp_path, AWS_ENDPOINT_URL=endpoint, **FAKE_CREDENTIALS)

        def client(service: str) -> Any:
            return boto3.client(
                service, region_name=REGION, endpoint_url=endpoint, **_credentials()
            )

        ec2 = client("ec2")
        image = ec2.describe_images()["Images"]
        image_id = image[0]["ImageId"] if image else "ami-12c6146b"
        instance = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)["Instances"][0]
        eks = client("eks")
        eks.create_cluster(
            name="dev",
            roleArn="arn:aws:iam::123456789012:role/eks",
            resourcesVpcConfig={"subnetIds": []},
        )
        now = at(f"{MONDAY} 17:45")
        notices = due_notices(
            [candidate(id=instance["InstanceId"]), candidate(kind="eks", id="dev")],
            now,
            lead_minutes=15,
        )
        for notice in notices:
            command = raw_snooze_command(notice)
            assert command is not None and command in notice.text()
            run = subprocess.run(
                ["bash", "-c", command],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert run.returncode == 0, run.stderr

        tags = ec2.describe_tags(
            Filters=[{"Name": "resource-id", "Values": [instance["InstanceId"]]}]
        )["Tags"]
        ec2_tags = {t["Key"]: t["Value"] for t in tags}
        assert ec2_tags[SKIP_UNTIL_TAG] == "2026-11-23T21:00:00Z"
        eks_tags = eks.describe_cluster(name="dev")["cluster"]["tags"]
        assert eks_tags[SKIP_UNTIL_TAG] == "2026-11-23T21:00:00Z"
        snoozed = [
            candidate(id=instance["InstanceId"], tags=ec2_tags),
            candidate(kind="eks", id="dev", tags=eks_tags),
        ]
        assert due_notices(snoozed, at(f"{MONDAY} 18:00"), lead_minutes=15) == []


def _credentials() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def test_the_account_is_named_when_the_pass_spans_accounts() -> None:
    c = NoticeCandidate.from_tags(
        kind="ec2",
        id="i-1",
        region=REGION,
        tags={},
        schedule=sched(),
        power=Power.RUNNING,
        account="210987654321",
    )
    [notice] = due_notices([c], at(f"{MONDAY} 17:45"), lead_minutes=15)
    assert notice.text().startswith(
        f"powercycle will stop EC2 instance i-1 in {REGION} (account 210987654321)."
    )
    assert notice.attributes()["account"] == {"DataType": "String", "StringValue": "210987654321"}
