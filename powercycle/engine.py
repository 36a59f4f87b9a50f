"""One scheduling pass, as a pipeline with no back and forth:

    discover (every provider, every region, in parallel)
    -> resolve schedules (each distinct tag value once)
    -> decide (pure, per resource)
    -> act and record (per provider, in parallel: a provider's state tags are written as
       soon as its own actions return)
    -> summary and one JSON log line per resource

Failing safe. Every stage runs behind an exception boundary: whatever goes wrong for one
resource (any exception, not only the expected ones) becomes that resource's error, and
whatever goes wrong for one provider in one region becomes that scope's error; the pass
goes on. Nothing that failed is recorded as handled, so the next pass tries again.

The pass has a budget (`Budget`): every wait below is bounded by it, and once it is nearly
spent no new work starts. What was not reached is `deferred`, recorded nothing, and picked
up by the next pass.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import TypeVar

from powercycle import aws, sources
from powercycle.config import Config
from powercycle.core.decide import StateTagError, decide, decide_manual, parse_state, parse_utc
from powercycle.core.outcome import Outcome, Summary
from powercycle.core.schedule import Action, Schedule
from powercycle.providers import DEFERRED, NOTED, ActionError, ActRequest, Provider, all_providers
from powercycle.report.owners import warn_owners
from powercycle.runtime.budget import Budget

__all__ = ["Outcome", "Summary", "run_manual", "run_pass"]

LOG = logging.getLogger("powercycle")
WORKERS = 16
# Regions scanned at once: each describe page is parsed in memory while its region is
# scanned, so 16 at once cost 16 pages (75 MB more than 4 at once for 16 x 200 instances,
# measured with bench/scale.py) for little gain in wall time; acting stays at WORKERS.
DISCOVERY_WORKERS = 4

T = TypeVar("T")
R = TypeVar("R")


def run_pass(
    config: Config,
    now: datetime,
    *,
    providers: Sequence[Provider] | None = None,
    budget: Budget | None = None,
) -> Summary:
    """One scheduling pass over every provider and region."""
    _require_aware(now)
    budget = budget or Budget(config.budget_seconds)
    if providers is None:
        providers = all_providers(config, config.regions, budget=budget)
    summary = Summary(now=now, dry_run=config.dry_run)

    outcomes = _discover(
        providers,
        summary,
        budget,
        lambda p: [Outcome(resource=r, provider=p) for r in p.discover(config.tag)],
    )
    candidates = [o for o in outcomes if _guarded(o, lambda o: _screen(config, o, now))]
    schedules = _resolve(config, candidates, budget)
    for outcome in candidates:
        _guarded(outcome, lambda o: _decide(config, o, schedules, now))
    warn_owners(config, candidates, now, budget=budget, summary=summary)
    _act_and_record(config, outcomes, budget)
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
    budget: Budget | None = None,
) -> Summary:
    """Act now on resources named by a payload (`instanceIds`, `clusterNames`).

    Fail closed: a resource is acted on only when it was found and its tags were read, so
    that the production guard (`POWERCYCLE_EXCLUDE`) always sees them.
    """
    _require_aware(now)
    budget = budget or Budget(config.budget_seconds)
    if providers is None:
        all_kinds = all_providers(config, config.regions, budget=budget)
        providers = [p for p in all_kinds if p.kind == kind]
    summary = Summary(now=now, dry_run=config.dry_run)
    found: set[str] = set()

    def lookup(provider: Provider) -> list[Outcome]:
        result = provider.lookup(list(refs))
        found.update(result)
        return [Outcome(resource=r, provider=provider, source="manual") for r in result.values()]

    outcomes = _discover(providers, summary, budget, lookup)
    for ref in refs:
        if ref not in found:
            where = ", ".join(config.regions) or "no region"
            summary.add_error(ref, f"no {kind} resource {ref!r} found in {where}", kind=kind)
    for outcome in outcomes:
        _guarded(outcome, lambda o: _decide_manual(config, o, action))
    _act_and_record(config, outcomes, budget)
    _report(summary, outcomes)
    return summary


# --- the stages ------------------------------------------------------------------------


def _discover(
    providers: Sequence[Provider],
    summary: Summary,
    budget: Budget,
    find: Callable[[Provider], list[Outcome]],
) -> list[Outcome]:
    """Every provider's resources, in parallel; a provider that fails is its scope's error."""

    def one(provider: Provider) -> list[Outcome] | None:
        return find(provider) if budget.open() else None

    outcomes: list[Outcome] = []
    found_all = _parallel(providers, one, workers=DISCOVERY_WORKERS)
    for provider, found in zip(providers, found_all, strict=True):
        scope = partial(
            summary.add_scope,
            kind=provider.kind,
            region=provider.region,
            account=getattr(provider, "account", ""),
        )
        if found is None:
            scope(deferred=True)
        elif isinstance(found, BaseException):
            scope(error=f"discovery failed, nothing done here: {describe(found)}")
        else:
            scope(resources=len(found))
            outcomes.extend(found)
    return outcomes


def _screen(config: Config, outcome: Outcome, now: datetime) -> bool:
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


def _resolve(config: Config, candidates: Sequence[Outcome], budget: Budget) -> dict[str, object]:
    values = {o.resource.tags[config.tag] for o in candidates}
    try:
        return dict(sources.resolve_all(values, config, budget=budget))
    except Exception:
        LOG.warning("powercycle: resolving schedules together failed; one by one now")
    # One value's failure must not be every value's: resolve each alone (the documents are
    # fetched again, but only in this case, which resolve_all's own guards make rare).
    resolved: dict[str, object] = {}
    for value in values:
        if not budget.open():
            resolved[value] = "pass budget spent before this schedule was resolved"
            continue
        try:
            resolved.update(sources.resolve_all({value}, config, budget=budget))
        except Exception as exc:
            resolved[value] = f"schedule not resolved: {describe(exc)}"
    return resolved


def _decide(config: Config, outcome: Outcome, schedules: dict[str, object], now: datetime) -> None:
    resource = outcome.resource
    schedule = schedules.get(resource.tags[config.tag], "schedule not resolved")
    if not isinstance(schedule, Schedule):
        _fail(outcome, "bad-schedule", f"{config.tag}: {schedule}")
        return
    try:
        state = parse_state(outcome.state, now=now)
        raw_skip = resource.tags.get(config.skip_until_tag)
        skip_until = (
            parse_utc(raw_skip, what=config.skip_until_tag, value=raw_skip) if raw_skip else None
        )
    except StateTagError as exc:
        _fail(outcome, "bad-tag", f"{exc}; fix or delete the tag")
        return
    if resource.power is None:
        _fail(outcome, "error", "power state unknown")
        return
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


def _decide_manual(config: Config, outcome: Outcome, action: Action) -> None:
    resource = outcome.resource
    decision = decide_manual(
        action,
        resource.power,
        excluded=config.excluded_by(resource.tags),
        error=resource.error,
        skip=resource.skip,
    )
    outcome.decision = decision
    outcome.reason = decision.reason
    if decision.reason.startswith("refused"):
        _fail(outcome, "refused", f"manual {action} {decision.reason}")
    elif decision.reason == "in-transition":
        outcome.result = "skipped"
    elif decision.action is not None:
        outcome.result = "planned"


def _act_and_record(config: Config, outcomes: Sequence[Outcome], budget: Budget) -> None:
    """Per provider, in parallel: act in batches, then write that provider's state tags."""
    if config.dry_run:
        for outcome in outcomes:
            if outcome.decision and outcome.decision.record and outcome.result != "error":
                outcome.recorded = outcome.decision.record.tag_value()
            fallback = outcome.schedule.fallback_types if outcome.schedule else ()
            if outcome.action == "start" and fallback:
                # Nothing is changed in a dry run; say what a live pass may change.
                outcome.warning = (
                    "dry run: if EC2 refuses the start for capacity, a live pass changes the "
                    f"type to {fallback[0]} (then {', '.join(fallback[1:]) or 'nothing else'})"
                )
        return
    by_provider: dict[Provider, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.result in ("planned", "none") and outcome.decision is not None:
            by_provider[outcome.provider].append(outcome)

    def work(provider: Provider) -> None:
        mine = by_provider[provider]
        batches: dict[Action, list[Outcome]] = defaultdict(list)
        for outcome in mine:
            if outcome.action is not None:
                batches[outcome.action].append(outcome)
        for action, batch in batches.items():
            _act(provider, action, batch, budget)
        _record(config, provider, mine)

    providers = list(by_provider)
    for provider, failure in zip(providers, _parallel(providers, work), strict=True):
        if isinstance(failure, BaseException):
            for outcome in by_provider[provider]:
                if outcome.result == "planned":
                    _fail(outcome, "failed", describe(failure), keep_reason=True)


def _act(provider: Provider, action: Action, batch: list[Outcome], budget: Budget) -> None:
    if not budget.open():
        for outcome in batch:
            outcome.result = "deferred"
        return
    try:
        results = provider.act(action, [_request(o) for o in batch])
    except Exception as exc:
        LOG.exception("powercycle: %s %s in %s failed", provider.kind, action, provider.region)
        results = dict.fromkeys((o.resource.id for o in batch), _action_error(exc))
    for outcome in batch:
        error = results.get(outcome.resource.id, ActionError("NoResult", "no answer"))
        if error is None:
            outcome.result = "done"
        elif error.code == DEFERRED:
            outcome.result = "deferred"
        elif error.code == NOTED:
            outcome.result, outcome.warning = "done", error.message
        else:
            _fail(outcome, "failed", f"{action} refused: {error}", keep_reason=True)


def _request(outcome: Outcome) -> ActRequest:
    record = outcome.decision.record if outcome.decision else None
    return ActRequest(outcome.resource, outcome.schedule, record.tag_value() if record else None)


def _record(config: Config, provider: Provider, outcomes: Sequence[Outcome]) -> None:
    """Write the handled event to the state tag of every resource whose action went through."""
    pending: dict[str, Outcome] = {}
    for outcome in outcomes:
        decision = outcome.decision
        if decision is None or decision.record is None or outcome.error:
            continue
        if outcome.result not in ("done", "none"):
            continue
        value = decision.record.tag_value()
        outcome.recorded = value
        if value != outcome.state:
            pending[outcome.resource.id] = outcome
    if not pending:
        return
    try:
        errors = provider.record(
            config.state_tag, {rid: o.recorded or "" for rid, o in pending.items()}
        )
    except Exception as exc:
        errors = dict.fromkeys(pending, describe(exc))
    for rid, outcome in pending.items():
        if errors.get(rid):
            # The action stands; the next run sees the event unhandled, finds the
            # resource already in state and records it then.
            outcome.recorded = None
            outcome.warning = f"state tag not written: {errors[rid]}"


def _report(summary: Summary, outcomes: Sequence[Outcome]) -> None:
    """One JSON log line per resource, and its place in the summary."""
    for outcome in outcomes:
        LOG.info(json.dumps(outcome.log_record(), default=str))
        summary.add(outcome)


# --- helpers ---------------------------------------------------------------------------


def _guarded(outcome: Outcome, step: Callable[[Outcome], object]) -> bool:
    """Run one resource's step; any exception becomes that resource's error (and False)."""
    try:
        return step(outcome) is not False
    except Exception as exc:
        LOG.debug("powercycle: %s failed", outcome.resource.id, exc_info=True)
        _fail(outcome, "internal-error", f"could not be decided: {describe(exc)}")
        return False


def _fail(outcome: Outcome, reason: str, error: str, *, keep_reason: bool = False) -> None:
    outcome.result = "failed" if keep_reason else "error"
    if not keep_reason:
        outcome.reason = reason
    outcome.error = error


def _action_error(exc: BaseException) -> ActionError:
    return ActionError(aws.error_code(exc), aws.first_line(aws.error_message(exc)))


describe = aws.one_line


def _parallel(
    items: Sequence[T], work: Callable[[T], R], *, workers: int = WORKERS
) -> list[R | BaseException]:
    """work(item) for each item on threads; an exception is returned in its item's place."""
    if not items:
        return []

    def guarded(item: T) -> R | BaseException:
        try:
            return work(item)
        except Exception as exc:
            LOG.warning("powercycle: %s: %s", getattr(item, "kind", item), describe(exc))
            return exc

    if len(items) == 1:
        return [guarded(items[0])]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(guarded, items))


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")

