"""The CAST AI HTTP client, and the mapping from EKS clusters to CAST AI clusters.

Only the few calls powercycle needs (see `castai.md` in the design notes): list clusters,
get one, hibernate, resume, read an operation. Transport policy lives in one place: a
`requests.Session` with the `X-API-Key` header, (connect, read) timeouts, and urllib3's
`Retry` for 429 and 5xx with exponential backoff that honours `Retry-After` (capped, so a
bad header cannot hold a Lambda for hours). Other 4xx are never retried: they will not
get better by asking again.

The key is a secret: it lives only in the session's headers. It is in no repr, and every
message this module builds is passed through `_redact` in case a server echoes it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

KEY_HEADER = "X-API-Key"
CLUSTERS_PATH = "/v1/kubernetes/external-clusters"
OPERATIONS_PATH = f"{CLUSTERS_PATH}/operations"
RETRY_STATUSES = (429, 500, 502, 503, 504)
RETRIES = 3
# Seconds: connect quickly or give up; CAST AI answers a listing within seconds.
TIMEOUT = (5.0, 30.0)
# Statuses that mean the cluster cannot be scheduled at all (and is not a match).
GONE = frozenset({"deleted", "deleting", "archived"})
BAD_KEY = "CAST AI rejected the API key (bad or under-privileged key)"


class CastAIError(Exception):
    """A CAST AI call failed; the message says which call and why, never the key."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def code(self) -> str:
        if self.status in (401, 403):
            return "CastAIAuth"
        if self.status is None:
            return "CastAIUnavailable"
        return f"CastAI{self.status}"


class _Retry(Retry):
    """urllib3's Retry with `Retry-After` capped (older urllib3 has no `retry_after_max`)."""

    RETRY_AFTER_CAP = 60.0

    def parse_retry_after(self, retry_after: str) -> float:
        return min(float(super().parse_retry_after(retry_after)), self.RETRY_AFTER_CAP)


@dataclass(frozen=True)
class Cluster:
    """The fields of a CAST AI cluster that scheduling reads."""

    id: str
    name: str
    status: str
    provider_type: str
    cluster_name: str | None  # eks.clusterName
    region: str | None  # eks.region, else region.name
    account_id: str | None  # eks.accountId, else providerNamespaceId

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> Cluster:
        eks = item.get("eks") or {}
        region = item.get("region") or {}
        return cls(
            id=str(item.get("id", "")),
            name=str(item.get("name", "")),
            status=str(item.get("status", "")),
            provider_type=str(item.get("providerType", "")),
            cluster_name=eks.get("clusterName") or None,
            region=eks.get("region") or region.get("name") or None,
            account_id=eks.get("accountId") or item.get("providerNamespaceId") or None,
        )

    @property
    def active(self) -> bool:
        """An EKS cluster CAST AI still manages (not deleted, deleting or archived)."""
        return self.provider_type == "eks" and self.status not in GONE


@dataclass(frozen=True)
class Match:
    """The CAST AI cluster found for a name, or why there is none to act on."""

    cluster: Cluster | None = None
    error: str | None = None


def match_eks(clusters: Iterable[Cluster], *, name: str, region: str, account: str) -> Match:
    """The CAST AI cluster of an EKS cluster: same clusterName, region and account."""
    found = [
        c
        for c in clusters
        if c.active and c.cluster_name == name and c.region == region and c.account_id == account
    ]
    where = f"EKS cluster {name!r} ({region}, account {account})"
    if not found:
        return Match(
            error=f"{where} is unknown to CAST AI: connect it in CAST AI (or it was deleted there)"
        )
    if len(found) > 1:
        return Match(error=_several(where, found))
    return Match(cluster=found[0])


def match_name(clusters: Sequence[Cluster], ref: str) -> Match | None:
    """The cluster a payload names: CAST AI `name` first, then `eks.clusterName`.

    None when nothing matches (the caller reports it as not found).
    """
    for field in ("name", "cluster_name"):
        found = [c for c in clusters if c.active and getattr(c, field) == ref]
        if len(found) == 1:
            return Match(cluster=found[0])
        if found:
            label = "named" if field == "name" else "with EKS clusterName"
            return Match(error=_several(f"CAST AI clusters {label} {ref!r}", found, count=False))
    others = [c for c in clusters if ref in (c.name, c.cluster_name)]
    if others:
        c = others[0]
        what = f"status {c.status!r}" if c.status in GONE else f"a {c.provider_type!r} cluster"
        return Match(
            error=f"CAST AI cluster {ref!r} ({c.id}) is {what}: not an EKS cluster to act on"
        )
    return None


