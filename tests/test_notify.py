"""The report after a pass, on moto SNS -> SQS: sent when something was done or failed,
failures listed first, attributes for filter policies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from powercycle.config import Config
from powercycle.report.sns import failure_lines, notify
from tests.helpers import REGION

FAILURES_ONLY = {"type": ["pass-report"], "failures": [{"numeric": [">", 0]}]}


@pytest.fixture
def topic(moto: None) -> Iterator[dict[str, Any]]:
    """A topic with two SQS subscribers: everything, and reports with failures only."""
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    arn = sns.create_topic(Name="powercycle")["TopicArn"]
    queues = {}
    for name, policy in (("all", None), ("failures", FAILURES_ONLY)):
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        attributes = {"FilterPolicy": json.dumps(policy)} if policy else {}
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn, Attributes=attributes)
        queues[name] = url
    yield {"arn": arn, "sqs": sqs, "queues": queues, "config": Config(sns_topic_arn=arn)}


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        for message in got:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def summary(
    actions: list[dict[str, Any]], errors: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {
        "now": "2026-11-23T18:00:00Z",
        "dryRun": False,
        "scanned": 5,
        "actions": actions,
        "errors": errors,
        "counts": {},
        **extra,
    }


def action(rid: str, result: str = "done", **extra: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "kind": "ec2",
        "region": REGION,
        "action": "stop",
        "reason": "new-event",
        "result": result,
        **extra,
    }


FAILED = summary(
    [
        action("i-1"),
        action("i-2", "failed", error="IncorrectInstanceState: not running"),
    ],
    [
        {"id": "i-2", "error": "IncorrectInstanceState: not running"},
        {"id": "i-9", "error": "ec2Powercycle: bad cron '61 * * * *'"},
    ],
    counts={"done": 1, "failed": 1, "error": 1, "deferred": 2},
)


def test_a_pass_with_failures_sends_one_message_listing_them(topic: dict[str, Any]) -> None:
    """Subject counts them, the text lists each once before the full summary."""
    assert notify(topic["config"], FAILED) is None
    [message] = drain(topic["sqs"], topic["queues"]["all"])
    assert message["Subject"] == "powercycle: 2 failure(s), 2 action(s), 2 error(s)"
    text = message["Message"]
    assert text.splitlines()[:4] == [
        "2 failure(s) in the pass of 2026-11-23T18:00:00Z:",
        f"- i-2 (ec2, {REGION}): stop failed: IncorrectInstanceState: not running",
        "- i-9: ec2Powercycle: bad cron '61 * * * *'",
        "",
    ]
    assert "2 resource(s) deferred to the next pass (time budget)." in text
    assert json.loads(text.split("Full summary:\n", 1)[1]) == FAILED
    assert {k: v["Value"] for k, v in message["MessageAttributes"].items()} == {
        "type": "pass-report",
        "failures": "2",
    }
    # The failures-only subscription gets it too.
    assert len(drain(topic["sqs"], topic["queues"]["failures"])) == 1


def test_a_pass_that_only_acted_reports_without_failures(topic: dict[str, Any]) -> None:
    """Sent (something was done), but a failures-only filter policy keeps it out."""
    assert notify(topic["config"], summary([action("i-1"), action("i-2")], [])) is None
    [message] = drain(topic["sqs"], topic["queues"]["all"])
    assert message["Subject"] == "powercycle: 0 failure(s), 2 action(s), 0 error(s)"
    assert message["Message"].startswith("Full summary:\n")
    assert message["MessageAttributes"]["failures"]["Value"] == "0"
    assert drain(topic["sqs"], topic["queues"]["failures"]) == []


def test_a_quiet_pass_sends_nothing(topic: dict[str, Any]) -> None:
    assert notify(topic["config"], summary([], [])) is None
    assert drain(topic["sqs"], topic["queues"]["all"]) == []


def test_no_topic_no_message(topic: dict[str, Any]) -> None:
    assert notify(Config(), FAILED) is None
    assert drain(topic["sqs"], topic["queues"]["all"]) == []


def test_a_dry_run_says_so(topic: dict[str, Any]) -> None:
    planned = summary([action("i-1", "planned")], [], dryRun=True)
    assert notify(topic["config"], planned) is None
    [message] = drain(topic["sqs"], topic["queues"]["all"])
    assert message["Subject"] == "powercycle (dry run): 0 failure(s), 1 action(s), 0 error(s)"


def test_a_refused_publish_is_returned_not_raised(
    moto: None, caplog: pytest.LogCaptureFixture
) -> None:
    """No such topic: the error comes back (the handler adds it to the summary) and is logged."""
    arn = f"arn:aws:sns:{REGION}:123456789012:gone"
    error = notify(Config(sns_topic_arn=arn), FAILED)
    assert error is not None and error.startswith(f"SNS notice to {arn} not sent: NotFound")
    assert error in caplog.text


def test_a_huge_summary_is_cut_to_fit(topic: dict[str, Any]) -> None:
    """SNS takes 256 KB: the text is cut, and says where the rest is."""
    many = [{"id": f"i-{n:05d}", "error": "x" * 100} for n in range(3000)]
    assert notify(topic["config"], summary([], many)) is None
    [message] = drain(topic["sqs"], topic["queues"]["all"])
    assert message["Message"].endswith("... (truncated; the full summary is in the logs)")
    assert len(message["Message"].encode()) < 256 * 1024


def test_failure_lines_name_a_failed_action_once() -> None:
    assert failure_lines(FAILED) == [
        f"- i-2 (ec2, {REGION}): stop failed: IncorrectInstanceState: not running",
        "- i-9: ec2Powercycle: bad cron '61 * * * *'",
    ]
