"""Holiday calendars, the pure part: the schedule key `calendars` (validated), the dates a
schedule's calendars skip (`Holidays`), and how skipped dates are named.

Fetching and reading the iCalendar files is `powercycle.sources.calendars`.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit, urlunsplit

from powercycle.core.document import show

if TYPE_CHECKING:
    from powercycle.core.schedule import Schedule

MAX_CALENDARS = 5
MAX_LOCATION_CHARS = 2048


class CalendarError(ValueError):
    """A calendar location that is refused, or a calendar that cannot be read."""


# --- the schedule key ------------------------------------------------------------------


def parse_key(value: object) -> tuple[str, ...]:
    """The `calendars` key, validated: its locations, duplicates removed; CalendarError."""
    example = '["https://www.gov.uk/bank-holidays/england-and-wales.ics"]'
    if value is None:
        return ()
    if not isinstance(value, list):
        raise CalendarError(
            f'"calendars" must be a list of iCalendar locations like {example}, '
            f"got {_short(value)}"
        )
    if len(value) > MAX_CALENDARS:
        raise CalendarError(
            f'"calendars" holds {len(value)} locations; at most {MAX_CALENDARS} are allowed'
        )
    return tuple(dict.fromkeys(_location(item) for item in value))


def _location(item: object) -> str:
    if not isinstance(item, str):
        raise CalendarError(
            f'"calendars": {_short(item)} is not an https://, http:// or s3:// location string'
        )
    text = item.strip()
    if len(text) > MAX_LOCATION_CHARS:
        raise CalendarError(
            f'"calendars": a location of {len(text)} characters; at most {MAX_LOCATION_CHARS}'
        )
    scheme = text.partition(":")[0].lower()
    if scheme == "s3":
        bucket, _, key = text[5:].partition("/") if text[3:5] == "//" else ("", "", "")
        if not bucket or not key:
            raise CalendarError(
                f'"calendars": {_shown(text)} is not s3://bucket/key'
            )
    elif scheme in ("https", "http"):
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            raise CalendarError(f'"calendars": {_shown(text)} is not a valid URL') from None
        if not parts.hostname or not text[len(scheme) + 1 :].startswith("//"):
            raise CalendarError(f'"calendars": {_shown(text)} has no host')
    else:
        raise CalendarError(
            f'"calendars": {_shown(text)} is not an https:// or s3:// location '
            "(http:// only under an allowlist prefix)"
        )
    if "#" in text:
        raise CalendarError(
            f'"calendars": {_shown(text)} has a #fragment; a calendar location names a '
            "whole calendar"
        )
    return text


def _shown(text: str) -> str:
    shown = redact(text)
    return repr(shown if len(shown) <= 100 else shown[:97] + "...")


def _short(value: object) -> str:
    return show(value)


def redact(url: str) -> str:
    """The URL with credentials and query values hidden (names and fragment kept); the one
    redaction of a location, which `sources.http.redact_url` is too."""
    try:
        parts = urlsplit(url)
    except ValueError:  # no parts to keep: no query, no userinfo
        return re.sub(r"//[^/\s@]*@", "//***@", url.partition("?")[0])
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    # Parameter names stay (they tell a presigned URL from a plain one); values, and
    # items that are a bare value (`?TOKEN`), do not.
    query = "&".join(
        f"{name}=***" if sep else "***"
        for name, sep, _ in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment))


def label(location: str) -> str:
    """How a calendar is named beside its events: the file name of its location."""
    path = location.partition("?")[0].partition("#")[0].rstrip("/")
    name = path.rpartition("/")[2]
    return name or path


# --- what a schedule's calendars say ----------------------------------------------------


@dataclass(frozen=True, eq=False)
class Holidays:
    """The dates a schedule's calendars skip, in its zone, within a window of dates.

    Compared by identity: one object per (calendars, zone) per pass, so a schedule that
    carries it stays cheap to hash and its cached evaluations are never shared with a
    schedule read from other calendars.
    """

    ranges: tuple[tuple[date, date], ...]
    # (first, last, "event name (calendar)"), sorted by first date.
    named: tuple[tuple[date, date, str], ...]
    window: tuple[date, date]

    def names(self, day: date) -> list[str]:
        """The events (with their calendar) that skip `day`."""
        found: list[str] = []
        i = bisect_right(self.named, (day, date.max, "\uffff"))
        for first, last, name in self.named[:i]:
            if first <= day <= last and name not in found:
                found.append(name)
        return found


def skipped_days(schedule: Schedule, after: date, count: int, *, horizon: int = 366) -> list[
    tuple[date, list[str]]
]:
    """The next `count` skipped local dates from `after` (included), with why: the events
    (`"Christmas Day (bank-holidays.ics)"`) or `"skip"`, within `horizon` days."""
    found: list[tuple[date, list[str]]] = []
    explicit = [r for r in schedule.skip if r[1] >= after]
    holidays = schedule.holidays
    day, end = after, after + timedelta(days=horizon)
    while day <= end and len(found) < count:
        names = [] if holidays is None else holidays.names(day)
        if any(first <= day <= last for first, last in explicit):
            names.append("skip")
        if names:
            found.append((day, names))
        day += timedelta(days=1)
    return found


def format_skipped(day: date, names: Sequence[str]) -> str:
    """`Fri 2026-12-25: Christmas Day (bank-holidays.ics)`."""
    return f"{day.strftime('%a %Y-%m-%d')}: {', '.join(names)}"


