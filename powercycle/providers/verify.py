"""What each cloud's own description says about an action an earlier pass had accepted.

The rules of judging (attempts, verdicts) are pure and live in `core/verify.py`; these
functions read one kind's describe answer (no extra call) and say TOOK, PENDING or Failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from powercycle.core.tags import Attempts
from powercycle.core.verify import PENDING, TOOK, Failed, Seen

# --- EC2 -------------------------------------------------------------------------------

# A stopped instance's StateReason that means a person (or its own OS) stopped it: the
# start had taken, and the stop is respected as any manual stop is.
USER_STOPS = frozenset(
    {
        "Client.UserInitiatedShutdown",
        "Client.UserInitiatedHibernate",
        "Client.InstanceInitiatedShutdown",
    }
)
_HINTS = {
    "Client.InternalError": (
        "the usual cause is an encrypted EBS volume whose KMS key the scheduler may not use: "
        "its role needs kms:CreateGrant on the key (template parameter KmsKeyArns)"
    ),
    "Client.VolumeLimitExceeded": (
        "the account's EBS volume limit is reached: raise it in Service Quotas"
    ),
    "Client.InvalidSnapshot.NotFound": (
        "a snapshot in the instance's block device mapping no longer exists"
    ),
    "Server.InsufficientInstanceCapacity": (
        "EC2 had no capacity for the instance type in its zone: `fallbackTypes` in the "
        "schedule lets powercycle start it on another type"
    ),
    "Server.InternalError": "an EC2 internal error: retried on the next pass",
}


def ec2_seen(attempts: Attempts, instance: Mapping[str, Any]) -> Seen:
    """What an instance's description says about an accepted action (no API call)."""
    action, event_time = attempts.action, attempts.time
    state = str(instance.get("State", {}).get("Name", ""))
    if state in ("pending", "stopping", "shutting-down"):
        return PENDING
    if action == "start":
        if state != "stopped":
            return TOOK
        reason = instance.get("StateReason") or {}
        code = str(reason.get("Code", ""))
        if code in USER_STOPS:
            return TOOK  # it ran; a person (or its OS) stopped it since
        return Failed(ec2_reason(code, str(reason.get("Message", ""))))
    if state != "running":
        return TOOK
    launched = instance.get("LaunchTime")
    if isinstance(launched, datetime) and launched >= event_time:
        return TOOK  # started again since the stop: by a person
    since = f" since {launched:%Y-%m-%dT%H:%M:%SZ}" if isinstance(launched, datetime) else ""
    return Failed(f"the instance is still running{since}: the stop never took effect")


def ec2_reason(code: str, message: str) -> str:
    """EC2's `Code: message` (its message often starts with the code), and a hint."""
    if not code:
        text = "EC2 gave no StateReason"
    elif message.startswith(code):
        text = message
    else:
        text = f"{code}: {message}" if message else code
    hint = _HINTS.get(code)
    return f"{text}; {hint}" if hint else text


# --- Auto Scaling groups -----------------------------------------------------------------


def asg_seen(
    attempts: Attempts,
    group: Mapping[str, Any],
    activities: Callable[[], Sequence[Mapping[str, Any]]],
) -> Seen:
    """What a group's description, and only if it is not there yet its scaling activities
    (`activities()`: one `DescribeScalingActivities`), say about an accepted action."""
    desired = int(group.get("DesiredCapacity", 0))
    members = [str(i.get("LifecycleState", "")) for i in group.get("Instances", ())]
    if attempts.action == "start":
        if desired > 0 and members.count("InService") >= desired:
            return TOOK
    elif desired == 0 and not [m for m in members if m != "Standby"]:
        return TOOK
    failed = [
        a
        for a in activities()
        if a.get("StatusCode") == "Failed" and _since(a.get("StartTime"), attempts.time)
    ]
    if not failed:
        return PENDING
    latest = max(failed, key=lambda a: a.get("StartTime") or attempts.time)
    message = str(latest.get("StatusMessage") or latest.get("Description") or "no message")
    return Failed(
        f"scaling activity failed: {message}; the group keeps trying by itself", retry=False
    )


def _since(moment: object, event: datetime) -> bool:
    return isinstance(moment, datetime) and moment >= event


# --- ECS services ------------------------------------------------------------------------


def ecs_seen(attempts: Attempts, service: Mapping[str, Any]) -> Seen:
    """What a service's description says about an accepted action (no API call). A start
    has failed when its tasks have not reached the desired count and its primary deployment
    failed (`rolloutState` FAILED: the circuit breaker gave up); ECS's reason is reported.
    ECS does not try a failed deployment again by itself, nor would the same update."""
    desired = int(service.get("desiredCount", 0))
    running = int(service.get("runningCount", 0))
    if attempts.action == "stop":
        return TOOK if running == 0 or desired > 0 else PENDING  # > 0: started again since
    if desired == 0 or running >= desired:
        return TOOK  # it ran (or a person stopped it since)
    deployments: list[Mapping[str, Any]] = list(service.get("deployments") or ())
    deployment = next((d for d in deployments if d.get("status") == "PRIMARY"), {})
    if deployment.get("rolloutState") != "FAILED":
        return PENDING
    reason = str(deployment.get("rolloutStateReason") or "no reason given")
    return Failed(
        f"{running} of {desired} tasks running, deployment {deployment.get('id', '?')} "
        f"failed: {reason}",
        retry=False,
    )
