"""The provider of kinds `rds` and `rds-cluster`: one class, told by a `Spec` which API
names a DB instance or a DB cluster goes by.

Costs: discovery is one paginated describe per region (`DescribeDBInstances` or
`DescribeDBClusters`), its tags read from the answer's `TagList` (no call per database);
`DescribeBlueGreenDeployments` once, only when a tagged database replicates (a blue/green
deployment's green side is a replica of its blue side); `DescribeEvents` only for a
database found running after a handled stop (the 7-day restart, `rds_common.auto_started`).
A stop or start is one call per database (the API takes one), `WORKERS` at a time; the
state tag one `AddTagsToResource` per database acted on, the attempts tag in the same call.

Verified actions (`core.verify`): an accepted action is written down in
`powercycle:attempts` and judged on the next discovery from the status (`rds_common.seen`):
a start that ends back in `stopped` or in an error status is reported with RDS's status and
retried within `POWERCYCLE_MAX_ATTEMPTS`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from powercycle import aws
from powercycle.core import verify
from powercycle.core.decide import Power, StateTagError, parse_state
from powercycle.core.model import ActionError, ActRequest, Resource
from powercycle.core.schedule import Action
from powercycle.core.verify import ATTEMPTS_TAG
from powercycle.providers.base import Found, RegionalProvider, error_resource, pool_answer
from powercycle.providers.rds_common import (
    Refusal,
    StatusError,
    auto_started,
    blue_green_members,
    blue_green_refusal,
    describe,
    power_of,
    safe_tags,
    seen,
    tags_of,
)
from powercycle.runtime.budget import Budget
from powercycle.runtime.pool import map_guarded
from powercycle.runtime.text import error_line

if TYPE_CHECKING:
    from powercycle.config import Config

LOG = logging.getLogger("powercycle.rds")

WORKERS = 8


@dataclass(frozen=True)
class Spec:
    """What a DB instance or a DB cluster is called in the RDS API."""

    kind: str  # `rds`
    title: str  # `DB instance`, in messages
    source_type: str  # `db-instance`: DescribeEvents' SourceType, the CLI's noun
    describe: str  # `describe_db_instances`
    key: str  # `DBInstances`: the list in its answer
    id_key: str  # `DBInstanceIdentifier`: its id in the answer and in Stop/Start calls
    arn_key: str  # `DBInstanceArn`
    status_key: str  # `DBInstanceStatus`
    filter_name: str  # `db-instance-id`
    stop: str  # `stop_db_instance`
    start: str  # `start_db_instance`
    refusal: Callable[[Mapping[str, Any]], Refusal | None]
    # The cluster a member instance belongs to (None for clusters): left to its cluster.
    member_of: Callable[[Mapping[str, Any]], str | None]


class RdsProvider(RegionalProvider):
    """One kind (`Spec`) in one account and region, for one pass."""

    service = "rds"

    def __init__(
        self,
        spec: Spec,
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
        self.spec = spec
        self.kind = spec.kind
        self._arns: dict[str, str] = {}  # id -> ARN: what tags are written on
        # Refused for replicating: maybe a blue/green deployment's (`_blue_green`).
        self._replicating: set[str] = set()

    def __repr__(self) -> str:
        return f"RdsProvider({self.kind}, {self.account or 'own'}, {self.region})"

    # --- discovery ---------------------------------------------------------------------

    def discover(self, tag: str) -> Iterator[Resource]:
        found = []
        for answer in self._describe():
            tags = safe_tags(answer)
            if tag not in tags or self.spec.member_of(answer):
                continue  # not scheduled, or its cluster's (kind rds-cluster)
            found.append(self._resource(answer))
        found = self._blue_green(found)
        yield from (self._restarted(r) for r in found)

    def lookup(self, refs: Sequence[str]) -> dict[str, Resource]:
        """Databases named by a manual payload (identifiers or ARNs; absent: not here)."""
        found: dict[str, Resource] = {}
        for answer in self._describe(refs):
            resource = self._resource(answer)
            cluster = self.spec.member_of(answer)
            if cluster:
                resource = error_resource(
                    self,
                    resource.id,
                    resource.tags,
                    f"a member of DB cluster {cluster}: start or stop its cluster",
                )
            found[resource.id] = resource
        return {r.id: r for r in self._blue_green(list(found.values()))}

    def _describe(self, refs: Sequence[str] | None = None) -> Iterator[Mapping[str, Any]]:
        spec = self.spec
        return describe(self.client, spec.describe, spec.key, spec.filter_name, refs)

    def _resource(self, answer: Mapping[str, Any]) -> Resource:
        rid = str(answer.get(self.spec.id_key, "?"))
        try:
            tags = tags_of(answer)
            self._arns[rid] = str(answer.get(self.spec.arn_key) or "")
            status = str(answer.get(self.spec.status_key, ""))
            refusal = self.spec.refusal(answer)
            if refusal is not None:
                if refusal.replication:
                    self._replicating.add(rid)
                return self._make(rid, tags, _power_or_none(status), skip=refusal.reason)
            verdict = verify.Verdict()
            if ATTEMPTS_TAG in tags:
                verdict = self._checked(tags, status)
                if verdict.drop_tag:
                    tags = {k: v for k, v in tags.items() if k != ATTEMPTS_TAG}
            try:
                power = power_of(status)
            except StatusError as exc:
                if not (verdict.retry and tags[ATTEMPTS_TAG].startswith("start@")):
                    return error_resource(self, rid, tags, verdict.unhandled or str(exc))
                # A start that ended in an error status: not running, so tried again
                # (RDS's own way out of `incompatible-network`, for one).
                power = Power.STOPPED
            return self._make(rid, tags, power, unhandled=verdict.unhandled, retry=verdict.retry)
        except Exception as exc:  # one odd database is its error, not the region's
            return error_resource(self, rid, safe_tags(answer), f"unreadable: {error_line(exc)}")

    def _make(
        self,
        rid: str,
        tags: Mapping[str, str],
        power: Power | None,
        *,
        skip: str | None = None,
        unhandled: str | None = None,
        retry: bool = False,
    ) -> Resource:
        return Resource(
            kind=self.kind,
            id=rid,
            region=self.region,
            account=self.account,
            tags=tags,
            power=power,
            skip=skip,
            unhandled=unhandled,
            retry=retry,
        )

    def _checked(self, tags: Mapping[str, str], status: str) -> verify.Verdict:
        try:
            return verify.check(
                tags[ATTEMPTS_TAG],
                tags.get(self._config.state_tag),
                lambda attempts: seen(attempts, status),
                self._config.max_attempts,
            )
        except Exception as exc:  # a check that fails is no reason to stop scheduling
            LOG.warning("powercycle: %s not judged: %s", ATTEMPTS_TAG, error_line(exc))
            return verify.Verdict()

    def _blue_green(self, found: list[Resource]) -> list[Resource]:
        """Blue/green deployment members, refused as such: one
        `DescribeBlueGreenDeployments` per pass, only when a tagged database is running (a
        stop may be due) or replicates (a green side is a replica of its blue side)."""
        maybe = [
            r
            for r in found
            if r.id in self._replicating or (r.power is Power.RUNNING and not r.skip)
        ]
        if not maybe or not self._budget.open():
            return found
        try:
            pages = self.client.get_paginator("describe_blue_green_deployments").paginate()
            members = blue_green_members(
                d for page in pages for d in page.get("BlueGreenDeployments", ())
            )
        except Exception as exc:  # then it is refused as the replica it also is
            LOG.warning("powercycle: %s: blue/green deployments not read: %s", self, exc)
            return found
        return [
            replace(r, skip=blue_green_refusal(members[self._arns[r.id]]))
            if self._arns.get(r.id) in members
            else r
            for r in found
        ]

    def _restarted(self, resource: Resource) -> Resource:
        """A database found running after a handled stop: did RDS start it by itself (its
        7-day rule)? Asked of RDS's events, for such databases only."""
        if resource.power is not Power.RUNNING or resource.skip or not self._budget.open():
            return resource
        try:
            state = parse_state(resource.tags.get(self._config.state_tag))
        except StateTagError:
            return resource  # the engine reports the bad tag
        if state is None or state.action != "stop":
            return resource
        try:
            when = auto_started(self.client, self.spec.source_type, resource.id, state.time)
        except Exception as exc:  # not judged: a person's start is the safe reading
            LOG.warning("powercycle: %s: events not read: %s", resource.id, error_line(exc))
            return resource
        return replace(resource, auto_restarted=when) if when is not None else resource

    # --- actions -----------------------------------------------------------------------

    def act(self, action: Action, requests: Sequence[ActRequest]) -> dict[str, ActionError | None]:
        results, allowed = verify.refuse_exhausted(requests, self._config.max_attempts)
        ids = list(dict.fromkeys(r.resource.id for r in allowed))
        call = getattr(self.client, self.spec.stop if action == "stop" else self.spec.start)

        def one(rid: str) -> None:
            call(**{self.spec.id_key: rid})

        answers = map_guarded(ids, one, workers=WORKERS, budget=self._budget)
        results.update(zip(ids, (pool_answer(a) for a in answers), strict=True))
        with_state, alone = verify.accepted(allowed, results, self._config.state_tag)
        self._attempts.update(with_state)
        for rid, attempt in alone.items():
            error = self._add_tags(rid, {ATTEMPTS_TAG: attempt.value()})
            if error:
                LOG.warning("powercycle: %s: %s not written: %s", rid, ATTEMPTS_TAG, error)
        return results

    # --- tags --------------------------------------------------------------------------

    def record(self, key: str, values: Mapping[str, str]) -> dict[str, str]:
        """One `AddTagsToResource` per database (the API tags one resource per call), its
        attempts tag in the same call."""
        attempts = self._attempts if key == self._config.state_tag else {}
        errors: dict[str, str] = {}
        for rid, value in values.items():
            tags = {key: value}
            if rid in attempts:
                tags[ATTEMPTS_TAG] = attempts.pop(rid).value()
            error = self._add_tags(rid, tags)
            if error:
                errors[rid] = error
        return errors

    def _add_tags(self, rid: str, tags: Mapping[str, str]) -> str | None:
        arn = self._arns.get(rid)
        if not arn:
            return f"{rid}: no ARN found in this pass to tag"
        try:
            self.client.add_tags_to_resource(
                ResourceName=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
            )
        except aws.AWS_ERRORS as exc:
            return aws.describe_error(exc)
        return None

    # --- the CLI (`base.Tagger`) ---------------------------------------------------------

    def find(self, refs: Sequence[str]) -> dict[str, list[Found]]:
        found: dict[str, list[Found]] = {}
        for answer in self._describe(refs):
            rid = str(answer[self.spec.id_key])
            arn = str(answer.get(self.spec.arn_key) or "")
            self._arns[rid] = arn
            found.setdefault(rid, []).append(
                Found(self.kind, rid, self.region, self.account, arn, tags_of(answer))
            )
        return found

    def remove_tags(self, found: Found, keys: Sequence[str]) -> None:
        self.client.remove_tags_from_resource(ResourceName=found.arn, TagKeys=list(keys))


def _power_or_none(status: str) -> Power | None:
    try:
        return power_of(status)
    except StatusError:
        return None
