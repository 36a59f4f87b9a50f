"""The CAST AI backend of `providers/eks`: clusters hibernated and resumed by CAST AI.

CAST AI says whether a cluster is running and does the work: stop = hibernate, start =
resume on the schedule's `resume.instanceType` (refused unless listed in
`CASTAI_RESUME_INSTANCE_TYPES` when that is set) or `CASTAI_RESUME_INSTANCE_TYPE`. Key and
listing are shared by every region of a pass (`castai_access.CastAIAccess`).

A cluster tagged `powercycle:operation` has that operation read first: running -> in
transition; failed -> `unhandled`, handed over without its state tag so the event is
retried (at most `POWERCYCLE_MAX_ATTEMPTS` operations per event, `providers.verify`);
done -> the tag is removed. A manual payload acts only on a cluster whose EKS tags were
read, in its own region (`eks.region`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from powercycle import aws
from powercycle.castai.access import (
    NOT_CONFIGURED,
    OperationCheck,
    check_operation,
    payload_matches,
)
from powercycle.castai.client import DEFERRED, CastAIClient, CastAIError, Cluster, Listing
from powercycle.core import verify
from powercycle.core.decide import Power
from powercycle.core.model import ActionError, ActRequest, Resource
from powercycle.core.tags import OPERATION as OPERATION_TAG
from powercycle.core.tags import Attempts, OperationTag
from powercycle.core.verify import ATTEMPTS_TAG
from powercycle.providers.eks.backend import Host, Target
from powercycle.runtime.text import squash

__all__ = ["CALLS", "POWER", "CastAIBackend", "Target", "arn_account", "arn_region", "unexpected"]

if TYPE_CHECKING:
    from powercycle.core.schedule import Action

LOG = logging.getLogger("powercycle.eks")

POWER = {
    "ready": Power.RUNNING,
    "warning": Power.RUNNING,
    "hibernated": Power.STOPPED,
    "hibernating": Power.TRANSITION,
    "resuming": Power.TRANSITION,
    "connecting": Power.TRANSITION,
}
CALLS = {"stop": "hibernate", "start": "resume"}


class CastAIBackend:
    """The CAST AI side of one region of an EKS pass (its `Host`: targets, tags, budget)."""

    def __init__(self, host: Host) -> None:
        self._p = host
        # Clusters whose failed operation is still in their tag: cleared once the event is
        # recorded (or replaced by the operation of a new accepted action).
        self._failed_operations: set[str] = set()

    # --- discovery -----------------------------------------------------------------

    def discovered(
        self, name: str, arn: str, tags: Mapping[str, str], cluster: Cluster
    ) -> Resource:
        """A tagged cluster CAST AI knows: its operation checked first, when it has one."""
        raw = tags.get(OPERATION_TAG)
        check = self._check_operation(name, arn, raw) if raw else OperationCheck()
        return self.resource(name, tags, cluster, arn, region=self._p.region, check=check)

    def _check_operation(self, name: str, arn: str, raw: str) -> OperationCheck:
        """The operation an earlier pass started (one GET, only for clusters with the tag)."""
        check = check_operation(self._p.access.client(), raw)
        if check.drop_tag:
            # Removed by `EksProvider.tidy`, only once the engine screened the cluster:
            # an excluded, snoozed or invalid one gets no write of any kind.
            self._p.done_operations[name] = arn
        if check.failed:
            self._failed_operations.add(name)
        return check

    def resource(
        self,
        resource_id: str,
        tags: Mapping[str, str],
        cluster: Cluster,
        arn: str | None,
        *,
        region: str,
        check: OperationCheck,
    ) -> Resource:
        p = self._p
        power = POWER.get(cluster.status)
        if power is None:
            return p.error(
                resource_id,
                tags,
                f"CAST AI cluster {cluster.name!r} ({cluster.id}) is {cluster.status!r}: "
                "not schedulable until it is ready or hibernated",
                region=region,
            )
        if check.transition:
            power = Power.TRANSITION
        p.targets[resource_id] = Target(cluster.id, arn)
        unhandled, retry = check.failed, False
        if check.failed:
            retry = True
            raw, state = tags.get(ATTEMPTS_TAG), tags.get(p.config.state_tag)
            if raw and (known := Attempts.parse(raw)) and known.event == state:
                # Bounded as every kind is (`providers.verify`): after `max_attempts`
                # operations for the event, reported on every pass, not tried again.
                seen = verify.Failed(check.failed)
                verdict = verify.judge(raw, state, seen, max_attempts=p.config.max_attempts)
                unhandled, retry = verdict.unhandled, verdict.retry
        return Resource(
            kind=p.kind,
            id=resource_id,
            region=region,
            account=p.account,
            arn=arn or "",
            tags=tags,
            power=power,
            running_since=p.started(tags, check.started) if power is Power.RUNNING else None,
            unhandled=unhandled,
            retry=retry,
        )

    # --- manual payloads (`clusterNames`) --------------------------------------------

    def lookup(self, refs: Sequence[str], listing: Listing | CastAIError) -> dict[str, Resource]:
        """CAST AI clusters named in a payload: by CAST AI `name`, then `eks.clusterName`."""
        p = self._p
        if isinstance(listing, CastAIError):
            if listing.code == NOT_CONFIGURED:
                return {}  # not found (the engine says so)
            home = p.region == p.access.home
            return {ref: p.error(ref, {}, str(listing)) for ref in refs} if home else {}
        matches = payload_matches(listing, refs, region=p.region, regions=p.access.regions)
        return {
            ref: self._manual(ref, c) if isinstance(c, Cluster) else p.error(ref, {}, c)
            for ref, c in matches.items()
        }

    def _manual(self, ref: str, cluster: Cluster) -> Resource:
        """The cluster with its EKS tags, read in its own region; refused when unreadable."""
        p = self._p
        region = cluster.region or p.region
        where = f"EKS cluster {cluster.cluster_name!r} ({region})"
        arn, tags, why = "", {}, None
        if not cluster.cluster_name or not cluster.region:
            why = "CAST AI's record has no eks.clusterName/region"
        elif not p.budget.open():
            why = f"pass budget spent before reading {where}"
        else:
            try:
                eks = p.eks(region).describe_cluster(name=cluster.cluster_name)["cluster"]
                arn = str(eks.get("arn", ""))
                tags = {str(k): str(v) for k, v in (eks.get("tags") or {}).items()}
            except Exception as exc:
                why = f"cannot read {where}: {aws.describe_error(exc)}"
            else:
                account = arn_account(arn)
                if cluster.account_id and account != cluster.account_id:
                    why = f"{where} is in account {account}, CAST AI's in {cluster.account_id}"
        if why:
            refuse = f"its tags must be read before a manual action (CAST AI id {cluster.id})"
            return p.error(ref, {}, f"{why}: {refuse}", region=region)
        return self.resource(ref, tags, cluster, arn, region=region, check=OperationCheck())

    # --- actions -----------------------------------------------------------------------

    def act(self, action: Action, requests: Sequence[ActRequest]) -> dict[str, ActionError | None]:
        p = self._p
        try:
            client = p.access.client()
        except CastAIError as exc:
            return {r.resource.id: ActionError(exc.code, str(exc)) for r in requests}
        results: dict[str, ActionError | None] = {}
        # Two refs of a payload may name one cluster: one call, one answer for both.
        by_cluster: dict[str, list[ActRequest]] = {}
        for request in requests:
            target = p.targets.get(request.resource.id)
            if target is None:
                rid = request.resource.id
                results[rid] = ActionError("NotDiscovered", f"{rid} was not found in this run")
                continue
            by_cluster.setdefault(target.castai_id, []).append(request)
        groups = list(by_cluster.values())
        answers = p.each(
            groups,
            lambda group: self._act_one(client, action, group[0]),
            lambda group: ActionError(
                DEFERRED, f"pass budget spent before the CAST AI {CALLS[action]} call"
            ),
        )
        for group, answer in zip(groups, answers, strict=True):
            for request in group:
                results[request.resource.id] = answer
        return results

    def _act_one(
        self, client: CastAIClient, action: Action, request: ActRequest
    ) -> ActionError | None:
        p = self._p
        rid = request.resource.id
        target = p.targets[rid]
        try:
            if action == "stop":
                operation = client.hibernate(target.castai_id)
            else:
                options = request.schedule.resume if request.schedule else None
                asked = options.instance_type if options and options.instance_type else None
                allowed = p.config.castai_resume_instance_types
                if asked and allowed and asked not in allowed:
                    # A tag is a request, never a grant: the operator bounds the types.
                    return ActionError(
                        "InstanceTypeRefused",
                        f"resume.instanceType {asked!r} is not in CASTAI_RESUME_INSTANCE_TYPES "
                        f"({', '.join(allowed)}): not resumed",
                    )
                instance_type = asked or p.config.castai_resume_instance_type
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
            return ActionError("Unexpected", unexpected(exc))
        LOG.debug("CAST AI %s of %s accepted: operation %s", action, target.castai_id, operation)
        if operation and target.arn:
            accepted = OperationTag.new(CALLS[action], operation, now=datetime.now(UTC))
            tags = {OPERATION_TAG: accepted.value()}
            if request.event:
                # Its attempt for the event, in the same call: failures are bounded.
                attempt = Attempts.after(request.resource.tags, request.event)
                tags[ATTEMPTS_TAG] = attempt.value()
            try:
                p.eks(p.region_of(target.arn)).tag_resource(resourceArn=target.arn, tags=tags)
            except Exception as exc:
                # The action stands; only its check on the next pass is lost.
                LOG.warning("powercycle: %s: %s not written: %s", rid, OPERATION_TAG, exc)
            else:
                self._failed_operations.discard(rid)
        return None

    # --- tags --------------------------------------------------------------------------

    def recorded(self, rid: str, arn: str) -> None:
        """The state tag of `rid` was written: a failed operation has been reported enough."""
        if rid in self._failed_operations:
            self.untag(rid, arn)

    def untag(self, name: str, arn: str | None) -> None:
        self._failed_operations.discard(name)
        self._p.untag(name, arn, [OPERATION_TAG, ATTEMPTS_TAG])


def unexpected(exc: BaseException) -> str:
    return f"unexpected {type(exc).__name__}: {squash(str(exc))[:200]}"


def arn_account(arn: str) -> str:
    """`arn:aws:eks:eu-west-1:123456789012:cluster/name` -> `123456789012`."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 else ""


def arn_region(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 else ""
