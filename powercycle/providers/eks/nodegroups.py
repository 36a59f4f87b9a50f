"""EKS managed node groups to zero and back: the backend of clusters without CAST AI.

A stop sets every managed node group of the cluster to min 0 / desired 0, max kept (EKS
wants max >= 1), after remembering each group's `[min, desired, max]` in the cluster's tag
`powercycle:nodegroups` (JSON `{"ng-name": [min, desired, max], ...}`); the control plane
stays, the nodes go. A start restores each remembered group exactly, then removes the tag:
its presence means "powercycle holds these groups at zero". A group added since the stop
is left as it is; one deleted since is reported in the result's notes, the rest restored.
Tag values hold at most 256 characters. When the sizes do not fit, they are split over
`powercycle:nodegroups`, `powercycle:nodegroups:2`, ... (each part a JSON object of some of
the groups; a reader merges every part), at most `MAX_PARTS` tags; beyond that the stop is
refused with an error that says so, before anything is changed. The memory is written
sealed (`powercycle:seal:nodegroups`, `<parts>:<mac>`, in the same `TagResource` call)
before any group is touched; if it cannot be written, nothing is. A start acts only on a
memory whose every part is there and whose seal checks (else an error naming the tag, every
tag kept), and never above a group's *current* maximum: min and desired are clamped to it
(noted in the result), the maximum is sent as it is now.
A stop that did not finish (a group refused, the budget spent) is decided again on the next
pass: a group already at zero keeps the sizes remembered for it then, never zeros.

Power (see `power`): in transition while any group is CREATING, UPDATING or DELETING;
stopped when every group's desired size is 0; running when some group has nodes and no
sizes are remembered. Some groups up *and* sizes remembered means an action did not finish
(or a person started some groups by hand): the cluster is then in the state of the last
event handled for it, so that the unfinished action is the one decided again.

Calls run `WORKERS` at a time per cluster, each group behind its own exception boundary,
none started once the pass budget is spent (`Deferred`); an update already in progress
(`ResourceInUseException`) is deferred to the next pass. A start is checked on the next
pass (`providers.verify`) from each group's `health.issues`, read with the group.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from powercycle import aws
from powercycle.core import tags_sizes as memory
from powercycle.core.decide import Power
from powercycle.core.model import DEFERRED, NOTED, ActionError
from powercycle.core.schedule import Action
from powercycle.core.seal import sealed, unsealed
from powercycle.core.tags import NODEGROUPS as TAG
from powercycle.core.tags import Attempts, TagError, memory_tags, seal_tag
from powercycle.core.tags_sizes import Sizes
from powercycle.core.verify import PENDING, TOOK, Failed, Seen
from powercycle.runtime.budget import Budget
from powercycle.runtime.pool import Deferred, map_guarded
from powercycle.runtime.text import error_line, squash

WORKERS = 4
PAGE_SIZE = 100  # ListNodegroups' maximum
BUSY = frozenset({"CREATING", "UPDATING", "DELETING"})
IN_USE = "ResourceInUseException"


class NodeGroupError(Exception):
    """The node groups of a cluster cannot be scheduled now; the message says why."""


class NotReached(NodeGroupError):
    """The pass budget ran out before the node groups were read."""


@dataclass(frozen=True)
class NodeGroup:
    name: str
    sizes: Sizes
    status: str
    issues: tuple[str, ...] = ()  # its `health.issues`, each "code: message"


@dataclass(frozen=True)
class Groups:
    """One cluster's managed node groups as they are now, and what a stop remembered."""

    cluster: str
    arn: str
    groups: Mapping[str, NodeGroup]
    remembered: Mapping[str, Sizes] | None
    parts: tuple[str, ...] = ()  # the memory tag keys the cluster carries
    tags: Mapping[str, str] = field(default_factory=dict)  # its memories and seals


Key = Callable[[], bytes]


