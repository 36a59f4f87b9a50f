"""EC2 instances' verified actions (`providers.verify`) and fallback types
(`providers.ec2_fallback`): an accepted start or stop written down in
`powercycle:attempts` and judged on the next discovery, a start refused for capacity tried
on the schedule's fallback types, a fallback's own type given back by `tidy`."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from powercycle.core import verify
from powercycle.core.decide import Power
from powercycle.core.model import ActionError, ActRequest, Resource
from powercycle.core.tags import Attempts
from powercycle.core.verify import ATTEMPTS_TAG, judge
from powercycle.providers.ec2_fallback import Facts, TypeGuard, facts, fall_back, give_back_all
from powercycle.providers.verify import ec2_seen

if TYPE_CHECKING:
    from powercycle.aws.sealkey import SealKey
    from powercycle.config import Config
    from powercycle.runtime.budget import Budget

LOG = logging.getLogger("powercycle.ec2")


class Ec2Verify:
    """What `Ec2Provider` does to verify its actions and to fall back on other types."""

    _config: Config
    _budget: Budget
    _key: SealKey
    # Per pass: what discovery read for fallbacks, the tags judged done, and the attempts
    # of accepted actions not yet written.
    _facts: dict[str, Facts]
    _done_tags: dict[str, set[str]]
    _attempts: dict[str, Attempts]
    _guard: TypeGuard | None

    if TYPE_CHECKING:

        @property
        def client(self) -> Any: ...

        def _create_tags(
            self, by_value: Mapping[tuple[tuple[str, str], ...], list[str]]
        ) -> dict[str, str]: ...

        def _remove_done_tags(self) -> None: ...

        def _attempt(
            self,
            batch: list[str],
            call: Callable[[list[str]], object],
            retries: int,
            results: dict[str, ActionError | None],
        ) -> None: ...

        def _start(self, batch: list[str]) -> None: ...

    def _checked(self, instance: Mapping[str, Any], resource: Resource, arn: str) -> Resource:
        try:
            return self._judged(instance, resource, arn)
        except Exception as exc:  # a check that fails is no reason to stop scheduling
            LOG.warning("powercycle: %s not checked: %s: %s", resource.id, type(exc).__name__, exc)
            return resource

    def _judged(self, instance: Mapping[str, Any], resource: Resource, arn: str) -> Resource:
        """Judge the action an earlier pass had accepted (no write: `tidy` writes).

        Only instances carrying `powercycle:attempts` cost anything.
        """
        if resource.power is None or resource.skip:
            return resource
        tags = dict(resource.tags)
        self._facts[resource.id] = facts(instance, tags, arn)
        raw = tags.get(ATTEMPTS_TAG)
        if raw is None:
            return resource
        state = tags.get(self._config.state_tag)
        attempts = Attempts.parse(raw)
        seen = ec2_seen(attempts, instance) if attempts and attempts.event == state else None
        verdict = judge(raw, state, seen, max_attempts=self._config.max_attempts)
        if verdict.drop_tag:
            # Judged: the tag stays (the next action overwrites it: an idle pass writes
            # nothing), and a new attempt for the same event counts from one again.
            del tags[ATTEMPTS_TAG]
        return replace(resource, tags=tags, unhandled=verdict.unhandled, retry=verdict.retry)

    def tidy(self, resources: Sequence[Resource]) -> dict[str, str]:
        """Give screened, stopped instances their own type back (`ec2_fallback.give_back`),
        before anything acts on them. The engine calls it only for resources it screened:
        never an excluded, snoozed or invalid one. Returns an error per id whose memory is
        not acted on (its seal does not check, or the key cannot be read)."""
        stopped = [r.id for r in resources if r.power is Power.STOPPED]
        errors, done = give_back_all(
            self.client,
            stopped,
            self._facts,
            self._key.get,
            budget=self._budget,
            dry_run=self._config.dry_run,
        )
        for resource_id, keys in done.items():
            self._done_tags[resource_id].update(keys)
        self._remove_done_tags()
        return errors

    def _note_attempts(
        self, requests: Sequence[ActRequest], results: Mapping[str, ActionError | None]
    ) -> None:
        with_state, alone = verify.accepted(requests, results, self._config.state_tag)
        self._attempts.update(with_state)
        by_value: dict[tuple[tuple[str, str], ...], list[str]] = defaultdict(list)
        for resource_id, attempt in alone.items():
            by_value[((ATTEMPTS_TAG, attempt.value()),)].append(resource_id)
        for resource_id, error in self._create_tags(by_value).items():
            LOG.warning("powercycle: %s: %s not written: %s", resource_id, ATTEMPTS_TAG, error)

    def _fall_back(
        self, requests: Sequence[ActRequest], results: dict[str, ActionError | None]
    ) -> None:
        """Starts refused for capacity: each (type, zone) group alone, then fallback types."""
        if self._guard is None:
            self._guard = TypeGuard(self.client, self._config.allowed_types)
        fall_back(
            self.client,
            requests,
            results,
            self._facts,
            retry=lambda group: self._attempt(group, self._start, 0, results),
            budget=self._budget,
            key=self._key.get,
            guard=self._guard,
        )
