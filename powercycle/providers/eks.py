"""EKS clusters, hibernated and resumed through CAST AI, or their managed node groups
taken to zero and back (`nodegroups.py`).

The backend of a tagged cluster is the schedule's `via` ("castai" or "nodegroups"), read
from the tag when it holds the schedule inline; otherwise `castai` when CAST AI is
configured (`CASTAI_API_KEY`, or the secret exists) and knows the cluster, else
`nodegroups`. (A `via` in a schedule *document* is not known at discovery: when it names the
other backend, the action is refused with an error saying to put `via` in the tag.)

EKS lists the clusters and keeps their tags; CAST AI says whether a cluster is running and
does the work: stop = hibernate, start = resume on the schedule's `resume.instanceType` or
`CASTAI_RESUME_INSTANCE_TYPE`. Key and listing are shared by every region of a pass
(`castai_access.CastAIAccess`).

Failing safe: the clusters of a region are described, checked and acted on `WORKERS` at a
time, each behind its own exception boundary; nothing new starts once the pass budget is
spent (a call not sent is answered `Deferred`). A cluster tagged `powercycle:operation`
has that operation read first: running -> in transition; failed -> `unhandled`, handed
over without its state tag so the event is retried; done -> the tag is removed. A manual
payload acts only on a cluster whose EKS tags were read, in its own region (`eks.region`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from .. import aws
from ..budget import Budget
from ..castai import DEFERRED, CastAIClient, CastAIError, Cluster, Listing
from ..castai_access import (
    NOT_CONFIGURED,
    OPERATION_TAG,
    CastAIAccess,
    OperationCheck,
    OperationTag,
    check_operation,
    match_eks,
    payload_matches,
)
from ..decide import Power, parse_state
from ..schedule import Action, parse_schedule_text
from ..sources import locate
from . import ActionError, ActRequest, Provider, Resource, nodegroups, verify
from .verify import ATTEMPTS_TAG, Attempts

if TYPE_CHECKING:
    from ..config import Config

LOG = logging.getLogger("powercycle.eks")

KIND = "eks"
PAGE_SIZE = 100  # ListClusters' maximum
WORKERS = 8

_POWER = {
    "ready": Power.RUNNING,
    "warning": Power.RUNNING,
    "hibernated": Power.STOPPED,
    "hibernating": Power.TRANSITION,
    "resuming": Power.TRANSITION,
    "connecting": Power.TRANSITION,
}
_CALLS = {"stop": "hibernate", "start": "resume"}

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
    CAST AI key is always read with the scheduler's own credentials.
    """
    shared = castai or CastAIAccess(config, regions, budget=budget)
    return [
        EksProvider(config, region, shared, credentials=credentials, account=account)
        for region in regions
    ]


@dataclass(frozen=True)
class _Target:
    """Where to act on a resource: its CAST AI id, and its ARN for the tags."""

    castai_id: str
    arn: str | None


