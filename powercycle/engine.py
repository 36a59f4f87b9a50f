"""One scheduling pass, as a pipeline with no back and forth:

    discover (every provider, every region, in parallel)
    -> resolve schedules (each distinct tag value once)
    -> decide (pure, per resource)
    -> act (batched, per provider, in parallel)
    -> record state tags (only for what was accepted)
    -> summary and one JSON log line per resource

A failure is kept with the resource it belongs to: one bad tag, one refused batch or one
unreachable region never stops the rest, and nothing that failed is recorded as handled,
so the next run tries again.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from . import aws, sources
from .config import Config
from .decide import Decision, Power, StateTagError, decide, parse_state, parse_utc
from .providers import ActionError, ActRequest, Provider, Resource, all_providers
from .schedule import Action, Schedule, format_utc

LOG = logging.getLogger("powercycle")

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Outcome:
    """What happened to one resource in this pass; becomes its log line."""

    resource: Resource
    provider: Provider
    source: str = ""
    state: str | None = None
    decision: Decision | None = None
    schedule: Schedule | None = None
    result: str = "none"  # done | planned | failed | none | skipped | error
    reason: str = ""
    error: str | None = None
    recorded: str | None = None

    @property
    def action(self) -> Action | None:
        return self.decision.action if self.decision else None

    def log_record(self) -> dict[str, Any]:
        event = self.decision.event if self.decision else None
        return {
            "resource": self.resource.id,
            **({"name": self.resource.tags["Name"]} if "Name" in self.resource.tags else {}),
            "kind": self.resource.kind,
            "region": self.resource.region,
            "source": self.source,
            "event": event.tag_value() if event else None,
            "state": self.state,
            "action": self.action,
            "reason": self.reason,
            "result": self.result,
            "record": self.recorded,
            **({"error": self.error} if self.error else {}),
        }


@dataclass
class Summary:
    now: datetime
    dry_run: bool
    scanned: int = 0
    actions: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    outcomes: list[Outcome] = field(default_factory=list)

    def add_error(self, resource_id: str, error: str) -> None:
        self.errors.append({"id": resource_id, "error": error})
        self.counts["error"] += 1

    def add(self, outcome: Outcome) -> None:
        self.scanned += 1
        self.counts[outcome.result] += 1
        self.reasons[outcome.reason] += 1
        if outcome.action is not None:
            entry: dict[str, Any] = {
                "id": outcome.resource.id,
                "kind": outcome.resource.kind,
                "region": outcome.resource.region,
                "action": outcome.action,
                "reason": outcome.reason,
                "result": outcome.result,
            }
            if outcome.error:
                entry["error"] = outcome.error
            self.actions.append(entry)
        if outcome.error:
            self.errors.append({"id": outcome.resource.id, "error": outcome.error})

    def to_dict(self) -> dict[str, Any]:
        return {
            "now": format_utc(self.now),
            "dryRun": self.dry_run,
            "scanned": self.scanned,
            "actions": self.actions,
            "errors": self.errors,
            "counts": dict(sorted(self.counts.items())),
            "reasons": dict(sorted(self.reasons.items())),
        }


def run_pass(
    config: Config, now: datetime, *, providers: Sequence[Provider] | None = None
) -> Summary:
    """One scheduling pass over every provider and region."""
    _require_aware(now)
    if providers is None:
        providers = all_providers(config, config.regions)
    summary = Summary(now=now, dry_run=config.dry_run)

    discovered = _parallel(providers, lambda p: list(p.discover(config.tag)))
    outcomes: list[Outcome] = []
    for provider, found in zip(providers, discovered, strict=True):
        if isinstance(found, BaseException):
            summary.add_error(
                f"{provider.kind}:{provider.region}",
                f"discovery failed, nothing done in this region: {aws.describe_error(found)}",
            )
            continue
        outcomes.extend(Outcome(resource=r, provider=provider) for r in found)

    candidates = [o for o in outcomes if _screen(config, o)]
    schedules = sources.resolve_all({o.resource.tags[config.tag] for o in candidates}, config)
    for outcome in candidates:
        _decide(config, outcome, schedules, now)

    _act(config, outcomes)
    _record(config, outcomes)
    _report(summary, outcomes)
    return summary


def run_manual(
    config: Config,
    *,
    kind: str,
    refs: Sequence[str],
    action: Action,
    now: datetime,
    providers: Sequence[Provider] | None = None,
) -> Summary:
    """Act now on resources named by a payload (`instanceIds`, `clusterNames`)."""
    _require_aware(now)
    if providers is None:
        providers = [p for p in all_providers(config, config.regions) if p.kind == kind]
    summary = Summary(now=now, dry_run=config.dry_run)
    looked_up = _parallel(providers, lambda p: p.lookup(list(refs)))
    outcomes: list[Outcome] = []
    found: set[str] = set()
    for provider, result in zip(providers, looked_up, strict=True):
        if isinstance(result, BaseException):
            summary.add_error(
                f"{provider.kind}:{provider.region}",
                f"lookup failed: {aws.describe_error(result)}",
            )
            continue
        for ref, resource in result.items():
            found.add(ref)
            outcomes.append(Outcome(resource=resource, provider=provider, source="manual"))
    for ref in refs:
        if ref not in found:
            summary.add_error(
                ref, f"no {kind} resource {ref!r} found in {', '.join(config.regions)}"
            )

    desired = Power.RUNNING if action == "start" else Power.STOPPED
    for outcome in outcomes:
        resource = outcome.resource
        excluded = config.excluded_by(resource.tags)
        if excluded or resource.error or (resource.skip and action == "stop"):
            why = (
                f"excluded by {excluded}"
                if excluded
                else resource.error or f"skipped: {resource.skip}"
            )
            _fail(outcome, "refused", f"manual {action} refused: {why}")
        elif resource.power is desired:
            outcome.reason = f"already-{desired.value}"
        elif resource.power is Power.TRANSITION:
            outcome.reason = "in-transition"
            outcome.result = "skipped"
        else:
            outcome.decision = Decision(action, "manual", None)
            outcome.reason = "manual"
            outcome.result = "planned"
    _act(config, outcomes)
    _report(summary, outcomes)
    return summary


# --- the stages ------------------------------------------------------------------------


def _screen(config: Config, outcome: Outcome) -> bool:
    """Exclusions and provider-level skips and errors, before any schedule is read."""
    resource = outcome.resource
    outcome.source = sources.describe_source(resource.tags.get(config.tag, ""))
    outcome.state = resource.tags.get(config.state_tag)
    excluded = config.excluded_by(resource.tags)
    if excluded:
        outcome.result, outcome.reason = "skipped", f"excluded:{excluded}"
        return False
    if resource.skip:
        outcome.result, outcome.reason = "skipped", resource.skip
        return False
    if resource.error:
        _fail(outcome, "error", resource.error)
        return False
    return True


def _decide(
    config: Config, outcome: Outcome, schedules: dict[str, Schedule | str], now: datetime
) -> None:
    resource = outcome.resource
    schedule = schedules[resource.tags[config.tag]]
    if isinstance(schedule, str):
        _fail(outcome, "bad-schedule", f"{config.tag}: {schedule}")
        return
    try:
        state = parse_state(outcome.state)
        raw_skip = resource.tags.get(config.skip_until_tag)
        skip_until = (
            parse_utc(raw_skip, what=config.skip_until_tag, value=raw_skip) if raw_skip else None
        )
    except StateTagError as exc:
        _fail(outcome, "bad-tag", f"{exc}; fix or delete the tag")
        return
    assert resource.power is not None  # a resource without power carries an error
    decision = decide(
        schedule,
        state,
        resource.power,
        now,
        running_since=resource.running_since,
        skip_until=skip_until,
    )
    outcome.schedule = schedule
    outcome.decision = decision
    outcome.reason = decision.reason
    if decision.action is not None:
        outcome.result = "planned"


def _act(config: Config, outcomes: Sequence[Outcome]) -> None:
    if config.dry_run:
        return
    batches: dict[tuple[Provider, Action], list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.action is not None and outcome.result in ("planned", "none"):
            batches[(outcome.provider, outcome.action)].append(outcome)

    def run(key: tuple[Provider, Action]) -> dict[str, ActionError | None]:
        provider, action = key
        return provider.act(action, [ActRequest(o.resource, o.schedule) for o in batches[key]])

    groups = list(batches)
    for group, results in zip(groups, _parallel(groups, run), strict=True):
        for outcome in batches[group]:
            if isinstance(results, BaseException):
                _fail(outcome, "failed", aws.describe_error(results), keep_reason=True)
                continue
            error = results.get(outcome.resource.id, ActionError("NoResult", "no answer"))
            if error is None:
                outcome.result = "done"
            else:
                _fail(outcome, "failed", f"{outcome.action} refused: {error}", keep_reason=True)


def _record(config: Config, outcomes: Sequence[Outcome]) -> None:
    """Write the handled event to the state tag of every resource whose action went through."""
    pending: dict[Provider, dict[str, Outcome]] = defaultdict(dict)
    for outcome in outcomes:
        decision = outcome.decision
        if decision is None or decision.record is None or outcome.error:
            continue
        value = decision.record.tag_value()
        outcome.recorded = value
        if config.dry_run or value == outcome.state:
            continue
        pending[outcome.provider][outcome.resource.id] = outcome

    def run(provider: Provider) -> dict[str, str]:
        group = pending[provider]
        return provider.record(
            config.state_tag, {rid: o.recorded or "" for rid, o in group.items()}
        )

    owners = list(pending)
    for provider, errors in zip(owners, _parallel(owners, run), strict=True):
        for rid, outcome in pending[provider].items():
            error = (
                aws.describe_error(errors) if isinstance(errors, BaseException) else errors.get(rid)
            )
            if error:
                # The action stands; the next run sees the event unhandled, finds the
                # resource already in state and records it then.
                outcome.recorded = None
                outcome.error = f"state tag not written: {error}"


def _report(summary: Summary, outcomes: Sequence[Outcome]) -> None:
    """One JSON log line per resource, and its place in the summary."""
    for outcome in outcomes:
        LOG.info(json.dumps(outcome.log_record()))
        summary.add(outcome)
        summary.outcomes.append(outcome)


def _fail(outcome: Outcome, reason: str, error: str, *, keep_reason: bool = False) -> None:
    outcome.result = "failed" if keep_reason else "error"
    if not keep_reason:
        outcome.reason = reason
    outcome.error = error


def _parallel(items: Sequence[T], work: Callable[[T], R]) -> list[R | BaseException]:
    """work(item) for each item on threads; an exception is returned in its item's place."""
    if not items:
        return []

    def guarded(item: T) -> R | BaseException:
        try:
            return work(item)
        except Exception as exc:
            LOG.exception("powercycle: %s failed", getattr(item, "kind", item))
            return exc

    if len(items) == 1:
        return [guarded(items[0])]
    with ThreadPoolExecutor(max_workers=min(16, len(items))) as pool:
        return list(pool.map(guarded, items))


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
