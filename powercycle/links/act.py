"""What a link does, and doing it: the resource found, screened, shown, then acted on.

`prepare` checks the link (signature, expiry, hours within `POWERCYCLE_LINK_MAX_HOURS`),
finds its one resource through its kind's provider in its account and region (the same
`lookup` a manual action uses), screens it as a pass would (production and every other
exclusion, the provider's own skip or error, the schedule tag) and says what the link
would do, in the schedule's zone. It changes nothing: a GET stops there. `carry_out` then
acts through the same provider: `record` writes `powercycle:skip-until` (extend, skip),
`act("start")` then `record` of the state tag (wake), exactly the calls a pass makes.

Acting twice is harmless: a second click of an extend or skip link finds the snooze
already as long (nothing written); of a wake link, the resource already running.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from powercycle import aws, sources
from powercycle.aws import sealkey
from powercycle.aws import targets as tg
from powercycle.config import Config
from powercycle.core import links
from powercycle.core.decide import Power
from powercycle.core.model import NOTED, ActRequest, Resource
from powercycle.core.schedule import Event, Schedule, format_utc
from powercycle.core.tags import read_marks
from powercycle.providers import REGISTRY, Provider, providers_for
from powercycle.runtime.budget import Budget


class Refused(Exception):
    """A page instead of the action: `status`, a title and what to do."""

    def __init__(self, status: int, title: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.title, self.reason = status, title, reason


@dataclass(frozen=True)
class Plan:
    """A checked link and what it would do to its resource, for the page and the action."""

    link: links.Link
    resource: Resource
    provider: Provider
    schedule: Schedule
    name: str  # the Name tag, else the id
    current: datetime | None  # when it stops now (None: not before the new time)
    until: datetime  # extend, skip: the new snooze end; wake: its next scheduled stop
    skip_until: datetime | None
    nothing: str | None = None  # why there is nothing to do (the page says so)

    @property
    def tz(self) -> str:
        return self.schedule.tz.key

    def local(self, moment: datetime | None) -> str:
        if moment is None:
            return "no stop scheduled"
        return moment.astimezone(self.schedule.tz).strftime("%a %d %b %H:%M")

    def done_line(self) -> str:
        until = f"{self.local(self.until)} {self.tz}"
        if self.link.action == "wake":
            return f"done: {self.name} is starting; it runs until its next stop, {until}"
        return f"done: {self.name} keeps running until {until}"


def prepare(config: Config, token: str, now: datetime, budget: Budget) -> Plan:
    """The plan of a link, or `Refused` (403, 409, 410, 503); reads only, writes nothing."""
    try:
        key = sealkey.for_pass(config, budget).get()
    except sealkey.KeyUnavailable:
        raise Refused(
            503,
            "Links cannot be checked now",
            "powercycle's key could not be read; try again "
            "in a few minutes, or ask the operator (its log names the cause)",
        ) from None
    try:
        link = links.verify(key, token, now)
    except links.LinkExpired as exc:
        raise Refused(410, "This link has expired", f"{exc}; nothing was changed") from None
    except links.LinkError as exc:
        raise Refused(403, "This link is not valid", f"{exc}; nothing was changed") from None
    if link.hours > config.link_max_hours:
        raise Refused(
            403,
            "This link is not valid",
            f"{link.hours} hours is more than this scheduler "
            f"allows now ({config.link_max_hours}); nothing was changed",
        )
    resource, provider = _find(config, link, budget)
    schedule = _screen(config, link, resource, budget, now)
    marks = read_marks(resource.tags, now=now, skip_until_tag=config.skip_until_tag)
    name = (resource.tags.get("Name") or "").strip() or resource.id
    plan = partial(
        Plan,
        link=link,
        resource=resource,
        provider=provider,
        schedule=schedule,
        name=name,
        skip_until=marks.skip_until,
    )
    if link.action == "wake":
        stop = _next(schedule, now, "stop")
        if stop is None:
            raise Refused(
                409,
                "Nothing to wake for",
                f"{name}'s schedule has no stop ahead: "
                "a wake link starts a resource only until its next scheduled stop",
            )
        nothing = None
        if resource.power is not Power.STOPPED:
            nothing = f"{name} is not stopped ({_power(resource)}): nothing to start"
        return plan(current=None, until=stop, nothing=nothing)
    assert link.stop is not None  # extend and skip links carry their stop
    if link.action == "extend":
        until = link.stop + timedelta(hours=link.hours)
    else:
        start = _next(schedule, link.stop, "start")
        if start is None:
            raise Refused(
                409,
                "Nothing to skip to",
                f"{name}'s schedule has no start after "
                "this stop: use a link that keeps it running for some hours",
            )
        until = start
    current = max(link.stop, marks.skip_until) if marks.skip_until else link.stop
    nothing = None
    if resource.power is not Power.RUNNING:
        nothing = f"{name} is not running ({_power(resource)}): there is no stop to put off"
    elif current >= until:
        nothing = f"{name} already keeps running until {_at(schedule, current)}"
    elif until <= now:
        nothing = f"{_at(schedule, until)} has passed: there is nothing left to keep running"
    return plan(current=current, until=until, nothing=nothing)


def carry_out(config: Config, plan: Plan, now: datetime) -> str:
    """Act as the plan says (through the resource's provider); the answer's line.

    `Refused` (502) when the provider refuses; nothing is claimed done then.
    """
    if plan.nothing:
        return f"nothing changed: {plan.nothing}"
    rid = plan.resource.id
    if plan.link.action == "wake":
        record = Event(now.astimezone(UTC).replace(microsecond=0), "start").tag_value()
        request = ActRequest(plan.resource, plan.schedule, record)
        error = plan.provider.act("start", [request]).get(rid)
        if error is not None and error.code != NOTED:
            raise Refused(502, "It could not be started", f"{plan.name}: {error}")
        failed = _record(plan.provider, config.state_tag, rid, record)
        if failed:  # started: the next pass records it, as for any pass
            return plan.done_line() + f" (its state tag is written by the next pass: {failed})"
        return plan.done_line()
    failed = _record(plan.provider, config.skip_until_tag, rid, format_utc(plan.until))
    if failed:
        raise Refused(502, "It could not be kept running", f"{plan.name}: {failed}")
    return plan.done_line()


def _record(provider: Provider, key: str, rid: str, value: str) -> str | None:
    try:
        return provider.record(key, {rid: value}).get(rid)
    except aws.AWS_ERRORS as exc:
        return aws.describe_error(exc)


def _find(config: Config, link: links.Link, budget: Budget) -> tuple[Resource, Provider]:
    unknown = Refused(
        403,
        "Unknown resource",
        f"this link names {link.kind} {link.resource!r} in "
        f"{link.region}, which this scheduler does not manage; nothing was changed",
    )
    if link.kind not in REGISTRY or link.kind not in config.kinds:
        raise unknown
    try:
        target = (
            tg.worker_target(config, tg.TargetRef(link.account, link.region))
            if link.account
            else _own(config, link.region)
        )
    except tg.TargetError:
        raise unknown from None
    for provider in providers_for(config, [target], budget=budget, kinds=[link.kind]):
        found = provider.lookup([link.resource])
        if link.resource in found:
            return found[link.resource], provider
    raise unknown


def _own(config: Config, region: str) -> tg.Target:
    if not config.all_regions and region not in config.regions:
        raise tg.TargetError(f"region {region} is not scheduled here")
    return tg.Target("", region, aws.OWN)


def _screen(
    config: Config, link: links.Link, resource: Resource, budget: Budget, now: datetime
) -> Schedule:
    """A pass's screening: what a pass would not touch, a link does not touch either."""
    name = resource.tags.get("Name") or resource.id
    excluded = config.excluded_by(resource.tags)
    if excluded:
        raise Refused(
            403,
            "This resource is excluded",
            f"{name} carries {excluded} (production or otherwise excluded): links never act on it",
        )
    if resource.skip or resource.error:
        raise Refused(
            409,
            "powercycle cannot act on it",
            f"{name}: {resource.skip or resource.error}; nothing was changed",
        )
    value = resource.tags.get(config.tag)
    if value is None:
        raise Refused(
            403,
            "Not scheduled",
            f"{name} no longer carries the schedule tag "
            f"{config.tag}: links act only on scheduled resources",
        )
    schedules = sources.resolution([value], config, budget, now)
    try:
        schedule = schedules.get(value)
    finally:
        schedules.close()
    if not isinstance(schedule, Schedule):
        raise Refused(409, "Its schedule cannot be read", f"{name}: {schedule}")
    return schedule


def _next(schedule: Schedule, after: datetime, action: str) -> datetime | None:
    horizon = after + timedelta(days=366)
    for event in schedule.events_after(after):
        if event.time > horizon:
            return None
        if event.action == action:
            return event.time
    return None


def _power(resource: Resource) -> str:
    return resource.power.value if resource.power else "state unknown"


def _at(schedule: Schedule, moment: datetime) -> str:
    return f"{moment.astimezone(schedule.tz):%a %d %b %H:%M} {schedule.tz.key}"


__all__ = ["Plan", "Refused", "carry_out", "prepare"]
