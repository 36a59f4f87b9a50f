"""Lambda entry point: `powercycle.handler.handler(event, context)`.

The door only: tell the event apart (Powertools' event data classes, `events.classify`),
build nothing itself, call the one wiring (`app`), or the function URL's resolver (`web`)
for an HTTP request. No AWS client is made at import: the module imports without
credentials, and every run reads its settings afresh (a changed environment takes effect on
the next invocation).

Logs: the one Powertools Logger (`runtime.logs`), with Lambda's context (request id, cold
start) on every line of the invocation. `context` may be None (the CLI's demo, local runs,
tests): the lines are the same JSON, without the context's fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent

from powercycle import app, events
from powercycle.config import Config, ConfigError
from powercycle.events import EventError, dry_run_asked
from powercycle.runtime import logs
from powercycle.runtime.budget import Budget


def handler(event: Mapping[str, Any] | None, context: Any = None) -> dict[str, Any]:
    """Run one pass (scheduled event or `{}`), a manual action, a worker's target, or
    answer a function URL request; return the summary (or the HTTP response)."""
    logger = logs.for_lambda()
    if context is None or not hasattr(context, "aws_request_id"):
        logger.remove_keys(logs.CONTEXT_KEYS)  # no earlier invocation's request id
        return _invoke(event, context)
    with_context = logger.inject_lambda_context(clear_state=True)(_invoke)
    result: dict[str, Any] = with_context(event, context)
    return result


def _invoke(event: Mapping[str, Any] | None, context: Any) -> dict[str, Any]:
    if event is not None and is_http(event):
        from powercycle import web  # its router is imported only for a request

        return web.resolve(event, context)
    now = datetime.now(UTC)
    config = app.settings()
    budget = Budget.for_lambda(context, default=config.budget_seconds)
    payload = event if event is not None else {}
    return run_event(payload, config, now, budget=budget, context=context)


def is_http(event: Mapping[str, Any]) -> bool:
    """Whether the event is a function URL request (payload format 2.0: `requestContext.http`),
    told by Powertools' data classes (`events.classify`)."""
    return isinstance(event, Mapping) and isinstance(events.classify(event), LambdaFunctionUrlEvent)


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


__all__ = ["ConfigError", "EventError", "dry_run_asked", "handler", "run_event"]
