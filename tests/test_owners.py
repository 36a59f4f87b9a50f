"""Stop notices through the real handler on moto: SNS -> SQS receives exactly one warning
per stop across the passes before it, the notice tag is recorded, and a dry run or an
excluded resource sends nothing."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from powercycle.config import Config
from powercycle.handler import run_event
from tests.helpers import REGION, SEED, TAG, at, launch, state_of, tags_of, ticks

pytestmark = pytest.mark.usefixtures("ec2_only", "shared_client")


@pytest.fixture
def queue(ec2: Any) -> dict[str, Any]:
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    arn = sns.create_topic(Name="powercycle")["TopicArn"]
    url = sqs.create_queue(QueueName="owners")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)
    return {"arn": arn, "sqs": sqs, "url": url}


def notices(queue: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    while True:
        got = queue["sqs"].receive_message(QueueUrl=queue["url"], MaxNumberOfMessages=10)
        if not got.get("Messages"):
            return out
        for message in got["Messages"]:
            body = json.loads(message["Body"])
            if body.get("MessageAttributes", {}).get("type", {}).get("Value") == "stop-notice":
                out.append(body)
            queue["sqs"].delete_message(
                QueueUrl=queue["url"], ReceiptHandle=message["ReceiptHandle"]
            )


def test_one_notice_per_stop_through_the_passes_before_it(ec2: Any, queue: dict[str, Any]) -> None:
    (box,) = launch(ec2, {TAG: SEED, "Name": "web", "owner": "team-a"})
    (prod,) = launch(ec2, {TAG: SEED, "Environment": "P"})
    config = Config(regions=(REGION,), kinds=("ec2",), sns_topic_arn=queue["arn"])
    got: dict[str, int] = {}
    for now in ticks(at("2026-11-23 17:00"), at("2026-11-23 18:15")):
        run_event({}, config, now)
        got[now.strftime("%H:%M")] = len(notices(queue))
    # The 17:55 stop is within 15 minutes of the 17:45 pass: warned then, and only then.
    assert got == {"17:00": 0, "17:15": 0, "17:30": 0, "17:45": 1, "18:00": 0, "18:15": 0}
    assert tags_of(ec2, box)["powercycle:notice"] == "stop@2026-11-23T17:55:00Z"
    assert state_of(ec2, box) == "stopped" and state_of(ec2, prod) == "running"
    assert "powercycle:notice" not in tags_of(ec2, prod)


def test_a_dry_run_warns_nobody(ec2: Any, queue: dict[str, Any]) -> None:
    (box,) = launch(ec2, {TAG: SEED, "owner": "team-a"})
    config = Config(regions=(REGION,), kinds=("ec2",), sns_topic_arn=queue["arn"])
    run_event({"dryRun": True}, config, at("2026-11-23 17:45"))
    assert notices(queue) == []
    assert "powercycle:notice" not in tags_of(ec2, box)
