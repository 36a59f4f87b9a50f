"""Warnings before a stop: one SNS message per resource and stop, sent ahead of time.

`due_notices` is pure (no boto3, no clock): from what a pass knows of each resource it
picks the stops that fall within the lead time (`POWERCYCLE_NOTICE_MINUTES`, default 15),
so a warning goes out on the pass before the stop, and on the stop's own pass at the
latest. The stops it looks at are the ones `decide` would carry out:

* a scheduled stop: the latest event when it is a stop not yet handled (the state tag is
  older, or `enforce`), else the first `stop` firing after now;
* a `maxRuntime` stop: due once the resource has run longer than `maxRuntime` since the
  later of its own start and the latest start event (a start event the resource is running
  through is recorded by this very pass, so it renews the clock too). Its stop time is that
  deadline; the stop itself happens on the first pass after it.

Of those, the earlier one, if it is no later than now + lead time. A snooze
(`powercycle:skip-until`) puts a stop off until it ends: a snoozed resource is warned before
its snooze runs out, of a stop at that time. A resource that is not running (stopped, or on
its way somewhere), excluded or without a schedule gets nothing.

Never twice: a notice carries the stop's `stop@<UTC>` value, written to the resource's
`powercycle:notice` tag once published (a tag that could not be written means at worst one
more warning, never a stop without one). `publish_notices` sends them, never in a dry run.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from powercycle import aws
from powercycle.core.decide import Power, parse_state, parse_utc
from powercycle.core.schedule import Event, Schedule, format_utc
from powercycle.core.tags import NOTICE, SKIP_UNTIL, STATE
from powercycle.providers import REGISTRY
from powercycle.runtime.budget import Budget
from powercycle.runtime.pool import Deferred, map_guarded
from powercycle.runtime.text import duration, error_line, squash

NOTICE_TAG = NOTICE
SKIP_UNTIL_TAG = SKIP_UNTIL
DEFAULT_NOTICE_MINUTES = 15
SNOOZE_FOR = timedelta(hours=3)
PUBLISH_WORKERS = 8
_SUBJECT_LIMIT = 100  # SNS refuses longer subjects

StopReason = Literal["schedule", "max-runtime"]


def parse_notice_minutes(raw: str | None) -> int:
    """`POWERCYCLE_NOTICE_MINUTES`: whole minutes >= 0 (0 turns warnings off); default 15."""
    text = (raw or "").strip() or str(DEFAULT_NOTICE_MINUTES)
    if not text.isdigit():
        raise ValueError(f"POWERCYCLE_NOTICE_MINUTES must be whole minutes (0 = off), got {raw!r}")
    return int(text)


@dataclass(frozen=True)
class NoticeCandidate:
    """What a pass knows of one resource, as far as warnings go."""

    kind: str
    id: str
    region: str
    tags: Mapping[str, str] = field(repr=False)
    schedule: Schedule | None
    power: Power | None
    running_since: datetime | None = None
    state: Event | None = None  # the last handled event (`powercycle:state`)
    skip_until: datetime | None = None  # `powercycle:skip-until`
    excluded: bool = False
    last_notice: str | None = None  # `powercycle:notice` as found
    arn: str | None = None  # EKS: the cluster's ARN, for the raw tag command
    account: str | None = None  # named in the message when the pass spans accounts
    ref: Any = field(default=None, compare=False, repr=False)  # the caller's, handed back

    @classmethod
    def from_tags(
        cls,
        *,
        tags: Mapping[str, str],
        state_tag: str = STATE,
        skip_until_tag: str = SKIP_UNTIL_TAG,
        notice_tag: str = NOTICE_TAG,
        **fields: Any,
    ) -> NoticeCandidate:
        """A candidate whose state, snooze and notice come from its tags (the other fields
        as keywords); raises `StateTagError` on a value that cannot be read."""
        raw_skip = tags.get(skip_until_tag)
        skip = parse_utc(raw_skip, what=skip_until_tag, value=raw_skip) if raw_skip else None
        return cls(
            tags=tags,
            state=parse_state(tags.get(state_tag)),
            skip_until=skip,
            last_notice=tags.get(notice_tag),
            **fields,
        )


@dataclass(frozen=True)
class Notice:
    """One warning: which resource, which stop, and how to snooze it."""

    kind: str
    id: str
    region: str
    stop: datetime  # UTC
    tz: ZoneInfo
    reason: StopReason
    snooze_until: datetime  # UTC: what the raw snooze tag is set to in the message
    name: str | None = None
    owner: str | None = None
    arn: str | None = None
    max_runtime: timedelta | None = None
    due_now: bool = False  # the stop is already due: this pass carries it out
    after_snooze: bool = False  # put off until its snooze ends
    account: str | None = None
    ref: Any = field(default=None, compare=False, repr=False)  # the candidate's `ref`
    # Signed one-click links (label, address; `report.links`) and the message's format.
    links: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    format: Literal["text", "chatbot"] = "text"

    @property
    def tag_value(self) -> str:
        """The `powercycle:notice` value to record once this notice is published."""
        return f"stop@{format_utc(self.stop)}"

    def subject(self) -> str:
        label = f"{self.id} ({self.name})" if self.name else self.id
        when = "is stopping now" if self.due_now else f"stops at {_local(self.stop, self.tz)}"
        text = f"powercycle: {self.kind} {label} {when}"
        return squash(text)[:_SUBJECT_LIMIT]

    def attributes(self) -> dict[str, dict[str, str]]:
        """SNS message attributes, for subscription filter policies."""
        values = {"type": "stop-notice", "kind": self.kind, "resource": self.id}
        values |= {"region": self.region, "account": self.account or "", "owner": self.owner or ""}
        return {
            key: {"DataType": "String", "StringValue": value}
            for key, value in values.items()
            if value  # SNS refuses empty values: no `owner` tag, no `owner` attribute
        }

    def message(self) -> str:
        """The SNS `Message` for `MessageStructure='json'`: one readable text for every
        protocol, or an AWS Chatbot custom notification (`POWERCYCLE_NOTICE_FORMAT`)."""
        if self.format == "chatbot":
            from powercycle.report.chatbot import custom_notification

            return json.dumps({"default": json.dumps(custom_notification(self))})
        return json.dumps({"default": self.text()})

    def stop_line(self) -> str:
        """When and why it stops, in the schedule's zone and in UTC."""
        when = f"{_local(self.stop, self.tz)} ({self.tz.key}), {format_utc(self.stop)} UTC"
        if self.reason == "max-runtime":
            runtime = duration(self.max_runtime) if self.max_runtime else "its maxRuntime"
            why = f"It will have run longer than its maxRuntime ({runtime}) at {when}"
            line = f"{why}; it is stopped on the first pass after that."
        elif self.due_now:
            line = f"Its scheduled stop at {when} is being carried out now."
        else:
            line = f"Scheduled stop: {when}."
        if self.after_snooze:
            line += f" (Put off until its {SKIP_UNTIL_TAG} ran out.)"
        return line

    def text(self) -> str:
        kind_name = REGISTRY[self.kind].title if self.kind in REGISTRY else self.kind
        lines = [
            f"powercycle will stop {kind_name} {self.id} in {self.region}"
            + (f" (account {self.account})." if self.account else "."),
            "",
            f"Resource: {self.id}" + (f" (Name: {self.name})" if self.name else ""),
            f"Owner:    {self.owner or '(no owner tag)'}",
            self.stop_line(),
            "",
        ]
        if self.links:
            lines += ["Keep it running with one click (a page asks you to confirm):"]
            lines += [f"  {label}:\n  {url}" for label, url in self.links] + [""]
        lines += [
            "To keep it running, snooze it for 3 hours from when you run this:",
            f"  powercycle snooze {shlex.quote(self.id)} --region {self.region} "
            f"--for {duration(SNOOZE_FOR)}",
        ]
        raw = raw_snooze_command(self)
        if raw:
            lines += [
                "",
                f"or set the tag yourself (here until {format_utc(self.snooze_until)}, "
                "any ISO-8601 UTC time works):",
                f"  {raw}",
            ]
        lines += [
            "",
            f"While `{SKIP_UNTIL_TAG}` is in the future powercycle leaves the resource alone "
            "(no stop, no start); delete the tag to end the snooze early.",
        ]
        return "\n".join(lines)


