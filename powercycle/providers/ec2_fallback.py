"""EC2 capacity fallback (`fallbackTypes`) and the give-back of the original type.

When a start is refused with `InsufficientInstanceCapacity` (or `Unsupported`: the type is
not offered in the instance's zone), and its schedule names `fallbackTypes`, the instance
is moved to the first of them not yet tried (`ModifyInstanceAttribute` InstanceType) and
started again, in the same pass. Its own type is kept first in the tag `powercycle:type`,
sealed (`powercycle:seal:type`, in the same `CreateTags`; written before the type changes,
so it is never lost), and given back (`give_back`) on the first pass that sees the
instance stopped again, once the engine has screened it (never to an excluded, snoozed or
invalid one), and only when its seal checks: a type a tagger wrote is never applied.

A fallback type larger than the instance's own type (more vCPUs or more memory, from
`DescribeInstanceTypes`, once per distinct type per pass: `TypeGuard`) is refused unless
it matches `POWERCYCLE_ALLOWED_TYPES` (`*` wildcards, e.g. `m5.*`).

Calls, only for refused instances with fallbacks: one `CreateTags` (the original type), then
per type tried one `ModifyInstanceAttribute` and one `StartInstances`. A batch that EC2
refused for capacity as a whole (retried whole first, as every batch-wide refusal is) may
hold several types or zones, and only one of them may be short: when it holds more than
one (type, zone) group, each group is started once more on its own (one call per group)
before any instance changes type, so an instance whose own type has capacity keeps it.

Never in a dry run: the engine does not act in one, and discovery neither restores a type
nor removes a tag (it logs what it would do).
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from powercycle import aws
from powercycle.aws.sealkey import KeyUnavailable
from powercycle.core.model import NOTED, ActionError, ActRequest
from powercycle.core.seal import sealed, unsealed
from powercycle.core.tags import TagError, memory_tags, seal_tag
from powercycle.core.verify import TYPE_TAG
from powercycle.runtime.budget import Budget

Key = Callable[[], bytes]

LOG = logging.getLogger("powercycle.ec2")

# Refusals that another instance type may not meet.
CAPACITY = frozenset({"InsufficientInstanceCapacity", "Unsupported"})
_TYPE = re.compile(r"[a-z][a-z0-9-]*\.[a-z0-9]+", re.ASCII)


@dataclass(frozen=True)
class Facts:
    """What discovery read of an instance that a fallback needs (no call of its own)."""

    instance_type: str
    zone: str
    hibernation: bool
    original: str | None  # the `powercycle:type` tag: its own type, while on a fallback
    arn: str = ""
    # The memory tags (type and seal) as read; `checked`: its seal was found good this pass.
    memory: Mapping[str, str] = field(default_factory=dict)
    checked: bool = False


def facts(instance: Any, tags: dict[str, str], arn: str = "") -> Facts:
    original = tags.get(TYPE_TAG)
    return Facts(
        instance_type=str(instance.get("InstanceType", "")),
        zone=str((instance.get("Placement") or {}).get("AvailabilityZone", "")),
        hibernation=bool((instance.get("HibernationOptions") or {}).get("Configured")),
        original=original if original and _TYPE.fullmatch(original) else None,
        arn=arn,
        memory=memory_tags(tags),
    )


class TypeGuard:
    """Which fallback types an instance may move to: none larger than its own type (vCPUs
    or memory) unless `allowed` admits it. Sizes read once per distinct type per pass."""

    def __init__(self, client: Any, allowed: Sequence[str]) -> None:
        self._client = client
        self._allowed = tuple(allowed)
        self._sizes: dict[str, tuple[int, int] | None] = {}

    def refusal(self, own: str, candidate: str) -> str | None:
        """None when `candidate` may replace `own`; else why not (naming type and rule)."""
        if any(fnmatch.fnmatchcase(candidate, pattern) for pattern in self._allowed):
            return None
        self._read([own, candidate])
        mine, theirs = self._sizes.get(own), self._sizes.get(candidate)
        if mine is None or theirs is None:
            return f"fallback type {candidate} refused: its size (or {own}'s) is unknown"
        if theirs[0] > mine[0] or theirs[1] > mine[1]:
            return (
                f"fallback type {candidate} ({theirs[0]} vCPUs, {theirs[1]} MiB) is larger than "
                f"its own type {own} ({mine[0]} vCPUs, {mine[1]} MiB) and not in "
                "POWERCYCLE_ALLOWED_TYPES"
            )
        return None

    def _read(self, names: Sequence[str]) -> None:
        wanted = sorted({n for n in names if n not in self._sizes and _TYPE.fullmatch(n)})
        if not wanted:
            return
        for name in wanted:
            self._sizes[name] = None
        try:
            pages = self._client.get_paginator("describe_instance_types").paginate(
                InstanceTypes=wanted
            )
            for page in pages:
                for found in page.get("InstanceTypes", ()):
                    self._sizes[str(found["InstanceType"])] = (
                        int(found["VCpuInfo"]["DefaultVCpus"]),
                        int(found["MemoryInfo"]["SizeInMiB"]),
                    )
        except aws.AWS_ERRORS as exc:  # unknown sizes: refused, never assumed small
            LOG.warning("powercycle: instance types %s not read: %s", wanted, exc)


def give_back_all(
    client: Any,
    stopped: Sequence[str],
    known: dict[str, Facts],
    key: Key,
    *,
    budget: Budget,
    dry_run: bool,
) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """`give_back` for screened, stopped instances: (errors, tags to remove) by id."""
    errors: dict[str, str] = {}
    done: dict[str, tuple[str, ...]] = {}
    for instance_id in stopped:
        fact = known.get(instance_id)
        if fact is None or TYPE_TAG not in fact.memory:
            continue
        if not budget.open():
            break
        try:
            after = give_back(client, instance_id, fact, key, dry_run=dry_run)
        except (TagError, KeyUnavailable) as exc:
            errors[instance_id] = str(exc)
            continue
        known[instance_id] = after
        if TYPE_TAG not in after.memory:
            done[instance_id] = (TYPE_TAG, seal_tag(TYPE_TAG))
    return errors, done


def give_back(client: Any, instance_id: str, known: Facts, key: Key, *, dry_run: bool) -> Facts:
    """A stopped instance's own type back, when its `powercycle:type` seal checks.

    Returns the facts as they are after it; `TagError` naming the tag (nothing changed)
    when the memory is not one powercycle wrote, `KeyUnavailable` when the key is not read.
    """
    if TYPE_TAG not in known.memory:
        return known
    values = unsealed(key(), known.arn, TYPE_TAG, known.memory)
    original = values[TYPE_TAG]
    if not _TYPE.fullmatch(original):
        raise TagError(f"{TYPE_TAG} {original[:40]!r} is not an instance type")
    checked = Facts(
        known.instance_type, known.zone, known.hibernation, original, known.arn, known.memory,
        checked=True,
    )
    if not restore_type(client, instance_id, checked, dry_run=dry_run):
        return checked
    return Facts(original, known.zone, known.hibernation, None, known.arn, {}, checked=False)


def fall_back(
    client: Any,
    requests: Sequence[ActRequest],
    results: dict[str, ActionError | None],
    known: Mapping[str, Facts],
    *,
    retry: Callable[[list[str]], None],
    budget: Budget,
    key: Key,
    guard: TypeGuard,
) -> None:
    """Starts refused for capacity: each (type, zone) group alone (`retry`), then the
    schedule's fallback types, one instance at a time."""
    refused = [
        r.resource.id
        for r in requests
        if (error := results.get(r.resource.id)) is not None and error.code in CAPACITY
    ]
    wanted = {
        r.resource.id: r.schedule.fallback_types
        for r in requests
        if r.schedule is not None and r.schedule.fallback_types
    }
    if not any(i in wanted for i in refused):
        return
    split = groups(refused, known)
    if len(split) > 1:
        for group in split:
            if budget.open():
                retry(group)
    for instance_id in refused:
        error = results.get(instance_id)
        fact = known.get(instance_id)
        if error is None or error.code not in CAPACITY:
            continue
        if instance_id not in wanted or fact is None:
            continue
        results[instance_id] = start_on_fallback(
            client, instance_id, fact, wanted[instance_id], error,
            budget=budget, key=key, guard=guard,
        )


