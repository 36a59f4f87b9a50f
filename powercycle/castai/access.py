"""What the EKS providers of one pass share: the CAST AI key, client and cluster listing,
and the mapping from EKS clusters to CAST AI clusters.

All the EKS providers of a pass (one per region) share one `CastAIAccess`: the API key is
asked for at most once, and only when a tagged cluster (or a `clusterNames` payload) needs
it (a warm process reads the secret once per `POWERCYCLE_SECRET_MAX_AGE_S`, `aws.secrets`);
CAST AI's cluster listing is fetched at most once per pass, whatever the number of
clusters and regions. Anything that keeps CAST AI from answering (no secret, a bad key,
CAST AI down) becomes an error on each EKS cluster; EC2 scheduling goes on regardless.

It also holds the `powercycle:operation` tag format. When CAST AI accepts a hibernate or
resume, the cluster is tagged `powercycle:operation` = `<hibernate|resume>@<UTC time the
call was accepted>/<operationId>`; the next pass reads the operation
(`GET .../operations/{id}`): done -> the tag is removed; not done -> the cluster is in
transition; done with an error -> the event is un-handled (reported with CAST AI's reason
and retried).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3

from powercycle.aws import secrets
from powercycle.castai.client import (
    GONE,
    BadItem,
    CastAIClient,
    CastAIError,
    Cluster,
    Listing,
    safe_origin,
)
from powercycle.core.tags import OPERATION as OPERATION_TAG
from powercycle.core.tags import OperationTag
from powercycle.runtime.budget import Budget
from powercycle.runtime.text import squash

if TYPE_CHECKING:
    from powercycle.config import Config

LOG = logging.getLogger("powercycle.castai.client")

SECRET_KEY = "CastAIKey"  # noqa: S105 - the JSON key holding the secret, not a secret


class _HideSecretBodies(logging.Filter):
    """Keep secret values out of botocore's DEBUG dump of response bodies."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not any(isinstance(a, bytes) and b"SecretString" in a for a in args)


_BOTOCORE_BODIES = logging.getLogger("botocore.parsers")
if not any(isinstance(f, _HideSecretBodies) for f in _BOTOCORE_BODIES.filters):
    _BOTOCORE_BODIES.addFilter(_HideSecretBodies())


# --- matching ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """The CAST AI cluster found for a name, or why there is none to act on."""

    cluster: Cluster | None = None
    error: str | None = None


def match_eks(listing: Listing, *, name: str, region: str, account: str) -> Match:
    """The CAST AI cluster of an EKS cluster: same clusterName, region and account."""
    found = [
        c
        for c in listing.clusters
        if c.active and c.cluster_name == name and c.region == region and c.account_id == account
    ]
    where = f"EKS cluster {name!r} ({region}, account {account})"
    if len(found) > 1:
        return Match(error=_several(where, found))
    if found:
        return Match(cluster=found[0])
    bad = listing.bad_naming(name)
    if bad:
        return Match(error=f"{where} matches no readable CAST AI cluster: {_bad(bad)}")
    return Match(
        error=f"{where} is unknown to CAST AI: connect it in CAST AI (or it was deleted there)"
    )


def match_name(listing: Listing, ref: str) -> Match | None:
    """The cluster a payload names: CAST AI `name` first, then `eks.clusterName`.

    None when nothing matches (the caller reports it as not found).
    """
    clusters = listing.clusters
    for attr in ("name", "cluster_name"):
        found = [c for c in clusters if c.active and getattr(c, attr) == ref]
        if len(found) == 1:
            return Match(cluster=found[0])
        if found:
            label = "named" if attr == "name" else "with EKS clusterName"
            return Match(error=_several(f"CAST AI clusters {label} {ref!r}", found, count=False))
    others = [c for c in clusters if ref in (c.name, c.cluster_name)]
    if others:
        c = others[0]
        what = f"status {c.status!r}" if c.status in GONE else f"a {c.provider_type!r} cluster"
        return Match(
            error=f"CAST AI cluster {ref!r} ({c.id}) is {what}: not an EKS cluster to act on"
        )
    bad = listing.bad_naming(ref)
    if bad:
        return Match(error=f"{ref!r} matches no readable CAST AI cluster: {_bad(bad)}")
    return None


