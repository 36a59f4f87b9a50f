"""The keys of a schedule document, each read and checked on its own.

Every reader takes the key's raw JSON value and returns what `Schedule` holds, or raises
`ScheduleError` naming the key and the value (quoted short by `document.show`), with the
form it expects. The limits of each key live here (`MAX_CRONS`, `MAX_SKIP`, ...);
`core.schedule` puts the keys together into a `Schedule` and re-exports these names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from powercycle.core.cron import CronError, compile_cron
from powercycle.core.document import show

KNOWN_KEYS = (
    "start",
    "stop",
    "tz",
    "enforce",
    "hibernate",
    "skip",
    "maxRuntime",
    "resume",
    "via",
    "fallbackTypes",
    "calendars",
)
RESUME_KEYS = ("instanceType", "spot")
# EKS backends (`via`): CAST AI's hibernate/resume, or the managed node groups to zero.
VIA = ("castai", "nodegroups")

MAX_CRONS = 50
MAX_SKIP = 500
SKIP_YEARS = (1970, 2200)
MAX_RUNTIME = timedelta(days=365)
MAX_TZ_LENGTH = 64
MAX_FALLBACK_TYPES = 5
MAX_TYPE_LENGTH = 32

_DURATION = re.compile(r"([0-9]{1,7})([mhd])", re.ASCII)
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_INSTANCE_TYPE = re.compile(r"[a-z][a-z0-9-]*\.[a-z0-9]+", re.ASCII)
_ZONE = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*", re.ASCII)


class ScheduleError(ValueError):
    """A schedule document is invalid; the message names the key and the value."""


@dataclass(frozen=True)
class ResumeOptions:
    """CAST AI resume options (`resume` key)."""

    instance_type: str | None = None
    spot: bool | None = None


def crons(doc: dict[str, object], key: str) -> tuple[str, ...]:
    value = doc.get(key)
    if value is None:
        if key in doc:
            raise ScheduleError(f'"{key}" is null; give a cron string or a list of them')
        return ()
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_CRONS:
        raise ScheduleError(f'"{key}" holds {len(items)} crons; at most {MAX_CRONS} are allowed')
    crons: dict[object, str] = {}
    for item in items:
        if not isinstance(item, str):
            raise ScheduleError(
                f'"{key}": {show(item)} is not a cron string like "0 8 * * mon-fri"'
            )
        try:
            cron = compile_cron(item)
        except CronError as exc:
            raise ScheduleError(f'"{key}": {show(item)} {exc}') from None
        crons.setdefault(cron.key, cron.expr)  # two spellings of one cron count once
    return tuple(crons.values())


def validate_cron(key: str, expr: str) -> str:
    """The cron, whitespace normalised; ScheduleError naming `key` when it is refused."""
    try:
        return compile_cron(expr).expr
    except CronError as exc:
        raise ScheduleError(f'"{key}": {show(expr)} {exc}') from None


def zone(name: object) -> ZoneInfo:
    if not isinstance(name, str):
        raise ScheduleError(f'"tz" must be an IANA zone name string, got {show(name)}')
    if len(name) > MAX_TZ_LENGTH or not _ZONE.fullmatch(name):
        raise ScheduleError(f'"tz": {show(name)} is not an IANA time zone name')
    try:
        zone = ZoneInfo(name)
        datetime(2000, 1, 1, tzinfo=zone).utcoffset()
    except Exception:  # not found, a directory of the zone database, not a zone file
        raise ScheduleError(f'"tz": {show(name)} is not a known IANA time zone') from None
    return zone


def flag(doc: dict[str, object], key: str) -> bool:
    value = doc.get(key, False)
    if not isinstance(value, bool):
        raise ScheduleError(f'"{key}" must be true or false, got {show(value)}')
    return value


def skip(value: object) -> tuple[tuple[date, date], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ScheduleError(
            f'"skip" must be a list of dates like ["2026-12-25", "2026-12-28..2027-01-01"], '
            f"got {show(value)}"
        )
    if len(value) > MAX_SKIP:
        raise ScheduleError(f'"skip" holds {len(value)} entries; at most {MAX_SKIP} are allowed')
    return tuple(sorted(_skip_entry(item) for item in value))


def _skip_entry(item: object) -> tuple[date, date]:
    if not isinstance(item, str):
        raise ScheduleError(f'"skip": {show(item)} is not a YYYY-MM-DD date string')
    first_s, sep, last_s = (part.strip() for part in item.partition(".."))
    try:
        if not _DATE.fullmatch(first_s) or (sep and not _DATE.fullmatch(last_s)):
            raise ValueError
        first = date.fromisoformat(first_s)
        last = date.fromisoformat(last_s) if sep else first
    except ValueError:
        raise ScheduleError(
            f'"skip": {show(item)} is not YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD'
        ) from None
    if last < first:
        raise ScheduleError(f'"skip": {show(item)} ends before it starts')
    low, high = SKIP_YEARS
    if first.year < low or last.year > high:
        raise ScheduleError(f'"skip": {show(item)} is outside the years {low}-{high}')
    return first, last


def duration(value: object) -> timedelta | None:
    if value is None:
        return None
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) == 0:
        raise ScheduleError(
            f'"maxRuntime": {show(value)} is not a duration like "30m", "4h" or "2d"'
        )
    duration = timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})
    if duration > MAX_RUNTIME:
        raise ScheduleError(f'"maxRuntime": {show(value)} is longer than 365 days')
    return duration


def via(value: object) -> str | None:
    if value is None:
        return None
    if value not in VIA:
        raise ScheduleError(f'"via" must be one of {", ".join(map(repr, VIA))}, got {show(value)}')
    return str(value)


def resume(value: object) -> ResumeOptions | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ScheduleError(
            f'"resume" must be an object like {{"instanceType": "m5.large", "spot": true}}, '
            f"got {show(value)}"
        )
    unknown = [k for k in value if k not in RESUME_KEYS]
    if unknown:
        raise ScheduleError(
            f'"resume": unknown key {show(unknown[0])}; known keys: {", ".join(RESUME_KEYS)}'
        )
    instance_type = value.get("instanceType")
    if instance_type is not None and (
        not isinstance(instance_type, str) or not 0 < len(instance_type) <= 64
    ):
        raise ScheduleError(
            f'"resume.instanceType" must be a string of 1-64 characters, got {show(instance_type)}'
        )
    spot = value.get("spot")
    if spot is not None and not isinstance(spot, bool):
        raise ScheduleError(f'"resume.spot" must be true or false, got {show(spot)}')
    return ResumeOptions(instance_type=instance_type, spot=spot)


def calendars(value: object) -> tuple[str, ...]:
    from powercycle.core.calendars import CalendarError, parse_key

    try:
        return parse_key(value)
    except CalendarError as exc:
        raise ScheduleError(str(exc)) from None


def fallback_types(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    example = '["m5.large", "m6i.large"]'
    if not isinstance(value, list):
        raise ScheduleError(f'"fallbackTypes" must be a list like {example}, got {show(value)}')
    if len(value) > MAX_FALLBACK_TYPES:
        raise ScheduleError(
            f'"fallbackTypes" holds {len(value)} types; at most {MAX_FALLBACK_TYPES} are allowed'
        )
    for item in value:
        if (
            not isinstance(item, str)
            or len(item) > MAX_TYPE_LENGTH
            or not _INSTANCE_TYPE.fullmatch(item)
        ):
            raise ScheduleError(
                f'"fallbackTypes": {show(item)} is not an EC2 instance type like "m5.large"'
            )
    return tuple(dict.fromkeys(value))
