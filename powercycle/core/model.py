"""The values every layer shares: a discovered resource, an action request and its error.

Pure data: no boto3, no HTTP, no clock. Providers build `Resource`s and answer
`ActRequest`s with `ActionError`s; the engine reads them without knowing the kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from powercycle.core.decide import Power
from powercycle.core.schedule import Schedule

__all__ = ["DEFERRED", "NOTED", "ActRequest", "ActionError", "Power", "Resource"]

# The code of an ActionError for a resource the provider did not reach before the pass
# budget ran out: the engine reports it as `deferred` and records nothing.
DEFERRED = "Deferred"
# The code of an ActionError for an action that was accepted with something to report (a
# node group deleted since the stop, so not restored): the engine reports it as `done` with
# the message as its warning.
NOTED = "Noted"


@dataclass(frozen=True)
class Resource:
    """One schedulable thing, as discovered: everything `decide` needs and nothing more."""

    kind: str
    id: str
    region: str
    tags: Mapping[str, str] = field(repr=False)
    power: Power | None
    running_since: datetime | None = None
    # The provider's own reason never to touch it (e.g. an Auto Scaling group member).
    skip: str | None = None
    # The provider could not make it schedulable (e.g. unknown to CAST AI).
    error: str | None = None
    # An action accepted by an earlier pass that did not take (a CAST AI operation that
    # ended in an error, an EC2 start that bounced): reported as failed on every pass until
    # the next event is recorded (`core.verify`).
    unhandled: str | None = None
    # ... and, under `POWERCYCLE_MAX_ATTEMPTS` attempts, to be tried again: the decision
    # acts on the event the state tag records once more, reason `retry`.
    retry: bool = False
    # The AWS account it lives in ("" when the pass scans only its own account).
    account: str = ""
    # Its ARN, when the provider read one (manual refs are told apart by it).
    arn: str = ""
    # When its own service started it by itself after the last handled stop (RDS starts a
    # database stopped for 7 days), as that service's events say; None: not seen.
    auto_restarted: datetime | None = None


@dataclass(frozen=True)
class ActionError:
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


@dataclass(frozen=True)
class ActRequest:
    resource: Resource
    # None for manual actions (payload): no schedule options apply.
    schedule: Schedule | None
    # The state tag value the action will be recorded as (`start@2026-11-23T08:00:00Z`);
    # None for manual actions. Providers check accepted actions by it (`providers.verify`).
    event: str | None = None