@dataclass(frozen=True)
class Result:
    """What a stop or start did to one cluster: the engine's answer, and what to report."""

    error: ActionError | None
    notes: tuple[str, ...] = ()
    # group -> stopped | restored | unchanged | not remembered | deleted | deferred | failed
    groups: Mapping[str, str] = field(default_factory=dict)


# --- reading ---------------------------------------------------------------------------


def read(
    client: Any, cluster: str, arn: str, tags: Mapping[str, str], *, budget: Budget | None = None
) -> Groups:
    """The cluster's node groups (`ListNodegroups`, `DescribeNodegroup` each) and memory."""
    budget = budget or Budget.unlimited()
    remembered, parts = remembered_sizes(tags)
    if not budget.open():
        raise NotReached("pass budget spent before the node groups were read")
    paginator = client.get_paginator("list_nodegroups")
    names = [
        name
        for page in paginator.paginate(
            clusterName=cluster, PaginationConfig={"PageSize": PAGE_SIZE}
        )
        for name in page.get("nodegroups", ())
    ]
    if not names:
        raise NodeGroupError(
            f"cluster {cluster!r} has no managed node groups: nothing to scale "
            "(self-managed, Karpenter and Fargate nodes are not managed node groups)"
        )

    def describe(name: str) -> NodeGroup | None:
        try:
            group = client.describe_nodegroup(clusterName=cluster, nodegroupName=name)
        except aws.AWS_ERRORS as exc:
            if aws.error_code(exc) == "ResourceNotFoundException":
                return None  # deleted since the listing
            raise
        found = group["nodegroup"]
        scaling = found.get("scalingConfig") or {}
        sizes = Sizes(*(int(scaling.get(k, 0)) for k in ("minSize", "desiredSize", "maxSize")))
        issues = tuple(map(_issue, (found.get("health") or {}).get("issues") or ()))
        return NodeGroup(name, sizes, str(found.get("status", "")), issues)

    groups: dict[str, NodeGroup] = {}
    for name, got in zip(
        names, map_guarded(names, describe, workers=WORKERS, budget=budget), strict=True
    ):
        if isinstance(got, Deferred):
            raise NotReached("pass budget spent before every node group was read")
        if isinstance(got, BaseException):
            raise NodeGroupError(f"node group {name!r} could not be read: {error_line(got)}")
        if got is not None:
            groups[name] = got
    return Groups(cluster, arn, groups, remembered, parts, memory_tags(tags))


def _issue(issue: Mapping[str, Any]) -> str:
    """`code: message` of one of `health.issues`, on one line."""
    message = squash(str(issue.get("message") or ""))[:200]
    return f"{issue.get('code')}: {message}" if message else str(issue.get("code"))


def remembered_sizes(tags: Mapping[str, str]) -> tuple[dict[str, Sizes] | None, tuple[str, ...]]:
    """The sizes a stop remembered (every part merged), and the tag keys holding them."""
    try:
        return memory.remembered_sizes(tags)
    except TagError as exc:
        raise NodeGroupError(str(exc)) from None


def power(groups: Groups, last_action: Action | None) -> Power:
    """Running, stopped or in transition; `last_action` is the state tag's last event."""
    if any(g.status in BUSY for g in groups.groups.values()):
        return Power.TRANSITION
    if not any(g.sizes.desired > 0 for g in groups.groups.values()):
        return Power.STOPPED
    if groups.remembered is None:
        return Power.RUNNING
    # Nodes up and sizes remembered: an action did not finish. Decide it again.
    return Power.STOPPED if last_action == "stop" else Power.RUNNING


def encode(remembered: Mapping[str, Sizes]) -> dict[str, str]:
    """Tag key -> value holding the sizes, split so that each value fits in a tag."""
    try:
        return memory.encode_sizes(remembered)
    except TagError as exc:
        raise NodeGroupError(str(exc)) from None


# --- acting ----------------------------------------------------------------------------