def start_on_fallback(
    client: Any,
    instance_id: str,
    known: Facts,
    fallback_types: Sequence[str],
    refusal: ActionError,
    *,
    budget: Budget,
    key: Key,
    guard: TypeGuard,
) -> ActionError | None:
    """Start one refused instance on the first fallback type that EC2 accepts.

    A start accepted on a fallback is `NOTED` (done, with a note for the summary and the
    CLI's table: the type used and EC2's refusal code); else the error to report, naming
    what was tried.
    """
    if known.hibernation:
        return ActionError(
            refusal.code,
            f"{refusal.message}; fallbackTypes not used: its type cannot be changed "
            "while hibernation is enabled on it",
        )
    own = known.original if known.checked and known.original else known.instance_type
    remaining: list[str] = []
    refused: list[str] = []
    for candidate in (t for t in fallback_types if t != known.instance_type):
        why = guard.refusal(own, candidate)
        (refused if why else remaining).append(why or candidate)
    if not remaining:
        if not refused:
            return refusal
        return ActionError(refusal.code, "; ".join([refusal.message, *refused]))
    if known.original is None or not known.checked:
        try:
            memory = sealed(key(), known.arn, TYPE_TAG, {TYPE_TAG: known.instance_type})
            client.create_tags(
                Resources=[instance_id], Tags=[{"Key": k, "Value": v} for k, v in memory.items()]
            )
        except KeyUnavailable as exc:
            return ActionError(refusal.code, f"{refusal.message}; type not changed: {exc}")
        except aws.AWS_ERRORS as exc:
            return ActionError(
                refusal.code,
                f"{refusal.message}; type not changed: {TYPE_TAG} (its own type, to give "
                f"back) not written: {aws.describe_error(exc)}",
            )
    tried: list[str] = []
    last = refusal
    for instance_type in remaining:
        if not budget.open():
            break
        tried.append(instance_type)
        try:
            client.modify_instance_attribute(
                InstanceId=instance_id, InstanceType={"Value": instance_type}
            )
        except aws.AWS_ERRORS as exc:
            return ActionError(
                refusal.code,
                f"{refusal.message}; its type cannot be changed to {instance_type}: "
                f"{aws.describe_error(exc)}",
            )
        try:
            client.start_instances(InstanceIds=[instance_id])
        except aws.AWS_ERRORS as exc:
            last = aws.action_error(exc)
            if last.code in CAPACITY:
                continue
            return ActionError(last.code, f"on fallback type {instance_type}: {last.message}")
        LOG.warning(
            "powercycle: %s started on fallback type %s (%s refused: %s); its own type %s "
            "is given back at its next stop",
            instance_id,
            instance_type,
            known.instance_type,
            refusal.code,
            known.original or known.instance_type,
        )
        return ActionError(
            NOTED,
            f"started on fallback type {instance_type}: EC2 refused {known.instance_type} "
            f"({refusal.code}); its own type {known.original or known.instance_type} comes "
            "back at its next stop",
        )
    untried = [t for t in remaining if t not in tried]
    return ActionError(
        last.code,
        f"{refusal.message}; fallback types refused too: {', '.join(tried) or 'none'}"
        + (f"; not tried (pass budget spent): {', '.join(untried)}" if untried else "")
        + "".join(f"; {why}" for why in refused),
    )


def restore_type(
    client: Any, instance_id: str, known: Facts, *, dry_run: bool
) -> bool:
    """Give a stopped instance its own type back; True when the tag may be removed."""
    original = known.original
    if original is None or original == known.instance_type:
        return not dry_run
    if dry_run:
        LOG.info("powercycle: dry run: %s would get its type %s back", instance_id, original)
        return False
    try:
        client.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": original})
    except aws.AWS_ERRORS as exc:
        # Kept on the fallback type; tried again on the next pass that sees it stopped.
        LOG.warning(
            "powercycle: %s: type %s not given back: %s",
            instance_id,
            original,
            aws.describe_error(exc),
        )
        return False
    LOG.info("powercycle: %s: type %s given back", instance_id, original)
    return True


def groups(ids: Sequence[str], known: Mapping[str, Facts]) -> list[list[str]]:
    """Ids by (instance type, zone), in first-seen order."""
    by_key: dict[tuple[str, str], list[str]] = {}
    for instance_id in ids:
        fact = known.get(instance_id)
        key = (fact.instance_type, fact.zone) if fact else ("", instance_id)
        by_key.setdefault(key, []).append(instance_id)
    return list(by_key.values())
