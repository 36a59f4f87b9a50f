"""The CloudFormation side of `powercycle deploy`: the template's parameters, create or
update, wait, and the one line that says why a stack failed.

CloudFormation works asynchronously: a create or an update returns at once, the stack goes
through *_IN_PROGRESS states, and a resource that fails leaves a *_FAILED event whose
ResourceStatusReason says why, followed by "Resource creation cancelled" for the resources
stopped because of it and a rollback. The reason shown is the first failed event of this
operation that is not such an echo.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from powercycle import aws

CAPABILITIES = ["CAPABILITY_IAM"]
POLL_SECONDS = 5.0
WAIT_LIMIT_SECONDS = 3600.0
_NO_UPDATES = "No updates are to be performed"
# Failed events that only echo an earlier failure.
_ECHOES = ("Resource creation cancelled", "Resource update cancelled")


class DeployFailed(Exception):
    """The deploy stopped: the message is the one line shown."""


@dataclass(frozen=True)
class Parameter:
    key: str
    default: str | None
    no_echo: bool


def template_parameters(
    cloudformation: Any, source: dict[str, str], body: str
) -> dict[str, Parameter]:
    """The template's parameters, as CloudFormation reads them (this also validates it),
    else as the template's text lists them."""
    answer = cloudformation.validate_template(**source)
    listed = answer.get("Parameters", [])
    if not listed:
        return parameters_in(body)
    return {
        p["ParameterKey"]: Parameter(
            key=p["ParameterKey"], default=p.get("DefaultValue"), no_echo=bool(p.get("NoEcho"))
        )
        for p in listed
    }


_SECTION = re.compile(r"^(\w+):")
_PARAMETER = re.compile(r"^  (\w+):\s*$")
_NO_ECHO = re.compile(r"^    NoEcho:\s*(true|\"true\"|'true')\s*$", re.IGNORECASE)


def parameters_in(body: str) -> dict[str, Parameter]:
    """The `Parameters:` section of a YAML template laid out as template.yaml is (two
    spaces a level), for a CloudFormation that does not list them (moto)."""
    found: dict[str, Parameter] = {}
    inside, name = False, None
    for line in body.splitlines():
        section = _SECTION.match(line)
        if section:
            inside = section.group(1) == "Parameters"
            continue
        if not inside:
            continue
        parameter = _PARAMETER.match(line)
        if parameter:
            name = parameter.group(1)
            found[name] = Parameter(key=name, default=None, no_echo=False)
        elif name and _NO_ECHO.match(line):
            found[name] = Parameter(key=name, default=None, no_echo=True)
    return found


def describe_stack(cloudformation: Any, stack: str) -> dict[str, Any] | None:
    try:
        found = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except Exception as exc:
        if aws.error_code(exc) == "ValidationError" and "does not exist" in aws.error_message(exc):
            return None
        raise
    return dict(found[0]) if found else None


@dataclass(frozen=True)
class Waited:
    status: str
    failure: str | None


def wait(cloudformation: Any, stack: str, since_event: str | None) -> Waited:
    """Poll until the stack leaves *_IN_PROGRESS, printing each new resource event."""
    seen: set[str] = set()
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while True:
        found = describe_stack(cloudformation, stack)
        if found is None:
            return Waited("DELETE_COMPLETE", None)
        status = str(found["StackStatus"])
        events = operation_events(cloudformation, stack, since_event)
        for event in events:
            if event["EventId"] not in seen:
                seen.add(event["EventId"])
                if event.get("ResourceType") != "AWS::CloudFormation::Stack":
                    say(
                        f"  {event['LogicalResourceId']} ({event['ResourceType']}): "
                        f"{event['ResourceStatus']}"
                    )
        if not status.endswith("_IN_PROGRESS"):
            failed = status.endswith(("FAILED", "ROLLBACK_COMPLETE"))
            return Waited(status, first_failure(events) if failed else None)
        if time.monotonic() > deadline:
            raise DeployFailed(f"stack {stack} still {status} after {WAIT_LIMIT_SECONDS:.0f} s")
        time.sleep(POLL_SECONDS)


def operation_events(
    cloudformation: Any, stack: str, since_event: str | None
) -> list[dict[str, Any]]:
    """This operation's events, oldest first: those after `since_event` (the newest event
    before the operation started; None for a new stack)."""
    newest_first: list[dict[str, Any]] = []
    for page in cloudformation.get_paginator("describe_stack_events").paginate(StackName=stack):
        for event in page.get("StackEvents", []):
            if since_event is not None and event["EventId"] == since_event:
                return newest_first[::-1]
            newest_first.append(event)
    return newest_first[::-1]


