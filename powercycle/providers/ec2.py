"""EC2 instances: discovery, power state, batched start/stop, state tags.

Costs: one paginated `DescribeInstances` with server-side filters, one
`StartInstances`/`StopInstances` per batch of at most 50 ids, one `CreateTags` per group
of instances sharing a tag value.

Auto Scaling group members (tag `aws:autoscaling:groupName`) are never stopped one by one
(the group would replace them). When their group carries the schedule tag too, the group
is the unit (kind `asg`) and its members are not resources of this kind; the members of
other groups are reported as skipped, `autoscaling-group`. That costs one
`DescribeAutoScalingGroups` per 50 groups seen, and nothing when no tagged instance is in
a group.

A refused batch: throttling, capacity and service errors say nothing about any one id, so
the batch is retried as a whole (at most `action_retries` more times, capped back-off
bounded by the pass budget) and then failed as a whole; halving it would multiply the calls
into a service that is already refusing them. Any other error is about some id: the batch
is halved until the refusing ids are alone, so one bad instance never keeps the other 49
of its batch from acting. Once the pass budget is spent, batches not yet sent are
`Deferred`.

Verified actions (`providers.verify`; `ec2_verify`): an accepted start or stop is written
down in the tag `powercycle:attempts`, in the same `CreateTags` call as the state tag, and
judged on the next discovery from what `DescribeInstances` returns (`State`,
`StateReason`, `LaunchTime`): confirmed ones lose the tag (one `DeleteTags` per 1000 of
them), failed ones are handed to the engine `unhandled`. Capacity refusals of a start try
the schedule's `fallbackTypes` (`providers.ec2_fallback`); a fallback's own type is given
back by `tidy`, which the engine calls only for resources it screened (never an excluded,
snoozed or invalid one), before they act. Instances without those tags cost nothing more.
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from powercycle import aws
from powercycle.aws import sealkey
from powercycle.core import verify
from powercycle.core.decide import Power
from powercycle.core.model import DEFERRED, ActionError, ActRequest, Resource
from powercycle.core.schedule import Action
from powercycle.core.verify import ATTEMPTS_TAG
from powercycle.providers.base import Kind, RegionalProvider, per_region
from powercycle.providers.ec2_cli import ID, KIND, Ec2Cli, tag_command
from powercycle.providers.ec2_cli import arn as instance_arn
from powercycle.providers.ec2_fallback import Facts, TypeGuard
from powercycle.providers.ec2_verify import Ec2Verify
from powercycle.runtime.budget import Budget

if TYPE_CHECKING:
    from powercycle.config import Config

LOG = logging.getLogger("powercycle.ec2")

ACTION_BATCH = 50
TAG_BATCH = 1000  # CreateTags accepts up to 1000 resource ids per call
PAGE_SIZE = 1000
ASG_TAG = "aws:autoscaling:groupName"

_POWER = {
    "pending": Power.TRANSITION,
    "running": Power.RUNNING,
    "stopping": Power.TRANSITION,
    "stopped": Power.STOPPED,
}
# Errors about the batch as a whole, not about any id in it: retried as a whole, never
# halved (botocore's standard mode has already retried throttling by the time we see it).
BATCH_WIDE = frozenset(
    {
        "InsufficientInstanceCapacity",
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "ServiceUnavailable",
        "Unavailable",
        "InternalError",
        "InternalFailure",
    }
)
MAX_BACKOFF_S = 10.0
# Errors after which a plain stop cannot do better than the hibernating one did.
_NO_FALLBACK = frozenset(
    {"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed", "IncorrectInstanceState"}
)


class Ec2Provider(Ec2Cli, Ec2Verify, RegionalProvider):
    kind = KIND
    service = "ec2"

    def __init__(
        self,
        config: Config,
        region: str,
        *,
        client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        budget: Budget | None = None,
        credentials: str = aws.OWN,
        account: str = "",
    ) -> None:
        super().__init__(
            config, region, client=client, budget=budget, credentials=credentials, account=account
        )
        self._sleep = sleep
        # Per pass (a provider lives for one pass): what discovery read for fallbacks, the
        # tags judged done, and the attempts of accepted actions not yet written.
        self._facts: dict[str, Facts] = {}
        self._done_tags: dict[str, set[str]] = defaultdict(set)
        self._key = sealkey.for_pass(config, budget)
        self._guard: TypeGuard | None = None

    # --- discovery ---------------------------------------------------------------

    def discover(self, tag: str) -> Iterator[Resource]:
        members: list[Resource] = []
        for resource in self._describe([{"Name": "tag-key", "Values": [tag]}], check=True):
            if ASG_TAG in resource.tags:
                members.append(resource)
            else:
                yield resource
        if not members:
            return  # no Auto Scaling call at all
        scheduled = self._scheduled_groups({r.tags[ASG_TAG] for r in members}, tag)
        # A member of a scheduled group is the group's (kind asg), not an instance to skip.
        yield from (r for r in members if r.tags[ASG_TAG] not in scheduled)

    def _scheduled_groups(self, names: set[str], tag: str) -> set[str]:
        """The groups among `names` that kind `asg` schedules (one describe call per 50)."""
        if "asg" not in self._config.kinds:
            return set()
        from powercycle.providers.asg_groups import scheduled_groups

        try:
            client = aws.client("autoscaling", self.region, credentials=self._credentials)
            return scheduled_groups(client, sorted(names), tag)
        except Exception as exc:  # then every member is skipped, as before: nothing is lost
            LOG.warning("powercycle: %s: Auto Scaling groups not read: %s", self, exc)
            return set()

    def lookup(self, refs: Sequence[str]) -> dict[str, Resource]:
        if not refs:
            return {}
        # A filter, not InstanceIds=: an unknown id then means "not here", not a failed call.
        found = self._describe([{"Name": "instance-id", "Values": list(refs)}])
        return {r.id: r for r in found}

    def _describe(
        self, filters: list[dict[str, Any]], *, check: bool = False
    ) -> Iterator[Resource]:
        paginator = self.client.get_paginator("describe_instances")
        pages = paginator.paginate(
            Filters=[
                *filters,
                {"Name": "instance-state-name", "Values": list(_POWER)},
            ],
            PaginationConfig={"PageSize": PAGE_SIZE},
        )
        for page in pages:
            for reservation in page.get("Reservations", ()):
                owner = str(reservation.get("OwnerId") or self.account)
                for instance in reservation.get("Instances", ()):
                    resource = self._resource(instance, owner)
                    if check:
                        resource = self._checked(instance, resource, resource.arn)
                    yield resource

    def _resource(self, instance: Mapping[str, Any], owner: str = "") -> Resource:
        instance_id = str(instance.get("InstanceId", "?"))
        arn = instance_arn(self.region, owner or self.account, instance_id)
        try:
            tags = {t["Key"]: t.get("Value", "") for t in instance.get("Tags", ())}
            state = instance.get("State", {}).get("Name", "")
            power = _POWER.get(state)
            return Resource(
                kind=KIND,
                id=instance_id,
                region=self.region,
                account=self.account,
                arn=arn,
                tags=tags,
                power=power,
                running_since=instance.get("LaunchTime") if power is Power.RUNNING else None,
                skip="autoscaling-group" if ASG_TAG in tags else None,
                error=None if power is not None else f"unexpected instance state {state!r}",
            )
        except Exception as exc:  # one odd answer is that instance's error, not the region's
            return Resource(
                kind=KIND,
                id=instance_id,
                region=self.region,
                account=self.account,
                arn=arn,
                tags={},
                power=None,
                error=f"unreadable description: {type(exc).__name__}: {exc}",
            )

    # --- actions -----------------------------------------------------------------

    def act(self, action: Action, requests: Sequence[ActRequest]) -> dict[str, ActionError | None]:
        results, allowed = verify.refuse_exhausted(requests, self._config.max_attempts)
        results.update(self._act(action, allowed))
        if action == "start":
            self._fall_back(allowed, results)
        self._note_attempts(allowed, results)
        return results

    def _act(self, action: Action, requests: Sequence[ActRequest]) -> dict[str, ActionError | None]:
        if action == "start":
            ids = [r.resource.id for r in requests]
            return self._batches(ids, self._start)

        hibernate = [r.resource.id for r in requests if r.schedule and r.schedule.hibernate]
        plain = [r.resource.id for r in requests if not (r.schedule and r.schedule.hibernate)]
        results = self._batches(plain, self._stop)
        tried = self._batches(hibernate, lambda batch: self._stop(batch, hibernate=True))
        refused = [i for i, err in tried.items() if err and err.code not in _NO_FALLBACK]
        # Where EC2 refuses to hibernate (not enabled, unsupported type), stop plainly.
        tried.update(self._batches(refused, self._stop))
        results.update(tried)
        return results

    def _stop(self, batch: list[str], *, hibernate: bool = False) -> None:
        if hibernate:
            self.client.stop_instances(InstanceIds=batch, Hibernate=True)
        else:
            self.client.stop_instances(InstanceIds=batch)

    def _batches(
        self, ids: Sequence[str], call: Callable[[list[str]], object]
    ) -> dict[str, ActionError | None]:
        results: dict[str, ActionError | None] = {}
        for chunk in _chunks(ids, ACTION_BATCH):
            if not self._budget.open():
                results.update(dict.fromkeys(chunk, ActionError(DEFERRED, "pass budget spent")))
                continue
            self._attempt(chunk, call, self._config.action_retries, results)
        return results

    def _attempt(
        self,
        batch: list[str],
        call: Callable[[list[str]], object],
        retries: int,
        results: dict[str, ActionError | None],
    ) -> None:
        delay = self._config.retry_delay_s
        for attempt in range(self._config.action_retries + 1):
            try:
                call(batch)
            except aws.AWS_ERRORS as exc:
                error = aws.action_error(exc)
                if error.code not in BATCH_WIDE:
                    break
                wait = min(delay * 2**attempt, MAX_BACKOFF_S)
                if attempt >= retries or self._budget.bound(wait) < wait:
                    # Throttled or out of capacity as a whole: the whole batch fails.
                    results.update(dict.fromkeys(batch, error))
                    return
                self._sleep(wait)
            else:
                results.update(dict.fromkeys(batch))
                return
        if len(batch) == 1:
            results[batch[0]] = error
            return
        # Halve until the refusing ids are alone: one bad id in a batch of 50 costs about
        # 2 log2(50) = 12 extra calls, a batch refused as a whole at most 2n - 1. The
        # halves get no in-run retries, so a persistent failure is no retry storm.
        middle = len(batch) // 2
        self._attempt(batch[:middle], call, 0, results)
        self._attempt(batch[middle:], call, 0, results)

    # --- state tags --------------------------------------------------------------

    def record(self, key: str, values: Mapping[str, str]) -> dict[str, str]:
        # The attempts of this pass's accepted actions ride in the same call as the state
        # tag: one CreateTags per group of instances sharing both values.
        attempts = self._attempts if key == self._config.state_tag else {}
        by_value: dict[tuple[tuple[str, str], ...], list[str]] = defaultdict(list)
        for resource_id, value in values.items():
            tags = [(key, value)]
            if resource_id in attempts:
                tags.append((ATTEMPTS_TAG, attempts.pop(resource_id).value()))
            by_value[tuple(tags)].append(resource_id)
        return self._create_tags(by_value)

    def _create_tags(
        self, by_value: Mapping[tuple[tuple[str, str], ...], list[str]]
    ) -> dict[str, str]:
        errors: dict[str, str] = {}
        for tags, ids in by_value.items():
            for chunk in _chunks(ids, TAG_BATCH):
                try:
                    self.client.create_tags(
                        Resources=chunk, Tags=[{"Key": k, "Value": v} for k, v in tags]
                    )
                except aws.AWS_ERRORS as exc:
                    errors.update(dict.fromkeys(chunk, aws.describe_error(exc)))
        return errors

    def _remove_done_tags(self) -> None:
        """One DeleteTags per set of keys (and 1000 ids): the tags judged done."""
        done, self._done_tags = self._done_tags, defaultdict(set)
        if self._config.dry_run or not done:
            return
        by_keys: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for resource_id, names in done.items():
            by_keys[tuple(sorted(names))].append(resource_id)
        for keys, ids in by_keys.items():
            for chunk in _chunks(ids, TAG_BATCH):
                try:
                    self.client.delete_tags(Resources=chunk, Tags=[{"Key": k} for k in keys])
                except aws.AWS_ERRORS as exc:
                    # Harmless: judged again (and found done again) on the next pass.
                    LOG.warning("powercycle: %s not removed: %s", keys, aws.describe_error(exc))

    def _start(self, batch: list[str]) -> None:
        self.client.start_instances(InstanceIds=batch)


def _chunks(items: Sequence[str] | Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


providers = per_region(Ec2Provider)

DECLARATION = Kind(
    name=KIND,
    payload_key="instanceIds",
    title="EC2 instance",
    refs="an EC2 instance id or Name tag",
    factory=providers,
    ref_pattern=ID,
    arn_pattern=re.compile(
        r"arn:aws[a-z-]*:ec2:(?P<region>[a-z0-9-]+):\d*:instance/(?P<name>i-[0-9a-f]+)"
    ),
    tag_command=tag_command,
)
