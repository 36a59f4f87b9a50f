"""ECS services: to zero on a stop, back to exactly their sizes on a start, with Application
Auto Scaling kept from undoing either.

Discovery per region: the Resource Groups Tagging API names the services carrying the
schedule tag (GetResources for `ecs:service`, 100 a page), then DescribeServices reads them
with their tags, ten at a time per cluster: ceil(tagged/100) + per cluster ceil(tagged/10)
calls, whatever the number of untagged services and clusters (ListClusters, ListServices
and DescribeServices of every service cost 1 + per cluster ceil(n/100) + ceil(n/10): 281
calls against 13 for 10 clusters of 250 services with one in 25 scheduled; numbers in
docs/ecs.md, from bench/bench_ecs_discovery.py). ECS's own tags in the answer decide (the
tagging API may lag a removed tag by a moment). A `DAEMON` service runs one task per
container instance and has no count to set: it is refused with that reason, nothing called.

Stop: the service's scaling target (`ecs:service:DesiredCount`) is read (one batched
DescribeScalableTargets per act), its `min/desired/max` (`-` for min and max without a
target) goes to the sealed tag `powercycle:capacity` first; only once it is written does
the target's MinCapacity go to 0 (MaxCapacity is not sent: kept) and then desiredCount to 0,
so scaling cannot put tasks back. A failed tag write is a failed stop, nothing touched.

Start: only a memory whose seal checks is acted on. The target's minimum is set back first
(scaling then raises the count to it), then desiredCount; neither above the target's
*current* maximum (a start never raises a maximum: clamped, and the start says so). Then the
memory and its seal are removed. A service at zero without a memory is stopped, but a start
has nothing to restore and fails saying so, before any call.

Power, from the describe answer: desired > 0 with tasks running is running, desired 0 with
no task running or pending is stopped, anything else in transition.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from powercycle import aws
from powercycle.aws import sealkey
from powercycle.core import verify
from powercycle.core.decide import Power
from powercycle.core.model import NOTED, ActionError, ActRequest, Resource
from powercycle.core.schedule import Action
from powercycle.core.seal import sealed, unsealed
from powercycle.core.tags import ATTEMPTS, CAPACITY, Capacity, TagError, seal_tag
from powercycle.providers.base import (
    Kind,
    RegionalProvider,
    error_resource,
    per_region,
    pool_answer,
    started_at,
)
from powercycle.providers.ecs_cli import EcsCli
from powercycle.providers.ecs_services import (
    ARN,
    KIND,
    Target,
    describe,
    power_of,
    safe_tags,
    scalable_targets,
    service_id,
    set_minimum,
    split_ref,
    tag_command,
    tagged_services,
    tags_of,
)
from powercycle.providers.verify import ecs_seen
from powercycle.runtime.budget import Budget
from powercycle.runtime.pool import map_guarded
from powercycle.runtime.text import error_line, first_line

if TYPE_CHECKING:
    from powercycle.config import Config

LOG = logging.getLogger("powercycle.ecs")

WORKERS = 8


class EcsProvider(EcsCli, RegionalProvider):
    kind = KIND
    service = "ecs"

    def __init__(
        self,
        config: Config,
        region: str,
        *,
        client: Any = None,
        scaling: Any = None,
        tagging: Any = None,
        budget: Budget | None = None,
        credentials: str = aws.OWN,
        account: str = "",
    ) -> None:
        super().__init__(
            config, region, client=client, budget=budget, credentials=credentials, account=account
        )
        self._scaling = scaling
        self._tagging = tagging
        # cluster/service -> as discovered: what a stop remembers, what a start compares.
        self._services: dict[str, Mapping[str, Any]] = {}
        self._arns: dict[str, str] = {}
        self._targets: dict[str, Target | None] = {}
        self._key = sealkey.for_pass(config, budget)

    @property
    def tagging(self) -> Any:
        if self._tagging is None:
            self._tagging = aws.client(
                "resourcegroupstaggingapi", self.region, credentials=self._credentials
            )
        return self._tagging

    @property
    def scaling(self) -> Any:
        if self._scaling is None:
            self._scaling = aws.client(
                "application-autoscaling", self.region, credentials=self._credentials
            )
        return self._scaling

    # --- discovery ---------------------------------------------------------------------

    def discover(self, tag: str) -> Iterator[Resource]:
        for cluster, arns in tagged_services(self.tagging, tag).items():
            for service in describe(self.client, cluster, arns):
                # The tagging API lags a removed tag by a moment: ECS's own tags decide.
                if tag in safe_tags(service):
                    yield self._resource(service)

    def lookup(self, refs: Sequence[str]) -> dict[str, Resource]:
        """Services named `cluster/service` by an `ecsServices` payload."""
        return {sid: self._resource(s) for sid, s in self.described(refs).items()}

    def _resource(self, service: Mapping[str, Any]) -> Resource:
        sid = service_id(service)
        try:
            tags = tags_of(service)
            if service.get("schedulingStrategy") == "DAEMON":
                return error_resource(
                    self,
                    sid,
                    tags,
                    "a DAEMON service runs one task on every container instance and has no "
                    "desired count to set: it cannot be stopped by count",
                )
            if service.get("status", "ACTIVE") != "ACTIVE":
                return error_resource(self, sid, tags, f"the service is {service.get('status')}")
            power = power_of(service)
            remembered = tags.get(CAPACITY)
            if power is Power.STOPPED and remembered is not None:
                Capacity.parse(remembered)  # a start needs it: unreadable is an error now
            self._services[sid] = service
            self._arns[sid] = str(service.get("serviceArn") or "")
            verdict = (
                verify.check(
                    tags[ATTEMPTS],
                    tags.get(self._config.state_tag),
                    lambda attempts: ecs_seen(attempts, service),
                    self._config.max_attempts,
                )
                if ATTEMPTS in tags
                else verify.Verdict()
            )
            if verdict.drop_tag:
                tags = {k: v for k, v in tags.items() if k != ATTEMPTS}
            return Resource(
                kind=KIND,
                id=sid,
                region=self.region,
                account=self.account,
                tags=tags,
                power=power,
                running_since=started_at(tags, self._config.state_tag)
                if power is Power.RUNNING
                else None,
                unhandled=verdict.unhandled,
                retry=verdict.retry,
            )
        except Exception as exc:  # one odd service is that service's error, not the region's
            return error_resource(
                self, sid, safe_tags(service), f"unreadable service: {error_line(exc)}"
            )

    # --- actions -----------------------------------------------------------------------

    def act(self, action: Action, requests: Sequence[ActRequest]) -> dict[str, ActionError | None]:
        results, allowed = verify.refuse_exhausted(requests, self._config.max_attempts)
        ids = list(dict.fromkeys(r.resource.id for r in allowed))
        # A start without a memory fails before any call; the others need their targets.
        needs = [i for i in ids if action == "stop" or CAPACITY in self._tags(i)]
        try:
            found = scalable_targets(self.scaling, needs) if needs else {}
            self._targets.update({i: found.get(i) for i in needs})
        except aws.AWS_ERRORS as exc:
            error = ActionError(
                aws.error_code(exc),
                f"scaling targets not read, service left as it is: {aws.error_message(exc)}",
            )
            results.update(dict.fromkeys(ids, error))
            return results
        one = self._stop if action == "stop" else self._start
        answers = map_guarded(ids, one, workers=WORKERS, budget=self._budget)
        results.update(zip(ids, (pool_answer(a) for a in answers), strict=True))
        taken = {k: None if v is not None and v.code == NOTED else v for k, v in results.items()}
        with_state, alone = verify.accepted(allowed, taken, self._config.state_tag)
        self._attempts.update(with_state)
        for sid, attempt in alone.items():
            try:
                self._tag(sid, {ATTEMPTS: attempt.value()})
            except aws.AWS_ERRORS as exc:
                LOG.warning("powercycle: %s: %s not written: %s", sid, ATTEMPTS, exc)
        return results

    def _tags(self, sid: str) -> Mapping[str, str]:
        return tags_of(self._services.get(sid) or {})

    def _stop(self, sid: str) -> ActionError | None:
        service = self._services.get(sid)
        if service is None:
            return ActionError("NotDiscovered", f"{sid} was not found in this pass")
        target = self._targets.get(sid)
        desired = int(service["desiredCount"])
        if desired == 0 and (target is None or target.min == 0):
            return None  # already at zero: the memory it may hold is the one to keep
        if target is not None:  # where scaling keeps the count anyway
            desired = min(max(desired, target.min), target.max)
        capacity = (
            Capacity(target.min, desired, target.max) if target else Capacity(None, desired, None)
        )
        arn = self._arns.get(sid)
        if not arn:
            return ActionError("NoArn", f"{sid}: no service ARN to seal its sizes with")
        try:
            memory = sealed(self._key.get(), arn, CAPACITY, {CAPACITY: capacity.tag_value()})
        except sealkey.KeyUnavailable as exc:
            return ActionError("KeyUnavailable", f"{exc}; service left as it is")
        try:
            self._tag(sid, memory)
        except aws.AWS_ERRORS as exc:
            return ActionError(
                aws.error_code(exc),
                f"sizes not remembered in {CAPACITY}, service left as it is: "
                f"{aws.error_message(exc)}",
            )
        lowered = target.min if target is not None and target.min > 0 else 0
        if lowered:
            set_minimum(self.scaling, sid, 0)
        try:
            self._update(sid, 0)
        except aws.AWS_ERRORS as exc:
            if not lowered:
                raise
            # Set the minimum back: the retry then remembers the service as it was.
            try:
                set_minimum(self.scaling, sid, lowered)
            except aws.AWS_ERRORS as undo:
                return ActionError(
                    aws.error_code(exc),
                    f"{first_line(aws.error_message(exc))}; its scaling minimum stays 0, not "
                    f"set back to {lowered}: {aws.describe_error(undo)}",
                )
            raise
        return None

    def _start(self, sid: str) -> ActionError | None:
        if sid not in self._services:
            return ActionError("NotDiscovered", f"{sid} was not found in this pass")
        tags = self._tags(sid)
        if CAPACITY not in tags:
            return ActionError(
                "NothingRemembered",
                f"no {CAPACITY} tag: powercycle did not stop this service, so it has no "
                "sizes to restore; set its desired count by hand once",
            )
        try:
            values = unsealed(self._key.get(), self._arns.get(sid, ""), CAPACITY, tags)
            memory = Capacity.parse(values[CAPACITY])
        except sealkey.KeyUnavailable as exc:
            return ActionError("KeyUnavailable", f"{exc}; service left as it is")
        except TagError as exc:
            return ActionError("BadCapacityTag", f"{exc}; or set the desired count by hand")
        target = self._targets.get(sid)
        ceiling = target.max if target is not None else None
        desired = memory.desired if ceiling is None else min(memory.desired, ceiling)
        notes = []
        if target is not None and memory.min is not None:
            low = min(memory.min, target.max)
            if low != target.min:
                set_minimum(self.scaling, sid, low)
        elif memory.min is not None:
            notes.append(f"its scaling target is gone: minimum {memory.min} not restored")
        self._update(sid, desired)
        try:
            self.client.untag_resource(
                resourceArn=self._arns[sid], tagKeys=[CAPACITY, seal_tag(CAPACITY)]
            )
        except aws.AWS_ERRORS as exc:  # restored; the next stop overwrites the tag
            LOG.warning("powercycle: %s restored, %s kept: %s", sid, CAPACITY, error_line(exc))
        if ceiling is not None and max(memory.min or 0, memory.desired) > ceiling:
            notes.append(
                f"remembered min {memory.min} / desired {memory.desired} clamped to the "
                f"current scaling maximum {ceiling}: a start never raises a maximum"
            )
        return ActionError(NOTED, "; ".join(notes)) if notes else None

    def _update(self, sid: str, desired: int) -> None:
        cluster, service = split_ref(sid) or ("", "")
        self.client.update_service(cluster=cluster, service=service, desiredCount=desired)

    # --- state tags --------------------------------------------------------------------

    def record(self, key: str, values: Mapping[str, str]) -> dict[str, str]:
        """One TagResource per service (ECS tags one resource a call), with its attempts."""
        errors: dict[str, str] = {}
        attempts = self._attempts if key == self._config.state_tag else {}
        for sid, value in values.items():
            tags = {key: value}
            if sid in attempts:
                tags[ATTEMPTS] = attempts.pop(sid).value()
            try:
                self._tag(sid, tags)
            except aws.AWS_ERRORS as exc:
                errors[sid] = aws.describe_error(exc)
            except KeyError:
                errors[sid] = f"{sid} was not found in this pass"
        return errors

    def _tag(self, sid: str, tags: Mapping[str, str]) -> None:
        self.client.tag_resource(
            resourceArn=self._arns[sid], tags=[{"key": k, "value": v} for k, v in tags.items()]
        )


providers = per_region(EcsProvider)

DECLARATION = Kind(
    name=KIND,
    payload_key="ecsServices",
    title="ECS service",
    refs="an ECS service as cluster/service or its ARN",
    factory=providers,
    arn_pattern=ARN,
    tag_command=tag_command,
    json_tags=False,
)