def first_failure(events: Sequence[dict[str, Any]]) -> str | None:
    """`Logical (Type) STATUS: reason` of the first resource that failed, oldest first."""
    fallback = None
    for event in events:
        if not str(event.get("ResourceStatus", "")).endswith("_FAILED"):
            continue
        reason = str(event.get("ResourceStatusReason") or "no reason given")
        line = (
            f"{event['LogicalResourceId']} ({event.get('ResourceType', '?')}) "
            f"{event['ResourceStatus']}: {one_line(reason)}"
        )
        if event.get("ResourceType") == "AWS::CloudFormation::Stack" or reason.startswith(_ECHOES):
            fallback = fallback or line
            continue
        return line
    return fallback


def newest_event(cloudformation: Any, stack: str) -> str | None:
    events = cloudformation.describe_stack_events(StackName=stack).get("StackEvents", [])
    return str(events[0]["EventId"]) if events else None


def apply(
    target: Any,
    stack: dict[str, Any] | None,
    source: dict[str, str],
    parameters: list[dict[str, Any]],
) -> tuple[str, bool]:
    """Create or update the stack and wait: (final status, whether anything changed)."""
    cloudformation, name = target.cloudformation, target.stack
    if stack is not None and stack["StackStatus"] == "ROLLBACK_COMPLETE":
        # A first create that failed leaves a stack holding nothing, which can only be
        # deleted: do it, and create again.
        say(f"stack {name} is ROLLBACK_COMPLETE from a failed first create: deleting it")
        before = newest_event(cloudformation, name)
        cloudformation.delete_stack(StackName=name)
        wait(cloudformation, name, before)
        parameters = as_given(parameters, stack)
        stack = None
    request = {
        "StackName": name,
        "Parameters": parameters,
        "Capabilities": CAPABILITIES,
        **source,
    }
    if stack is None:
        say(f"creating stack {name} in {target.region}")
        try:
            cloudformation.create_stack(**request)
        except aws.AWS_ERRORS as exc:
            raise refused(exc, name) from exc
        since = None
    else:
        if unchanged(cloudformation, stack, source, parameters):
            say(f"stack {name} is up to date: nothing to change")
            return str(stack["StackStatus"]), False
        since = newest_event(cloudformation, name)
        say(f"updating stack {name} in {target.region}")
        try:
            cloudformation.update_stack(**request)
        except aws.AWS_ERRORS as exc:
            if _NO_UPDATES not in aws.error_message(exc):
                raise refused(exc, name) from exc
            say(f"stack {name} is up to date: nothing to change")
            return str(stack["StackStatus"]), False
    waited = wait(cloudformation, name, since)
    if waited.status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        reason = waited.failure or "no failed resource reported (see the stack's events)"
        raise DeployFailed(f"{reason} (stack {name}: {waited.status})")
    say(f"stack {name}: {waited.status}")
    return waited.status, True


def as_given(parameters: list[dict[str, Any]], stack: dict[str, Any]) -> list[dict[str, Any]]:
    """For a new create: "keep the previous value" as the value the old stack had (a
    NoEcho value, shown as ****, is left to its default)."""
    old = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
    given = []
    for parameter in parameters:
        if not parameter.get("UsePreviousValue"):
            given.append(parameter)
            continue
        value = old.get(parameter["ParameterKey"])
        if value is not None and value != "****":
            given.append({"ParameterKey": parameter["ParameterKey"], "ParameterValue": value})
    return given


def one_line(text: str) -> str:
    """A reason on one line: CloudFormation's can hold line breaks (kept whole otherwise,
    however long: it is the one thing the person needs)."""
    lines = text.strip().splitlines()
    return " ".join(line.strip() for line in lines) if lines else ""


def refused(exc: BaseException, stack: str) -> Exception:
    """CloudFormation's refusal of a request (a parameter out of its pattern, a missing
    capability, a template error) as one line; credentials and network errors stay as they
    are, for the CLI's hints."""
    if aws.error_code(exc) in ("ValidationError", "InsufficientCapabilitiesException"):
        return DeployFailed(
            f"CloudFormation refused stack {stack}: {one_line(aws.describe_error(exc))}"
        )
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


def unchanged(
    cloudformation: Any,
    stack: dict[str, Any],
    source: dict[str, str],
    parameters: list[dict[str, Any]],
) -> bool:
    """Whether an update would change nothing: the same template, and every value given
    equal to the stack's. (CloudFormation would answer "No updates are to be performed";
    asking first keeps the stack's events free of a refused update.) A NoEcho value cannot
    be compared (the stack shows ****): CloudFormation decides then."""
    if "TemplateBody" not in source:
        return False
    current = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
    for given in parameters:
        if given.get("UsePreviousValue"):
            continue
        if current.get(given["ParameterKey"]) != given["ParameterValue"]:
            return False
    deployed = cloudformation.get_template(StackName=stack["StackName"], TemplateStage="Original")
    return bool(deployed.get("TemplateBody") == source["TemplateBody"])


def outputs_of(stack: dict[str, Any]) -> dict[str, str]:
    return {str(o["OutputKey"]): str(o.get("OutputValue", "")) for o in stack.get("Outputs", [])}


def say(message: str) -> None:
    print(f"deploy: {message}", file=sys.stderr, flush=True)