def raw_snooze_command(notice: Notice) -> str | None:
    """The AWS CLI command that writes the snooze tag, or None for a kind it cannot tag."""
    kind = REGISTRY.get(notice.kind)
    if kind is None or kind.tag_command is None:
        return None
    tags = {SKIP_UNTIL_TAG: format_utc(notice.snooze_until)}
    return kind.tag_command(notice.region, notice.id, notice.arn or "", tags)


# --- which stops are due ------------------------------------------------------------


def due_notices(
    candidates: Iterable[NoticeCandidate], now: datetime, *, lead_minutes: int
) -> list[Notice]:
    """The warnings this pass should send: at most one per resource, never one already sent."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if lead_minutes <= 0:
        return []
    horizon = now + timedelta(minutes=lead_minutes)
    notices = []
    for candidate in candidates:
        notice = _notice_for(candidate, now, horizon)
        if notice is not None and notice.tag_value != (candidate.last_notice or "").strip():
            notices.append(notice)
    return notices


def _notice_for(c: NoticeCandidate, now: datetime, horizon: datetime) -> Notice | None:
    schedule, snooze = c.schedule, c.skip_until
    if c.excluded or schedule is None or c.power is not Power.RUNNING:
        return None
    if snooze is not None and snooze > horizon:
        return None  # snoozed past the lead time: nothing happens before the next passes
    # A snooze puts a stop off until it ends; the scheduler looks again from then.
    looks_at = max(now, snooze) if snooze is not None else now
    latest = schedule.latest_event(looks_at)
    stops: list[tuple[datetime, StopReason]] = []
    scheduled = _scheduled_stop(schedule, latest, c.state, looks_at, horizon)
    if scheduled is not None:
        stops.append((scheduled, "schedule"))
    deadline = max_runtime_deadline(schedule, latest, c.state, c.running_since)
    if deadline is not None and deadline <= horizon:
        stops.append((deadline, "max-runtime"))
    if not stops:
        return None
    stop, reason = min(stops)
    # Put off by the snooze: the same stop time on every pass while the tag stays, snooze
    # over or not, since it is what `powercycle:notice` records.
    postponed = snooze is not None and snooze > stop
    stop = max(stop, snooze or stop).astimezone(UTC).replace(microsecond=0)
    return Notice(
        kind=c.kind,
        id=c.id,
        region=c.region,
        stop=stop,
        tz=schedule.tz,
        reason=reason,
        snooze_until=max(stop, now.astimezone(UTC).replace(microsecond=0)) + SNOOZE_FOR,
        name=c.tags.get("Name"),
        owner=owner_of(c.tags),
        arn=c.arn,
        max_runtime=schedule.max_runtime,
        due_now=stop <= now,
        after_snooze=postponed,
        account=c.account,
        ref=c.ref,
    )


def _scheduled_stop(
    schedule: Schedule,
    latest: Event | None,
    state: Event | None,
    now: datetime,
    horizon: datetime,
) -> datetime | None:
    if latest is not None and latest.action == "stop" and not _handled(schedule, latest, state):
        return latest.time  # due on this pass
    for event in schedule.events_after(now):
        if event.time > horizon:
            return None
        if event.action == "stop":
            return event.time
    return None


def _handled(schedule: Schedule, event: Event, state: Event | None) -> bool:
    """decide's rule: an event no newer than the state tag is done (unless `enforce`)."""
    if state is None:
        return False
    return event.time < state.time or (not schedule.enforce and event.time == state.time)


