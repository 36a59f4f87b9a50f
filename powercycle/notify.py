"""Optional SNS notice after a pass (`POWERCYCLE_SNS_TOPIC_ARN`).

Sent only when the pass acted or hit an error: a quiet run sends nothing, so a
subscription does not turn into ninety-six e-mails a day.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from . import aws
from .config import Config

LOG = logging.getLogger("powercycle")
_SNS_LIMIT = 200_000  # SNS accepts 256 KB; leave room for the envelope


def notify(config: Config, summary: dict[str, Any]) -> str | None:
    """Publish the summary; returns an error message when publishing failed."""
    topic = config.sns_topic_arn
    if not topic or not (summary["actions"] or summary["errors"]):
        return None
    subject = (
        f"powercycle{' (dry run)' if summary['dryRun'] else ''}: "
        f"{len(summary['actions'])} action(s), {len(summary['errors'])} error(s)"
    )
    body = json.dumps(summary, indent=1)
    if len(body) > _SNS_LIMIT:
        body = body[:_SNS_LIMIT] + "\n... (truncated; the full summary is in the logs)"
    region = topic.split(":")[3] if topic.count(":") >= 5 else config.regions[0]
    try:
        aws.client("sns", region).publish(TopicArn=topic, Subject=subject[:100], Message=body)
    except aws.AWS_ERRORS as exc:
        error = f"SNS notice to {topic} not sent: {aws.describe_error(exc)}"
        LOG.warning(json.dumps({"error": error}))
        return error
    return None
