"""The function URL's link pages (payload format 2.0), through Powertools' resolver.

    GET  /link?t=TOKEN   the confirmation page: what the link would do; changes nothing
    POST /link  (t=TOKEN, the page's form)   does it, logs one JSON line, answers the page

The signature is the authentication (the function URL's auth type is `NONE`): a link
names one resource, one action and an expiry, and only powercycle's key can make one
(`core.links`). Expired: 410; forged, of another key, production or unknown: 403; every
answer is a page a person reads. The routes live on `router` (a Powertools `Router`),
which the function URL's door (`powercycle.web`) includes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent

from powercycle import app
from powercycle.core import links
from powercycle.core.schedule import format_utc
from powercycle.links import act, pages
from powercycle.runtime.budget import Budget

LOG = logging.getLogger("powercycle")
BUDGET_SECONDS = 25.0  # a person is waiting: well inside the function URL's time
_MAX_BODY = 4096  # a form with one token

router = Router()  # type: ignore[no-untyped-call]


def _answer(status: int, body: str) -> Response[str]:
    return Response(status_code=status, body=body, headers=dict(pages.HEADERS))


def _guarded(step: Callable[[], Response[str]]) -> Response[str]:
    try:
        return step()
    except act.Refused as exc:
        return _answer(exc.status, pages.refused(exc))


def _now() -> datetime:
    return datetime.now(UTC)


def _budget() -> Budget:
    return Budget(BUDGET_SECONDS)


@router.get(links.PATH)
def show() -> Response[str]:
    """GET: the confirmation page. Reads the resource; writes nothing, ever."""
    token = router.current_event.get_query_string_value("t") or ""

    def step() -> Response[str]:
        plan = act.prepare(app.settings(), token, _now(), _budget())
        return _answer(200, pages.confirm(plan, token))

    return _guarded(step)


@router.post(links.PATH)
def confirm() -> Response[str]:
    """POST (the page's button): act, log one JSON line, answer what was done."""
    event = router.current_event
    body = event.decoded_body or ""
    token = "" if len(body) > _MAX_BODY else (parse_qs(body).get("t") or [""])[0]
    http = LambdaFunctionUrlEvent(event.raw_event).request_context.http
    seen = {"sourceIp": http.source_ip, "userAgent": http.user_agent}

    def step() -> Response[str]:
        config, now = app.settings(), _now()
        try:
            plan = act.prepare(config, token, now, _budget())
        except act.Refused as exc:
            LOG.info(
                {
                    "message": f"link refused: {exc.reason}",
                    "event": "link",
                    "result": "refused",
                    "status": exc.status,
                    **seen,
                }
            )
            raise
        try:
            line = act.carry_out(config, plan, now)
        except act.Refused as exc:
            _log(plan, "failed", exc.reason, seen)
            raise
        _log(plan, "done" if line.startswith("done") else "nothing", line, seen)
        return _answer(200, pages.done(plan, line))

    return _guarded(step)


def _log(plan: act.Plan, result: str, line: str, seen: dict[str, str]) -> None:
    link = plan.link
    record = {
        "action": link.action,
        "hours": link.hours,
        "kind": link.kind,
        "resource": link.resource,
        "region": link.region,
        "account": link.account,
        "expires": format_utc(link.expires),
        "until": format_utc(plan.until),
        "result": result,
        "message": line,
        **seen,
    }
    LOG.info({"event": "link", **record})
