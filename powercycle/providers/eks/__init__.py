"""EKS clusters, hibernated and resumed through CAST AI (`eks_castai.py`), or their managed
node groups taken to zero and back (`by_nodegroups.py`, `nodegroups.py`).

The backend of a tagged cluster is the schedule's `via` ("castai" or "nodegroups"), read
from the tag when it holds the schedule inline; otherwise `castai` when CAST AI is
configured (`CASTAI_API_KEY`, or the secret exists) and knows the cluster, else
`nodegroups`. (A `via` in a schedule *document* is not known at discovery: when it names the
other backend, the action is refused with an error saying to put `via` in the tag.)
Failing safe: the clusters of a region are described, checked and acted on `WORKERS` at a
time, each behind its own exception boundary; nothing new starts once the pass budget is
spent (a call not sent is answered `Deferred`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from powercycle import aws
from powercycle.aws import sealkey
from powercycle.castai.access import NOT_CONFIGURED, CastAIAccess, match_eks
from powercycle.castai.client import DEFERRED, CastAIError, Listing
from powercycle.core import verify
from powercycle.core.decide import parse_state
from powercycle.core.model import NOTED, ActionError, ActRequest, Resource
from powercycle.core.schedule import Action, parse_schedule_text
from powercycle.providers.base import Kind, Provider
from powercycle.providers.eks import nodegroups
from powercycle.providers.eks.by_nodegroups import ByNodegroups
from powercycle.providers.eks.castai import (
    CastAIBackend,
    Target,
    arn_account,
    arn_region,
    unexpected,
)
from powercycle.providers.eks.cli import KIND, EksCli, tag_command
from powercycle.runtime.budget import Budget
from powercycle.runtime.pool import Deferred, map_guarded
from powercycle.sources import locate

if TYPE_CHECKING:
    from powercycle.config import Config

LOG = logging.getLogger("powercycle.eks")

PAGE_SIZE = 100  # ListClusters' maximum
WORKERS = 8

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["CastAIAccess", "EksProvider", "providers"]


def providers(
    config: Config,
    regions: Sequence[str],
    *,
    castai: CastAIAccess | None = None,
    budget: Budget | None = None,
    credentials: str = aws.OWN,
    account: str = "",
) -> list[Provider]:
    """One provider per region, all sharing one CAST AI access (and budget) for the pass.
    `credentials`/`account`: the account scanned (an assumed role's key in `aws`); the
    CAST AI key is always read with the scheduler's own credentials."""
    shared = castai or CastAIAccess(config, regions, budget=budget)
    return [
        EksProvider(config, region, shared, credentials=credentials, account=account)
        for region in regions
    ]


class EksProvider(EksCli, ByNodegroups):
    kind = KIND

    def __init__(
        self,
        config: Config,
        region: str,
        castai: CastAIAccess,
        *,
        client: Any = None,
        credentials: str = aws.OWN,
        account: str = "",
    ) -> None:
        self.region = region
        self.account = account
        self.config = config
        self.access = castai
        self.budget = castai.budget
        self._credentials = credentials
        self._clients: dict[str, Any] = {region: client} if client is not None else {}
        self.targets: dict[str, Target] = {}
        # Clusters going to zero through their node groups, as read in this pass.
        self._groups: dict[str, nodegroups.Groups] = {}
        self._castai = CastAIBackend(self)
        self.key = sealkey.for_pass(config, castai.budget)
        # Clusters whose finished operation's tag is to be removed (`tidy`): name -> ARN.
        self.done_operations: dict[str, str] = {}

    @property
    def client(self) -> Any:
        return self.eks(self.region)

    def eks(self, region: str) -> Any:
        if region not in self._clients:
            self._clients[region] = aws.client("eks", region, credentials=self._credentials)
        return self._clients[region]

    # --- discovery -----------------------------------------------------------------

    def discover(self, tag: str) -> list[Resource]:
        paginator = self.client.get_paginator("list_clusters")
        names = [
            str(name)
            for page in paginator.paginate(PaginationConfig={"PageSize": PAGE_SIZE})
            for name in page.get("clusters", ())
        ]
        described = self.each(
            names,
            self._describe,
            lambda n: self.error(n, {}, "deferred: pass budget spent before DescribeCluster"),
        )
        resources = [d for d in described if isinstance(d, Resource)]
        tagged = [d for d in described if isinstance(d, dict) and tag in (d.get("tags") or {})]
        if not tagged:
            return resources  # no CAST AI call, no secret read
        listing: Listing | CastAIError | None = None
        if any(
            not self.config.excluded_by(c.get("tags") or {})
            and self._via(c.get("tags") or {}) != "nodegroups"
            for c in tagged
        ):
            listing = self._listing()
        resources += self.each(
            tagged,
            lambda c: self._discovered(c, listing),
            lambda c: self.error(
                str(c.get("name")), c.get("tags") or {}, "deferred: pass budget spent"
            ),
        )
        return resources

    def _describe(self, name: str) -> dict[str, Any] | Resource | None:
        try:
            cluster: dict[str, Any] = self.client.describe_cluster(name=name)["cluster"]
        except Exception as exc:
            if aws.error_code(exc) == "ResourceNotFoundException":
                return None  # deleted since the listing
            return self.error(name, {}, f"DescribeCluster failed: {aws.describe_error(exc)}")
        return cluster

    def _listing(self) -> Listing | CastAIError:
        try:
            return self.access.listing()
        except CastAIError as exc:
            return exc

    def _via(self, tags: Mapping[str, str]) -> str | None:
        """`via` of a schedule held inline in the tag (None: not set, or not inline)."""
        value = tags.get(self.config.tag, "")
        try:
            if locate(value) is None:
                return parse_schedule_text(value, default_tz=self.config.default_tz).via
        except Exception:
            return None  # the engine reports the bad schedule
        return None

    def _backend(self, name: str, arn: str, tags: Mapping[str, str], listing: object) -> str:
        """The schedule's `via`, else castai when CAST AI is configured and knows it."""
        via = self._via(tags)
        if via is not None:
            return via
        if isinstance(listing, CastAIError):
            # Not configured: node groups. CAST AI unreachable: its error (fail safe).
            return "nodegroups" if listing.code == NOT_CONFIGURED else "castai"
        if isinstance(listing, Listing):
            account = arn_account(arn)
            known = any(
                c.cluster_name == name and c.region == self.region and c.account_id == account
                for c in listing.clusters
            )
            return "castai" if known or listing.bad_naming(name) else "nodegroups"
        return "castai"

    def _discovered(self, cluster: Mapping[str, Any], listing: object) -> Resource:
        """One tagged cluster as a Resource; anything unexpected is its error alone."""
        name = str(cluster.get("name"))
        tags: dict[str, str] = {}
        try:
            tags = {str(k): str(v) for k, v in (cluster.get("tags") or {}).items()}
            arn = str(cluster.get("arn", ""))
            excluded = self.config.excluded_by(tags)
            if excluded:
                # The engine skips it for the exclusion; CAST AI was not asked about it.
                return self.error(name, tags, f"not looked up in CAST AI: excluded by {excluded}")
            if self._backend(name, arn, tags, listing) == "nodegroups":
                found = self._by_nodegroups(name, arn, tags, region=self.region)
                if found.error and listing is not None and self._via(tags) is None:
                    # Neither CAST AI nor node groups can take it: say why for both.
                    why = str(listing)
                    if isinstance(listing, Listing):
                        account = arn_account(arn)
                        match = match_eks(listing, name=name, region=self.region, account=account)
                        why = str(match.error)
                    error = f"{why}; and through node groups: {found.error}"
                    return self.error(name, tags, error)
                return found
            if not isinstance(listing, Listing):
                return self.error(name, tags, str(listing or "CAST AI not asked"))
            match = match_eks(listing, name=name, region=self.region, account=arn_account(arn))
            if match.cluster is None:
                return self.error(name, tags, match.error or "unknown to CAST AI")
            return self._castai.discovered(name, arn, tags, match.cluster)
        except Exception as exc:
            LOG.exception("powercycle: EKS cluster %s", name)
            return self.error(name, tags, unexpected(exc))

    def started(self, tags: Mapping[str, str], observed: datetime | None) -> datetime | None:
        """When it last started: the start recorded in the state tag, or one observed
        (a resume operation seen finished), whichever is later (`maxRuntime` counts from it)."""
        try:
            state = parse_state(tags.get(self.config.state_tag))
        except Exception:
            state = None  # the engine reports the bad tag
        recorded = state.time if state is not None and state.action == "start" else None
        known = [t for t in (recorded, observed) if t is not None]
        return max(known) if known else None

    def error(
        self, resource_id: str, tags: Mapping[str, str], error: str, *, region: str | None = None
    ) -> Resource:
        return Resource(
            kind=KIND,
            id=resource_id,
            region=region or self.region,
            account=self.account,
            tags=tags,
            power=None,
            error=error,
        )

    # --- manual payloads (`clusterNames`) --------------------------------------------

    def lookup(self, refs: Sequence[str]) -> dict[str, Resource]:
        """Clusters named in a payload: node-group clusters here, then CAST AI's."""
        if not refs:
            return {}
        listing = self._listing()
        # Node-group clusters first: an EKS cluster of that name in this region.
        found = {ref: r for ref in refs if (r := self._manual_nodegroups(ref, listing))}
        rest = [ref for ref in refs if ref not in found]
        return found | self._castai.lookup(rest, listing) if rest else found

    # --- actions -----------------------------------------------------------------------

    def act(self, action: Action, requests: Sequence[ActRequest]) -> dict[str, ActionError | None]:
        # An action failed `max_attempts` times for this event: no more calls.
        results, _ = verify.refuse_exhausted(requests, self.config.max_attempts)
        for request in (r for r in requests if r.resource.id not in results):
            rid = request.resource.id
            via = request.schedule.via if request.schedule else None
            used = "nodegroups" if rid in self._groups else "castai"
            if via is not None and via != used:
                results[rid] = ActionError(
                    "Via",
                    f'the schedule says "via": "{via}" but {rid} was read through {used}: '
                    'put "via" in the tag itself when the schedule is a document',
                )
        mine = [
            r for r in requests if r.resource.id in self._groups and r.resource.id not in results
        ]
        answers = self.each(
            mine,
            lambda r: self._nodegroups_act(r, action),
            lambda r: ActionError(DEFERRED, "pass budget spent before the node groups were scaled"),
        )
        results.update(zip((r.resource.id for r in mine), answers, strict=True))
        if action == "start":
            for request, answer in zip(mine, answers, strict=True):
                if request.event and (answer is None or answer.code == NOTED):
                    self._attempted(request, request.event)
        requests = [r for r in requests if r.resource.id not in results]
        if not requests:
            return results
        return results | self._castai.act(action, requests)

    # --- tags --------------------------------------------------------------------------

    def record(self, key: str, values: Mapping[str, str]) -> dict[str, str]:
        # EKS has no batch tagging: one TagResource per cluster, a few at a time.
        items = list(values.items())
        answers = self.each(
            items, lambda item: self._record_one(key, *item), lambda item: None, always=True
        )
        return {rid: error for (rid, _), error in zip(items, answers, strict=True) if error}

    def _record_one(self, key: str, rid: str, value: str) -> str | None:
        target = self.targets.get(rid)
        if target is None or not target.arn:
            return "no EKS cluster ARN to tag"
        try:
            self.eks(self.region_of(target.arn)).tag_resource(
                resourceArn=target.arn, tags={key: value}
            )
        except Exception as exc:
            return aws.describe_error(exc)
        self._castai.recorded(rid, target.arn)
        return None

    def tidy(self, resources: Sequence[Resource]) -> dict[str, str]:
        """Tags of finished CAST AI operations removed, for the screened clusters only."""
        for resource in resources:
            arn = self.done_operations.pop(resource.id, None)
            if arn is not None:
                self._castai.untag(resource.id, arn)
        return {}

    def untag(self, name: str, arn: str | None, keys: list[str]) -> None:
        """Tags powercycle no longer needs on the cluster (not in a dry run)."""
        if self.config.dry_run or not arn:
            return
        try:
            self.eks(self.region_of(arn)).untag_resource(resourceArn=arn, tagKeys=keys)
        except Exception as exc:
            LOG.warning("powercycle: %s: %s not removed: %s", name, keys[0], exc)

    def region_of(self, arn: str | None) -> str:
        return arn_region(arn or "") or self.region

    # --- concurrency -------------------------------------------------------------------

    def each(
        self,
        items: Sequence[T],
        work: Callable[[T], R],
        deferred: Callable[[T], R],
        *,
        always: bool = False,
    ) -> list[R]:
        """work(item) for each item, `WORKERS` at a time, in order; an item not started
        before the budget is spent gets `deferred(item)` instead (unless `always`)."""

        budget = None if always else self.budget
        answers: list[R] = []
        for item, got in zip(
            items, map_guarded(items, work, workers=WORKERS, budget=budget), strict=True
        ):
            if isinstance(got, BaseException):
                raise got  # as before: the first failure (in order) is the caller's
            answers.append(deferred(item) if isinstance(got, Deferred) else got)
        return answers


DECLARATION = Kind(
    name=KIND,
    payload_key="clusterNames",
    title="EKS cluster",
    refs="an EKS cluster name or ARN",
    factory=providers,
    arn_pattern=re.compile(
        r"arn:aws[a-z-]*:eks:(?P<region>[a-z0-9-]+):\d*:cluster/(?P<name>[^/]+)"
    ),
    tag_command=tag_command,
)
