"""Schedule sources: where a tag value's schedule comes from.

A tag value is one of four forms, told apart exactly (by parsing, never by looking for
"http" in it):

* inline JSON: `{"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5"}`;
* an `https://` URL of a JSON document holding one schedule;
* such a URL with `#name`, choosing one entry of a document that maps names to schedules;
* `s3://bucket/key` (with or without `#name`), read with the Lambda's role (`s3:GetObject`).

Cost. `resolve_all` gets every distinct tag value of a pass at once, groups them by
source (the URL without its fragment, or bucket and key), fetches each source once, all
in parallel, and only then are decisions made. A thousand instances sharing ten URLs
cost ten GETs, whatever their `#name`s.

Safety. A tag value is written by whoever may tag an instance, and the Lambda runs with a
role inside the account's network, so a URL is treated as untrusted input:

* only `https` is fetched, unless the URL is under a prefix of `POWERCYCLE_URL_ALLOWLIST`;
  when that list is set, only URLs under its prefixes are fetched at all;
* a URL that is not allowlisted must not reach loopback, link-local (169.254.0.0/16, the
  instance metadata address, fe80::/10), private, unspecified, multicast or reserved
  addresses. The check is made where the socket is opened: the host name is resolved
  once, every address it resolves to is checked, and the connection goes to one of those
  checked addresses. There is no second lookup for a DNS-rebinding server to answer
  differently, and a refused address is never connected to. TLS still verifies the
  certificate against the host name;
* redirects are followed by hand, at most `Limits.max_redirects` hops, each hop checked
  by the same rules; proxies and `.netrc` from the environment are not used;
* connect and read timeouts, an overall deadline per source, and a 256 KB body limit
  (checked against Content-Length, then while streaming);
* a URL may carry credentials (`user:password@`) or a signed query string: every log
  field and error message shows it redacted (`***@`, `?X-Amz-Signature=***`).

Failures. A 404, a 5xx, a timeout, a body that is not JSON or is too big, a missing
`#name`, a missing bucket or key, a refused URL: the value resolves to an error message
naming the source and the cause, so every resource using it is reported and left alone.
A failed source is never "no schedule". There is no in-run retry: the next run (15
minutes later) fetches again, and a late run loses no event.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeGuard
from urllib.parse import SplitResult, unquote, urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.util import connection as urllib3_connection
from urllib3.util import parse_url

from . import aws
from .schedule import KNOWN_KEYS, Schedule, ScheduleError, parse_schedule, parse_schedule_text

if TYPE_CHECKING:
    from .config import Config

LOG = logging.getLogger("powercycle.sources")

MAX_BYTES = 256 * 1024
ALLOWLIST_VAR = "POWERCYCLE_URL_ALLOWLIST"
USER_AGENT = "powercycle (schedule fetch)"
_NAMES_SHOWN = 10
_CHUNK = 16 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
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


@dataclass(frozen=True)
class Limits:
    """How long and how much a fetch may take; tests shorten them."""

    connect_timeout: float = 3.05
    read_timeout: float = 5.0
    # Per source, redirects and a slowly dripping body included (checked between reads,
    # so a fetch ends at most one read timeout later).
    total_timeout: float = 15.0
    max_bytes: int = MAX_BYTES
    max_redirects: int = 5
    max_workers: int = 16


DEFAULT_LIMITS = Limits()


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
    except SourceError:
        return "invalid"
    return "inline" if location is None else location.display


def redact_url(url: str) -> str:
    """The URL with credentials and query values hidden (names and fragment kept)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _scrub(url)
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


def _scrub(text: str) -> str:
    """Redact anything URL-like inside free text (exception messages from libraries)."""
    text = re.sub(r"//[^/\s@'\"]*@", "//***@", text)
    return re.sub(r"([?&][^=&\s'\"#)]+)=[^&\s'\"#)]*", r"\1=***", text)


# --- resolving a pass's values --------------------------------------------------------


def resolve_all(
    values: Iterable[str], config: Config, *, limits: Limits = DEFAULT_LIMITS
) -> dict[str, Schedule | str]:
    """Schedule, or the error message, for each distinct tag value.

    Every distinct source is fetched once, all in parallel, before anything is decided.
    """
    located: dict[str, Location | SourceError | None] = {}
    for value in set(values):
        try:
            located[value] = locate(value)
        except SourceError as exc:
            located[value] = exc
    wanted = {loc.fetch_key: loc for loc in located.values() if isinstance(loc, Location)}
    documents = _fetch_all(list(wanted.values()), config, limits)

    resolved: dict[str, Schedule | str] = {}
    for value, location in located.items():
        try:
            resolved[value] = _resolve(value, location, documents, config)
        except ScheduleError as exc:
            resolved[value] = str(exc) if isinstance(exc, SourceError) else f"bad schedule: {exc}"
    return resolved


def resolve(value: str, config: Config, *, limits: Limits = DEFAULT_LIMITS) -> Schedule:
    """One value's schedule (for `powercycle check`); ScheduleError names what is wrong."""
    location = locate(value)
    documents = _fetch_all([location], config, limits) if location else {}
    return _resolve(value, location, documents, config)


def _resolve(
    value: str,
    location: Location | SourceError | None,
    documents: Mapping[str, object],
    config: Config,
) -> Schedule:
    if isinstance(location, SourceError):
        raise location
    if location is None:
        return _parse_inline(value, config)
    document = documents[location.fetch_key]
    if isinstance(document, SourceError):
        raise SourceError(f"{location.display}: {document}")
    return _select(document, location, config.default_tz)


def _parse_inline(value: str, config: Config) -> Schedule:
    text = value.strip()
    if not text.startswith(("{", "[", '"')):
        try:
            json.loads(text)
        except ValueError:
            shown = text if len(text) <= 60 else text[:57] + "..."
            raise ScheduleError(
                f"not JSON and not an https:// or s3:// location: {_scrub(shown)!r}"
            ) from None
    return parse_schedule_text(text, default_tz=config.default_tz)


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


def _fetch_all(locations: Sequence[Location], config: Config, limits: Limits) -> dict[str, object]:
    """fetch_key -> parsed JSON document, or the SourceError saying why there is none."""
    if not locations:
        return {}
    s3: Any = None
    s3_error: SourceError | None = None
    if any(loc.kind == "s3" for loc in locations):
        # One client for the run (boto3 clients are thread-safe); botocore follows a
        # bucket to its own region.
        try:
            s3 = aws.client("s3", config.regions[0] if config.regions else "us-east-1")
        except aws.AWS_ERRORS as exc:
            s3_error = SourceError(f"no S3 client: {aws.describe_error(exc)}")

    def fetch(location: Location) -> object:
        started = time.monotonic()
        try:
            if location.kind == "url":
                document = _fetch_url(location.fetch_key, config.url_allowlist, limits)
            elif s3_error is not None:
                raise s3_error
            else:
                document = _fetch_s3(s3, location, limits)
        except SourceError as exc:
            document = exc
        except Exception as exc:  # a bug or an unforeseen library error: one source only
            document = SourceError(f"unexpected {type(exc).__name__}: {_scrub(str(exc))}")
        LOG.debug(
            json.dumps(
                {
                    "source": redact_url(location.fetch_key),
                    "fetched": not isinstance(document, SourceError),
                    "ms": round((time.monotonic() - started) * 1000),
                    **({"error": str(document)} if isinstance(document, SourceError) else {}),
                }
            )
        )
        return document

    workers = max(1, min(limits.max_workers, len(locations)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="powercycle-source") as pool:
        results = list(pool.map(fetch, locations))
    return {loc.fetch_key: doc for loc, doc in zip(locations, results, strict=True)}


def _parse_json(body: bytes) -> object:
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise SourceError(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except UnicodeDecodeError:
        raise SourceError("not JSON (not UTF-8 text)") from None
    except RecursionError:
        raise SourceError("not JSON (nested too deeply)") from None


def _fetch_s3(client: Any, location: Location, limits: Limits) -> object:
    try:
        answer = client.get_object(Bucket=location.bucket, Key=location.key)
        body = answer["Body"]
        try:
            declared = int(answer.get("ContentLength") or 0)
            if declared > limits.max_bytes:
                raise SourceError(_too_big(limits, declared))
            data: bytes = body.read(limits.max_bytes + 1)
        finally:
            body.close()
    except aws.AWS_ERRORS as exc:
        raise SourceError(aws.describe_error(exc)) from None
    if len(data) > limits.max_bytes:
        raise SourceError(_too_big(limits))
    return _parse_json(data)


def _too_big(limits: Limits, declared: int | None = None) -> str:
    if declared is not None:
        return f"too big: {declared} bytes declared, the limit is {limits.max_bytes}"
    return f"too big: more than {limits.max_bytes} bytes"


def is_allowlisted(url: str, allowlist: Sequence[str]) -> bool:
    """Whether `url` is under one of the prefixes (scheme, host and port equal, path prefix).

    Compared on parsed, normalised URLs: `https://example.com` does not admit
    `https://example.com.evil.net/`, and `/schedules/../secret` is `/secret`.
    """
    target = _canonical(url)
    if target is None:
        return False
    for prefix in allowlist:
        allowed = _canonical(prefix)
        if allowed and allowed[:3] == target[:3] and target[3].startswith(allowed[3]):
            return True
    return False


def _canonical(url: str) -> tuple[str, str, int, str] | None:
    try:
        parsed = parse_url(url)
    except ValueError:
        return None
    scheme = (parsed.scheme or "").lower()
    if scheme not in ("http", "https") or not parsed.host:
        return None
    path = parsed.path or "/"
    if re.search(r"%(2e|2f|5c)", path, re.IGNORECASE):
        return None  # encoded dots or slashes could climb out of a prefix on the server
    port = parsed.port or (443 if scheme == "https" else 80)
    return scheme, parsed.host.lower().rstrip("."), port, path


def _fetch_url(url: str, allowlist: Sequence[str], limits: Limits) -> object:
    deadline = time.monotonic() + limits.total_timeout
    current = url
    for hop in range(limits.max_redirects + 1):
        via = f"redirected to {redact_url(current)}: " if hop else ""
        if time.monotonic() > deadline:
            raise SourceError(f"{via}timed out after {limits.total_timeout:g}s")
        with requests.Session() as session:
            session.trust_env = False  # no proxy, no .netrc from the environment
            try:
                request = session.prepare_request(
                    requests.Request(
                        "GET",
                        current,
                        headers={"Accept": "application/json", "User-Agent": USER_AGENT},
                    )
                )
            except (requests.RequestException, ValueError) as exc:
                raise SourceError(f"{via}not a valid URL ({type(exc).__name__})") from None
            target = request.url or current
            allowlisted = _check_url(target, allowlist, via)
            if not allowlisted:
                guarded = _GuardedAdapter()
                session.mount("https://", guarded)
                session.mount("http://", guarded)
            try:
                response = session.send(
                    request,
                    stream=True,
                    allow_redirects=False,
                    timeout=(limits.connect_timeout, limits.read_timeout),
                )
            except _Refused as exc:
                raise SourceError(f"{via}refused: {exc}") from None
            except requests.RequestException as exc:
                raise SourceError(via + _describe_request_error(exc, limits)) from None
            with response:
                location = response.headers.get("Location")
                if response.status_code in _REDIRECTS and location:
                    current = urlunsplit(urlsplit(urljoin(target, location))._replace(fragment=""))
                    continue
                try:
                    return _read_json(response, limits, deadline)
                except SourceError as exc:
                    raise SourceError(f"{via}{exc}") from None
    raise SourceError(f"more than {limits.max_redirects} redirects")


def _check_url(url: str, allowlist: Sequence[str], via: str) -> bool:
    """Scheme and allowlist rules; True when the URL is allowlisted (no address check)."""
    if allowlist:
        if not is_allowlisted(url, allowlist):
            raise SourceError(f"{via}refused: not under any {ALLOWLIST_VAR} prefix")
        return True
    if urlsplit(url).scheme.lower() != "https":
        raise SourceError(
            f"{via}refused: only https:// URLs are fetched "
            f"(http:// only under a {ALLOWLIST_VAR} prefix)"
        )
    return False


def _read_json(response: requests.Response, limits: Limits, deadline: float) -> object:
    if response.status_code != 200:
        reason = _scrub((response.reason or "")[:60])
        raise SourceError(f"HTTP {response.status_code} {reason}".rstrip())
    media = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media.startswith(_NOT_JSON_PREFIXES) or media.endswith(("/xml", "+xml")):
        raise SourceError(f"not JSON: Content-Type is {media[:60]}")
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise SourceError(_too_big(limits, int(declared)))
    raw = response.raw
    # read1 returns after one socket read, so the deadline is checked between reads even
    # when a server drips its body (urllib3 >= 2.3; older ones read whole chunks).
    read = getattr(raw, "read1", None) or raw.read
    body = bytearray()
    try:
        while True:
            if time.monotonic() > deadline:
                raise SourceError(f"timed out after {limits.total_timeout:g}s reading the body")
            chunk = read(_CHUNK, decode_content=True)
            if not chunk:
                break
            body += chunk
            if len(body) > limits.max_bytes:
                raise SourceError(_too_big(limits))
    except ReadTimeoutError:
        raise SourceError(f"timed out: no data for {limits.read_timeout:g}s") from None
    except DecodeError:
        raise SourceError("body could not be decoded (Content-Encoding)") from None
    except (ProtocolError, HTTPError, OSError) as exc:
        raise SourceError(f"connection broken while reading: {_root_cause(exc)}") from None
    return _parse_json(bytes(body))


def _describe_request_error(exc: requests.RequestException, limits: Limits) -> str:
    # requests' own messages quote the URL with its query string: never pass them on raw.
    if isinstance(exc, requests.ConnectTimeout):
        return f"timed out: no connection within {limits.connect_timeout:g}s"
    if isinstance(exc, requests.ReadTimeout):
        return f"timed out: no answer within {limits.read_timeout:g}s"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error: {_root_cause(exc)}"
    if isinstance(exc, requests.ConnectionError):
        return f"connection failed: {_root_cause(exc)}"
    return f"request failed: {type(exc).__name__}"


def _root_cause(exc: BaseException) -> str:
    """The innermost reason of a wrapped error (requests -> urllib3 -> socket), without URLs."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        if isinstance(current, OSError) and current.strerror:
            return current.strerror  # "Connection refused", "Network is unreachable"
        chain.append(current)
        current = _wrapped(current)
    text = str(chain[-1])
    # urllib3 prefixes "<HTTPSConnection(host=..., port=...)>: "; the cause follows.
    text = text.rpartition(">: ")[2]
    return _scrub(text)[:200] or type(chain[-1]).__name__


def _wrapped(exc: BaseException) -> BaseException | None:
    """The exception `exc` wraps: urllib3's `reason`, requests' first argument, or the cause."""
    first = exc.args[0] if exc.args else None
    for candidate in (getattr(exc, "reason", None), first, exc.__cause__, exc.__context__):
        if isinstance(candidate, BaseException):
            return candidate
    return None


# --- the connection guard -------------------------------------------------------------


class _Refused(Exception):  # an internal signal, turned into a SourceError
    """A URL's host resolved to an address that must not be reached."""


def refusal(address: str) -> str | None:
    """Why an IP address must not be fetched from without an allowlist, or None."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
        address.split("%", 1)[0]
    )
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address wrapped in IPv6 reaches the IPv4 host: judge that one.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            ip = embedded
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("non-public", not ip.is_global),
    )
    return next((what for what, hit in checks if hit), None)


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def checked_addresses(host: str, port: int) -> list[tuple[Any, ...]]:
    """getaddrinfo(host) with every address checked; _Refused if any may not be reached."""
    host = host.strip("[]")
    try:
        infos = socket.getaddrinfo(
            host, port, urllib3_connection.allowed_gai_family(), socket.SOCK_STREAM
        )
    except socket.gaierror as exc:
        raise _Refused(f"host {host} not found ({exc.strerror})") from None
    for *_, sockaddr in infos:
        address = str(sockaddr[0])
        why = refusal(address)
        if why is not None:
            shown = host if host == address else f"{host} resolves to {address}, which"
            raise _Refused(
                f"{shown} is a {why} address; such hosts are fetched only under a "
                f"{ALLOWLIST_VAR} prefix"
            )
    return infos


def _connect_checked(conn: HTTPConnection) -> socket.socket:
    """Resolve once, check every address, connect only to a checked one.

    Stands in for urllib3's `_new_conn`, which would resolve the name again inside
    `create_connection`; TLS still uses the host name for SNI and certificate checks.
    """
    infos = checked_addresses(conn.host, conn.port)
    error: OSError | None = None
    for *_, sockaddr in infos:
        try:
            return urllib3_connection.create_connection(
                (str(sockaddr[0]), conn.port),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(conn, f"connection to {conn.host} timed out") from exc
        except OSError as exc:
            error = exc  # e.g. no route for IPv6: try the next address
    raise NewConnectionError(conn, f"Failed to establish a new connection: {error}") from error


class _GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _connect_checked(self)


class _GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _connect_checked(self)


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    """requests' adapter, with connections that refuse non-public addresses."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPPool,
            "https": _GuardedHTTPSPool,
        }
