"""One name, one resource: what the refs of a manual action name (design: "A tag is a
request, never a grant").

A manual payload (`{"clusterNames": ["dev"], "action": "pause"}`) or the CLI's `start` and
`stop` name resources of one kind by id, name or ARN:

- an ARN names exactly its region and account: only the providers of that region whose
  account is that account (or not yet known: the own account) are asked, by the name in
  it; a resource they find in another account is refused, never acted on. Another
  account's ARN is reached through that account's role (`POWERCYCLE_ACCOUNT_ROLES`) or
  found nowhere;
- a name or id is asked of every provider of the kind; found in more than one region or
  account, it is refused listing the candidates' ARNs, and nothing is done to any of them;
- found nowhere, it is an error; only the payload's kind is asked, so never another kind's
  resource of the same name.

The CLI's `tag`, `untag` and `snooze` find resources through `app.find`, which refuses the
same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from powercycle.core.model import Resource
from powercycle.providers.base import Kind


def arn_account(ref: str) -> str:
    """The account of an ARN (`arn:aws:eks:eu-west-1:123456789012:cluster/dev`); "" if none."""
    parts = ref.split(":", 5)
    return parts[4] if len(parts) == 6 and parts[0] == "arn" else ""


def asks(kind: Kind, refs: Sequence[str], *, region: str, account: str) -> dict[str, list[str]]:
    """What to ask the provider of `region` and `account` ("": the own, not yet known):
    name or id -> the refs it answers. An ARN is asked only of its own region and account."""
    asked: dict[str, list[str]] = {}
    for ref in refs:
        parts = kind.arn_parts(ref)
        if parts is None:
            if not ref.startswith("arn:"):  # another kind's ARN names nothing here
                asked.setdefault(ref, []).append(ref)
            continue
        owner = arn_account(ref)
        if parts[0] == region and not (account and owner and owner != account):
            asked.setdefault(parts[1], []).append(ref)
    return asked


def refusal(ref: str, found: Sequence[Resource], *, kind: Kind, where: str) -> str | None:
    """Why `ref` is not acted on (None: it names exactly one resource of `found`)."""
    owner = arn_account(ref)
    if owner:
        elsewhere = [r for r in found if arn_account(r.arn) not in ("", owner)]
        if elsewhere:
            return (
                f"{ref} names account {owner}, but {elsewhere[0].id} in "
                f"{elsewhere[0].region} is in account {arn_account(elsewhere[0].arn)}: "
                "nothing done (an ARN acts only in its own account)"
            )
    if len(found) > 1:
        return f"{ref!r} names {len(found)} resources, nothing done: " + "; ".join(
            sorted(_shown(r) for r in found)
        )
    if found:
        return None
    if ref.startswith("arn:") and kind.arn_parts(ref) is None:
        return f"{ref} is not {kind.refs}: nothing done"
    if owner:
        region = ref.split(":", 5)[3]
        return (
            f"no {kind.name} resource {ref} found: an ARN is looked for only in its own region "
            f"({region}) and account ({owner}), through that account's role when it is "
            "not the Lambda's own"
        )
    return f"no {kind.name} resource {ref!r} found in {where}"


def _shown(resource: Resource) -> str:
    if resource.arn:
        return resource.arn
    account = f"account {resource.account}, " if resource.account else ""
    return f"{resource.kind} {resource.id} ({account}{resource.region})"
