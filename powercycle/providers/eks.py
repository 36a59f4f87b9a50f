"""EKS clusters, hibernated and resumed through CAST AI.

EKS says which clusters carry the schedule tag (`ListClusters`, `DescribeCluster`) and
keeps the `powercycle:state` tag (`TagResource`); CAST AI says whether a cluster is running
and does the work: stop = hibernate (every node removed, the control plane kept), start =
resume on the instance type of the schedule's `resume` object or
`CASTAI_RESUME_INSTANCE_TYPE`.

Costs. All the EKS providers of a run (one per region) share one `CastAIAccess`: the API
key is read at most once, and only when a tagged cluster (or a `clusterNames` payload)
needs it; CAST AI's cluster listing is fetched at most once per run, whatever the number
of clusters and regions. Anything that keeps CAST AI from answering (no secret, a bad key,
CAST AI down) becomes an error on each EKS cluster; EC2 scheduling goes on regardless.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3

from .. import aws
from ..castai import CastAIClient, CastAIError, Cluster, match_eks, match_name
from ..decide import Power, StateTagError, parse_state
from ..schedule import Action
from . import ActionError, ActRequest, Provider, Resource

if TYPE_CHECKING:
    from ..config import Config

LOG = logging.getLogger("powercycle.eks")

KIND = "eks"
SECRET_KEY = "CastAIKey"  # noqa: S105 - the JSON key holding the secret, not a secret
PAGE_SIZE = 100  # ListClusters' maximum
DESCRIBE_WORKERS = 8

_POWER = {
    "ready": Power.RUNNING,
    "warning": Power.RUNNING,
    "hibernated": Power.STOPPED,
    "hibernating": Power.TRANSITION,
    "resuming": Power.TRANSITION,
    "connecting": Power.TRANSITION,
}


class _HideSecretBodies(logging.Filter):
    """Keep secret values out of botocore's DEBUG dump of response bodies."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not any(isinstance(a, bytes) and b"SecretString" in a for a in args)


_BOTOCORE_BODIES = logging.getLogger("botocore.parsers")
if not any(isinstance(f, _HideSecretBodies) for f in _BOTOCORE_BODIES.filters):
    _BOTOCORE_BODIES.addFilter(_HideSecretBodies())


def providers(
    config: Config, regions: Sequence[str], *, castai: CastAIAccess | None = None
) -> list[Provider]:
    """One provider per region, all sharing one CAST AI access for the run."""
    shared = castai or CastAIAccess(config, regions)
    return [EksProvider(config, region, shared) for region in regions]


class CastAIAccess:
    """What the EKS providers of one run share: the key, the client, the cluster listing.

    Each is made on first need, under a lock, and kept (success or error) for the run, so
    that N regions and M clusters cost one secret read and one listing.
    """

    def __init__(
        self,
        config: Config,
        regions: Sequence[str],
        *,
        backoff_factor: float | None = None,
        secrets: Any = None,
    ) -> None:
        self._config = config
        self.regions = tuple(regions)
        # The in-run retry delay doubles as CAST AI's backoff factor: one knob for tests.
        self._backoff = config.retry_delay_s if backoff_factor is None else backoff_factor
        self._secrets = secrets
        self._lock = threading.Lock()
        self._client: CastAIClient | CastAIError | None = None
        self._clusters: list[Cluster] | CastAIError | None = None

    def __repr__(self) -> str:
        return f"CastAIAccess({self._config.castai_api_url!r})"

    @property
    def home(self) -> str:
        """The region that reports what belongs to no region (listing errors, ambiguity)."""
        return self.regions[0] if self.regions else ""

    def client(self) -> CastAIClient:
        with self._lock:
            if self._client is None:
                try:
                    key = self._key()
                except CastAIError as exc:
                    self._client = exc
                else:
                    self._client = CastAIClient(
                        self._config.castai_api_url, key, backoff_factor=self._backoff
                    )
            if isinstance(self._client, CastAIError):
                raise self._client
            return self._client

    def clusters(self) -> list[Cluster]:
        """CAST AI's cluster listing, fetched once per run."""
        client = self.client()
        with self._lock:
            if self._clusters is None:
                try:
                    self._clusters = client.list_clusters()
                except CastAIError as exc:
                    self._clusters = exc
            if isinstance(self._clusters, CastAIError):
                raise self._clusters
            return self._clusters

    def _key(self) -> str:
        if self._config.castai_api_key:
            return self._config.castai_api_key
        name = self._config.castai_secret_name
        region = _secret_region(name, self.regions)
        where = f"secret {name!r} in Secrets Manager ({region})"
        try:
            secrets = self._secrets or aws.client("secretsmanager", region)
            answer = secrets.get_secret_value(SecretId=name)
        except aws.AWS_ERRORS as exc:
            code = aws.error_code(exc)
            if code == "ResourceNotFoundException":
                raise CastAIError(
                    f"CAST AI API key: no {where}; store {{{SECRET_KEY!r}: <key>}} there, "
                    "or set CASTAI_SECRET_NAME or CASTAI_API_KEY"
                ) from None
            if code in ("AccessDeniedException", "AccessDenied"):
                raise CastAIError(
                    f"CAST AI API key: may not read {where}: grant secretsmanager:GetSecretValue"
                ) from None
            raise CastAIError(
                f"CAST AI API key: reading {where} failed: {aws.describe_error(exc)}"
            ) from None
        try:
            doc = json.loads(answer.get("SecretString") or "")
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