def payload_matches(
    listing: Listing, refs: Sequence[str], *, region: str, regions: Sequence[str]
) -> dict[str, Cluster | str]:
    """The refs of a payload that `region` answers for: the cluster, or why none is acted on.

    A cluster belongs to the provider of its own region, or to the first region when its
    region is not scanned (errors too), so that several regions never act on it twice.
    """
    home = region == (regions[0] if regions else "")
    found: dict[str, Cluster | str] = {}
    for ref in refs:
        match = match_name(listing, ref)
        if match is None:
            continue  # reported as not found by the engine
        if match.cluster is None:
            if home:
                found[ref] = match.error or "no match"
            continue
        owner = match.cluster.region if match.cluster.region in regions else None
        if owner == region or (owner is None and home):
            found[ref] = match.cluster
    return found


def _bad(bad: Sequence[BadItem]) -> str:
    return "; ".join(b.describe() for b in bad) + " and names it; nothing done"


def _several(where: str, found: Sequence[Cluster], *, count: bool = True) -> str:
    ids = ", ".join(c.id for c in found)
    head = f"{len(found)} CAST AI clusters match {where}" if count else f"{len(found)} {where}"
    return f"{head} (ids {ids}): remove the stale one in CAST AI; nothing done"


# --- operations of earlier passes ------------------------------------------------------------


@dataclass(frozen=True)
class OperationCheck:
    """What the operation of an earlier pass says about a cluster now."""

    transition: bool = False  # not done yet
    failed: str | None = None  # done with an error: why
    started: datetime | None = None  # a resume seen finished: when
    drop_tag: bool = False  # nothing left to check: remove the tag


def check_operation(client: CastAIClient, raw: str) -> OperationCheck:
    """Read the operation a `powercycle:operation` value names (one GET)."""
    tag = OperationTag.parse(raw)
    if tag is None:
        LOG.warning("powercycle: %s=%r names no operation; removed", OPERATION_TAG, raw)
        return OperationCheck(drop_tag=True)
    try:
        operation = client.operation(tag.operation_id)
    except CastAIError as exc:
        if exc.status == 404:  # CAST AI no longer knows it: nothing to check
            return OperationCheck(drop_tag=True)
        LOG.warning("powercycle: operation %s not checked: %s", tag.operation_id, exc)
        return OperationCheck()
    if operation.get("done") is not True:
        return OperationCheck(transition=True)
    error = operation.get("error")
    if error:
        if isinstance(error, Mapping):
            text = f"{error.get('reason') or ''} {error.get('details') or ''}"
        else:
            text = str(error)
        reason = client.redact(squash(text))[:300] or "no reason given"
        what = tag.action or "CAST AI"
        return OperationCheck(failed=f"{what} operation {tag.operation_id} failed: {reason}")
    started = None
    if tag.action == "resume":
        started = _utc(operation.get("finishedAt")) or tag.accepted
    return OperationCheck(started=started, drop_tag=True)


