"""Schedule sources: where a tag value's schedule comes from.

A tag value is one of six forms, told apart exactly (by parsing, never by looking for
"http" in it):

* inline JSON: `{"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5"}`;
* an `https://` URL of a JSON document holding one schedule;
* such a URL with `#name`, choosing one entry of a document that maps names to schedules;
* `s3://bucket/key` (with or without `#name`), read with the Lambda's role (`s3:GetObject`);
* an uptime, `Mon-Fri 08:00-17:55 Europe/London` (see `powercycle.core.uptime`);
* a schedule name, `office-hours`: that entry of the schedule library, the document at
  `POWERCYCLE_SCHEDULES`, fetched like any other source (once per pass, beside the others).

Cost. A `Resolution` gets every distinct tag value of a pass at once, groups them by
source (the URL without its fragment, or bucket and key) and fetches each source once,
all in parallel (`sources.fetch`). A thousand instances sharing ten URLs cost ten GETs,
whatever their `#name`s. The fetches share one window of 15 s (a child of the pass
budget): `Resolution.get(value)` waits only for its own source, and never past that
window, whatever the servers do; a source not fetched in time is an error for the values
using it. `resolve_all` is the same, waiting for every value.

Holiday calendars. A schedule that names `calendars` gets their dates in the same
Resolution: each distinct calendar location is fetched once per pass, in the same window,
beside the documents (those of inline schedules from the start, those of fetched ones as
soon as their document is read), parsed once and expanded once per zone
(`powercycle.sources.calendars`, read around the pass's `now`). A calendar that cannot be
read is the error of the values whose schedules name it.

Safety. URLs are fetched by the guarded client of `powercycle.sources.http` (allowlist, address
checks, pinned connections, redirects, the 15 s, the size cap; see there).

Limits. Every schedule document, inline or fetched, is read by `documents.load_document`:
at most 64 KB inline and 256 KB fetched, nested at most 10 deep, no key twice in an object.

Failures. A 404, a 5xx, a timeout, a body that is not JSON or is too big, a missing
`#name`, a missing bucket or key, a refused URL, a document over a limit: the value
resolves to a one-line error message naming the source and the cause, so every resource
using it is reported and left alone. A failed source is never "no schedule". Nothing in
`resolve_all` raises for a value's content. There is no in-run retry: the next run (15
minutes later) fetches again, and a late run loses no event.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from powercycle.core import library
from powercycle.core.schedule import Schedule, ScheduleError
from powercycle.runtime.budget import Budget
from powercycle.runtime.text import error_line
from powercycle.sources.fetch import (
    Fetches,
    Location,
    error_text,
    unexpected,
)
from powercycle.sources.fetch import locate as locate
from powercycle.sources.http import DEFAULT_LIMITS, Limits
from powercycle.sources.values import library_location, resolve_or_error, resolve_value

if TYPE_CHECKING:
    from powercycle.config import Config

LOG = logging.getLogger("powercycle.sources")


# --- telling the forms apart ----------------------------------------------------------


def describe_source(value: str) -> str:
    """How a tag value is named in logs and summaries: `inline`, or the redacted location."""
    try:
        location = locate(value)
    except Exception:  # a malformed value is named, never raised from here
        return "invalid"
    if location is None:
        return f"library:{value.strip()[:64]}" if library.is_name(value) else "inline"
    return location.display


# --- resolving a pass's values --------------------------------------------------------


class Resolution:
    """The distinct tag values of a pass, being resolved: every document they point at is
    fetched once, all side by side, as soon as the `Resolution` is made (`fetch.Fetches`).

    `get(value)` waits only for that value's own source (inline JSON: no wait), so a
    caller whose values are in hand goes on while slower documents are still read. Never
    raises for a value's content: whatever goes wrong is that value's error message (one
    line, secrets redacted). Each value is parsed once, whoever asks first.
    """

    def __init__(
        self,
        values: Iterable[str],
        config: Config,
        *,
        budget: Budget | None = None,
        limits: Limits = DEFAULT_LIMITS,
        now: datetime | None = None,
    ) -> None:
        self._config = config
        self._now = now or datetime.now(UTC)
        self._reader: Any = None
        self._located: dict[str, Location | ScheduleError | None] = {}
        for value in set(values):
            try:
                self._located[value] = locate(value)
            except ScheduleError as exc:
                self._located[value] = exc
            except Exception as exc:
                self._located[value] = ScheduleError(unexpected(exc))
        wanted = [loc for loc in self._located.values() if isinstance(loc, Location)]
        # The schedule library, fetched beside the rest when some value is a name.
        shelf = library_location(config)
        self._shelf = shelf if isinstance(shelf, Location) else None
        names = [v for v, loc in self._located.items() if loc is None and library.is_name(v)]
        if self._shelf and names:
            wanted.append(self._shelf)
        self._fetches = Fetches(wanted, config, budget, limits)
        self._resolved: dict[str, Schedule | str] = {}
        self._lock = threading.Lock()
        self._start_inline_calendars()

    def _start_inline_calendars(self) -> None:
        """The calendars of the inline schedules, fetched from the start beside the rest
        (a value whose schedule is wrong reports it when asked for)."""
        for value, location in self._located.items():
            if location is None and value.lstrip().startswith("{") and "calendars" in value:
                with contextlib.suppress(Exception):
                    schedule = resolve_value(value, location, {}, self._config)
                    for where in schedule.calendars:
                        found = locate(where)
                        if found is not None:
                            self._fetches.start_calendar(found)

    @property
    def values(self) -> list[str]:
        return list(self._located)

    def get(self, value: str, default: str = "schedule not resolved") -> Schedule | str:
        """`value`'s schedule, or the error message saying why there is none (`default`
        for a value not given at the start)."""
        if value not in self._located:
            return default
        location = self._located[value]
        documents = {}
        if isinstance(location, Location):  # wait for the document outside the lock
            documents[location.fetch_key] = self._fetches.document(location.fetch_key)
        elif location is None and self._shelf and library.is_name(value):
            documents[self._shelf.fetch_key] = self._fetches.document(self._shelf.fetch_key)
        with self._lock:
            if value not in self._resolved:
                self._resolved[value] = resolve_or_error(value, location, documents, self._config)
            resolved = self._resolved[value]
        if isinstance(resolved, str) or not resolved.calendars or resolved.holidays:
            return resolved
        with_dates = self._with_calendars(resolved)  # fetched outside the lock
        with self._lock:
            self._resolved[value] = with_dates
            return with_dates

    def _with_calendars(self, schedule: Schedule) -> Schedule | str:
        """The schedule with its calendars' dates, or the error naming the calendar."""
        try:
            from powercycle.sources import calendars

            with self._lock:
                if self._reader is None:
                    self._reader = calendars.reader(self._fetches, self._now)
                reader = self._reader
            return calendars.attach(schedule, self._fetches, self._now, using=reader)
        except ScheduleError as exc:
            return error_text(str(exc))
        except Exception as exc:
            return error_text(f"calendars: {unexpected(exc)}")

    def close(self) -> None:
        self._fetches.close()

    def __enter__(self) -> Resolution:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Schedules(Protocol):
    """What a pass asks of its schedules: `get(value)` (a Schedule or an error message)."""

    def get(self, value: str, default: str = ...) -> Schedule | str: ...

    def close(self) -> None: ...


