"""Optional SNS report after a pass (`POWERCYCLE_SNS_TOPIC_ARN`).

Sent only when the pass acted or hit an error: a quiet run sends nothing, so a
subscription does not turn into ninety-six e-mails a day. A pass with failures says so in
its subject and lists them first, one line each, before the full summary.

Message attributes `type` (`pass-report`) and `failures` (a number) let a subscription
take only reports with failures (`{"type": ["pass-report"], "failures": [{"numeric":
[">", 0]}]}`), and keep them apart from the warnings before a stop (`stop-notice`, see
notices.py) that go to the same topic.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from powercycle import aws
from powercycle.config import Config

LOG = logging.getLogger("powercycle")
_SNS_LIMIT = 200_000  # SNS accepts 256 KB; leave room for the envelope
_SUBJECT_LIMIT = 100


def notify(config: Config, summary: dict[str, Any], *, sns_client: Any = None) -> str | None:
    """Publish the pass report; returns an error message when publishing failed."""
    topic = config.sns_topic_arn
    if not topic or not (summary["actions"] or summary["errors"]):
        return None
    failures = failure_lines(summary)
    dry = " (dry run)" if summary["dryRun"] else ""
    subject = (
        f"powercycle{dry}: {len(failures)} failure(s), "
        f"{len(summary['actions'])} action(s), {len(summary['errors'])} error(s)"
    )
    body = report_text(summary, failures)
    if len(body) > _SNS_LIMIT:
        body = body[:_SNS_LIMIT] + "\n... (truncated; the full summary is in the logs)"
    region = topic.split(":")[3] if topic.count(":") >= 5 else config.regions[0]
    try:
        client = sns_client or aws.client("sns", region)
        client.publish(
            TopicArn=topic,
            Subject=subject[:_SUBJECT_LIMIT],
            Message=body,
            MessageAttributes={
                "type": {"DataType": "String", "StringValue": "pass-report"},
                "failures": {"DataType": "Number", "StringValue": str(len(failures))},
            },
        )
    except aws.AWS_ERRORS as exc:
        error = f"SNS notice to {topic} not sent: {aws.describe_error(exc)}"
        LOG.warning({"message": "SNS notice not sent", "error": error})
        return error
    return None


def failure_lines(summary: Mapping[str, Any]) -> list[str]:
    """One line per failed action and per error (an action's own error only once)."""
    lines = []
    failed_ids = set()
    for action in summary["actions"]:
        if action.get("result") != "failed":
            continue
        failed_ids.add(action["id"])
        where = ", ".join(str(action[k]) for k in ("kind", "region") if action.get(k))
        cause = f": {action['error']}" if action.get("error") else ""
        lines.append(f"- {action['id']} ({where}): {action['action']} failed{cause}")
    for error in summary["errors"]:
        if error["id"] in failed_ids:
            continue
        lines.append(f"- {error['id']}: {error['error']}")
    return lines


def report_text(summary: Mapping[str, Any], failures: list[str] | None = None) -> str:
    failures = failure_lines(summary) if failures is None else failures
    parts = []
    if failures:
        parts += [f"{len(failures)} failure(s) in the pass of {summary['now']}:", *failures, ""]
    deferred = int(summary.get("counts", {}).get("deferred", 0))
    if deferred:
        parts += [f"{deferred} resource(s) deferred to the next pass (time budget).", ""]
    parts += ["Full summary:", json.dumps(summary, indent=1)]
    return "\n".join(parts)
