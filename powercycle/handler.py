"""Lambda entry point: `powercycle.handler.handler(event, context)`.

The door only: parse the event (`events`), build nothing itself, call the one wiring
(`app`). No AWS client is made at import: the module imports without credentials, and
every run reads its settings afresh (a changed environment takes effect on the next
invocation).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from powercycle import app, events
from powercycle.app import setup_logging
from powercycle.config import Config, ConfigError
from powercycle.events import EventError, dry_run_asked
from powercycle.runtime.budget import Budget


def handler(event: Mapping[str, Any] | None, context: object = None) -> dict[str, Any]:
    """Run one pass (scheduled event or `{}`) or a manual action; return the summary."""
    if isinstance(event, dict) and _is_http(event):
        from powercycle.links import serve  # a function URL request: a link's page

        return serve(event, context)
    setup_logging()
    now = datetime.now(UTC)
    config = app.settings()
    budget = Budget.for_lambda(context, default=config.budget_seconds)
    payload = event if event is not None else {}
    return run_event(payload, config, now, budget=budget, context=context)


def _is_http(event: Mapping[str, Any]) -> bool:
    """A function URL request (payload format 2.0) carries `requestContext.http`."""
    request = event.get("requestContext")
    return isinstance(request, Mapping) and isinstance(request.get("http"), Mapping)


def run_event(
    event: Mapping[str, Any],
    config: Config,
    now: datetime,
    *,
    budget: Budget | None = None,
    context: object = None,
) -> dict[str, Any]:
    """Dispatch one invocation payload; the handler minus the clock and the environment.

    The payload is checked in full before anything is called: an unknown key (a typo of
    `dryRun` above all) is refused, never ignored into a live run. `context` is Lambda's:
    a pass over more targets than `POWERCYCLE_FANOUT_THRESHOLD` dispatches one worker
    invocation per target of its own function instead of scanning them itself.
    """
    parsed = events.parse(event, received=now)
    function = getattr(context, "invoked_function_arn", None)
    return app.run_event(
        parsed,
        config,
        now,
        budget=budget,
        function=function if isinstance(function, str) else None,
    )


__all__ = ["ConfigError", "EventError", "dry_run_asked", "handler", "run_event", "setup_logging"]
