"""One scheduling pass, as a pipeline with no back and forth:

    discover (every provider, every region, in parallel)
    -> resolve schedules (each distinct tag value once; every document fetched at once)
    -> per provider, in parallel (a lane each):
         decide (pure, per resource) -> warn owners -> act -> record its state tags
    -> summary and one JSON log line per resource

Waits overlap. The slow waits of a pass belong to different resources: a schedule
document may take its whole 15 s window, a CAST AI call its 30 s read timeout. So the
fetching of every document starts as soon as the resources are screened, and each
provider's lane waits only for the documents its own resources use before it decides and
acts: a lane whose schedules are inline (or already fetched) acts while another lane is
still waiting for a slow document. A lane still acts in one batch per action and writes
its state tags once, as before; only when it starts changes. The pass takes about its
longest single wait (the 15 s document window, or a CAST AI call's 30 s read timeout),
not their sum. A lane waiting for a document holds one of the `WORKERS` (`lanes`); lanes queued
behind it find their documents fetched (or timed out) when they start, so no lane waits
longer than the window did when resolving was a stage of its own. Owners are warned per
lane, just before that lane acts, as they were just before the whole pass acted.

Failing safe. Every stage runs behind an exception boundary: whatever goes wrong for one
resource (any exception, not only the expected ones) becomes that resource's error, and
whatever goes wrong for one provider in one region becomes that scope's error; the pass
goes on. Nothing that failed is recorded as handled, so the next pass tries again.

The pass has a budget (`Budget`): every wait below is bounded by it, and once it is nearly
spent no new work starts. What was not reached is `deferred`, recorded nothing, and picked
up by the next pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

from powercycle import sources
from powercycle.config import Config
from powercycle.core.decide import decide, decide_manual
from powercycle.core.outcome import Outcome, Summary
from powercycle.core.schedule import Action, Schedule
from powercycle.core.tags import Marks, read_marks
from powercycle.lanes import act_and_record, describe, fail, guarded, report
from powercycle.providers import REGISTRY, Provider, all_providers, naming
from powercycle.report.owners import warn_owners
from powercycle.runtime.budget import Budget
from powercycle.runtime.pool import Deferred, map_guarded
from powercycle.sources import Schedules

__all__ = ["Outcome", "Summary", "run_manual", "run_pass"]

LOG = logging.getLogger("powercycle")
# Regions scanned at once: each describe page is parsed in memory while its region is
# scanned, so 16 at once cost 16 pages (75 MB more than 4 at once for 16 x 200 instances,
# measured with bench/scale.py) for little gain in wall time; acting stays at lanes.WORKERS.
DISCOVERY_WORKERS = 4


def run_pass(
    config: Config,
    now: datetime,
    *,
    providers: Sequence[Provider] | None = None,
    budget: Budget | None = None,
    only: Sequence[str] | None = None,
) -> Summary:
    """One scheduling pass over every provider and region; `only`: over these resources
    (ids, looked up as a manual action finds them, those carrying the tag), not every
    tagged one: what `tag` and `snooze` say the next pass will do."""
    _require_aware(now)
    budget = budget or Budget(config.budget_seconds)
    if providers is None:
        providers = all_providers(config, config.regions, budget=budget)
    summary = Summary(now=now, dry_run=config.dry_run)

    def find(p: Provider) -> list[Outcome]:
        found = p.discover(config.tag) if only is None else p.lookup(list(only)).values()
        return [Outcome(resource=r, provider=p) for r in found if config.tag in r.tags]

    outcomes = _discover(providers, summary, budget, find)
    candidates = [o for o in outcomes if guarded(o, lambda o: _screen(config, o, now))]
    schedules = _resolution(config, candidates, budget, now)

    def prepare(mine: Sequence[Outcome]) -> None:
        for outcome in mine:
            guarded(outcome, lambda o: _decide(config, o, schedules, now))
        warn_owners(config, mine, now, budget=budget, summary=summary)

    try:
        act_and_record(config, candidates, budget, prepare=prepare)
    finally:
        schedules.close()
    report(summary, outcomes)
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
    that the production guard (`POWERCYCLE_EXCLUDE`) always sees them; a ref that names
    several resources (regions, accounts), or an ARN whose account is another, is refused
    (`providers.naming`).
    """
    _require_aware(now)
    budget = budget or Budget(config.budget_seconds)
    if providers is None:
        all_kinds = all_providers(config, config.regions, budget=budget)
        providers = [p for p in all_kinds if p.kind == kind]
    summary = Summary(now=now, dry_run=config.dry_run)
    declared = REGISTRY[kind]
    named: dict[str, list[Outcome]] = {ref: [] for ref in refs}

    def lookup(provider: Provider) -> list[Outcome]:
        account = getattr(provider, "account", "")
        asked = naming.asks(declared, refs, region=provider.region, account=account)
        result = provider.lookup(list(asked)) if asked else {}
        outcomes = []
        for name, resource in result.items():
            outcome = Outcome(resource=resource, provider=provider, source="manual")
            outcomes.append(outcome)
            for ref in asked.get(name, ()):
                named[ref].append(outcome)
        return outcomes

    outcomes = _discover(providers, summary, budget, lookup)
    refused: set[int] = set()
    where = ", ".join(config.regions) or "no region"
    for ref, hits in named.items():
        error = naming.refusal(ref, [o.resource for o in hits], kind=declared, where=where)
        if error is not None:
            summary.add_error(ref, error, kind=kind)
            refused.update(id(o) for o in hits)
    outcomes = [o for o in outcomes if id(o) not in refused]
    for outcome in outcomes:
        guarded(outcome, lambda o: _decide_manual(config, o, action))
    act_and_record(config, outcomes, budget)
    report(summary, outcomes)
    return summary


