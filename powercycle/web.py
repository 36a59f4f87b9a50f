"""The function URL's door: requests (payload format 2.0) through Powertools'
`LambdaFunctionUrlResolver`.

`handler` sends every event carrying `requestContext.http` (`handler.is_http`) to
`resolve`. The link pages (`powercycle.links`, `GET`/`POST /link`) are included from
their router; any other path answers 404, as HTML to a browser (`Accept: text/html`) and
as JSON to anything else.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from powercycle import links

resolver = LambdaFunctionUrlResolver()
resolver.include_router(links.router)


def resolve(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The HTTP response (payload format 2.0) for one function URL request."""
    return resolver.resolve(dict(event), context)


@resolver.not_found
def _not_found(_: NotFoundError) -> Response[str]:
    event = resolver.current_event
    method, path = event.http_method, event.path
    accept = (event.headers or {}).get("accept", "")
    error = f"no page at {method} {path}"
    if "text/html" in accept:
        body = (
            "<!doctype html><html><head><meta charset=utf-8><title>Not found</title></head>"
            f"<body><h1>Not found</h1><p>powercycle has {html.escape(error)}.</p></body></html>"
        )
        return Response(404, "text/html; charset=utf-8", body)
    return Response(404, "application/json", json.dumps({"error": error}))
