"""Fetching schedule documents: every distinct source once, side by side, in one window.

`Fetches(locations, ...)` starts every fetch at once (at most `limits.max_workers` at a
time) within one window of `limits.total_timeout` (15 s, a child of the pass budget), and
`document(key)` waits for that one source only: a value whose document is in hand goes
on while slower sources are still being read. Each fetch ends itself at the window's end
(the guarded client bounds every read by it); `document` waits a little longer than that
at most (`GRACE_S`), then calls the source timed out and leaves the fetch behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from powercycle import aws
from powercycle.core.documents import DocumentError, load_document
from powercycle.core.schedule import ScheduleError
from powercycle.runtime.budget import Budget, monotonic
from powercycle.runtime.pool import Streams
from powercycle.runtime.text import one_line
from powercycle.sources.http import FetchError, Limits, redact_url, scrub
from powercycle.sources.http import get as http_get

if TYPE_CHECKING:
    from powercycle.config import Config

LOG = logging.getLogger("powercycle.sources")

ERROR_CHARS = 500
# How much longer than the window a caller waits for a fetch that has not returned
# (the fetch ends itself at the window's end; this is the backstop's slack).
GRACE_S = 1.0
# Bodies that are clearly not a JSON document. Anything else (application/json,
# text/plain as raw.githubusercontent.com serves it, binary/octet-stream as S3 does, no
# Content-Type at all) is parsed, and the parse decides.
NOT_JSON_PREFIXES = (
    "text/html",
    "application/xhtml",
    "image/",
    "audio/",
    "video/",
    "font/",
    "multipart/",
)


# Holiday calendars (`powercycle.sources.calendars`): at most 1 MB; media types that are
# clearly not a calendar are refused before the body is read.
CALENDAR_MAX_BYTES = 1024 * 1024
NOT_CALENDAR = (
    "text/html",
    "application/xhtml",
    "application/json",
    "image/",
    "audio/",
    "video/",
    "font/",
    "multipart/",
)
CALENDAR_ACCEPT = "text/calendar, text/plain;q=0.5, */*;q=0.1"


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


class Fetches:
    """The documents of `locations` (one per distinct `fetch_key`), all being fetched."""

    def __init__(
        self,
        locations: Sequence[Location],
        config: Config,
        budget: Budget | None,
        limits: Limits,
    ) -> None:
        wanted = {loc.fetch_key: loc for loc in locations}
        self._config = config
        self._limits = limits
        self._window = (budget or Budget.unlimited()).child(limits.total_timeout)
        self._s3: Any = None
        self._s3_error: SourceError | None = None
        self._s3_lock = threading.Lock()
        if any(loc.kind == "s3" for loc in wanted.values()):
            with contextlib.suppress(SourceError):  # each S3 source reports it
                self._client()
        self._streams = Streams(max(1, limits.max_workers))
        self._futures: dict[str, Future[object]] = {
            key: self._streams.submit(partial(self._fetch, loc)) for key, loc in wanted.items()
        }
        # One deadline for every source: the window's end, and the backstop's slack.
        self._deadline = monotonic() + self._window.seconds + GRACE_S
        # Holiday calendars (`calendars`), fetched in the same window when first asked.
        self._calendars: dict[str, Future[object]] = {}
        self._lock = threading.Lock()

    def _client(self) -> Any:
        """One S3 client for the run (boto3 clients are thread-safe; botocore follows a
        bucket to its own region), made when the first S3 source needs it."""
        with self._s3_lock:
            if self._s3 is None and self._s3_error is None:
                try:
                    region = self._config.regions[0] if self._config.regions else "us-east-1"
                    self._s3 = aws.client("s3", region)
                except Exception as exc:
                    self._s3_error = SourceError(f"no S3 client: {aws.describe_error(exc)}")
            if self._s3_error is not None:
                raise self._s3_error
            return self._s3

    def start_calendar(self, location: Location) -> None:
        """Start fetching a holiday calendar (its raw body), once per `fetch_key`."""
        with self._lock:
            if location.fetch_key not in self._calendars:
                self._calendars[location.fetch_key] = self._streams.submit(
                    partial(self._fetch_calendar, location)
                )

    def calendar(self, location: Location) -> object:
        """The body of a holiday calendar, or the SourceError saying why there is none."""
        try:
            self.start_calendar(location)
            return self._calendars[location.fetch_key].result(
                timeout=max(0.0, self._deadline - monotonic())
            )
        except (FutureTimeout, Exception):
            return SourceError(f"timed out after {self._window.seconds:.3g}s")

    def document(self, key: str) -> object:
        """The parsed JSON document of `key`, or the SourceError saying why there is none."""
        future = self._futures[key]
        try:
            return future.result(timeout=max(0.0, self._deadline - monotonic()))
        except (FutureTimeout, Exception):
            # Not returned in the window (or cancelled): reported as timed out, left behind.
            return SourceError(f"timed out after {self._window.seconds:.3g}s")

    def close(self) -> None:
        """Start no fetch more; the ones under way end by themselves within the window."""
        self._streams.close()

    def _fetch(self, location: Location) -> object:
        started = monotonic()
        try:
            if location.kind == "url":
                body = http_get(
                    location.fetch_key,
                    allowlist=self._config.url_allowlist,
                    budget=self._window,
                    limits=self._limits,
                    refuse_media=NOT_JSON_PREFIXES,
                )
            else:
                body = _read_s3(self._client(), location, self._window, self._limits)
            document: object = load_document(body, limit=self._limits.max_bytes)
        except (FetchError, DocumentError, ScheduleError) as exc:
            document = SourceError(error_text(str(exc)))
        except Exception as exc:
            document = SourceError(unexpected(exc))
        _log(location, document, started)
        return document


    def _fetch_calendar(self, location: Location) -> object:
        started = monotonic()
        limits = dataclasses.replace(self._limits, max_bytes=CALENDAR_MAX_BYTES)
        result: object
        try:
            if location.kind == "url":
                result = http_get(
                    location.fetch_key,
                    allowlist=self._config.url_allowlist,
                    budget=self._window,
                    limits=limits,
                    refuse_media=NOT_CALENDAR,
                    accept=CALENDAR_ACCEPT,
                    expected="an iCalendar file",
                )
            else:
                result = _read_s3(self._client(), location, self._window, limits)
            if isinstance(result, bytes) and len(result) > limits.max_bytes:
                raise SourceError(
                    f"too big: {len(result)} bytes, the limit is {limits.max_bytes} (1 MB)"
                )
        except (FetchError, ScheduleError) as exc:
            result = SourceError(error_text(str(exc)))
        except Exception as exc:
            result = SourceError(unexpected(exc))
        _log(location, result, started)
        return result


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
        {
            "message": "schedule source",
            "source": redact_url(location.fetch_key),
            "fetched": not failed,
            "ms": round((monotonic() - started) * 1000),
            **({"error": str(document)} if failed else {}),
        }
    )


def error_text(text: str) -> str:
    """A source's error message: one line, at most `ERROR_CHARS`."""
    return one_line(text, ERROR_CHARS)


def unexpected(exc: BaseException) -> str:
    return f"unexpected {type(exc).__name__}: {scrub(error_text(str(exc)))[:200]}"
