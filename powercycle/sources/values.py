"""One tag value to its schedule, once the documents it points at are in hand.

`resolve_value` tells the forms apart (its `Location`, from `fetch.locate`, or None):
an uptime, a schedule name (an entry of the library at `POWERCYCLE_SCHEDULES`), inline
JSON, or a fetched document, whole or its `#name` entry. Raises `SourceError` or
`ScheduleError` naming the source and the cause; `resolve_or_error` turns any failure into that
value's one-line error message (secrets redacted). `sources.Resolution` does the
fetching and calls these once per distinct value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeGuard

from powercycle.core import library, uptime
from powercycle.core.documents import INLINE_MAX_BYTES, DocumentError, load_document
from powercycle.core.schedule import KNOWN_KEYS, Schedule, ScheduleError, parse_schedule
from powercycle.runtime.text import clip
from powercycle.sources.fetch import Location, SourceError, error_text, locate, unexpected
from powercycle.sources.http import scrub

if TYPE_CHECKING:
    from powercycle.config import Config

__all__ = ["library_location", "resolve_or_error", "resolve_value"]

_NAMES_SHOWN = 10


def resolve_or_error(
    value: str,
    location: Location | ScheduleError | None,
    documents: Mapping[str, object],
    config: Config,
) -> Schedule | str:
    try:
        return resolve_value(value, location, documents, config)
    except SourceError as exc:
        return error_text(str(exc))
    except ScheduleError as exc:
        return error_text(f"bad schedule: {exc}")
    except Exception as exc:
        where = location.display if isinstance(location, Location) else "bad schedule"
        return error_text(f"{where}: {unexpected(exc)}")


def resolve_value(
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
            return _fromlibrary_location(value.strip(), documents, config)
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


def library_location(config: Config) -> Location | str | None:
    """Where the schedule library is (POWERCYCLE_SCHEDULES), why not, or None: not set."""
    try:
        location = locate(config.schedules) if config.schedules else None
    except ScheduleError as exc:
        return str(exc)
    if config.schedules and (location is None or location.name is not None):
        return "must be an https:// or s3:// location without #name"
    return location


def _fromlibrary_location(name: str, documents: Mapping[str, object], config: Config) -> Schedule:
    where = library_location(config)
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
