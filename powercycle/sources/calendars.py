"""Holiday calendars: the schedule key `calendars`, iCalendar feeds whose events are skip dates.

A schedule may name up to `MAX_CALENDARS` iCalendar (`.ics`) locations:

    {"start": "0 8 * * 1-5", "stop": "0 18 * * 1-5", "tz": "Europe/London",
     "calendars": ["https://www.gov.uk/bank-holidays/england-and-wales.ics"]}

Every event in them marks the local dates it covers, in the schedule's zone, as skipped,
exactly as `skip` dates do (both apply):

* an all-day event covers DTSTART to DTEND minus one day; a timed event, converted into the
  schedule's zone, covers every local date from its start to just before its end; an event
  whose end equals its start (or that has no end) still covers its start date;
* recurrences are expanded (RRULE, RDATE, EXDATE, moved occurrences) with
  `recurring-ical-events`, asked for occurrences between two times in the schedule's zone
  (a date-only query would be read in each event's own zone); floating times are read in
  the schedule's zone;
* cancelled events and occurrences (`STATUS:CANCELLED`, which the library still returns)
  are dropped.

Only the dates from `WINDOW_BEFORE` before to `WINDOW_AFTER` after the pass's moment are
read: a recurrence without an end (or with a million occurrences) is expanded over that
window only, and a schedule is never evaluated further away than that for a decision.

Fetching. Every distinct location of a pass is fetched once, by the guarded fetcher of
schedule documents (`sources.fetch.Fetches`, beside the documents, in the same window,
`powercycle.sources.http`: allowlist, address checks,
the shared 15 s window; `http://` only under an allowlist prefix; S3 with the Lambda's
role), at most `MAX_BYTES` (1 MB); `text/calendar` (or any type but HTML, images...) is
accepted. Each calendar is parsed once per pass and expanded once per zone, not per
resource. `icalendar` and `recurring-ical-events` are imported only when a schedule names
a calendar.

Failure. A calendar that cannot be fetched or read (404, timeout, too big, not iCalendar,
nested too deep, too many occurrences to expand) is an error for every resource whose
schedule names it: the message names the calendar (its location redacted as documents'
are) and the cause, and nothing is done to those resources. The rest of the pass goes on.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from powercycle.core.calendars import (
    MAX_CALENDARS,
    CalendarError,
    Holidays,
    format_skipped,
    label,
    parse_key,
    skipped_days,
)
from powercycle.core.schedule import Schedule, ScheduleError
from powercycle.sources.fetch import (
    CALENDAR_ACCEPT,
    NOT_CALENDAR,
    Fetches,
    error_text,
    locate,
)
from powercycle.sources.http import DEFAULT_LIMITS, Limits, redact_url
from powercycle.sources.ics import covered_dates, parse

if TYPE_CHECKING:
    from powercycle.config import Config
    from powercycle.runtime.budget import Budget

__all__ = [
    "MAX_CALENDARS",
    "NOT_CALENDAR",
    "CalendarError",
    "Holidays",
    "Reader",
    "attach",
    "format_skipped",
    "parse_key",
    "reader",
    "skipped_days",
    "with_calendars",
]

ACCEPT = CALENDAR_ACCEPT
# The dates read from a calendar, around the moment of the pass.
WINDOW_BEFORE = timedelta(days=370)
WINDOW_AFTER = timedelta(days=400)

# --- a pass's calendars -------------------------------------------------------------------


def reader(fetches: Fetches, now: datetime) -> Reader:
    """A pass's calendar reader, fetching through `fetches` (beside its documents, in the
    same window); the calendar libraries are imported only when a calendar is read."""

    def fetch(where: str) -> object:
        try:
            found = locate(where)
        except ScheduleError as exc:
            return CalendarError(str(exc))
        if found is None:
            return CalendarError("not a location")
        body = fetches.calendar(found)
        return body if isinstance(body, bytes) else CalendarError(str(body))

    return Reader(fetch, now=now)


def attach(
    schedule: Schedule, fetches: Fetches, now: datetime, *, using: Reader | None = None
) -> Schedule:
    """The schedule with its calendars' dates; ScheduleError names the calendar and cause."""
    if not schedule.calendars:
        return schedule
    try:
        return (using or reader(fetches, now)).attach(schedule)
    except CalendarError as exc:
        raise ScheduleError(error_text(str(exc))) from None


