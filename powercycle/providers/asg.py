"""Auto Scaling groups: to zero on a stop, back to exactly their sizes on a start.

Discovery: one paginated `DescribeAutoScalingGroups` with the server-side filter
`tag-key=<schedule tag>`. A group of an EKS managed node group (tag `eks:nodegroup-name`)
belongs to its cluster: it is not a resource of this kind.

Stop: the group's `min/desired/max` goes to its tag `powercycle:capacity` first, sealed
(`powercycle:seal:capacity`, `core.tags.sealed`; one `CreateOrUpdateTags`,
`PropagateAtLaunch=False`); only once that tag is written is the group set to MinSize 0 /
DesiredCapacity 0, MaxSize left as it is. A failed tag write (or a key that cannot be read)
is a failed stop and the group is not touched: sizes are never lost. A group with min 0 and
desired 5 comes back as 0/5/max, not 1/1.

Start: only a memory whose seal checks is acted on (else an error naming the tag, nothing
changed). MinSize and DesiredCapacity are set back from it, never above the group's
*current* MaxSize (a tag is a request, never a grant: a start never raises a maximum): a
remembered size above it is clamped to it and the start says so. MaxSize is never sent.
Then the memory and its seal are removed. Its presence means "powercycle holds this group at
zero, and these are the sizes to give back": a memory left over from an older stop never
overrides sizes a person chose since. A group at zero without the tag is stopped, but a
start has nothing to restore and fails saying so (set its size by hand once; the next
stop remembers it).

Power, read from the describe answer (no extra call):
- running: desired > 0, unless it is still starting (instances launching, none in service);
- stopped: desired 0 and no instance left in service, launching or terminating;
- transition: desired 0 with instances not yet terminated (stopping), or starting.
Instances in Standby are left to whoever put them there and do not count.

maxRuntime counts from the start recorded in the state tag (`powercycle:state`).

Updates run `WORKERS` at a time, each group behind its own exception boundary; once the
pass budget is spent, groups not reached are answered `Deferred` and retried next pass.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from powercycle import aws
from powercycle.aws import sealkey
from powercycle.core import verify
from powercycle.core.decide import Power
from powercycle.core.model import NOTED, ActionError, ActRequest, Resource
from powercycle.core.schedule import Action
from powercycle.core.seal import sealed, unsealed
from powercycle.core.tags import CAPACITY as CAPACITY_TAG
from powercycle.core.tags import Attempts, Capacity, TagError, seal_tag
from powercycle.core.verify import ATTEMPTS_TAG
from powercycle.providers.asg_cli import AsgCli
from powercycle.providers.asg_groups import (
    EKS_NODEGROUP_TAG,
    KIND,
    capacity_of,
    describe,
    power_of,
    safe_tags,
    tag_command,
    tag_spec,
    tags_of,
)
from powercycle.providers.base import (
    Kind,
    RegionalProvider,
    error_resource,
    per_region,
    pool_answer,
    started_at,
)
from powercycle.providers.verify import asg_seen
from powercycle.runtime.budget import Budget
from powercycle.runtime.pool import map_guarded
from powercycle.runtime.text import error_line

if TYPE_CHECKING:
    from powercycle.config import Config

LOG = logging.getLogger("powercycle.asg")

TAGS_PER_CALL = 50
ACTIVITIES = 20  # the latest scaling activities read for a group with a pending check
WORKERS = 8


class AsgProvider(AsgCli, RegionalProvider):
    kind = KIND
    service = "autoscaling"

    def __init__(
        self,
        config: Config,
        region: str,
        *,
        client: Any = None,
        budget: Budget | None = None,
        credentials: str = aws.OWN,
        account: str = "",
    ) -> None:
        super().__init__(
            config, region, client=client, budget=budget, credentials=credentials, account=account
        )
        # name -> sizes as discovered: what a stop remembers, what a start compares.
        self._groups: dict[str, Capacity] = {}
        self._remembered: dict[str, Mapping[str, str]] = {}
        self._arns: dict[str, str] = {}
        self._maxima: dict[str, int] = {}
        self._key = sealkey.for_pass(config, budget)

    # --- discovery ---------------------------------------------------------------------

    def discover(self, tag: str) -> Iterator[Resource]:
        for group in describe(self.client, filters=[{"Name": "tag-key", "Values": [tag]}]):
            if EKS_NODEGROUP_TAG in tags_of(group):
                continue  # its cluster's (kind eks, backend nodegroups)
            yield self._resource(group)

    def lookup(self, refs: Sequence[str]) -> dict[str, Resource]:
        """Groups named by an `autoScalingGroups` payload (absent: not in this region)."""
        found: dict[str, Resource] = {}
        for group in describe(self.client, names=refs):
            resource = self._resource(group)
            if EKS_NODEGROUP_TAG in resource.tags:
                resource = error_resource(
                    self,
                    resource.id,
                    resource.tags,
                    "the Auto Scaling group of an EKS node group: schedule its cluster",
                )
            found[resource.id] = resource
        return found

    def _resource(self, group: Mapping[str, Any]) -> Resource:
        name = str(group.get("AutoScalingGroupName", "?"))
        try:
            tags = tags_of(group)
            capacity = capacity_of(group)
            power = power_of(group)
            remembered = tags.get(CAPACITY_TAG)
            if power is Power.STOPPED and remembered is not None:
                Capacity.parse(remembered).sizes()  # a start needs it: unreadable is an error now
            self._groups[name] = capacity
            self._remembered[name] = tags
            self._arns[name] = str(group.get("AutoScalingGroupARN") or "")
            verdict = self._checked(group, tags) if ATTEMPTS_TAG in tags else verify.Verdict()
            if verdict.drop_tag:
                # Judged: the tag stays (the next action overwrites it), and a new attempt
                # for the same event counts from one again.
                tags = {k: v for k, v in tags.items() if k != ATTEMPTS_TAG}
            return Resource(
                kind=KIND,
                id=name,
                region=self.region,
                account=self.account,
                arn=self._arns[name],
                tags=tags,
                power=power,
                running_since=started_at(tags, self._config.state_tag)
                if power is Power.RUNNING
                else None,
                unhandled=verdict.unhandled,
                retry=verdict.retry,
            )
        except Exception as exc:  # one odd group is that group's error, not the region's
            return error_resource(
                self, name, safe_tags(group), f"unreadable group: {error_line(exc)}"
            )

    def _checked(self, group: Mapping[str, Any], tags: Mapping[str, str]) -> verify.Verdict:
        """The action an earlier pass had accepted (`providers.verify`): its scaling
        activities are read only for a group not yet in the event's state."""
        try:
            return self._judged(group, tags)
        except Exception as exc:  # a check that fails is no reason to stop scheduling
            LOG.warning("powercycle: %s not judged: %s", ATTEMPTS_TAG, error_line(exc))
            return verify.Verdict()

    def _judged(self, group: Mapping[str, Any], tags: Mapping[str, str]) -> verify.Verdict:
        raw, state = tags[ATTEMPTS_TAG], tags.get(self._config.state_tag)
        attempts = Attempts.parse(raw)
        seen = None
        if attempts is not None and attempts.event == state:
            name = str(group["AutoScalingGroupName"])
            seen = asg_seen(attempts, group, lambda: self._activities(name))
        return verify.judge(raw, state, seen, max_attempts=self._config.max_attempts)

    def _activities(self, name: str) -> list[Mapping[str, Any]]:
        if not self._budget.open():
            return []
        try:
            answer = self.client.describe_scaling_activities(
                AutoScalingGroupName=name, MaxRecords=ACTIVITIES
            )
        except aws.AWS_ERRORS as exc:  # not judged now: pending, read again next pass
            LOG.warning("powercycle: %s: scaling activities not read: %s", name, exc)
            return []
        return list(answer.get("Activities", ()))

    # --- actions -----------------------------------------------------------------------

    def act(self, action: Action, requests: Sequence[ActRequest]) -> dict[str, ActionError | None]:
        results, allowed = verify.refuse_exhausted(requests, self._config.max_attempts)
        names = list(dict.fromkeys(r.resource.id for r in allowed))
        one = self._stop if action == "stop" else self._start
        results.update(zip(names, self._each(names, one), strict=True))
        taken = {k: None if v is not None and v.code == NOTED else v for k, v in results.items()}
        with_state, alone = verify.accepted(allowed, taken, self._config.state_tag)
        self._attempts.update(with_state)
        for name, attempt in alone.items():
            try:
                self._tag(name, ATTEMPTS_TAG, attempt.value())
            except aws.AWS_ERRORS as exc:
                LOG.warning("powercycle: %s: %s not written: %s", name, ATTEMPTS_TAG, exc)
        return results

    def _stop(self, name: str) -> ActionError | None:
        capacity = self._groups.get(name)
        if capacity is None:
            return ActionError("NotDiscovered", f"{name} was not found in this pass")
        if capacity.desired == 0 and capacity.min == 0:
            return None  # already at zero: the memory it may hold is the one to keep
        arn = self._arns.get(name)
        if not arn:
            return ActionError("NoArn", f"{name}: no group ARN to seal its sizes with")
        try:
            value = {CAPACITY_TAG: capacity.tag_value()}
            memory = sealed(self._key.get(), arn, CAPACITY_TAG, value)
        except sealkey.KeyUnavailable as exc:
            return ActionError("KeyUnavailable", f"{exc}; group left as it is")
        try:
            self.client.create_or_update_tags(
                Tags=[tag_spec(name, k, v) for k, v in memory.items()]
            )
        except aws.AWS_ERRORS as exc:
            return ActionError(
                aws.error_code(exc),
                f"sizes not remembered in {CAPACITY_TAG}, group left as it is: "
                f"{aws.error_message(exc)}",
            )
        self.client.update_auto_scaling_group(
            AutoScalingGroupName=name, MinSize=0, DesiredCapacity=0
        )
        return None

    def _start(self, name: str) -> ActionError | None:
        if name not in self._groups:
            return ActionError("NotDiscovered", f"{name} was not found in this pass")
        tags = self._remembered.get(name) or {}
        if CAPACITY_TAG not in tags:
            return ActionError(
                "NothingRemembered",
                f"no {CAPACITY_TAG} tag: powercycle did not stop this group, so it has no "
                "sizes to restore; set them by hand once",
            )
        try:
            values = unsealed(self._key.get(), self._arns.get(name, ""), CAPACITY_TAG, tags)
            low, desired, _ = Capacity.parse(values[CAPACITY_TAG]).sizes()
        except sealkey.KeyUnavailable as exc:
            return ActionError("KeyUnavailable", f"{exc}; group left as it is")
        except TagError as exc:
            return ActionError("BadCapacityTag", f"{exc}; or set the sizes by hand")
        ceiling = self._groups[name].sizes()[2]
        self.client.update_auto_scaling_group(
            AutoScalingGroupName=name,
            MinSize=min(low, ceiling),
            DesiredCapacity=min(desired, ceiling),
        )
        try:
            self.client.delete_tags(
                Tags=[tag_spec(name, CAPACITY_TAG), tag_spec(name, seal_tag(CAPACITY_TAG))]
            )
        except aws.AWS_ERRORS as exc:
            # The group is restored; the next stop overwrites the tag.
            LOG.warning("powercycle: %s restored, %s kept: %s", name, CAPACITY_TAG, error_line(exc))
        if max(low, desired) > ceiling:
            return ActionError(
                NOTED,
                f"remembered min {low} / desired {desired} clamped to the "
                f"group's current maximum {ceiling}: a start never raises a maximum",
            )
        return None

    def _each(
        self, names: Sequence[str], work: Callable[[str], ActionError | None]
    ) -> list[ActionError | None]:
        answers = map_guarded(names, work, workers=WORKERS, budget=self._budget)
        return [pool_answer(a) for a in answers]  # one group's failure is that group's

    # --- state tags --------------------------------------------------------------------

    def record(self, key: str, values: Mapping[str, str]) -> dict[str, str]:
        errors: dict[str, str] = {}
        items = list(values.items())
        attempts = self._attempts if key == self._config.state_tag else {}
        # Half as many groups per call: each may carry its attempts tag too.
        per_call = TAGS_PER_CALL // 2 if attempts else TAGS_PER_CALL
        for start in range(0, len(items), per_call):
            chunk = items[start : start + per_call]
            specs = [tag_spec(name, key, value) for name, value in chunk]
            specs += [
                tag_spec(name, ATTEMPTS_TAG, attempts.pop(name).value())
                for name, _ in chunk
                if name in attempts
            ]
            try:
                self.client.create_or_update_tags(Tags=specs)
                continue
            except aws.AWS_ERRORS as exc:
                if len(chunk) == 1:
                    errors[chunk[0][0]] = aws.describe_error(exc)
                    continue
            # One group gone since discovery fails the call for all: one by one, then.
            for name, _ in chunk:
                try:
                    self.client.create_or_update_tags(
                        Tags=[spec for spec in specs if spec["ResourceId"] == name]
                    )
                except aws.AWS_ERRORS as exc:
                    errors[name] = aws.describe_error(exc)
        return errors

    def _tag(self, name: str, key: str, value: str) -> None:
        self.client.create_or_update_tags(Tags=[tag_spec(name, key, value)])


providers = per_region(AsgProvider)

DECLARATION = Kind(
    name=KIND,
    payload_key="autoScalingGroups",
    title="Auto Scaling group",
    refs="an Auto Scaling group name or ARN",
    factory=providers,
    arn_pattern=re.compile(
        r"arn:aws[a-z-]*:autoscaling:(?P<region>[a-z0-9-]+):\d*:autoScalingGroup:[^:]*"
        r":autoScalingGroupName/(?P<name>.+)"
    ),
    tag_command=tag_command,
)
