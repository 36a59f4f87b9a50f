"""Schedule sources: where a tag value's schedule comes from.

A tag value is one of six forms, told apart exactly (by parsing, never by looking for
"http" in it):

* inline JSON: `{"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5"}`;
* an `https://` URL of a JSON document holding one schedule;
* such a URL with `#name`, choosing one entry of a document that maps names to schedules;
* `s3://bucket/key` (with or without `#name`), read with the Lambda's role (`s3:GetObject`);
* an uptime, `Mon-Fri 08:00-17:55 Europe/London` (see `powercycle.uptime`);
* a schedule name, `office-hours`: that entry of the schedule library, the document at
  `POWERCYCLE_SCHEDULES`, fetched like any other source (once per pass, beside the others).

Cost. `resolve_all` gets every distinct tag value of a pass at once, groups them by
source (the URL without its fragment, or bucket and key), fetches each source once, all
in parallel, and only then are decisions made. A thousand instances sharing ten URLs
cost ten GETs, whatever their `#name`s. The fetches share one window of 15 s (a child of
the pass budget): `resolve_all` returns within it, whatever the servers do; a source not
fetched in time is an error for the values using it.

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

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeGuard
from urllib.parse import unquote, urlsplit, urlunsplit

from powercycle import aws, library, uptime
from powercycle.core.documents import INLINE_MAX_BYTES, DocumentError, load_document
from powercycle.core.schedule import KNOWN_KEYS, Schedule, ScheduleError, parse_schedule
from powercycle.runtime.budget import Budget, monotonic
from powercycle.sources import http
from powercycle.sources.http import DEFAULT_LIMITS, Limits, redact_url, scrub

if TYPE_CHECKING:
    from powercycle.config import Config

LOG = logging.getLogger("powercycle.sources")

_NAMES_SHOWN = 10
_ERROR_CHARS = 500
# How much longer than the window resolve_all waits for a fetch that has not returned
# (the fetch ends itself at the window's end; this is the backstop's slack).
_GRACE_S = 1.0
# Bodies that are clearly not a JSON document. Anything else (application/json,
# text/plain as raw.githubusercontent.com serves it, binary/octet-stream as S3 does, no
# Content-Type at all) is parsed, and the parse decides.
_NOT_JSON_PREFIXES = (
    "text/html",
    "application/xhtml",
    "image/",
    "audio/",
    "video/",
    "font/",
    "multipart/",
)


class SourceError(ScheduleError):
    """A source could not give a schedule; the message names the source and the cause."""


@dataclass(frozen=True)
class Location:
    """A tag value that points at a document (URL or S3 object)."""

    kind: Literal["url", "s3"]
    # What is fetched: the URL without its fragment, or `s3://bucket/key`. Equal keys
    # share one fetch.
    fetch_key: str
    name: str | None
    # Redacted, safe for logs and errors.
    display: str
    bucket: str = ""
    key: str = ""


# --- telling the forms apart ----------------------------------------------------------


def locate(value: str) -> Location | None:
    """The location a tag value points at, None for inline JSON; SourceError if malformed."""
    text = value.strip()
    if text.startswith(("{", "[")):
        return None
    scheme, sep, _ = text.partition(":")
    scheme = scheme.lower()
    if not sep or not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
        return None
    if scheme == "s3":
        return _locate_s3(text)
    if scheme not in ("http", "https"):
        if text[len(scheme) + 1 :].startswith("//"):
            raise SourceError(
                f"unsupported location {redact_url(text)}: use https://, s3:// or inline JSON"
            )
        return None
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise SourceError(f"not a valid URL: {redact_url(text)} ({exc})") from exc
    if not parts.hostname:
        raise SourceError(f"URL without a host: {redact_url(text)}")
    return Location(
        kind="url",
        fetch_key=urlunsplit(parts._replace(fragment="")),
        name=unquote(parts.fragment) or None,
        display=redact_url(text),
    )


def _locate_s3(text: str) -> Location:
    rest = text[3:]
    if not rest.startswith("//"):
        raise SourceError(f"S3 location must look like s3://bucket/key, got {text[:80]!r}")
    path, _, fragment = rest[2:].partition("#")
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise SourceError(f"S3 location needs a bucket and a key (s3://bucket/key): {text!r}")
    return Location(
        kind="s3",
        fetch_key=f"s3://{bucket}/{key}",
        name=unquote(fragment) or None,
        bucket=bucket,
        key=key,
        display=text,
    )


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


def resolve_all(
    values: Iterable[str],
    config: Config,
    *,
    budget: Budget | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, Schedule | str]:
    """Schedule, or the error message (one line, secrets redacted), for each distinct value.

    Every distinct source is fetched once, all in parallel, within one window of
    `limits.total_timeout` (15 s) of `budget`, before anything is decided. Never raises
    for a value's content: whatever goes wrong is that value's error.
    """
    located: dict[str, Location | ScheduleError | None] = {}
    for value in set(values):
        try:
            located[value] = locate(value)
        except ScheduleError as exc:
            located[value] = exc
        except Exception as exc:
            located[value] = ScheduleError(_unexpected(exc))
    wanted = {loc.fetch_key: loc for loc in located.values() if isinstance(loc, Location)}
    shelf = _library(config)
    if isinstance(shelf, Location) and any(library.is_name(v) for v in located):
        wanted.setdefault(shelf.fetch_key, shelf)
    documents = _fetch_all(list(wanted.values()), config, budget, limits)

    resolved: dict[str, Schedule | str] = {}
    for value, location in located.items():
        try:
            resolved[value] = _resolve(value, location, documents, config)
        except SourceError as exc:
            resolved[value] = _one_line(str(exc))
        except ScheduleError as exc:
            resolved[value] = _one_line(f"bad schedule: {exc}")
        except Exception as exc:
            where = location.display if isinstance(location, Location) else "bad schedule"
            resolved[value] = _one_line(f"{where}: {_unexpected(exc)}")
    return resolved


def resolve(
    value: str, config: Config, *, budget: Budget | None = None, limits: Limits = DEFAULT_LIMITS
) -> Schedule:
    """One value's schedule (for `powercycle check`); ScheduleError names what is wrong."""
    location = locate(value)
    shelf = _library(config) if library.is_name(value) else None
    wanted = [loc for loc in (location, shelf) if isinstance(loc, Location)]
    documents = _fetch_all(wanted, config, budget, limits) if wanted else {}
    return _resolve(value, location, documents, config)


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
            shown = text if len(text) <= 60 else text[:57] + "..."
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
    names = [name if len(name) <= 40 else name[:37] + "..." for name in document]
    shown = ", ".join(names[:_NAMES_SHOWN])
    if len(names) > _NAMES_SHOWN:
        shown += f" (and {len(names) - _NAMES_SHOWN} more)"
    return shown


