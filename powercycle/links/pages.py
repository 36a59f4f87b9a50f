"""The pages a link answers with: plain HTML and a little CSS, no script, phone-sized.

Every value shown is escaped. The confirmation page's only control is a form that POSTs
the token back to the same address: following the link (a GET, what a mail scanner does)
shows the page and changes nothing. Headers keep the page out of caches, frames and
referrers, and allow no script at all (`Content-Security-Policy`).
"""

from __future__ import annotations

from html import escape

from powercycle.core import links
from powercycle.links.act import Plan, Refused
from powercycle.providers import REGISTRY

HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
}

_STYLE = """
body{font:17px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
background:#f4f5f7;color:#1d2330}
main{max-width:34rem;margin:0 auto;padding:1.25rem}
h1{font-size:1.35rem;margin:.5rem 0 1rem}
.card{background:#fff;border-radius:12px;padding:1rem 1.1rem;box-shadow:0 1px 3px #0002}
dl{display:grid;grid-template-columns:auto 1fr;gap:.35rem .9rem;margin:0 0 1rem}
dt{color:#5b6475}dd{margin:0;font-weight:600;overflow-wrap:anywhere}
button{width:100%;font:inherit;font-weight:700;padding:.9rem;border:0;border-radius:10px;
background:#1f6feb;color:#fff}
.note{color:#5b6475;font-size:.9rem;margin-top:1rem}
.done h1{color:#137333}.refused h1{color:#b3261e}
"""


def _page(title: str, body: str, css_class: str = "") -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} - powercycle</title><style>{_STYLE}</style></head>"
        f'<body class="{css_class}"><main><h1>{escape(title)}</h1>'
        f'<div class="card">{body}</div></main></body></html>'
    )


def _facts(plan: Plan) -> str:
    kind = REGISTRY[plan.link.kind].title if plan.link.kind in REGISTRY else plan.link.kind
    rows = [("Resource", plan.name), ("Kind", kind)]
    if plan.name != plan.resource.id:
        rows.append(("Id", plan.resource.id))
    where = plan.link.region + (f", account {plan.link.account}" if plan.link.account else "")
    rows.append(("Where", where))
    if plan.link.action == "wake":
        rows += [("Now", _power(plan)), ("Runs until", f"{plan.local(plan.until)} (next stop)")]
    else:
        rows += [("Stops at", plan.local(plan.current)), ("New stop", plan.local(plan.until))]
    rows.append(("Time zone", plan.tz))
    cells = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    return f"<dl>{cells}</dl>"


def confirm(plan: Plan, token: str) -> str:
    """The page a GET shows: what will happen; only its button acts."""
    title, button = _wording(plan)
    if plan.nothing:
        body = _facts(plan) + f"<p>{escape(plan.nothing)}. Nothing to do.</p>"
        return _page("Nothing to do", body)
    expiry = f"{plan.link.expires:%Y-%m-%d %H:%M} UTC"
    form = (
        f'<form method="post" action="{links.PATH}">'
        f'<input type="hidden" name="t" value="{escape(token)}">'
        f'<button type="submit">{escape(button)}</button></form>'
    )
    note = (
        '<p class="note">Only this resource, only this once. Opening the link changed '
        f"nothing; the button does. The link works until {escape(expiry)}.</p>"
    )
    return _page(title, _facts(plan) + form + note)


def done(plan: Plan, line: str) -> str:
    """The answer to the button: what was done (or that nothing needed doing)."""
    title = "Done" if line.startswith("done") else "Nothing changed"
    return _page(title, _facts(plan) + f"<p>{escape(line)}</p>", "done")


def refused(exc: Refused) -> str:
    body = (
        f"<p>{escape(exc.reason)}.</p>"
        if not exc.reason.endswith(".")
        else (f"<p>{escape(exc.reason)}</p>")
    )
    body += "<p class=\"note\">Ask the resource's owner or powercycle's operator for help.</p>"
    return _page(exc.title, body, "refused")


def _wording(plan: Plan) -> tuple[str, str]:
    when = plan.local(plan.until)
    if plan.link.action == "extend":
        hours = f"{plan.link.hours} hour{'s' if plan.link.hours != 1 else ''}"
        return f"Keep {plan.name} running {hours} more?", f"Keep it running until {when}"
    if plan.link.action == "skip":
        return f"Skip this stop of {plan.name}?", f"Skip the stop: run until {when}"
    return f"Start {plan.name} now?", f"Start it now (until {when})"


def _power(plan: Plan) -> str:
    power = plan.resource.power
    return power.value if power is not None else "unknown"