@dataclass(frozen=True)
class _Target:
    """Where to act on a resource: its CAST AI id, and its ARN for the state tag."""

    castai_id: str
    arn: str | None


class EksProvider:
    kind = KIND

    def __init__(
        self, config: Config, region: str, castai: CastAIAccess, *, client: Any = None
    ) -> None:
        self.region = region
        self._config = config
        self._castai = castai
        self._client = client
        self._targets: dict[str, _Target] = {}

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("eks", self.region)
        return self._client

    # --- discovery -----------------------------------------------------------------

    def discover(self, tag: str) -> list[Resource]:
        found = self._describe_all()
        resources: list[Resource] = []
        tagged = [c for c in found if isinstance(c, dict) and tag in c.get("tags", {})]
        resources += [c for c in found if isinstance(c, Resource)]
        if not tagged:
            return resources  # no CAST AI call, no secret read
        listing: list[Cluster] | None = None
        listing_error: str | None = None
        if any(not self._config.excluded_by(c.get("tags", {})) for c in tagged):
            try:
                listing = self._castai.clusters()
            except CastAIError as exc:
                listing_error = str(exc)
        for cluster in tagged:
            resources.append(self._discovered(cluster, listing, listing_error))
        return resources

    def _describe_all(self) -> list[dict[str, Any] | Resource]:
        paginator = self.client.get_paginator("list_clusters")
        names = [
            name
            for page in paginator.paginate(PaginationConfig={"PageSize": PAGE_SIZE})
            for name in page.get("clusters", ())
        ]
        if len(names) <= 1:
            described = [self._describe(n) for n in names]
        else:
            with ThreadPoolExecutor(max_workers=min(DESCRIBE_WORKERS, len(names))) as pool:
                described = list(pool.map(self._describe, names))
        return [d for d in described if d is not None]

    def _describe(self, name: str) -> dict[str, Any] | Resource | None:
        try:
            cluster: dict[str, Any] = self.client.describe_cluster(name=name)["cluster"]
        except aws.AWS_ERRORS as exc:
            if aws.error_code(exc) == "ResourceNotFoundException":
                return None  # deleted since the listing
            return self._error(name, {}, f"DescribeCluster failed: {aws.describe_error(exc)}")
        return cluster

    def _discovered(
        self, cluster: Mapping[str, Any], listing: list[Cluster] | None, listing_error: str | None
    ) -> Resource:
        name = str(cluster["name"])
        arn = str(cluster.get("arn", ""))
        tags = dict(cluster.get("tags") or {})
        excluded = self._config.excluded_by(tags)
        if excluded:
            # The engine skips it for the exclusion; CAST AI was not asked about it.
            return self._error(name, tags, f"not looked up in CAST AI: excluded by {excluded}")
        if listing is None:
            return self._error(name, tags, listing_error or "CAST AI not asked")
        account = _arn_account(arn)
        match = match_eks(listing, name=name, region=self.region, account=account)
        if match.cluster is None:
            return self._error(name, tags, match.error or "unknown to CAST AI")
        return self._resource(name, tags, match.cluster, arn)

    def _resource(
        self, resource_id: str, tags: Mapping[str, str], cluster: Cluster, arn: str | None
    ) -> Resource:
        power = _POWER.get(cluster.status)
        if power is None:
            return self._error(
                resource_id,
                tags,
                f"CAST AI cluster {cluster.name!r} ({cluster.id}) is {cluster.status!r}: "
                "not schedulable until it is ready or hibernated",
            )
        self._targets[resource_id] = _Target(cluster.id, arn)
        return Resource(
            kind=KIND,
            id=resource_id,
            region=self.region,
            tags=tags,
            power=power,
            running_since=self._started(tags) if power is Power.RUNNING else None,
        )

    def _started(self, tags: Mapping[str, str]) -> datetime | None:
        """When the scheduler last started it (`maxRuntime` counts from there)."""
        try:
            state = parse_state(tags.get(self._config.state_tag))
        except StateTagError:
            return None  # the engine reports the bad tag
        return state.time if state is not None and state.action == "start" else None

    def _error(self, resource_id: str, tags: Mapping[str, str], error: str) -> Resource:
        return Resource(
            kind=KIND, id=resource_id, region=self.region, tags=tags, power=None, error=error
        )

    # --- manual payloads (`clusterNames`) --------------------------------------------

    def lookup(self, refs: Sequence[str]) -> dict[str, Resource]:
        """CAST AI clusters named in a payload: by CAST AI `name`, then `eks.clusterName`.

        A cluster is returned by the provider of its region only (the first region when
        its region is not scanned), so that several regions never act on it twice.
        """
        home = self.region == self._castai.home
        if not refs:
            return {}
        try:
            listing = self._castai.clusters()
        except CastAIError as exc:
            return {ref: self._error(ref, {}, str(exc)) for ref in refs} if home else {}
        found: dict[str, Resource] = {}
        for ref in refs:
            match = match_name(listing, ref)
            if match is None:
                continue  # reported as not found by the engine
            if match.cluster is None:
                if home:
                    found[ref] = self._error(ref, {}, match.error or "no match")
                continue
            owner = match.cluster.region
            if owner not in self._castai.regions:
                owner = self._castai.home
            if owner == self.region:
                found[ref] = self._manual(ref, match.cluster)
        return found

    def _manual(self, ref: str, cluster: Cluster) -> Resource:
        # Read the EKS tags when the cluster is ours, so the production guard still holds.
        arn: str | None = None
        tags: dict[str, str] = {}
        if cluster.cluster_name:
            try:
                eks = self.client.describe_cluster(name=cluster.cluster_name)["cluster"]
            except aws.AWS_ERRORS as exc:
                if aws.error_code(exc) != "ResourceNotFoundException":
                    return self._error(
                        ref,
                        {},
                        f"cannot read the EKS tags of {cluster.cluster_name!r}: "
                        f"{aws.describe_error(exc)}",
                    )
            else:
                if _arn_account(eks.get("arn", "")) == cluster.account_id:
                    arn, tags = eks.get("arn"), dict(eks.get("tags") or {})
        return self._resource(ref, tags, cluster, arn)

    # --- actions -----------------------------------------------------------------------

    def act(self, action: Action, requests: Sequence[ActRequest]) -> dict[str, ActionError | None]:
        results: dict[str, ActionError | None] = {}
        try:
            client = self._castai.client()
        except CastAIError as exc:
            return {r.resource.id: ActionError(exc.code, str(exc)) for r in requests}
        # Two refs of a payload may name one cluster: one call, one answer for both.
        by_cluster: dict[str, ActionError | None] = {}
        for request in requests:
            rid = request.resource.id
            target = self._targets.get(rid)
            if target is None:
                results[rid] = ActionError("NotDiscovered", f"{rid} was not found in this run")
                continue
            if target.castai_id not in by_cluster:
                by_cluster[target.castai_id] = self._act_one(client, action, request, target)
            results[rid] = by_cluster[target.castai_id]
        return results

    def _act_one(
        self, client: CastAIClient, action: Action, request: ActRequest, target: _Target
    ) -> ActionError | None:
        try:
            if action == "stop":
                operation = client.hibernate(target.castai_id)
            else:
                options = request.schedule.resume if request.schedule else None
                instance_type = (
                    options.instance_type if options and options.instance_type else None
                ) or self._config.castai_resume_instance_type
                if not instance_type:
                    return ActionError(
                        "NoInstanceType",
                        "CAST AI needs an instance type to resume on: set "
                        '"resume": {"instanceType": "m5.large"} in the schedule '
                        "or CASTAI_RESUME_INSTANCE_TYPE",
                    )
                spot = bool(options.spot) if options and options.spot is not None else False
                operation = client.resume(target.castai_id, instance_type=instance_type, spot=spot)
        except CastAIError as exc:
            return ActionError(exc.code, str(exc))
        LOG.debug("CAST AI %s of %s accepted: operation %s", action, target.castai_id, operation)
        return None

    # --- state tags --------------------------------------------------------------------

    def record(self, key: str, values: Mapping[str, str]) -> dict[str, str]:
        # EKS has no batch tagging: one TagResource per cluster.
        errors: dict[str, str] = {}
        for rid, value in values.items():
            target = self._targets.get(rid)
            if target is None or not target.arn:
                errors[rid] = "no EKS cluster ARN to tag"
                continue
            try:
                self.client.tag_resource(resourceArn=target.arn, tags={key: value})
            except aws.AWS_ERRORS as exc:
                errors[rid] = aws.describe_error(exc)
        return errors


def _arn_account(arn: str) -> str:
    """`arn:aws:eks:eu-west-1:123456789012:cluster/name` -> `123456789012`."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 else ""