def _json_kind(value: object) -> str:
    return {list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


# --- fetching -------------------------------------------------------------------------


def _fetch_all(
    locations: Sequence[Location], config: Config, budget: Budget | None, limits: Limits
) -> dict[str, object]:
    """fetch_key -> parsed JSON document, or the SourceError saying why there is none."""
    if not locations:
        return {}
    window = (budget or Budget.unlimited()).child(limits.total_timeout)
    s3: Any = None
    s3_error: SourceError | None = None
    if any(loc.kind == "s3" for loc in locations):
        # One client for the run (boto3 clients are thread-safe); botocore follows a
        # bucket to its own region.
        try:
            s3 = aws.client("s3", config.regions[0] if config.regions else "us-east-1")
        except Exception as exc:
            s3_error = SourceError(f"no S3 client: {aws.describe_error(exc)}")

    def fetch(location: Location) -> object:
        started = monotonic()
        try:
            if location.kind == "url":
                body = http.get(
                    location.fetch_key,
                    allowlist=config.url_allowlist,
                    budget=window,
                    limits=limits,
                    refuse_media=_NOT_JSON_PREFIXES,
                )
            elif s3_error is not None:
                raise s3_error
            else:
                body = _read_s3(s3, location, window, limits)
            document: object = load_document(body, limit=limits.max_bytes)
        except (http.FetchError, DocumentError, ScheduleError) as exc:
            document = SourceError(_one_line(str(exc)))
        except Exception as exc:
            document = SourceError(_unexpected(exc))
        _log(location, document, started)
        return document

    workers = max(1, min(limits.max_workers, len(locations)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="powercycle-source")
    try:
        futures: list[Future[object]] = [pool.submit(fetch, loc) for loc in locations]
        # The backstop: each fetch ends itself within the window; whatever has not
        # returned by then (plus a little) is reported as timed out and left behind.
        wait_for(futures, timeout=window.remaining() + _GRACE_S)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    late = SourceError(f"timed out after {window.seconds:.3g}s")
    return {
        loc.fetch_key: future.result() if future.done() and not future.cancelled() else late
        for loc, future in zip(locations, futures, strict=True)
    }


def _read_s3(client: Any, location: Location, window: Budget, limits: Limits) -> bytes:
    if window.expired():
        raise SourceError(f"timed out after {window.seconds:.3g}s")
    try:
        answer = client.get_object(Bucket=location.bucket, Key=location.key)
        body = answer["Body"]
        try:
            declared = int(answer.get("ContentLength") or 0)
            if declared > limits.max_bytes:
                raise SourceError(
                    f"too big: {declared} bytes declared, the limit is {limits.max_bytes}"
                )
            data: bytes = body.read(limits.max_bytes + 1)
        finally:
            body.close()
    except aws.AWS_ERRORS as exc:
        raise SourceError(aws.describe_error(exc)) from None
    return data  # load_document refuses it if it is over the limit


def _log(location: Location, document: object, started: float) -> None:
    failed = isinstance(document, SourceError)
    LOG.debug(
        json.dumps(
            {
                "source": redact_url(location.fetch_key),
                "fetched": not failed,
                "ms": round((monotonic() - started) * 1000),
                **({"error": str(document)} if failed else {}),
            }
        )
    )


def _unexpected(exc: BaseException) -> str:
    return f"unexpected {type(exc).__name__}: {scrub(_one_line(str(exc)))[:200]}"


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 3] + "..."
