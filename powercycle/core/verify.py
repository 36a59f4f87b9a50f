"""Verified actions: an action one pass had accepted is checked by the next.

A cloud API that accepts a call has not yet done the work. EC2 accepts a start it cannot
carry out and puts the instance back to `stopped` a minute later, with a `StateReason`
(`Client.InternalError: Client error on launch` when an encrypted EBS volume's KMS key may
not be used by the caller); a pass that believed the call would record the event as
handled and never try again.

So when an action is accepted, the resource is tagged `powercycle:attempts` =
`<action>@<event UTC>/<n>`: the event it answers (the value the state tag records) and
how many times it has been tried. The next pass that discovers a resource with that tag
judges it, from what discovery already returned (no extra call for the rest of the fleet):

- the state tag names another event (a newer one was handled): the tag is stale: ignored;
- the resource is in the event's state (or a person changed it since: `Client.
  UserInitiatedShutdown` after a start that took): the action took: nothing to do;
- in transition: judged on a later pass;
- back in the old state with the cloud's reason: the action did not take. Under
  `POWERCYCLE_MAX_ATTEMPTS` attempts the resource is handed to the engine `unhandled` with
  `retry` set, so the event is decided and acted on again, reason `retry` (attempt n + 1);
  after them the event stays handled (nothing is done) and the resource is reported
  `unhandled` on every pass until the next event is recorded, which makes the tag stale.

State lives in the tag, never in the process: a cold Lambda judges as a warm one does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from powercycle.core import tags
from powercycle.core.model import NOTED, ActionError, ActRequest
from powercycle.core.tags import Attempts

ATTEMPTS_TAG = tags.ATTEMPTS
TYPE_TAG = tags.TYPE  # the instance type an instance had before a capacity fallback


def exhausted(tags: Mapping[str, str], event: str | None, max_attempts: int) -> Attempts | None:
    """The attempts tag when `event` has already been tried `max_attempts` times."""
    attempts = Attempts.parse(tags.get(ATTEMPTS_TAG))
    if attempts is None or event is None or attempts.event != event:
        return None
    return attempts if attempts.count >= max_attempts else None


def refuse_exhausted(
    requests: Sequence[ActRequest], max_attempts: int
) -> tuple[dict[str, ActionError | None], list[ActRequest]]:
    """Split off the requests for an event already tried `max_attempts` times (`enforce`
    asks again on every pass): they are answered without a call."""
    refused: dict[str, ActionError | None] = {}
    allowed: list[ActRequest] = []
    for request in requests:
        spent = exhausted(request.resource.tags, request.event, max_attempts)
        if spent is None:
            allowed.append(request)
        else:
            refused[request.resource.id] = ActionError(
                "AttemptsExhausted",
                f"{spent.action} tried {spent.count} times for {spent.event} without effect; "
                "not tried again until the next event",
            )
    return refused, allowed


def accepted(
    requests: Sequence[ActRequest],
    results: Mapping[str, ActionError | None],
    state_tag: str,
) -> tuple[dict[str, Attempts], dict[str, Attempts]]:
    """The attempts of accepted actions: (with the state tag, on their own).

    Most ride in the state tag's CreateTags (`record`). The engine records no state for an
    event the state tag already holds (`enforce` asking again): those go on their own.
    """
    with_state: dict[str, Attempts] = {}
    alone: dict[str, Attempts] = {}
    for request in requests:
        resource = request.resource
        if request.event is None or resource.id not in results:
            continue
        answer = results[resource.id]
        if answer is not None and answer.code != NOTED:  # NOTED: accepted, with a note
            continue
        attempt = Attempts.after(resource.tags, request.event)
        same = resource.tags.get(state_tag) == request.event
        (alone if same else with_state)[resource.id] = attempt
    return with_state, alone


# What the provider saw of an action of an earlier pass.
TOOK = "took"
PENDING = "pending"


@dataclass(frozen=True)
class Failed:
    """The action did not take; `reason` is the cloud's own, with a hint when one helps.

    `retry` False: doing the action again would change nothing (an Auto Scaling group
    already has its sizes and retries its launches by itself): reported, not retried.
    """

    reason: str
    retry: bool = True


Seen = str | Failed


@dataclass(frozen=True)
class Verdict:
    # Judged (took, stale, unreadable): nothing to retry or report. The tag is not removed
    # (an idle pass writes nothing); the next action's write overwrites it.
    drop_tag: bool = False
    unhandled: str | None = None  # reported in the summary's errors
    retry: bool = False  # hand the tags over without the state tag: decide the event again


def judge(
    raw: str, state: str | None, seen: Seen | None, *, max_attempts: int
) -> Verdict:
    """The verdict on an attempts tag `raw`, given the state tag and what was seen.

    `seen` is None when the provider did not look (the tag is stale anyway, or unreadable).
    """
    attempts = Attempts.parse(raw)
    if attempts is None or attempts.event != state:
        return Verdict(drop_tag=True)
    if seen == PENDING:
        return Verdict()
    if not isinstance(seen, Failed):
        return Verdict(drop_tag=True)
    action = attempts.action
    if not seen.retry:
        return Verdict(unhandled=f"{action} has not taken: {seen.reason}")
    if attempts.count < max_attempts:
        return Verdict(
            unhandled=(
                f"{action} did not take (attempt {attempts.count} of {max_attempts}): "
                f"{seen.reason}"
            ),
            retry=True,
        )
    return Verdict(
        unhandled=(
            f"{action} did not take after {attempts.count} attempts for {attempts.event}: "
            f"{seen.reason}; not tried again until the next event"
        )
    )


def check(
    raw: str, state: str | None, look: Callable[[Attempts], Seen], max_attempts: int
) -> Verdict:
    """`judge`, looking (`look(attempts)`) only when the tag names the state tag's event."""
    attempts = Attempts.parse(raw)
    seen = look(attempts) if attempts is not None and attempts.event == state else None
    return judge(raw, state, seen, max_attempts=max_attempts)
