"""Reading one iCalendar file: parsed, checked against hostile shapes, and expanded.

`parse` turns a body into the icalendar Calendar (after a linear scan of its nesting,
`check_structure`, before anything recursive sees it); `covered_dates` expands its
events over a window of dates in one zone, counting first what its recurrence rules
would cost (`check_recurrences`: counted, not run). Every refusal is a `CalendarError`
whose message says why. `icalendar` and `recurring-ical-events` are imported only here,
and only when a schedule names a calendar. `sources.calendars` fetches the locations and
caches what is read here once per pass.
"""

from __future__ import annotations

import contextlib
import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from powercycle.core.calendars import CalendarError
from powercycle.sources.fetch import CALENDAR_MAX_BYTES
from powercycle.sources.http import scrub

MAX_BYTES = CALENDAR_MAX_BYTES
# Structure: a real calendar nests VCALENDAR > VEVENT > VALARM (VTIMEZONE > STANDARD).
MAX_DEPTH = 8
MAX_COMPONENTS = 20_000
# Recurrence expansion: dateutil walks a rule from its DTSTART, so what a rule costs is
# the periods from DTSTART to the window's end times what each period expands to.
MAX_STEPS = 200_000
MAX_OCCURRENCES = 20_000
_NO_TITLE = "(no title)"
_SECONDS = {
    "SECONDLY": 1,
    "MINUTELY": 60,
    "HOURLY": 3600,
    "DAILY": 86_400,
    "WEEKLY": 7 * 86_400,
    "MONTHLY": 28 * 86_400,
    "YEARLY": 365 * 86_400,
}
_TZID = re.compile(r"^TZID:(.{1,100})\r?$", re.MULTILINE)
MAX_ZONES = 50
_BEGIN_END = re.compile(rb"^(BEGIN|END):", re.MULTILINE | re.IGNORECASE)


# --- reading one calendar ------------------------------------------------------------------


def parse(body: bytes) -> Any:
    """The icalendar Calendar of a body; CalendarError when it is not one, or is hostile."""
    if len(body) > MAX_BYTES:
        raise CalendarError(f"too big: {len(body)} bytes, the limit is {MAX_BYTES} (1 MB)")
    check_structure(body)
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CalendarError("not an iCalendar file (not UTF-8 text)") from None
    if not text.lstrip().upper().startswith("BEGIN:VCALENDAR"):
        raise CalendarError("not an iCalendar file (it does not start with BEGIN:VCALENDAR)")
    import icalendar
    from icalendar.timezone import tzp

    # A VTIMEZONE whose TZID the zone database does not know by that name (Outlook's
    # "Romance Standard Time") becomes a dateutil rule set evaluated from 1601 on every
    # offset asked: seconds per thousand occurrences. Looked up first, a Windows name
    # resolves to its IANA zone (as it would without the VTIMEZONE) and is used instead.
    for tzid in set(_TZID.findall(text)[:MAX_ZONES]):
        with contextlib.suppress(Exception):  # an odd name: the VTIMEZONE's rules apply
            tzp.timezone(tzid.strip().strip('"'))
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except Exception as exc:  # the library's ValueError, KeyError... on a malformed file
        raise CalendarError(f"not a valid iCalendar file ({_reason(exc)})") from None
    if not calendars:
        raise CalendarError("not a valid iCalendar file (no complete VCALENDAR)")
    if len(calendars) != 1:
        raise CalendarError(f"holds {len(calendars)} calendars; one VCALENDAR is expected")
    return calendars[0]


def check_structure(body: bytes) -> None:
    """Components nested at most MAX_DEPTH deep, MAX_COMPONENTS in all (a linear scan,
    before the parser or anything recursive sees the file)."""
    depth = components = 0
    for match in _BEGIN_END.finditer(body):
        if match.group(1).upper() == b"BEGIN":
            depth += 1
            components += 1
            if depth > MAX_DEPTH:
                raise CalendarError(f"components nested more than {MAX_DEPTH} deep")
            if components > MAX_COMPONENTS:
                raise CalendarError(f"more than {MAX_COMPONENTS} components")
        else:
            depth -= 1


