"""The acting half of a pass: a lane per provider, in parallel.

Each lane prepares its resources (the engine's decide and owner warnings), gives a
provider its writes that are not actions (`tidy`), acts in one batch per action, then
writes that provider's state tags once. What a lane cannot do becomes each resource's
error; nothing that failed is recorded as handled, so the next pass tries again. A dry
run acts on nothing and says what a live pass would record.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence

from powercycle import aws
from powercycle.config import Config
from powercycle.core.outcome import Outcome, Summary
from powercycle.core.schedule import Action
from powercycle.providers import DEFERRED, NOTED, ActionError, ActRequest, Provider
from powercycle.runtime.budget import Budget
from powercycle.runtime.pool import map_guarded
from powercycle.runtime.text import error_line

__all__ = ["WORKERS", "Prepare", "act_and_record", "describe", "fail", "guarded", "report"]

LOG = logging.getLogger("powercycle")
WORKERS = 16

# A lane's work before acting: deciding its resources and warning their owners.
Prepare = Callable[[Sequence[Outcome]], None]


def act_and_record(
    config: Config,
    outcomes: Sequence[Outcome],
    budget: Budget,
    *,
    prepare: Prepare | None = None,
) -> None:
    """A lane per provider, in parallel: `prepare` its resources (decide, warn), act in
    batches, then write that provider's state tags."""
    lanes: dict[Provider, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        lanes[outcome.provider].append(outcome)

    def lane(provider: Provider) -> None:
        mine = lanes[provider]
        if prepare is not None:
            prepare(mine)
        _tidy(provider, mine)
        if config.dry_run:
            _dry_run(mine)
            return
        todo = [o for o in mine if o.result in ("planned", "none") and o.decision is not None]
        batches: dict[Action, list[Outcome]] = defaultdict(list)
        for outcome in todo:
            if outcome.action is not None:
                batches[outcome.action].append(outcome)
        for action, batch in batches.items():
            _act(provider, action, batch, budget)
        _record(config, provider, todo)

    providers = list(lanes)
    for provider, failure in zip(
        providers, map_guarded(providers, lane, workers=WORKERS), strict=True
    ):
        if isinstance(failure, BaseException):
            LOG.warning("powercycle: %s: %s", provider.kind, describe(failure))
            for outcome in lanes[provider]:
                if outcome.result == "planned":
                    fail(outcome, "failed", describe(failure), keep_reason=True)


def _tidy(provider: Provider, outcomes: Sequence[Outcome]) -> None:
    """A provider's writes that are not actions (an EC2 fallback's own type given back),
    only for resources screened and decided: never an excluded, snoozed or invalid one.
    A memory it cannot act on is that resource's error: nothing else is done to it."""
    tidy = getattr(provider, "tidy", None)
    if tidy is None:
        return
    screened = [
        o
        for o in outcomes
        if o.decision is not None and o.result in ("planned", "none") and o.reason != "snoozed"
    ]
    if not screened:
        return
    errors = tidy([o.resource for o in screened])
    for outcome in screened:
        if errors.get(outcome.resource.id):
            fail(outcome, "bad-tag", errors[outcome.resource.id])


def _dry_run(outcomes: Sequence[Outcome]) -> None:
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
            fail(outcome, "failed", f"{action} refused: {error}", keep_reason=True)


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


def report(summary: Summary, outcomes: Sequence[Outcome]) -> None:
    """One log line per resource (its fields at the top of the JSON line), and its place
    in the summary."""
    for outcome in outcomes:
        LOG.info({"message": "decision", **outcome.log_record()})
        summary.add(outcome)


# --- helpers ---------------------------------------------------------------------------


def guarded(outcome: Outcome, step: Callable[[Outcome], object]) -> bool:
    """Run one resource's step; any exception becomes that resource's error (and False)."""
    try:
        return step(outcome) is not False
    except Exception as exc:
        LOG.debug("powercycle: %s failed", outcome.resource.id, exc_info=True)
        fail(outcome, "internal-error", f"could not be decided: {describe(exc)}")
        return False


def fail(outcome: Outcome, reason: str, error: str, *, keep_reason: bool = False) -> None:
    outcome.result = "failed" if keep_reason else "error"
    if not keep_reason:
        outcome.reason = reason
    outcome.error = error


def _action_error(exc: BaseException) -> ActionError:
    return aws.action_error(exc)


describe = error_line
