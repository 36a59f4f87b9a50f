"""Shared by the link tests: function URL events (payload format 2.0), the warning's links."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import urlencode

import boto3

from tests.helpers import REGION

LINK_URL = "https://abcdefghijklmnop.lambda-url.eu-west-1.on.aws"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148"
_LINK = re.compile(r"https://\S+/link\?t=([a-z2-7]+\.[a-z2-7]+)")


def url_event(
    method: str,
    *,
    token: str | None = None,
    path: str = "/link",
    form: dict[str, str] | None = None,
    base64_body: bool = True,
    user_agent: str = PHONE,
    source_ip: str = "203.0.113.9",
) -> dict[str, Any]:
    """A function URL request as Lambda delivers it (payload format 2.0)."""
    query = {"t": token} if token is not None else None
    body = urlencode(form) if form is not None else None
    headers = {"host": LINK_URL.removeprefix("https://"), "user-agent": user_agent}
    if body is not None:
        headers["content-type"] = "application/x-www-form-urlencoded"
        if base64_body:
            body = base64.b64encode(body.encode()).decode()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": urlencode(query) if query else "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghijklmnop",
            "domainName": headers["host"],
            "domainPrefix": "abcdefghijklmnop",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": user_agent,
            },
            "requestId": "c1a2b3",
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:17:43:00 +0000",
            "timeEpoch": 1795455780000,
        },
        "isBase64Encoded": body is not None and base64_body,
    }
    if query:
        event["queryStringParameters"] = query
    if body is not None:
        event["body"] = body
    return event


def tokens_in(text: str) -> list[str]:
    return _LINK.findall(text)


def make_topic() -> tuple[str, str]:
    """An SNS topic with one SQS subscriber: (topic ARN, queue URL)."""
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    arn = sns.create_topic(Name="powercycle-notices")["TopicArn"]
    url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)
    return arn, url


def inbox(url: str) -> list[dict[str, Any]]:
    """The SNS envelopes waiting in the queue (taken out of it)."""
    sqs = boto3.client("sqs", region_name=REGION)
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        for message in got:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
