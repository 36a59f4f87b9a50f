"""boto3 clients with the project's retry and timeout policy.

Clients are made on demand (never at import), so the handler imports without credentials.
botocore's `standard` retry mode already retries throttling and transient errors with
backoff; `AWS_ENDPOINT_URL` (honoured by boto3) points every client at a moto server in
tests and in the local demo.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

_BOTO_CONFIG = BotoConfig(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=20,
)


def client(service: str, region: str) -> Any:
    # One Session per client: boto3's default session is not safe to share across the
    # threads that scan regions in parallel.
    return boto3.session.Session().client(service, region_name=region, config=_BOTO_CONFIG)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Message", ""))
    return str(exc)


def describe_error(exc: BaseException) -> str:
    """`Code: message` of an AWS error, for logs and summaries."""
    return f"{error_code(exc)}: {error_message(exc)}".rstrip(": ")


AWS_ERRORS = (ClientError, BotoCoreError)
