"""Warning owners within a pass: which resources get a stop notice now, publishing them,
and recording `powercycle:notice` so that no stop is announced twice.

The rules live in `notices` (pure); this is the pass's side of it. Publish first, record
after: a tag that cannot be written costs at most one repeated warning, never a stop
without one. A notice that could not be sent is recorded nowhere, so the next pass sends
it; none of this ever changes what the pass does to the resource itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from powercycle import aws
from powercycle.aws import sealkey
from powercycle.config import Config
from powercycle.core.outcome import Outcome, Summary
from powercycle.report import links, notices
from powercycle.runtime.budget import Budget

LOG = logging.getLogger("powercycle")


def warn_owners(
    config: Config,
    outcomes: Sequence[Outcome],
    now: datetime,
    *,
    budget: Budget,
    summary: Summary,
) -> None:
    """Send the stop notices due now (`POWERCYCLE_NOTICE_MINUTES` ahead of each stop)."""
    topic = config.sns_topic_arn
    if not topic or config.notice_minutes <= 0 or config.dry_run:
        return
    candidates = []
    for outcome in outcomes:
        resource = outcome.resource
        if outcome.schedule is None or outcome.result == "error":
            continue
        marks = outcome.marks
        if marks is None or marks.problem:  # already the resource's error in the decision
            continue
        candidates.append(
            notices.NoticeCandidate(
                tags=resource.tags,
                state=marks.state,
                skip_until=marks.skip_until,
                last_notice=marks.notice,
                kind=resource.kind,
                id=resource.id,
                region=resource.region,
                schedule=outcome.schedule,
                power=resource.power,
                running_since=resource.running_since,
                excluded=config.excluded_by(resource.tags) is not None,
                account=resource.account or None,
                ref=outcome,
            )
        )
    try:
        due = notices.due_notices(candidates, now, lead_minutes=config.notice_minutes)
        due = [replace(n, format=config.notice_format) for n in due]
        due, unlinked = links.with_links(config, due, sealkey.for_pass(config, budget))
        if unlinked:
            summary.warnings.append({"id": "notices", "warning": unlinked})
        region = topic.split(":")[3]
        results = notices.publish_notices(
            due,
            topic_arn=topic,
            sns_client=aws.client("sns", region),
            dry_run=config.dry_run,
            budget=budget,
        )
    except Exception as exc:  # notices never stop a pass
        summary.add_error("notices", f"stop notices not sent: {aws.describe_error(exc)}")
        return
    for notice, error in results:
        if error:
            where = notice.ref.where() if isinstance(notice.ref, Outcome) else {}
            summary.add_error(notice.id, error, **where)
    by_provider = notices.tags_to_record(results, group=lambda n: n.ref.provider)
    for provider, values in by_provider.items():
        try:
            failed = provider.record(notices.NOTICE_TAG, values)  # type: ignore[attr-defined]
        except Exception as exc:
            failed = dict.fromkeys(values, aws.describe_error(exc))
        for rid, error in failed.items():
            summary.warnings.append(
                {"id": rid, "warning": f"{notices.NOTICE_TAG} not recorded: {error}"}
            )
    if results:
        LOG.info("powercycle: %d stop notice(s) published", sum(1 for _, e in results if not e))