def covered_dates(
    calendar: Any, zone: ZoneInfo, window: tuple[date, date], name: str, query: Any = None
) -> list[tuple[date, date, str]]:
    """(first, last, "event (calendar)") for every event occurring within `window`, in
    `zone`; CalendarError when the calendar cannot be expanded within the limits.

    `query`: the calendar's `recurring_ical_events.of(calendar)`, when already made (it
    collects the recurring series: made once per calendar, not per zone)."""
    import recurring_ical_events

    first_day, last_day = window
    start = datetime.combine(first_day, datetime.min.time(), zone)
    end = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), zone)
    check_recurrences(calendar, end)
    try:
        if query is None:
            query = recurring_ical_events.of(calendar)
        occurrences = query.between(start, end)
    except Exception as exc:
        raise CalendarError(f"its events could not be expanded ({_reason(exc)})") from None
    if len(occurrences) > MAX_OCCURRENCES:
        raise CalendarError(
            f"more than {MAX_OCCURRENCES} occurrences between {first_day} and {last_day}"
        )
    found: list[tuple[date, date, str]] = []
    for event in occurrences:
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        span = _span(event, zone)
        if span is None:
            continue
        first, last = max(span[0], first_day), min(span[1], last_day)
        if first <= last:
            title = " ".join(str(event.get("SUMMARY", "")).split())[:80] or _NO_TITLE
            found.append((first, last, f"{title} ({name})"))
    return found


def _span(event: Any, zone: ZoneInfo) -> tuple[date, date] | None:
    """The local dates an occurrence covers in `zone`."""
    begin = event.get("DTSTART")
    if begin is None:
        return None
    start = begin.dt
    end_prop = event.get("DTEND")
    end = end_prop.dt if end_prop is not None else None
    if not isinstance(start, datetime):  # all-day: DTSTART .. DTEND - 1 day
        last = start
        if end is not None:
            end_day = end.date() if isinstance(end, datetime) else end
            last = max(start, end_day - timedelta(days=1))
        return start, last
    local_start = _local(start, zone)
    if end is None or not isinstance(end, datetime):
        return local_start.date(), local_start.date()
    local_end = _local(end, zone)
    if local_end <= local_start:
        return local_start.date(), local_start.date()
    # Up to just before the end: an event ending at local midnight does not cover the
    # day it ends on.
    return local_start.date(), (local_end - timedelta(microseconds=1)).date()


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=zone)  # floating: read in the schedule's zone
    return moment.astimezone(zone)


def check_recurrences(calendar: Any, until: datetime) -> None:
    """CalendarError when expanding the rules up to `until` would take too many steps.

    dateutil walks each rule from its DTSTART, period by period: a rule without an end
    (or with a million occurrences) costs what lies between its DTSTART and `until`, times
    what each period expands to (BYHOUR, BYMINUTE...). Counted, not run.
    """
    steps = 0
    for event in calendar.walk("VEVENT"):
        rules = event.get("RRULE")
        if rules is None:
            continue
        begin = event.get("DTSTART")
        start = begin.dt if begin is not None else None
        if start is None:
            continue
        for rule in rules if isinstance(rules, list) else [rules]:
            steps += _rule_steps(rule, start, until)
            if steps > MAX_STEPS:
                title = " ".join(str(event.get("SUMMARY", "")).split())[:80] or _NO_TITLE
                raise CalendarError(
                    f"event {title!r} recurs too often to expand (more than {MAX_STEPS} "
                    "recurrence steps from its start to the dates needed)"
                )


def _rule_steps(rule: Any, start: date | datetime, until: datetime) -> int:
    def first(key: str, default: Any) -> Any:
        value = rule.get(key)
        return value[0] if isinstance(value, list) and value else default

    freq = str(first("FREQ", "DAILY")).upper()
    unit = _SECONDS.get(freq, 86_400)
    try:
        interval = max(1, int(first("INTERVAL", 1)))
    except (TypeError, ValueError):
        interval = 1
    begin = start if isinstance(start, datetime) else datetime.combine(start, datetime.min.time())
    end = until.replace(tzinfo=None)
    begin = begin.replace(tzinfo=None)
    seconds = max(0.0, (end - begin).total_seconds())
    periods = int(seconds // (unit * interval)) + 1
    expand = 1
    for key, coarser in (
        ("BYSECOND", 1),
        ("BYMINUTE", 60),
        ("BYHOUR", 3600),
        ("BYDAY", 86_400),
        ("BYMONTHDAY", 86_400),
        ("BYYEARDAY", 86_400),
        ("BYWEEKNO", 7 * 86_400),
        ("BYMONTH", 28 * 86_400),
    ):
        values = rule.get(key)
        if values and unit > coarser:
            count = len(values) if isinstance(values, list) else 1
            if key == "BYDAY" and unit > 7 * 86_400:
                count *= 5  # MO in a month or a year: every Monday of it
            expand *= count
    return periods * expand


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:120]
    return f"{type(exc).__name__}: {scrub(text)}" if text else type(exc).__name__
