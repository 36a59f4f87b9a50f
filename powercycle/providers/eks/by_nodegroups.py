"""EKS clusters taken to zero and back through their managed node groups (the backend
`nodegroups`; the calls are `nodegroups.py`'s): a cluster read as a Resource, a manual
payload's cluster found, an action sent, its attempt written down and judged next pass."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from powercycle import aws
from powercycle.aws import sealkey
from powercycle.core import verify
from powercycle.core.decide import Power, parse_state
from powercycle.core.model import ActionError, ActRequest, Resource
from powercycle.core.schedule import Action
from powercycle.core.tags import Attempts
from powercycle.core.verify import ATTEMPTS_TAG
from powercycle.providers.eks.castai import Target
from powercycle.providers.eks.cli import KIND
from powercycle.providers.eks.nodegroups import Groups, NodeGroupError, nodegroups_seen, read
from powercycle.providers.eks.nodegroups import act as scale
from powercycle.providers.eks.nodegroups import power as power_of

if TYPE_CHECKING:
    from powercycle.castai.client import CastAIError, Listing
    from powercycle.config import Config
    from powercycle.runtime.budget import Budget

LOG = logging.getLogger("powercycle.eks")


class ByNodegroups:
    """What `EksProvider` does for the clusters it schedules through their node groups."""

    region: str
    account: str
    config: Config
    budget: Budget
    key: sealkey.SealKey
    targets: dict[str, Target]
    # Clusters going to zero through their node groups, as read in this pass.
    _groups: dict[str, Groups]

    if TYPE_CHECKING:

        @property
        def client(self) -> Any: ...

        def eks(self, region: str) -> Any: ...

        def error(
            self,
            resource_id: str,
            tags: Mapping[str, str],
            error: str,
            *,
            region: str | None = None,
        ) -> Resource: ...

        def started(
            self, tags: Mapping[str, str], observed: datetime | None
        ) -> datetime | None: ...

        def _backend(
            self, name: str, arn: str, tags: Mapping[str, str], listing: object
        ) -> str: ...

    def _by_nodegroups(
        self, name: str, arn: str, tags: Mapping[str, str], *, region: str
    ) -> Resource:
        try:
            groups = read(self.eks(region), name, arn, tags, budget=self.budget)
        except NodeGroupError as exc:
            return self.error(name, tags, str(exc), region=region)
        except aws.AWS_ERRORS as exc:
            return self.error(name, tags, f"node groups: {aws.describe_error(exc)}", region=region)
        try:
            state = parse_state(tags.get(self.config.state_tag))
        except Exception:
            state = None  # the engine reports the bad tag
        power = power_of(groups, state.action if state else None)
        self._groups[name] = groups
        self.targets[name] = Target("", arn)
        verdict = self._checked(groups, tags) if ATTEMPTS_TAG in tags else verify.Verdict()
        if verdict.drop_tag:
            # Judged: the tag stays (the next action overwrites it: an idle pass writes
            # nothing), and a new attempt for the same event counts from one again.
            tags = {k: v for k, v in tags.items() if k != ATTEMPTS_TAG}
        return Resource(
            kind=KIND,
            id=name,
            region=region,
            account=self.account,
            arn=arn,
            tags=tags,
            power=power,
            running_since=self.started(tags, None) if power is Power.RUNNING else None,
            unhandled=verdict.unhandled,
        )

    def _checked(self, groups: Groups, tags: Mapping[str, str]) -> verify.Verdict:
        """A start an earlier pass accepted (`providers.verify`), judged from the groups read."""
        state, look = tags.get(self.config.state_tag), partial(nodegroups_seen, groups)
        return verify.check(tags[ATTEMPTS_TAG], state, look, self.config.max_attempts)

    def _manual_nodegroups(self, ref: str, listing: Listing | CastAIError) -> Resource | None:
        """The node-group cluster named `ref` in this region, or None (then: CAST AI's)."""
        if not self.budget.open():
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

    def _nodegroups_act(self, request: ActRequest, action: Action) -> ActionError | None:
        try:
            return scale(
                self.eks(request.resource.region),
                action,
                self._groups[request.resource.id],
                self.key.get,
                budget=self.budget,
            )
        except sealkey.KeyUnavailable as exc:
            return ActionError("KeyUnavailable", f"{exc}; no node group touched")

    def _attempted(self, request: ActRequest, event: str) -> None:
        """An accepted node-group start: its attempt for the event, checked next pass."""
        rid, attempt = request.resource.id, Attempts.after(request.resource.tags, event)
        tags = {ATTEMPTS_TAG: attempt.value()}
        try:
            self.eks(request.resource.region).tag_resource(
                resourceArn=self._groups[rid].arn, tags=tags
            )
        except Exception as exc:
            # The start stands; only its check on the next pass is lost.
            LOG.warning("powercycle: %s: %s not written: %s", rid, ATTEMPTS_TAG, exc)