def checked(groups: Groups, key: Key) -> Mapping[str, Sizes]:
    """The remembered sizes, once every part is there and the seal checks (`TagError`)."""
    values = unsealed(key(), groups.arn, TAG, groups.tags)
    remembered, _ = memory.remembered_sizes(values)
    return remembered or {}


def stop(client: Any, groups: Groups, key: Key, *, budget: Budget | None = None) -> Result:
    """Remember every group's sizes on the cluster, then scale each to min 0 / desired 0."""
    budget = budget or Budget.unlimited()
    old: Mapping[str, Sizes] = {}
    if groups.remembered and any(
        g.sizes.zero and name in groups.remembered for name, g in groups.groups.items()
    ):
        try:  # kept for the groups at zero: only when powercycle wrote it
            old = checked(groups, key)
        except TagError as exc:
            return Result(ActionError("BadNodeGroupsTag", f"stop refused: {exc}"))
    memory = {
        name: old[name] if g.sizes.zero and name in old else g.sizes
        for name, g in groups.groups.items()
    }
    try:
        tags = sealed(key(), groups.arn, TAG, encode(memory))
    except NodeGroupError as exc:
        return Result(ActionError("TooManyNodeGroups", str(exc)))
    if not budget.open():
        return Result(ActionError(DEFERRED, "pass budget spent"))
    try:
        client.tag_resource(resourceArn=groups.arn, tags=tags)
        stale = [k for k in groups.parts if k not in tags]
        if stale:
            client.untag_resource(resourceArn=groups.arn, tagKeys=stale)
    except aws.AWS_ERRORS as exc:
        return Result(
            ActionError(
                aws.error_code(exc),
                f"sizes not remembered in {TAG}, no node group touched: {aws.error_message(exc)}",
            )
        )
    todo = {
        name: Sizes(0, 0, max(g.sizes.max, 1))
        for name, g in groups.groups.items()
        if not g.sizes.zero
    }
    done = _update(client, groups.cluster, todo, budget)
    report = {name: "unchanged" for name in groups.groups} | {
        name: "stopped" if error is None else _what(error) for name, error in done.items()
    }
    return _result(done, report, ())


def start(client: Any, groups: Groups, key: Key, *, budget: Budget | None = None) -> Result:
    """Give every remembered group back its sizes (never above its maximum); then forget."""
    budget = budget or Budget.unlimited()
    if groups.remembered is None:
        return Result(
            ActionError(
                "NothingRemembered",
                f"no {TAG} tag: powercycle did not stop these node groups, so it has no "
                "sizes to restore; set them by hand once",
            )
        )
    try:
        remembered = checked(groups, key)
    except TagError as exc:
        return Result(ActionError("BadNodeGroupsTag", str(exc)))
    report = {name: "not remembered" for name in groups.groups}
    notes: list[str] = []
    todo: dict[str, Sizes] = {}
    for name, sizes in remembered.items():
        current = groups.groups.get(name)
        if current is None:
            report[name] = "deleted"
            notes.append(f"node group {name!r} {sizes.as_list()} was deleted since the stop")
            continue
        ceiling = current.sizes.max
        target = Sizes(min(sizes.min, ceiling), min(sizes.desired, ceiling), ceiling)
        if target != Sizes(sizes.min, sizes.desired, ceiling):
            notes.append(
                f"node group {name!r}: remembered min {sizes.min} / desired {sizes.desired} "
                f"clamped to its current maximum {ceiling}"
            )
        if current.sizes == target:
            report[name] = "unchanged"
        else:
            todo[name] = target
    done = _update(client, groups.cluster, todo, budget)
    report |= {name: "restored" if err is None else _what(err) for name, err in done.items()}
    if all(err is None for err in done.values()) and groups.parts:
        try:
            client.untag_resource(resourceArn=groups.arn, tagKeys=[*groups.parts, seal_tag(TAG)])
        except aws.AWS_ERRORS as exc:
            # Restored all the same; the next stop writes the tag afresh.
            notes.append(f"{TAG} not removed: {aws.describe_error(exc)}")
    return _result(done, report, tuple(notes))