def _utc(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else None


# --- the shared access -------------------------------------------------------------------------


# The code of the CastAIError raised when no key is set and no secret exists: CAST AI is not
# configured, and EKS clusters go to zero through their node groups instead.
NOT_CONFIGURED = "CastAINotConfigured"


class CastAIAccess:
    """The key, the client and the cluster listing of one pass.

    Each is made on first need, under a lock, and kept (success or error) for the pass, so
    that N regions and M clusters cost one secret read and one listing.
    """

    def __init__(
        self,
        config: Config,
        regions: Sequence[str],
        *,
        budget: Budget | None = None,
        backoff_factor: float | None = None,
        secrets: Any = None,
    ) -> None:
        self._config = config
        self.regions = tuple(regions)
        self.budget = budget or Budget.unlimited()
        # The in-run retry delay doubles as CAST AI's backoff factor: one knob for tests.
        self._backoff = config.retry_delay_s if backoff_factor is None else backoff_factor
        self._secrets = secrets
        self._lock = threading.Lock()
        self._client: CastAIClient | CastAIError | None = None
        self._listing: Listing | CastAIError | None = None

    def __repr__(self) -> str:
        return f"CastAIAccess({safe_origin(self._config.castai_api_url)!r})"

    @property
    def home(self) -> str:
        """The region that reports what belongs to no region (listing errors, ambiguity)."""
        return self.regions[0] if self.regions else ""

    def client(self) -> CastAIClient:
        with self._lock:
            if self._client is None:
                try:
                    self._client = CastAIClient(
                        self._config.castai_api_url,
                        self._key(),
                        budget=self.budget,
                        backoff_factor=self._backoff,
                    )
                except CastAIError as exc:
                    self._client = exc
            if isinstance(self._client, CastAIError):
                raise self._client
            return self._client

    def listing(self) -> Listing:
        """CAST AI's cluster listing, fetched once per pass (malformed items kept apart)."""
        client = self.client()
        with self._lock:
            if self._listing is None:
                try:
                    self._listing = client.listing()
                except CastAIError as exc:
                    self._listing = exc
                else:
                    for bad in self._listing.bad:
                        LOG.warning("powercycle: %s", bad.describe())
            if isinstance(self._listing, CastAIError):
                raise self._listing
            return self._listing

    def _key(self) -> str:
        if self._config.castai_api_key:
            return self._config.castai_api_key
        name = self._config.castai_secret_name
        region = _secret_region(name, self.regions)
        where = f"secret {name!r} in Secrets Manager ({region})"
        if not self.budget.open():
            raise CastAIError(f"CAST AI API key: pass budget spent before reading {where}")
        try:
            text = secrets.read(
                name, region, max_age=self._config.secret_max_age_s, client=self._secrets
            )
        except secrets.SecretError as exc:
            if exc.code == "ResourceNotFoundException" and not self._config.castai_secret_set:
                # The default secret does not exist: CAST AI is not configured here.
                raise CastAIError(
                    f"CAST AI API key: no {where}; store {{{SECRET_KEY!r}: <key>}} there, "
                    "or set CASTAI_SECRET_NAME or CASTAI_API_KEY",
                    code=NOT_CONFIGURED,
                ) from None
            if exc.code == "ResourceNotFoundException":
                # Named on purpose (CASTAI_SECRET_NAME): its clusters get this error, and
                # nothing is done to them (never a silent switch to their node groups).
                raise CastAIError(
                    f"CAST AI API key: no {where} (CASTAI_SECRET_NAME); create it with "
                    f"{{{SECRET_KEY!r}: <key>}}, or correct CASTAI_SECRET_NAME"
                ) from None
            if exc.code in ("AccessDeniedException", "AccessDenied"):
                raise CastAIError(
                    f"CAST AI API key: may not read {where}: grant secretsmanager:GetSecretValue"
                ) from None
            raise CastAIError(f"CAST AI API key: reading {where} failed: {exc.code}") from None
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        key = doc.get(SECRET_KEY) if isinstance(doc, dict) else None
        if not isinstance(key, str) or not key.strip():
            raise CastAIError(
                f"CAST AI API key: {where} is not JSON with a non-empty {SECRET_KEY!r}"
            )
        return key.strip()


def _secret_region(name: str, regions: Sequence[str]) -> str:
    # An ARN names its region; otherwise the secret is in the Lambda's own region.
    if name.startswith("arn:"):
        parts = name.split(":")
        if len(parts) > 3 and parts[3]:
            return parts[3]
    return boto3.session.Session().region_name or (regions[0] if regions else "us-east-1")