def max_runtime_deadline(
    schedule: Schedule,
    latest: Event | None,
    state: Event | None,
    running_since: datetime | None,
) -> datetime | None:
    """When a running resource's `maxRuntime` runs out (it is stopped once now is past it).

    The clock starts at the later of its own start and the latest start event: the one in
    the state tag, or the latest event when it is a start (a pass that finds the resource
    running through it records it as handled).
    """
    if schedule.max_runtime is None or running_since is None:
        return None
    clock = running_since
    for event in (state, latest):
        if event is not None and event.action == "start" and event.time > clock:
            clock = event.time
    return clock + schedule.max_runtime


def owner_of(tags: Mapping[str, str]) -> str | None:
    """The `owner` tag (`Owner` and other spellings accepted), stripped; None when absent."""
    value = tags.get("owner")
    if value is None:
        value = next((v for k, v in tags.items() if k.strip().lower() == "owner"), None)
    return (value.strip() or None) if value is not None else None


# --- publishing ---------------------------------------------------------------------


def publish_notices(
    notices: Sequence[Notice],
    *,
    topic_arn: str,
    sns_client: Any,
    dry_run: bool,
    budget: Budget | None = None,
    workers: int = PUBLISH_WORKERS,
) -> list[tuple[Notice, str | None]]:
    """Publish each notice; returns, in order, each with None (sent: record its tag) or
    the error. (A list: the same cluster name may be in two accounts.)

    Nothing is sent in a dry run (the result is empty). Near the end of the pass budget no
    new message is started: those notices come back with an error and are sent next pass.
    """
    if dry_run or not notices:
        return []
    budget = budget or Budget.unlimited()

    def publish(notice: Notice) -> str | None:
        try:
            sns_client.publish(
                TopicArn=topic_arn,
                Subject=notice.subject(),
                Message=notice.message(),
                MessageStructure="json",
                MessageAttributes=notice.attributes(),
            )
        except Exception as exc:  # one failed message never stops the others
            return f"stop notice to {topic_arn} not sent: {aws.describe_error(exc)}"
        return None

    answers = map_guarded(notices, publish, workers=workers, budget=budget)
    return [(n, _published(a)) for n, a in zip(notices, answers, strict=True)]


def _published(answer: str | BaseException | Deferred | None) -> str | None:
    if isinstance(answer, Deferred):
        return "deferred: the pass budget is spent; sent on the next pass"
    if isinstance(answer, BaseException):  # publish answers its own errors; a backstop
        return f"stop notice not sent: {error_line(answer)}"
    return answer


def tags_to_record(
    results: Iterable[tuple[Notice, str | None]],
    group: Callable[[Notice], Hashable] = lambda n: (n.kind, n.region),
) -> dict[Hashable, dict[str, str]]:
    """`powercycle:notice` values of the published notices, per group (e.g. `n.ref`'s
    provider; by default (kind, region)), then resource id."""
    out: dict[Hashable, dict[str, str]] = {}
    for notice, error in results:
        if error is None:
            out.setdefault(group(notice), {})[notice.id] = notice.tag_value
    return out


# --- text helpers -------------------------------------------------------------------


def _local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
