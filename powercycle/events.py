"""The Lambda's payloads, told apart by Powertools' event data classes, then parsed in
full before anything is called.

`classify` wraps an event in the data class of its shape: a function URL request
(`LambdaFunctionUrlEvent`, for `web`'s resolver), EventBridge's scheduled event
(`EventBridgeEvent`), a worker event (`WorkerEvent`: one target of a fanned-out pass, its
fields `aws.targets`'), or a payload (`Payload`: `{}`, a dry run, a manual action: one kind's
payload key, `instanceIds`, ... with `action`). The data classes only name the fields; the
strict parsing stays here and in `aws.targets.parse_worker_event`, because a data class
reads what is there and ignores the rest, where a typo of `dryRun` must be refused, never
run live. So the scheduled event's envelope keys are tolerated beside the payload keys (a
rule's scheduled event carries an empty `detail`) and a worker event must carry exactly its
own keys. The manual keys come from the kinds' declarations (`providers.REGISTRY`): no kind
is named here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, LambdaFunctionUrlEvent
from aws_lambda_powertools.utilities.data_classes.common import DictWrapper

from powercycle.aws import targets as tg
from powercycle.config import ConfigError, parse_bool
from powercycle.core.document import show
from powercycle.core.schedule import Action
from powercycle.providers import REGISTRY

_PAUSE: dict[str, Action] = {"pause": "stop", "hibernate": "stop", "stop": "stop"}
_RESUME: dict[str, Action] = {"resume": "start", "start": "start"}
# EventBridge's scheduled-event envelope: a scheduled pass.
ENVELOPE_KEYS = frozenset(
    {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
)
DRY_RUN_KEYS = ("dryRun", "DryRun")
MAX_REFS = 1000


class EventError(ValueError):
    """The invocation payload is not one the handler understands."""


@dataclass(frozen=True)
class Scheduled:
    """A scheduling pass over every target."""

    dry_run: bool


@dataclass(frozen=True)
class Manual:
    """Act now on the resources of one kind a payload names."""

    kind: str
    refs: list[str]
    action: Action
    dry_run: bool


@dataclass(frozen=True)
class Worker:
    """One target of a fanned-out pass, at the orchestrator's `now`."""

    target: tg.TargetRef
    now: datetime
    dry_run: bool


Event = Scheduled | Manual | Worker


class WorkerEvent(DictWrapper):
    """One target of a fanned-out pass, as `aws.targets.worker_event` sends it."""

    @property
    def target(self) -> object:
        return self.get("target")

    @property
    def now(self) -> object:
        return self.get("now")

    @property
    def dry_run(self) -> object:
        return self.get("dryRun")

    def parse(self, *, received: datetime | None = None) -> Worker:
        """Checked strictly: exactly its keys, a known account and region, a fresh `now`."""
        try:
            ref, now, dry_run = tg.parse_worker_event(self.raw_event, received=received)
        except tg.TargetError as exc:
            raise EventError(str(exc)) from None
        return Worker(ref, now, dry_run)


class Payload(DictWrapper):
    """A scheduled pass (`{}`), a dry run, or a manual action; what a person or a rule's
    constant input sends."""

    @property
    def action(self) -> object:
        return self.get("action")

    @property
    def manual_keys(self) -> list[str]:
        """The manual payload keys present (one, or none for a pass)."""
        return [key for key in manual_keys() if key in self]

    @property
    def unknown_keys(self) -> list[str]:
        """Keys neither a payload's nor EventBridge's envelope's, sorted."""
        known = payload_keys() | ENVELOPE_KEYS
        return sorted(str(k) for k in self if k not in known)


Shape = LambdaFunctionUrlEvent | EventBridgeEvent | WorkerEvent | Payload