# --- the stages ------------------------------------------------------------------------


def _discover(
    providers: Sequence[Provider],
    summary: Summary,
    budget: Budget,
    find: Callable[[Provider], list[Outcome]],
) -> list[Outcome]:
    """Every provider's resources, in parallel; a provider that fails is its scope's error."""

    outcomes: list[Outcome] = []
    found_all = map_guarded(providers, find, workers=DISCOVERY_WORKERS, budget=budget)
    for provider, found in zip(providers, found_all, strict=True):
        scope = partial(
            summary.add_scope,
            kind=provider.kind,
            region=provider.region,
            account=getattr(provider, "account", ""),
        )
        if isinstance(found, Deferred):
            scope(deferred=True)
        elif isinstance(found, BaseException):
            LOG.warning("powercycle: %s: %s", provider.kind, describe(found))
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
    outcome.marks = read_marks(
        resource.tags,
        now=now,
        state_tag=config.state_tag,
        skip_until_tag=config.skip_until_tag,
    )
    excluded = config.excluded_by(resource.tags)
    if excluded:
        outcome.result, outcome.reason = "skipped", f"excluded:{excluded}"
        return False
    if resource.skip:
        outcome.result, outcome.reason = "skipped", resource.skip
        return False
    if resource.error:
        fail(outcome, "error", resource.error)
        return False
    return True


def _resolution(
    config: Config, candidates: Sequence[Outcome], budget: Budget, now: datetime
) -> Schedules:
    """Every candidate's schedule, resolving: documents fetched at once, side by side."""
    values = {o.resource.tags[config.tag] for o in candidates}
    return sources.resolution(values, config, budget, now)


def _decide(config: Config, outcome: Outcome, schedules: Schedules, now: datetime) -> None:
    resource = outcome.resource
    schedule = schedules.get(resource.tags[config.tag], "schedule not resolved")
    if not isinstance(schedule, Schedule):
        fail(outcome, "bad-schedule", f"{config.tag}: {schedule}")
        return
    marks = outcome.marks or Marks(problem="powercycle:* tags not read")
    if marks.problem:
        fail(outcome, "bad-tag", f"{marks.problem}; fix or delete the tag")
        return
    if resource.power is None:
        fail(outcome, "error", "power state unknown")
        return
    decision = decide(
        schedule,
        marks.state,
        resource.power,
        now,
        running_since=resource.running_since,
        skip_until=marks.skip_until,
        retry=resource.retry,
        auto_restarted=resource.auto_restarted,
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
        fail(outcome, "refused", f"manual {action} {decision.reason}")
    elif decision.reason == "in-transition":
        outcome.result = "skipped"
    elif decision.action is not None:
        outcome.result = "planned"


# --- helpers ---------------------------------------------------------------------------


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
