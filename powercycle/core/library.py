"""The schedule library: `POWERCYCLE_SCHEDULES` names one document of named schedules,
`{"office-hours": {schedule}, "nightly": {schedule}, ...}`, and a tag value that is a name
(`office-hours`: a single word of letters, digits, `-`, `_`, `.`) picks its entry.

Where the library is and how it is fetched (once per pass, beside every other document, by
the guarded fetcher) is `sources`' business; this module only picks an entry from the
fetched document. Pure: no AWS, no HTTP, no clock. Every error names the library (the
setting and its location) and the name, and lists the names the library has.
"""

from __future__ import annotations

from powercycle.core.schedule import Schedule, ScheduleError, parse_schedule
from powercycle.core.uptime import shape

SETTING = "POWERCYCLE_SCHEDULES"
_NAMES_SHOWN = 20


class LibraryError(ScheduleError):
    """A name that the library cannot give; the message names both."""


def is_name(value: str) -> bool:
    """A tag value that names a library entry."""
    return shape(value) == "name"


def unavailable(name: str, why: object | None) -> LibraryError:
    """No library to look `name` up in: not configured (`why` None), or a bad setting."""
    if why is None:
        return LibraryError(
            f"schedule name {_show(name)}, but no schedule library is configured: set "
            f"{SETTING} to the https:// or s3:// location of a document of named schedules, "
            "or tag a schedule (JSON, an uptime, a location)"
        )
    return LibraryError(f"schedule name {_show(name)}: {SETTING}: {why}")


def pick(document: object, name: str, *, where: str, default_tz: str) -> Schedule:
    """The entry `name` of the library document fetched from `where` (an exception when the
    fetch failed); LibraryError naming the library and the name otherwise."""
    library = f"schedule library {where} ({SETTING})"
    if isinstance(document, BaseException):
        raise LibraryError(f"{library}: {document}; schedule name {_show(name)} not resolved")
    if not isinstance(document, dict):
        raise LibraryError(
            f'{library}: must map names to schedules like {{"office-hours": {{...}}}}; '
            f"schedule name {_show(name)} not resolved"
        )
    if name not in document:
        raise LibraryError(
            f"{library} has no schedule named {_show(name)}; available: {names(document)}"
        )
    try:
        return parse_schedule(document[name], default_tz=default_tz)
    except ScheduleError as exc:
        raise LibraryError(f"{library}: entry {_show(name)}: bad schedule: {exc}") from None


def names(document: dict[str, object]) -> str:
    shown = [_cut(name) for name in list(document)[:_NAMES_SHOWN]]
    more = len(document) - len(shown)
    return (", ".join(shown) or "none") + (f" (and {more} more)" if more > 0 else "")


def _show(name: str) -> str:
    return repr(_cut(name))


def _cut(name: str) -> str:
    return name if len(name) <= 60 else name[:57] + "..."