def resolution(
    values: Iterable[str], config: Config, budget: Budget, now: datetime | None = None
) -> Schedules:
    """A `Resolution` of `values`; if it cannot even be set up, each value alone."""
    try:
        return Resolution(values, config, budget=budget, now=now)
    except Exception:
        LOG.warning("powercycle: resolving schedules together failed; one by one now")
        return _OneByOne(config, budget, now)


class _OneByOne:
    """One value's failure must not be every value's: resolve each alone (the documents
    are fetched again, but only in this case, which Resolution's own guards make rare)."""

    def __init__(self, config: Config, budget: Budget, now: datetime | None = None) -> None:
        self._config, self._budget, self._now = config, budget, now
        self._resolved: dict[str, Schedule | str] = {}
        self._lock = threading.Lock()

    def get(self, value: str, default: str = "schedule not resolved") -> Schedule | str:
        with self._lock:
            if value not in self._resolved:
                self._resolved[value] = self._one(value)
            return self._resolved[value]

    def _one(self, value: str) -> Schedule | str:
        if not self._budget.open():
            return "pass budget spent before this schedule was resolved"
        try:
            return resolve_all({value}, self._config, budget=self._budget, now=self._now)[value]
        except Exception as exc:
            return f"schedule not resolved: {error_line(exc)}"

    def close(self) -> None:
        pass


def resolve_all(
    values: Iterable[str],
    config: Config,
    *,
    budget: Budget | None = None,
    limits: Limits = DEFAULT_LIMITS,
    now: datetime | None = None,
) -> dict[str, Schedule | str]:
    """Schedule, or the error message (one line, secrets redacted), for each distinct value.

    Every distinct source is fetched once, all in parallel, within one window of
    `limits.total_timeout` (15 s) of `budget`. Never raises for a value's content:
    whatever goes wrong is that value's error.
    """
    with Resolution(values, config, budget=budget, limits=limits, now=now) as resolution:
        return {value: resolution.get(value) for value in resolution.values}


def resolve(
    value: str,
    config: Config,
    *,
    budget: Budget | None = None,
    limits: Limits = DEFAULT_LIMITS,
    now: datetime | None = None,
) -> Schedule:
    """One value's schedule (for `powercycle check`); ScheduleError names what is wrong."""
    location = locate(value)
    shelf = library_location(config) if location is None and library.is_name(value) else None
    wanted = [loc for loc in (location, shelf) if isinstance(loc, Location)]
    fetches = Fetches(wanted, config, budget, limits)
    try:
        documents = {loc.fetch_key: fetches.document(loc.fetch_key) for loc in wanted}
        schedule = resolve_value(value, location, documents, config)
        if not schedule.calendars:
            return schedule
        from powercycle.sources import calendars

        return calendars.attach(schedule, fetches, now or datetime.now(UTC))
    finally:
        fetches.close()
