"""EC2 capacity fallback (`fallbackTypes`) and the give-back of the original type.

When a start is refused with `InsufficientInstanceCapacity` (or `Unsupported`: the type is
not offered in the instance's zone), and its schedule names `fallbackTypes`, the instance
is moved to the first of them not yet tried (`ModifyInstanceAttribute` InstanceType) and
started again, in the same pass. Its own type is kept first in the tag `powercycle:type`
(written before the type changes, so it is never lost), and given back on the first pass
that sees the instance stopped again, before anything else happens to it.

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

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from powercycle import aws
from powercycle.core.model import ActionError
from powercycle.core.verify import TYPE_TAG
from powercycle.runtime.budget import Budget

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


def facts(instance: Any, tags: dict[str, str]) -> Facts:
    original = tags.get(TYPE_TAG)
    return Facts(
        instance_type=str(instance.get("InstanceType", "")),
        zone=str((instance.get("Placement") or {}).get("AvailabilityZone", "")),
        hibernation=bool((instance.get("HibernationOptions") or {}).get("Configured")),
        original=original if original and _TYPE.fullmatch(original) else None,
    )


def start_on_fallback(
    client: Any,
    instance_id: str,
    known: Facts,
    fallback_types: Sequence[str],
    refusal: ActionError,
    *,
    budget: Budget,
) -> ActionError | None:
    """Start one refused instance on the first fallback type that EC2 accepts.

    None when a start was accepted; else the error to report, naming what was tried.
    """
    if known.hibernation:
        return ActionError(
            refusal.code,
            f"{refusal.message}; fallbackTypes not used: its type cannot be changed "
            "while hibernation is enabled on it",
        )
    remaining = [t for t in fallback_types if t != known.instance_type]
    if not remaining:
        return refusal
    if known.original is None:
        try:
            client.create_tags(
                Resources=[instance_id], Tags=[{"Key": TYPE_TAG, "Value": known.instance_type}]
            )
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
            last = ActionError(aws.error_code(exc), aws.error_message(exc))
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
        return None
    untried = [t for t in remaining if t not in tried]
    return ActionError(
        last.code,
        f"{refusal.message}; fallback types refused too: {', '.join(tried) or 'none'}"
        + (f"; not tried (pass budget spent): {', '.join(untried)}" if untried else ""),
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


def groups(ids: Sequence[str], known: dict[str, Facts]) -> list[list[str]]:
    """Ids by (instance type, zone), in first-seen order."""
    by_key: dict[tuple[str, str], list[str]] = {}
    for instance_id in ids:
        fact = known.get(instance_id)
        key = (fact.instance_type, fact.zone) if fact else ("", instance_id)
        by_key.setdefault(key, []).append(instance_id)
    return list(by_key.values())
