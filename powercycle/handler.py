"""Lambda entry point: `powercycle.handler.handler(event, context)`.

No AWS client is made at import: the module imports without credentials, and every run
reads its settings afresh (a changed environment takes effect on the next invocation).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from . import engine
from .config import Config, ConfigError, parse_bool
from .notify import notify

LOG = logging.getLogger("powercycle")

_PAUSE = {"pause": "stop", "hibernate": "stop", "stop": "stop"}
_RESUME = {"resume": "start", "start": "start"}


class EventError(ValueError):
    """The invocation payload is not one the handler understands."""


def handler(event: Mapping[str, Any] | None, context: object = None) -> dict[str, Any]:
    """Run one pass (scheduled event or `{}`) or a manual action; return the summary."""
    setup_logging()
    now = datetime.now(UTC)
    return run_event(dict(event or {}), Config.from_env(), now)


def run_event(event: dict[str, Any], config: Config, now: datetime) -> dict[str, Any]:
    """Dispatch one invocation payload; the handler minus the clock and the environment."""
    dry_run = event.get("dryRun", False)
    if isinstance(dry_run, str):
        dry_run = parse_bool("dryRun", dry_run)
    elif not isinstance(dry_run, bool):
        raise EventError(f"dryRun must be true or false, got {dry_run!r}")
    # An event can ask for a dry run, never out of one: POWERCYCLE_DRY_RUN=true is a guard
    # that a test event with "dryRun": false does not lift.
    if dry_run:
        config = config.with_overrides(dry_run=True)

    if "instanceIds" in event or "clusterNames" in event:
        kind, key = ("ec2", "instanceIds") if "instanceIds" in event else ("eks", "clusterNames")
        refs = event[key]
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs) or not refs:
            raise EventError(f"{key} must be a non-empty list of strings, got {refs!r}")
        raw_action = str(event.get("action", "")).lower()
        action = _PAUSE.get(raw_action) or _RESUME.get(raw_action)
        if action is None:
            raise EventError(
                f"action {event.get('action')!r} is not one of "
                "start/stop (and pause/hibernate/resume for clusters)"
            )
        summary = engine.run_manual(config, kind=kind, refs=refs, action=action, now=now)  # type: ignore[arg-type]
    else:
        summary = engine.run_pass(config, now)
    result = summary.to_dict()
    error = notify(config, result)
    if error:
        result["errors"].append({"id": "sns", "error": error})
    LOG.info(
        json.dumps({"summary": {k: result[k] for k in ("now", "dryRun", "scanned", "counts")}})
    )
    return result


def setup_logging() -> None:
    # Lambda's runtime installs a root handler; elsewhere give our JSON lines a plain one.
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    LOG.setLevel(logging.INFO)
    # botocore's INFO lines ("Found credentials...") would drown the decisions.
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


__all__ = ["ConfigError", "EventError", "handler", "run_event"]
