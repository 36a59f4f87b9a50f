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
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

from powercycle.core import library, uptime
from powercycle.core.documents import INLINE_MAX_BYTES, DocumentError, load_document
from powercycle.core.schedule import KNOWN_KEYS, Schedule, ScheduleError, parse_schedule
from powercycle.runtime.budget import Budget
from powercycle.runtime.text import clip, error_line
from powercycle.sources.fetch import (
    Fetches,
    Location,
    SourceError,
    error_text,
    unexpected,
)
from powercycle.sources.fetch import locate as locate
from powercycle.sources.http import DEFAULT_LIMITS, Limits, scrub

if TYPE_CHECKING:
    from powercycle.config import Config

LOG = logging.getLogger("powercycle.sources")

_NAMES_SHOWN = 10


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
        shelf = _library(config)
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
                    schedule = _resolve(value, location, {}, self._config)
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
                self._resolved[value] = _resolved(value, location, documents, self._config)
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
    shelf = _library(config) if location is None and library.is_name(value) else None
    wanted = [loc for loc in (location, shelf) if isinstance(loc, Location)]
    fetches = Fetches(wanted, config, budget, limits)
    try:
        documents = {loc.fetch_key: fetches.document(loc.fetch_key) for loc in wanted}
        schedule = _resolve(value, location, documents, config)
        if not schedule.calendars:
            return schedule
        from powercycle.sources import calendars

        return calendars.attach(schedule, fetches, now or datetime.now(UTC))
    finally:
        fetches.close()


def _resolved(
    value: str,
    location: Location | ScheduleError | None,
    documents: Mapping[str, object],
    config: Config,
) -> Schedule | str:
    try:
        return _resolve(value, location, documents, config)
    except SourceError as exc:
        return error_text(str(exc))
    except ScheduleError as exc:
        return error_text(f"bad schedule: {exc}")
    except Exception as exc:
        where = location.display if isinstance(location, Location) else "bad schedule"
        return error_text(f"{where}: {unexpected(exc)}")


def _resolve(
    value: str,
    location: Location | ScheduleError | None,
    documents: Mapping[str, object],
    config: Config,
) -> Schedule:
    if isinstance(location, ScheduleError):
        raise location
    if location is None:
        form = uptime.shape(value)
        if form == "uptime":
            return uptime.parse_uptime(value, default_tz=config.default_tz)
        if form == "name":
            return _from_library(value.strip(), documents, config)
        return _parse_inline(value, config)
    document = documents[location.fetch_key]
    if isinstance(document, SourceError):
        raise SourceError(f"{location.display}: {document}")
    return _select(document, location, config.default_tz)


def _parse_inline(value: str, config: Config) -> Schedule:
    text = value.strip()
    try:
        document = load_document(text, limit=INLINE_MAX_BYTES)
    except DocumentError as exc:
        if not text.startswith(("{", "[", '"')) and str(exc).startswith("not valid JSON"):
            shown = clip(text, 60)
            raise ScheduleError(
                f"not JSON and not an https:// or s3:// location, an uptime like "
                f"{uptime.EXAMPLE} or a schedule name: {scrub(shown)!r}"
            ) from None
        raise ScheduleError(str(exc)) from None
    return parse_schedule(document, default_tz=config.default_tz)


def _select(document: object, location: Location, default_tz: str) -> Schedule:
    """The schedule a location names: the whole document, or its `#name` entry."""
    where = location.display
    if location.name is None:
        entry = document
        if _maps_names(document):
            raise SourceError(
                f"{where}: the document maps names to schedules "
                f"({_names(document)}); add #name to the location to choose one"
            )
    else:
        if not isinstance(document, dict):
            raise SourceError(
                f"{where}: #{location.name} needs a document that maps names to schedules, "
                f"got a JSON {_json_kind(document)}"
            )
        if location.name not in document:
            raise SourceError(
                f"{where}: no entry {location.name!r} in the document; "
                f"available: {_names(document) or 'none'}"
            )
        entry = document[location.name]
    try:
        return parse_schedule(entry, default_tz=default_tz)
    except ScheduleError as exc:
        raise SourceError(f"{where}: bad schedule: {exc}") from exc


def _library(config: Config) -> Location | str | None:
    """Where the schedule library is (POWERCYCLE_SCHEDULES), why not, or None: not set."""
    try:
        location = locate(config.schedules) if config.schedules else None
    except ScheduleError as exc:
        return str(exc)
    if config.schedules and (location is None or location.name is not None):
        return "must be an https:// or s3:// location without #name"
    return location


def _from_library(name: str, documents: Mapping[str, object], config: Config) -> Schedule:
    where = _library(config)
    try:
        if not isinstance(where, Location):
            raise library.unavailable(name, where)
        document = documents.get(where.fetch_key, SourceError("not fetched"))
        return library.pick(document, name, where=where.display, default_tz=config.default_tz)
    except library.LibraryError as exc:
        raise SourceError(str(exc)) from None


def _maps_names(document: object) -> TypeGuard[dict[str, object]]:
    return (
        isinstance(document, dict)
        and bool(document)
        and not any(key in KNOWN_KEYS for key in document)
        and all(isinstance(entry, dict) for entry in document.values())
    )


def _names(document: Mapping[str, object]) -> str:
    names = [clip(name, 40) for name in document]
    shown = ", ".join(names[:_NAMES_SHOWN])
    if len(names) > _NAMES_SHOWN:
        shown += f" (and {len(names) - _NAMES_SHOWN} more)"
    return shown


def _json_kind(value: object) -> str:
    return {list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )
