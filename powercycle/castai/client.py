"""The CAST AI HTTP client, and the mapping from EKS clusters to CAST AI clusters.

Only the few calls powercycle needs (see `castai.md` in the design notes): list clusters,
get one, hibernate, resume, read an operation. The shared, once-per-pass parts (the key,
the listing) are `castai_access.CastAIAccess`.

Transport rules (the design's "Failing safe"):

- Every wait is bounded by the pass `Budget`: connect and read timeouts never exceed what
  is left of it, and a back-off or `Retry-After` that does not fit (or is longer than
  `MAX_WAIT`) ends the call with an error instead of a sleep; the next pass asks again.
- GET is retried on connection errors, 429 and 5xx, with capped exponential back-off that
  honours `Retry-After`. `hibernate`/`resume` POSTs are writes: they are retried only when
  the request certainly did not reach the server (the connection was never made) or the
  answer is 429/503 (refused before processing); never after a read timeout or a
  connection dropped after sending, where CAST AI may have acted already.
- Redirects are not followed: the `X-API-Key` header goes to the configured origin only.
  A 3xx is an error naming the status and the target host (never its path or query).
- The key, and any user-info of `CASTAI_API_URL`, are secrets: they are in no repr and no
  message (`redact`); messages name the origin without user-info. A query string in
  `CASTAI_API_URL` is refused (it would be sent with every call and logged by urllib3).
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

# The listing's records, read in `castai.listing`; importable from here as before.
from powercycle.castai.listing import GONE, BadItem, Cluster, Listing, parse_listing
from powercycle.runtime.budget import Budget
from powercycle.runtime.text import squash

__all__ = [
    "BAD_KEY",
    "CLUSTERS_PATH",
    "DEFERRED",
    "GONE",
    "KEY_HEADER",
    "OPERATIONS_PATH",
    "BadItem",
    "CastAIClient",
    "CastAIError",
    "Cluster",
    "Listing",
    "parse_listing",
    "safe_origin",
]

KEY_HEADER = "X-API-Key"
CLUSTERS_PATH = "/v1/kubernetes/external-clusters"
OPERATIONS_PATH = f"{CLUSTERS_PATH}/operations"
GET_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Refused before processing: the only answers after which a write is sent again.
POST_RETRY_STATUSES = frozenset({429, 503})
RETRIES = 3
# Seconds: connect quickly or give up; CAST AI answers a listing within seconds.
TIMEOUT = (5.0, 30.0)
BACKOFF_CAP = 8.0
# A `Retry-After` longer than this is not waited for, whatever the budget: one pass does
# not sit idle for minutes; the call fails and the next pass (15 minutes on) asks again.
MAX_WAIT = 30.0
BAD_KEY = "CAST AI rejected the API key (bad or under-privileged key)"
DEFERRED = "Deferred"


class CastAIError(Exception):
    """A CAST AI call failed; the message says which call and why, never a secret."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self._code = code

    @property
    def code(self) -> str:
        if self._code:
            return self._code
        if self.status in (401, 403):
            return "CastAIAuth"
        if self.status is None:
            return "CastAIUnavailable"
        return f"CastAI{self.status}"


# --- the listing, item by item -------------------------------------------------------------


# --- the client ----------------------------------------------------------------------------


def safe_origin(url: str) -> str:
    """`scheme://host[:port]/path` of a URL: no user-info, no query, no fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparsable URL)"
    return f"{parts.scheme}://{host}{port}{parts.path}".rstrip("/")


class CastAIClient:
    """A thin, typed wrapper over the CAST AI calls powercycle makes."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        budget: Budget | None = None,
        backoff_factor: float = 0.5,
        timeout: tuple[float, float] = TIMEOUT,
        retries: int = RETRIES,
        max_wait: float = MAX_WAIT,
    ) -> None:
        parts = urlsplit(base_url)
        self.base_url = safe_origin(base_url)
        self._secrets = [s for s in (api_key, parts.username, parts.password) if s]
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CastAIError(f"CASTAI_API_URL is not an http(s) URL: {self.base_url}")
        if parts.query or parts.fragment:
            raise CastAIError(
                f"CASTAI_API_URL ({self.base_url}) carries a query string or fragment: "
                "remove it (it would be sent and logged with every call)"
            )
        self._url = base_url.rstrip("/")
        self._budget = budget or Budget.unlimited()
        self._backoff = backoff_factor
        self._timeout = timeout
        self._retries = retries
        self._max_wait = max_wait
        self._session = requests.Session()
        self._session.headers.update({KEY_HEADER: api_key, "Accept": "application/json"})
        # No transport retries: the policy is ours (_call); writes must not be resent.
        adapter = HTTPAdapter(max_retries=0, pool_maxsize=16)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def __repr__(self) -> str:
        return f"CastAIClient({self.base_url!r})"

    def close(self) -> None:
        self._session.close()

    # --- calls -------------------------------------------------------------------

    def listing(self) -> Listing:
        answer = self._call("GET", CLUSTERS_PATH, what="list clusters")
        items = answer.get("items")
        if not isinstance(items, list):
            raise CastAIError("CAST AI list clusters: answer has no 'items' list")
        return parse_listing(items)

    def list_clusters(self) -> list[Cluster]:
        """The readable clusters of the listing (malformed items left out)."""
        return self.listing().clusters

    def get_cluster(self, cluster_id: str) -> Cluster:
        path = f"{CLUSTERS_PATH}/{_segment(cluster_id)}"
        answer = self._call("GET", path, what=f"get {cluster_id}")
        try:
            return Cluster.from_api(answer)
        except ValueError as exc:
            raise CastAIError(f"CAST AI get {cluster_id}: malformed answer ({exc})") from None

    def hibernate(self, cluster_id: str) -> str:
        """Ask CAST AI to hibernate; returns the operation id."""
        path = f"{CLUSTERS_PATH}/{_segment(cluster_id)}/hibernate"
        answer = self._call("POST", path, what=f"hibernate {cluster_id}")
        return str(answer.get("operationId") or "")

    def resume(self, cluster_id: str, *, instance_type: str, spot: bool) -> str:
        """Ask CAST AI to resume on `instance_type`; returns the operation id."""
        body = {"instanceType": instance_type, "spotConfig": {"isSpot": spot}}
        path = f"{CLUSTERS_PATH}/{_segment(cluster_id)}/resume"
        answer = self._call("POST", path, what=f"resume {cluster_id}", body=body)
        return str(answer.get("operationId") or "")

    def operation(self, operation_id: str) -> dict[str, Any]:
        # The id comes from a tag (validated in `core.tags.OperationTag`): escaped, so that
        # nothing in it can leave its path segment (`..`, `?`, `%2e`).
        path = f"{OPERATIONS_PATH}/{_segment(operation_id)}"
        return self._call("GET", path, what="operation")

    # --- transport ---------------------------------------------------------------

    def _call(
        self, method: str, path: str, *, what: str, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        write = method != "GET"
        attempt = 0
        while True:
            if not self._budget.open():
                raise CastAIError(f"CAST AI {what}: pass budget spent, not sent", code=DEFERRED)
            left = self._budget.remaining()
            timeout = (min(self._timeout[0], left), min(self._timeout[1], left))
            retry_after: float | None = None
            try:
                response = self._session.request(
                    method, self._url + path, json=body, timeout=timeout, allow_redirects=False
                )
            except requests.RequestException as exc:
                unsent = _not_sent(exc)
                retry = unsent or (not write and not isinstance(exc, requests.Timeout))
                error = CastAIError(
                    self.redact(f"CAST AI unreachable at {self.base_url} ({what}): {_cause(exc)}")
                )
            else:
                status = response.status_code
                if response.is_redirect or 300 <= status < 400:
                    raise self._redirect(response, what)
                if status in (401, 403):
                    raise CastAIError(f"{BAD_KEY}: HTTP {status} on {what}", status=status)
                if response.ok:
                    return _json_object(response, what)
                retry = status in (POST_RETRY_STATUSES if write else GET_RETRY_STATUSES)
                retry_after = _retry_after(response.headers.get("Retry-After"))
                text = f"CAST AI {what}: HTTP {status} {_error_text(response)}".rstrip()
                error = CastAIError(self.redact(text), status=status)
            if not retry or attempt >= self._retries:
                raise error
            wait = retry_after if retry_after is not None else self._backoff_for(attempt)
            if wait > self._max_wait or not self._budget.sleep(wait):
                raise CastAIError(
                    f"{error}; a retry in {wait:.0f}s does not fit the pass "
                    f"({self._budget.remaining():.0f}s left): the next pass tries again",
                    status=error.status,
                )
            attempt += 1

    def _backoff_for(self, attempt: int) -> float:
        return float(min(BACKOFF_CAP, self._backoff * (2**attempt)))

    def _redirect(self, response: requests.Response, what: str) -> CastAIError:
        target = urlsplit(response.headers.get("Location") or "")
        try:
            port = f":{target.port}" if target.port else ""
        except ValueError:
            port = ""
        host = f"{target.hostname}{port}" if target.hostname else "the same host"
        return CastAIError(
            self.redact(
                f"CAST AI {what}: HTTP {response.status_code} redirect to {host} not followed "
                f"(the API key goes only to {self.base_url}); check CASTAI_API_URL"
            ),
            status=response.status_code,
            code="CastAIRedirect",
        )

    def redact(self, text: str) -> str:
        """`text` with the key and the URL's user-info replaced by `***`."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _segment(value: str) -> str:
    """One URL path segment: every character but letters, digits and `-_.~` escaped."""
    escaped = quote(value, safe="")
    return escaped.replace(".", "%2E") if escaped in (".", "..") else escaped


def _not_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly never reached the server (no connection made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason: Any = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    return isinstance(
        reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)
    )


def _cause(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timed out"
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed" if _not_sent(exc) else "connection dropped"
    return type(exc).__name__


def _retry_after(raw: str | None) -> float | None:
    """`Retry-After` as seconds (delay or HTTP date); None when absent or unreadable."""
    if not raw:
        return None
    raw = raw.strip()
    if re.fullmatch(r"\d{1,10}", raw):
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _json_object(response: requests.Response, what: str) -> dict[str, Any]:
    try:
        answer = response.json() if response.content else {}
    except ValueError:
        raise CastAIError(f"CAST AI {what}: answer is not JSON") from None
    if not isinstance(answer, dict):
        raise CastAIError(f"CAST AI {what}: answer is not a JSON object")
    return answer


def _error_text(response: requests.Response) -> str:
    """CAST AI's `{"message", "fieldViolations"}` as one line."""
    try:
        doc = response.json()
    except ValueError:
        return response.reason or ""
    if not isinstance(doc, dict):
        return response.reason or ""
    parts = [str(doc.get("message") or response.reason or "")]
    violations = doc.get("fieldViolations") or []
    if isinstance(violations, list):
        parts += [
            f"{v.get('field')}: {v.get('description')}" for v in violations if isinstance(v, dict)
        ]
    text = squash("; ".join(p for p in parts if p))
    return text[:300]