def _several(where: str, found: Sequence[Cluster], *, count: bool = True) -> str:
    ids = ", ".join(c.id for c in found)
    head = f"{len(found)} CAST AI clusters match {where}" if count else f"{len(found)} {where}"
    return f"{head} (ids {ids}): remove the stale one in CAST AI; nothing done"


class CastAIClient:
    """A thin, typed wrapper over the CAST AI calls powercycle makes."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        backoff_factor: float = 0.5,
        timeout: tuple[float, float] = TIMEOUT,
        retries: int = RETRIES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self._timeout = timeout
        self._session = requests.Session()
        self._session.headers.update({KEY_HEADER: api_key, "Accept": "application/json"})
        retry = _Retry(
            total=retries,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET", "POST"}),
            backoff_factor=backoff_factor,
            respect_retry_after_header=True,
            # Hand back the last answer instead of raising: we turn it into a message.
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def __repr__(self) -> str:
        return f"CastAIClient({self.base_url!r})"

    def close(self) -> None:
        self._session.close()

    # --- calls -------------------------------------------------------------------

    def list_clusters(self) -> list[Cluster]:
        answer = self._call("GET", CLUSTERS_PATH, what="list clusters")
        items = answer.get("items")
        if not isinstance(items, list):
            raise CastAIError("CAST AI list clusters: answer has no 'items' list")
        return [Cluster.from_api(item) for item in items if isinstance(item, Mapping)]

    def get_cluster(self, cluster_id: str) -> Cluster:
        answer = self._call("GET", f"{CLUSTERS_PATH}/{cluster_id}", what=f"get {cluster_id}")
        return Cluster.from_api(answer)

    def hibernate(self, cluster_id: str) -> str:
        """Ask CAST AI to hibernate; returns the operation id."""
        path = f"{CLUSTERS_PATH}/{cluster_id}/hibernate"
        answer = self._call("POST", path, what=f"hibernate {cluster_id}")
        return str(answer.get("operationId", ""))

    def resume(self, cluster_id: str, *, instance_type: str, spot: bool) -> str:
        """Ask CAST AI to resume on `instance_type`; returns the operation id."""
        body = {"instanceType": instance_type, "spotConfig": {"isSpot": spot}}
        path = f"{CLUSTERS_PATH}/{cluster_id}/resume"
        answer = self._call("POST", path, what=f"resume {cluster_id}", body=body)
        return str(answer.get("operationId", ""))

    def operation(self, operation_id: str) -> dict[str, Any]:
        return self._call("GET", f"{OPERATIONS_PATH}/{operation_id}", what="operation")

    # --- transport ---------------------------------------------------------------

    def _call(
        self, method: str, path: str, *, what: str, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        url = self.base_url + path
        try:
            response = self._session.request(method, url, json=body, timeout=self._timeout)
        except requests.RequestException as exc:
            # requests' own text repeats the URL and pool internals; the type says enough.
            raise CastAIError(
                self._redact(f"CAST AI unreachable at {self.base_url} ({what}): {_cause(exc)}")
            ) from None
        if response.status_code in (401, 403):
            raise CastAIError(
                f"{BAD_KEY}: HTTP {response.status_code} on {what}", status=response.status_code
            )
        if not response.ok:
            raise CastAIError(
                self._redact(
                    f"CAST AI {what}: HTTP {response.status_code} {_error_text(response)}".rstrip()
                ),
                status=response.status_code,
            )
        try:
            answer = response.json() if response.content else {}
        except ValueError:
            raise CastAIError(f"CAST AI {what}: answer is not JSON") from None
        if not isinstance(answer, dict):
            raise CastAIError(f"CAST AI {what}: answer is not a JSON object")
        return answer

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text


def _cause(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return type(exc).__name__


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
    text = " ".join("; ".join(p for p in parts if p).split())
    return text[:300]
