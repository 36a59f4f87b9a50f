"""The Lambda's payloads, parsed in full before anything is called.

Three shapes: a scheduled pass (`{}` or EventBridge's envelope), a manual action (one
kind's payload key, `instanceIds`, ... with `action`), and a worker event (one target of a
fanned-out pass; its fields are `aws.targets`'). Any of them may ask for a dry run. The
manual keys come from the kinds' declarations (`providers.REGISTRY`): no kind is named here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
    if tg.is_worker_event(event):
        try:
            ref, now, dry_run = tg.parse_worker_event(event, received=received)
        except tg.TargetError as exc:
            raise EventError(str(exc)) from None
        return Worker(ref, now, dry_run)
    known = payload_keys()
    unknown = sorted(k for k in event if k not in known | ENVELOPE_KEYS)
    if unknown:
        raise EventError(
            f"unknown payload key {unknown[0]!r}; expected some of "
            f'{", ".join(sorted(known))} (dry run: {{"dryRun": true}})'
        )
    dry_run = dry_run_asked(event)
    keys = manual_keys()
    manual = [key for key in keys if key in event]
    if manual:
        action, key, refs = _manual(event, manual)
        return Manual(keys[key], refs, action, dry_run)
    if "action" in event:
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


def _manual(event: Mapping[str, Any], keys: list[str]) -> tuple[Action, str, list[str]]:
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
    raw_action = event.get("action")
    action = _PAUSE.get(raw_action.lower()) if isinstance(raw_action, str) else None
    if action is None and isinstance(raw_action, str):
        action = _RESUME.get(raw_action.lower())
    if action is None:
        raise EventError(
            f"action {show(raw_action)} is not one of "
            "start/stop (and pause/hibernate/resume for clusters)"
        )
    return action, key, list(dict.fromkeys(refs))