def act(
    client: Any, action: Action, groups: Groups, key: Key, *, budget: Budget | None = None
) -> ActionError | None:
    """A stop or start answered as a provider answers: None, an error, or `NOTED`."""
    result = (stop if action == "stop" else start)(client, groups, key, budget=budget)
    if result.error is not None:
        notes = "".join(f"; {note}" for note in result.notes)
        return ActionError(result.error.code, result.error.message + notes)
    return ActionError(NOTED, "; ".join(result.notes)) if result.notes else None


def _update(
    client: Any, cluster: str, targets: Mapping[str, Sizes], budget: Budget
) -> dict[str, ActionError | None]:
    def one(name: str) -> None:
        size = targets[name]
        config = {"minSize": size.min, "maxSize": size.max, "desiredSize": size.desired}
        client.update_nodegroup_config(
            clusterName=cluster, nodegroupName=name, scalingConfig=config
        )

    names = sorted(targets)
    results: dict[str, ActionError | None] = {}
    for name, got in zip(
        names, map_guarded(names, one, workers=WORKERS, budget=budget), strict=True
    ):
        if isinstance(got, Deferred):
            results[name] = ActionError(DEFERRED, str(got))
        elif isinstance(got, BaseException):
            if aws.error_code(got) == IN_USE:
                results[name] = ActionError(DEFERRED, "an update is in progress; next pass")
            else:
                results[name] = aws.action_error(got)
        else:
            results[name] = None
    return results


def _what(error: ActionError) -> str:
    return "deferred" if error.code == DEFERRED else f"failed: {error}"


def _result(
    done: Mapping[str, ActionError | None], report: dict[str, str], notes: tuple[str, ...]
) -> Result:
    failed = {n: e for n, e in done.items() if e is not None and e.code != DEFERRED}
    waiting = {n: e for n, e in done.items() if e is not None and e.code == DEFERRED}
    if failed:
        codes = {e.code for e in failed.values()}
        code = codes.pop() if len(codes) == 1 else "NodeGroupsFailed"
        message = "; ".join(f"node group {n!r}: {e}" for n, e in sorted(failed.items()))
        return Result(ActionError(code, message + _others(report)), notes, report)
    if waiting:
        message = "; ".join(f"node group {n!r}: {e.message}" for n, e in sorted(waiting.items()))
        return Result(ActionError(DEFERRED, message), notes, report)
    return Result(None, notes, report)


def _others(report: Mapping[str, str]) -> str:
    ok = sorted(n for n, what in report.items() if what in ("stopped", "restored"))
    return f" (done: {', '.join(ok)})" if ok else ""


def nodegroups_seen(groups: Groups, attempts: Attempts) -> Seen:
    """What a cluster's node groups, as `nodegroups.read` described them, say about an
    accepted start (no extra call). DescribeNodegroup gives no node count: EKS reports a
    group that cannot reach its desired size in its `health.issues`
    (`AsgInstanceLaunchFailures`, `InsufficientFreeAddresses`, ...). A group with nodes
    wanted and issues reported has not reached its size; none such: the start took.

    Not retried: the group's Auto Scaling group keeps launching by itself, and a start
    again would find no sizes to restore (reported on every pass until the next event).
    """
    current = list(groups.groups.values())
    if attempts.action != "start":
        return TOOK  # only starts are checked
    if any(g.status in BUSY for g in current):
        return PENDING
    sick = [g for g in current if g.sizes.desired > 0 and g.issues]
    if not sick:
        return TOOK
    reasons = "; ".join(
        f"node group {g.name!r} (desired {g.sizes.desired}): {'; '.join(g.issues)}"
        for g in sorted(sick, key=lambda g: g.name)
    )
    return Failed(f"{reasons}; EKS keeps trying to launch its nodes by itself", retry=False)