def classify(event: Mapping[str, Any]) -> Shape:
    """The Powertools data class of the event's shape (not yet checked: see `parse`).

    A function URL request carries `requestContext.http` (payload format 2.0); a worker event
    `target`; EventBridge's scheduled event its `detail-type`; anything else is a payload.
    """
    data = dict(event)
    request = event.get("requestContext")
    if isinstance(request, Mapping) and isinstance(request.get("http"), Mapping):
        return LambdaFunctionUrlEvent(data)
    if tg.is_worker_event(event):
        return WorkerEvent(data)
    if "detail-type" in event:
        return EventBridgeEvent(data)
    return Payload(data)


def manual_keys() -> dict[str, str]:
    """Manual payload key -> the kind of resource it names."""
    return {key: kind.name for key, kind in REGISTRY.by_payload_key().items()}


def payload_keys() -> frozenset[str]:
    return frozenset({*DRY_RUN_KEYS, "action", *manual_keys()})


def parse(event: object, *, received: datetime | None = None) -> Event:
    """The payload as one of the three shapes; EventError when it is none of them.

    An unknown key (a typo of `dryRun` above all) is refused, never ignored into a live run.
    """
    if not isinstance(event, Mapping):
        raise EventError(f"the payload must be a JSON object, got {type(event).__name__}")
    shape = classify(event)
    if isinstance(shape, WorkerEvent):
        return shape.parse(received=received)
    # EventBridge's scheduled event is a pass; its envelope keys are tolerated beside the
    # payload's (a rule's constant input never has them), so both are read as a payload. A
    # function URL request (`handler` sends it to the resolver first) is refused as one.
    payload = shape if isinstance(shape, Payload) else Payload(shape.raw_event)
    if payload.unknown_keys:
        raise EventError(
            f"unknown payload key {payload.unknown_keys[0]!r}; expected some of "
            f'{", ".join(sorted(payload_keys()))} (dry run: {{"dryRun": true}})'
        )
    dry_run = dry_run_asked(payload)
    keys = manual_keys()
    if payload.manual_keys:
        action, key, refs = _manual(payload, payload.manual_keys)
        return Manual(keys[key], refs, action, dry_run)
    if "action" in payload:
        raise EventError(f"action needs one of {', '.join(keys)}")
    return Scheduled(dry_run)


def manual_event(
    kind: str, refs: list[str], action: Action, *, dry_run: bool = False
) -> dict[str, Any]:
    """The payload of a manual action on resources of `kind`."""
    return {REGISTRY[kind].payload_key: refs, "action": action, "dryRun": dry_run}


def dry_run_asked(event: Mapping[str, Any]) -> bool:
    """`dryRun` (true/false, or the strings) or ec2-powercycle's `DryRun` ("True", any case).

    Only a clear true or false is accepted (and the words true/false/1/0/yes/no/on/off):
    `""`, `null`, `"maybe"` are refused, never read as a live run.
    """
    asked = False
    for key in DRY_RUN_KEYS:
        if key not in event:
            continue
        value = event[key]
        if isinstance(value, str) and value.strip():
            with contextlib.suppress(ConfigError):  # not a word: refused just below
                value = parse_bool(key, value)
        if not isinstance(value, bool):
            raise EventError(f"{key} must be true or false, got {show(value)}")
        asked = asked or value
    return asked


def _manual(event: Payload, keys: list[str]) -> tuple[Action, str, list[str]]:
    if len(keys) > 1:
        raise EventError(f"one of {' or '.join(keys)} per payload, not both")
    key = keys[0]
    refs = event[key]
    if (
        not isinstance(refs, list)
        or not refs
        or len(refs) > MAX_REFS
        or not all(isinstance(r, str) and 0 < len(r) <= 256 for r in refs)
    ):
        raise EventError(f"{key} must be a list of 1 to {MAX_REFS} names or ids, got {show(refs)}")
    raw_action = event.action
    action = _PAUSE.get(raw_action.lower()) if isinstance(raw_action, str) else None
    if action is None and isinstance(raw_action, str):
        action = _RESUME.get(raw_action.lower())
    if action is None:
        raise EventError(
            f"action {show(raw_action)} is not one of "
            "start/stop (and pause/hibernate/resume for clusters)"
        )
    return action, key, list(dict.fromkeys(refs))