def with_calendars(
    schedule: Schedule,
    config: Config,
    *,
    budget: Budget | None = None,
    limits: Limits = DEFAULT_LIMITS,
    now: datetime | None = None,
) -> Schedule:
    """A schedule with its calendars' dates (for `check`); ScheduleError names the cause."""
    if not schedule.calendars:
        return schedule
    fetches = Fetches([], config, budget, limits)
    try:
        return attach(schedule, fetches, now or datetime.now(UTC))
    finally:
        fetches.close()


class Reader:
    """One pass's calendars: each fetched once (by `fetch`, a location's body or the
    error saying why there is none), parsed once, expanded once per zone."""

    def __init__(self, fetch: Callable[[str], object], *, now: datetime) -> None:
        self.fetch = fetch
        self.now = now
        self.calendars: dict[str, Any] = {}  # location -> parsed Calendar or CalendarError
        self._days: dict[tuple[str, str], list[tuple[date, date, str]] | CalendarError] = {}
        self._holidays: dict[tuple[tuple[str, ...], str], Holidays] = {}
        self._queries: dict[str, Any] = {}
        self._lock = threading.Lock()

    def attach(self, schedule: Schedule) -> Schedule:
        """The schedule with its calendars' dates; CalendarError names the calendar."""
        if not schedule.calendars:
            return schedule
        for location in schedule.calendars:  # fetched outside the lock, side by side
            self._read(location)
        with self._lock:
            return self._attach(schedule)

    def _read(self, location: str) -> None:
        if location in self.calendars:
            return
        body = self.fetch(location)
        if isinstance(body, bytes):
            try:
                calendar: Any = parse(body)
            except CalendarError as exc:
                calendar = exc
        else:
            calendar = body if isinstance(body, CalendarError) else CalendarError(str(body))
        with self._lock:
            self.calendars.setdefault(location, calendar)

    def _attach(self, schedule: Schedule) -> Schedule:
        key = (schedule.calendars, schedule.tz.key)
        holidays = self._holidays.get(key)
        if holidays is None:
            today = self.now.astimezone(schedule.tz).date()
            window = (today - WINDOW_BEFORE, today + WINDOW_AFTER)
            named: list[tuple[date, date, str]] = []
            for location in schedule.calendars:
                named += self._dates(location, schedule.tz, window)
            named.sort()
            holidays = Holidays(
                ranges=tuple((first, last) for first, last, _ in named),
                named=tuple(named),
                window=window,
            )
            self._holidays[key] = holidays
        return dataclasses.replace(schedule, holidays=holidays)

    def _dates(
        self, location: str, zone: ZoneInfo, window: tuple[date, date]
    ) -> list[tuple[date, date, str]]:
        found = self._days.get((location, zone.key))
        if found is None:
            calendar = self.calendars.get(location)
            try:
                if calendar is None:
                    raise CalendarError("not fetched")
                if isinstance(calendar, CalendarError):
                    raise calendar
                found = covered_dates(
                    calendar, zone, window, label(location), self._query(location, calendar)
                )
            except CalendarError as exc:
                found = exc
            self._days[(location, zone.key)] = found
        if isinstance(found, CalendarError):
            raise CalendarError(f"calendar {_display(location)}: {found}")
        return found

    def _query(self, location: str, calendar: Any) -> Any:
        """The calendar's occurrence query, made once (None when it cannot be made: then
        `covered_dates` makes it and reports why it fails)."""
        if location not in self._queries:
            import recurring_ical_events

            try:
                self._queries[location] = recurring_ical_events.of(calendar)
            except Exception:
                self._queries[location] = None
        return self._queries[location]


def _display(location: str) -> str:
    return location if location.startswith("s3://") else redact_url(location)