class EksProvider:
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
        self._credentials = credentials
        self._config = config
        self._castai = castai
        self._budget = castai.budget
        self._clients: dict[str, Any] = {region: client} if client is not None else {}
        self._targets: dict[str, _Target] = {}
        # Clusters going to zero through their node groups, as read in this pass.
        self._groups: dict[str, nodegroups.Groups] = {}
        # Clusters whose failed operation is still in their tag: cleared once the event is
        # recorded (or replaced by the operation of a new accepted action).
        self._failed_operations: set[str] = set()

    @property
    def client(self) -> Any:
        return self._eks(self.region)

    def _eks(self, region: str) -> Any:
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
        described = self._each(
            names,
            self._describe,
            lambda n: self._error(n, {}, "deferred: pass budget spent before DescribeCluster"),
        )
        resources = [d for d in described if isinstance(d, Resource)]
        tagged = [d for d in described if isinstance(d, dict) and tag in (d.get("tags") or {})]
        if not tagged:
            return resources  # no CAST AI call, no secret read
        listing: Listing | CastAIError | None = None
        if any(
            not self._config.excluded_by(c.get("tags") or {})
            and self._via(c.get("tags") or {}) != "nodegroups"
            for c in tagged
        ):
            listing = self._listing()
        resources += self._each(
            tagged,
            lambda c: self._discovered(c, listing),
            lambda c: self._error(
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
            return self._error(name, {}, f"DescribeCluster failed: {aws.describe_error(exc)}")
        return cluster

    def _listing(self) -> Listing | CastAIError:
        try:
            return self._castai.listing()
        except CastAIError as exc:
            return exc

    def _via(self, tags: Mapping[str, str]) -> str | None:
        """`via` of a schedule held inline in the tag (None: not set, or not inline)."""
        value = tags.get(self._config.tag, "")
        try:
            if locate(value) is None:
                return parse_schedule_text(value, default_tz=self._config.default_tz).via
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
            account = _arn_account(arn)
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
            excluded = self._config.excluded_by(tags)
            if excluded:
                # The engine skips it for the exclusion; CAST AI was not asked about it.
                return self._error(name, tags, f"not looked up in CAST AI: excluded by {excluded}")
            if self._backend(name, arn, tags, listing) == "nodegroups":
                found = self._by_nodegroups(name, arn, tags, region=self.region)
                if found.error and listing is not None and self._via(tags) is None:
                    # Neither CAST AI nor node groups can take it: say why for both.
                    why = str(listing)
                    if isinstance(listing, Listing):
                        account = _arn_account(arn)
                        match = match_eks(listing, name=name, region=self.region, account=account)
                        why = str(match.error)
                    error = f"{why}; and through node groups: {found.error}"
                    return self._error(name, tags, error)
                return found
            if not isinstance(listing, Listing):
                return self._error(name, tags, str(listing or "CAST AI not asked"))
            match = match_eks(listing, name=name, region=self.region, account=_arn_account(arn))
            if match.cluster is None:
                return self._error(name, tags, match.error or "unknown to CAST AI")
            raw = tags.get(OPERATION_TAG)
            check = self._check_operation(name, arn, raw) if raw else OperationCheck()
            return self._resource(name, tags, match.cluster, arn, region=self.region, check=check)
        except Exception as exc:
            LOG.exception("powercycle: EKS cluster %s", name)
            return self._error(name, tags, _unexpected(exc))

    def _check_operation(self, name: str, arn: str, raw: str) -> OperationCheck:
        """The operation an earlier pass started (one GET, only for clusters with the tag)."""
        check = check_operation(self._castai.client(), raw)
        if check.drop_tag:
            self._untag(name, arn)
        if check.failed:
            self._failed_operations.add(name)
        return check

    def _resource(
        self,
        resource_id: str,
        tags: Mapping[str, str],
        cluster: Cluster,
        arn: str | None,
        *,
        region: str,
        check: OperationCheck,
    ) -> Resource:
        power = _POWER.get(cluster.status)
        if power is None:
            return self._error(
                resource_id,
                tags,
                f"CAST AI cluster {cluster.name!r} ({cluster.id}) is {cluster.status!r}: "
                "not schedulable until it is ready or hibernated",
                region=region,
            )
        if check.transition:
            power = Power.TRANSITION
        self._targets[resource_id] = _Target(cluster.id, arn)
        handed, unhandled = tags, check.failed
        if check.failed:
            retry = True
            raw, state = tags.get(ATTEMPTS_TAG), tags.get(self._config.state_tag)
            if raw and (known := Attempts.parse(raw)) and known.event == state:
                # Bounded as every kind is (`providers.verify`): after `max_attempts`
                # operations for the event, reported on every pass, not tried again.
                seen = verify.Failed(check.failed)
                verdict = verify.judge(raw, state, seen, max_attempts=self._config.max_attempts)
                unhandled, retry = verdict.unhandled, verdict.retry
            if retry:
                # The event is no longer handled: the engine decides it again and retries.
                handed = {k: v for k, v in tags.items() if k != self._config.state_tag}
        return Resource(
            kind=KIND,
            id=resource_id,
            region=region,
            account=self.account,
            tags=handed,
            power=power,
            running_since=self._started(tags, check.started) if power is Power.RUNNING else None,
            unhandled=unhandled,
        )

    def _by_nodegroups(
        self, name: str, arn: str, tags: Mapping[str, str], *, region: str
    ) -> Resource:
        try:
            groups = nodegroups.read(self._eks(region), name, arn, tags, budget=self._budget)
        except nodegroups.NodeGroupError as exc:
            return self._error(name, tags, str(exc), region=region)
        except aws.AWS_ERRORS as exc:
            return self._error(name, tags, f"node groups: {aws.describe_error(exc)}", region=region)
        try:
            state = parse_state(tags.get(self._config.state_tag))
        except Exception:
            state = None  # the engine reports the bad tag
        power = nodegroups.power(groups, state.action if state else None)
        self._groups[name] = groups
        self._targets[name] = _Target("", arn)
        return Resource(
            kind=KIND,
            id=name,
            region=region,
            account=self.account,
            tags=tags,
            power=power,
            running_since=self._started(tags, None) if power is Power.RUNNING else None,
        )

    def _started(self, tags: Mapping[str, str], observed: datetime | None) -> datetime | None:
        """When it last started: the start recorded in the state tag, or one observed
        (a resume operation seen finished), whichever is later (`maxRuntime` counts from it).
        """
        try:
            state = parse_state(tags.get(self._config.state_tag))
        except Exception:
            state = None  # the engine reports the bad tag
        recorded = state.time if state is not None and state.action == "start" else None
        known = [t for t in (recorded, observed) if t is not None]
        return max(known) if known else None

    def _error(
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
        """CAST AI clusters named in a payload: by CAST AI `name`, then `eks.clusterName`."""
        if not refs:
            return {}
        listing = self._listing()
        # Node-group clusters first: an EKS cluster of that name in this region.
        found = {ref: r for ref in refs if (r := self._manual_nodegroups(ref, listing))}
        rest = [ref for ref in refs if ref not in found]
        if not rest:
            return found
        if isinstance(listing, CastAIError):
            if listing.code == NOT_CONFIGURED:
                return found  # the rest are not found (the engine says so)
            home = self.region == self._castai.home
            return found | (
                {ref: self._error(ref, {}, str(listing)) for ref in rest} if home else {}
            )
        matches = payload_matches(listing, rest, region=self.region, regions=self._castai.regions)
        return found | {
            ref: self._manual(ref, c) if isinstance(c, Cluster) else self._error(ref, {}, c)
            for ref, c in matches.items()
        }

    def _manual_nodegroups(self, ref: str, listing: Listing | CastAIError) -> Resource | None:
        """The node-group cluster named `ref` in this region, or None (then: CAST AI's)."""
        if not self._budget.open():
            return None
        try:
            eks = self.client.describe_cluster(name=ref)["cluster"]
        except Exception:
            return None  # not here (or unreadable: CAST AI's lookup decides)
        tags = {str(k): str(v) for k, v in (eks.get("tags") or {}).items()}
        arn = str(eks.get("arn", ""))
        if self._backend(ref, arn, tags, listing) != "nodegroups":
            return None
        return self._by_nodegroups(ref, arn, tags, region=self.region)

    def _manual(self, ref: str, cluster: Cluster) -> Resource:
        """The cluster with its EKS tags, read in its own region; refused when unreadable."""
        region = cluster.region or self.region
        where = f"EKS cluster {cluster.cluster_name!r} ({region})"
        arn, tags, why = "", {}, None
        if not cluster.cluster_name or not cluster.region:
            why = "CAST AI's record has no eks.clusterName/region"
        elif not self._budget.open():
            why = f"pass budget spent before reading {where}"
        else:
            try:
                eks = self._eks(region).describe_cluster(name=cluster.cluster_name)["cluster"]
                arn = str(eks.get("arn", ""))
                tags = {str(k): str(v) for k, v in (eks.get("tags") or {}).items()}
            except Exception as exc:
                why = f"cannot read {where}: {aws.describe_error(exc)}"
            else:
                account = _arn_account(arn)
                if cluster.account_id and account != cluster.account_id:
                    why = f"{where} is in account {account}, CAST AI's in {cluster.account_id}"
        if why:
            refuse = f"its tags must be read before a manual action (CAST AI id {cluster.id})"
            return self._error(ref, {}, f"{why}: {refuse}", region=region)
        return self._resource(ref, tags, cluster, arn, region=region, check=OperationCheck())

    # --- actions -----------------------------------------------------------------------

    def act(self, action: Action, requests: Sequence[ActRequest]) -> dict[str, ActionError | None]:
        # A CAST AI operation failed `max_attempts` times for this event: no more calls.
        results, _ = verify.refuse_exhausted(requests, self._config.max_attempts)
        for request in requests:
            rid = request.resource.id
            via = request.schedule.via if request.schedule else None
            used = "nodegroups" if rid in self._groups else "castai"
            if rid in results:
                continue
            if via is not None and via != used:
                results[rid] = ActionError(
                    "Via",
                    f'the schedule says "via": "{via}" but {rid} was read through {used}: '
                    'put "via" in the tag itself when the schedule is a document',
                )
        mine = [
            r for r in requests if r.resource.id in self._groups and r.resource.id not in results
        ]
        answers = self._each(
            mine,
            lambda r: nodegroups.act(
                self._eks(r.resource.region),
                action,
                self._groups[r.resource.id],
                budget=self._budget,
            ),
            lambda r: ActionError(DEFERRED, "pass budget spent before the node groups were scaled"),
        )
        results.update(zip((r.resource.id for r in mine), answers, strict=True))
        requests = [r for r in requests if r.resource.id not in results]
        if not requests:
            return results
        try:
            client = self._castai.client()
        except CastAIError as exc:
            return results | {r.resource.id: ActionError(exc.code, str(exc)) for r in requests}
        # Two refs of a payload may name one cluster: one call, one answer for both.
        by_cluster: dict[str, list[ActRequest]] = {}
        for request in requests:
            target = self._targets.get(request.resource.id)
            if target is None:
                rid = request.resource.id
                results[rid] = ActionError("NotDiscovered", f"{rid} was not found in this run")
                continue
            by_cluster.setdefault(target.castai_id, []).append(request)
        groups = list(by_cluster.values())
        answers = self._each(
            groups,
            lambda group: self._act_one(client, action, group[0]),
            lambda group: ActionError(
                DEFERRED, f"pass budget spent before the CAST AI {_CALLS[action]} call"
            ),
        )
        for group, answer in zip(groups, answers, strict=True):
            for request in group:
                results[request.resource.id] = answer
        return results

    def _act_one(
        self, client: CastAIClient, action: Action, request: ActRequest
    ) -> ActionError | None:
        rid = request.resource.id
        target = self._targets[rid]
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
        except Exception as exc:
            LOG.exception("powercycle: CAST AI %s of %s", action, rid)
            return ActionError("Unexpected", _unexpected(exc))
        LOG.debug("CAST AI %s of %s accepted: operation %s", action, target.castai_id, operation)
        if operation and target.arn:
            tags = {OPERATION_TAG: OperationTag.new(_CALLS[action], operation).value()}
            if request.event:
                # Its attempt for the event, in the same call: failures are bounded.
                attempt = Attempts.after(request.resource.tags, request.event)
                tags[ATTEMPTS_TAG] = attempt.value()
            try:
                self._eks(self._region_of(target)).tag_resource(resourceArn=target.arn, tags=tags)
            except Exception as exc:
                # The action stands; only its check on the next pass is lost.
                LOG.warning("powercycle: %s: %s not written: %s", rid, OPERATION_TAG, exc)
            else:
                self._failed_operations.discard(rid)
        return None

    # --- tags --------------------------------------------------------------------------

    def record(self, key: str, values: Mapping[str, str]) -> dict[str, str]:
        # EKS has no batch tagging: one TagResource per cluster, a few at a time.
        items = list(values.items())
        answers = self._each(
            items, lambda item: self._record_one(key, *item), lambda item: None, always=True
        )
        return {rid: error for (rid, _), error in zip(items, answers, strict=True) if error}

    def _record_one(self, key: str, rid: str, value: str) -> str | None:
        target = self._targets.get(rid)
        if target is None or not target.arn:
            return "no EKS cluster ARN to tag"
        try:
            self._eks(self._region_of(target)).tag_resource(
                resourceArn=target.arn, tags={key: value}
            )
        except Exception as exc:
            return aws.describe_error(exc)
        if rid in self._failed_operations:
            # The event is handled again: the failed operation has been reported enough.
            self._untag(rid, target.arn)
        return None

    def _untag(self, name: str, arn: str | None) -> None:
        self._failed_operations.discard(name)
        if self._config.dry_run or not arn:
            return
        try:
            self._eks(_arn_region(arn) or self.region).untag_resource(
                resourceArn=arn, tagKeys=[OPERATION_TAG, ATTEMPTS_TAG]
            )
        except Exception as exc:
            LOG.warning("powercycle: %s: %s not removed: %s", name, OPERATION_TAG, exc)

    def _region_of(self, target: _Target) -> str:
        return _arn_region(target.arn or "") or self.region

    # --- concurrency -------------------------------------------------------------------

    def _each(
        self,
        items: Sequence[T],
        work: Callable[[T], R],
        deferred: Callable[[T], R],
        *,
        always: bool = False,
    ) -> list[R]:
        """work(item) for each item, `WORKERS` at a time, in order; an item not started
        before the budget is spent gets `deferred(item)` instead (unless `always`)."""

        def one(item: T) -> R:
            if not always and not self._budget.open():
                return deferred(item)
            return work(item)

        if len(items) <= 1:
            return [one(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(WORKERS, len(items))) as pool:
            return list(pool.map(one, items))


def _unexpected(exc: BaseException) -> str:
    return f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


def _arn_account(arn: str) -> str:
    """`arn:aws:eks:eu-west-1:123456789012:cluster/name` -> `123456789012`."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 else ""


def _arn_region(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 else ""
