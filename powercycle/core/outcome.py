"""What a pass reports: one `Outcome` per resource, and the `Summary` of them all.

Counting rules (the summary adds up): every resource seen is `scanned` once and has exactly
one result, so the `counts` of results sum to `scanned`:

- `done`: an action was accepted; `planned`: it would have been (dry run, or a manual
  action before it ran); `failed`: an action was refused; `deferred`: the pass budget ran
  out before it was reached (nothing recorded: the next pass picks it up);
- `none`: nothing to do; `skipped`: excluded, snoozed or left to its group;
- `error`: the resource could not be decided (bad tag, unreachable document, ...).

`errors` lists every `failed` or `error` resource with its cause, and every scope (a
provider in a region or account) that could not be scanned at all: those resources were
never seen, so they are in no count; `scopes` says what was scanned. A done action whose
state tag could not be written is a `warning`, not an error: the action stands, and the
next pass records the event when it finds the resource already in its state.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from powercycle.core.decide import Decision
from powercycle.core.schedule import Action, Schedule, format_utc
from powercycle.core.tags import Marks

if TYPE_CHECKING:
    from powercycle.core.model import Resource
    from powercycle.providers.base import Provider

RESULTS = ("done", "planned", "failed", "deferred", "none", "skipped", "error")


@dataclass
class Outcome:
    """What happened to one resource in this pass; becomes its log line."""

    resource: Resource
    provider: Provider
    source: str = ""
    state: str | None = None
    decision: Decision | None = None
    schedule: Schedule | None = None
    result: str = "none"  # one of RESULTS
    reason: str = ""
    error: str | None = None
    warning: str | None = None
    recorded: str | None = None
    # The resource's powercycle:* marks, read once when it is screened (`core.tags`).
    marks: Marks | None = None

    @property
    def action(self) -> Action | None:
        return self.decision.action if self.decision else None

    def where(self) -> dict[str, str]:
        account = self.resource.account
        return {
            "kind": self.resource.kind,
            "region": self.resource.region,
            **({"account": account} if account else {}),
        }

    def log_record(self) -> dict[str, Any]:
        event = self.decision.event if self.decision else None
        name = self.resource.tags.get("Name")
        return {
            "resource": self.resource.id,
            **({"name": name} if name else {}),
            **self.where(),
            "source": self.source,
            "event": event.tag_value() if event else None,
            "state": self.state,
            "action": self.action,
            "reason": self.reason,
            "result": self.result,
            "record": self.recorded,
            **({"error": self.error} if self.error else {}),
            **({"warning": self.warning} if self.warning else {}),
        }


@dataclass
class Summary:
    now: datetime
    dry_run: bool
    scanned: int = 0
    actions: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    scopes: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    # Every resource's outcome, for the CLI's tables (not part of the JSON summary).
    outcomes: list[Outcome] = field(default_factory=list)

    def add_scope(
        self,
        *,
        kind: str,
        region: str,
        account: str = "",
        resources: int | None = None,
        error: str | None = None,
        deferred: bool = False,
    ) -> None:
        """A provider's region (and account): scanned, failed or not reached."""
        where = {"kind": kind, "region": region, **({"account": account} if account else {})}
        status = "deferred" if deferred else "error" if error else "ok"
        self.scopes.append(
            {**where, "status": status, **({"resources": resources} if resources else {})}
        )
        if error or deferred:
            scope = ":".join(filter(None, (kind, account, region)))
            self.errors.append(
                {"id": scope, **where, "error": error or "pass budget spent: not scanned"}
            )

    def add_error(self, resource_id: str, error: str, **where: str) -> None:
        """An error that belongs to no scanned resource (a manual ref not found, SNS)."""
        self.errors.append({"id": resource_id, **where, "error": error})

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        self.scanned += 1
        self.counts[outcome.result] += 1
        self.reasons[outcome.reason] += 1
        where = outcome.where()
        if outcome.action is not None:
            entry: dict[str, Any] = {
                "id": outcome.resource.id,
                **where,
                "action": outcome.action,
                "reason": outcome.reason,
                "result": outcome.result,
            }
            if outcome.error:
                entry["error"] = outcome.error
            elif outcome.warning:  # done, with a note: a fallback type, a clamped size
                entry["warning"] = outcome.warning
            self.actions.append(entry)
        if outcome.error:
            self.errors.append({"id": outcome.resource.id, **where, "error": outcome.error})
        if outcome.resource.unhandled:
            # An earlier pass's action did not take (its event is retried in this pass).
            self.errors.append(
                {"id": outcome.resource.id, **where, "error": outcome.resource.unhandled}
            )
        if outcome.warning:
            self.warnings.append({"id": outcome.resource.id, **where, "warning": outcome.warning})

    def to_dict(self) -> dict[str, Any]:
        return {
            "now": format_utc(self.now),
            "dryRun": self.dry_run,
            "scanned": self.scanned,
            "actions": self.actions,
            "errors": self.errors,
            "warnings": self.warnings,
            "scopes": self.scopes,
            "counts": dict(sorted(self.counts.items())),
            "reasons": dict(sorted(self.reasons.items())),
        }
