"""`powercycle deploy`: the scheduler in an account, in one command.

    powercycle deploy --region eu-west-1 [--stack powercycle] [--param Key=Value ...]
                      [--bucket B] [--zip dist/powercycle.zip] [--template template.yaml]

Builds the Lambda package with `package.sh` (so the bytes are the script's own), puts it
in an artifacts bucket (created when missing: `powercycle-artifacts-<account>-<region>`),
creates or updates the CloudFormation stack from `template.yaml`, waits for it and prints
its outputs and what to do next.

The package's key in the bucket is its SHA-256 (`powercycle/<sha256>.zip`): the same
build gives the same key, so a second deploy with nothing changed leaves the stack as it
is ("No updates are to be performed" is success), and a new build is a new key, which is
what publishes a new Lambda version and moves the alias LIVE (see template.yaml).

On an update, every parameter not given keeps its current value (as `aws cloudformation
deploy` does). A failure is one line: CloudFormation's reason for the first resource that
failed. Values of NoEcho parameters (ExternalId) are never printed.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from powercycle import aws
from powercycle.cli.artifacts import Kit, build_package, default_bucket, ensure_bucket, upload
from powercycle.cli.output import Output, UsageError
from powercycle.cli.stack import (
    DeployFailed,
    Parameter,
    apply,
    describe_stack,
    outputs_of,
    say,
    template_parameters,
)

DEFAULT_STACK = "powercycle"
KEY_PREFIX = "powercycle/"
# Parameters the command sets itself, from the bucket and the package it uploads.
CODE_PARAMETERS = ("CodeS3Bucket", "CodeS3Key")
# CloudFormation takes a template of at most this size inline; larger ones go through S3.
TEMPLATE_BODY_LIMIT = 51_200
EXIT_FAILED = 1


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "deploy",
        help="build the package and create or update the CloudFormation stack",
        description="Build the Lambda package (package.sh), upload it to an artifacts bucket "
        "(created when missing), create or update the stack from template.yaml, wait, and "
        "print its outputs. Running it again with nothing changed changes nothing.",
    )
    parser.add_argument(
        "--region", default=None, metavar="R", help="region to deploy to (default: the profile's)"
    )
    parser.add_argument("--profile", default=None, help="AWS profile (as for the AWS CLI)")
    parser.add_argument(
        "--stack",
        default=DEFAULT_STACK,
        metavar="NAME",
        help=f"stack name (default {DEFAULT_STACK})",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template parameter (repeatable), e.g. --param DryRun=true",
    )
    parser.add_argument(
        "--bucket",
        default=None,
        metavar="B",
        help="artifacts bucket, in the same region (default powercycle-artifacts-ACCOUNT-REGION, "
        "created when missing)",
    )
    parser.add_argument(
        "--zip",
        default=None,
        metavar="PATH",
        help="deploy this package instead of building one (its --arch must match Architecture)",
    )
    parser.add_argument(
        "--template", default=None, metavar="PATH", help="the template (default: template.yaml)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON (the default when piped)")
    parser.add_argument("--debug", action="store_true", help="tracebacks and AWS debug logs")


# -- what the command works with -------------------------------------------------------------


@dataclass
class Result:
    stack: str
    region: str
    status: str
    changed: bool
    bucket: str
    key: str
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def parse_params(given: Sequence[str]) -> dict[str, str]:
    """`KEY=VALUE` strings as a dict; the value may be empty or hold `=`."""
    params: dict[str, str] = {}
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {item!r}: expected KEY=VALUE, e.g. --param DryRun=true")
        params[key.strip()] = value
    return params


def check_params(params: dict[str, str], known: dict[str, Parameter]) -> None:
    for key in params:
        if key in CODE_PARAMETERS:
            raise UsageError(
                f"--param {key}: deploy sets it from the package it uploads (use --bucket "
                "to choose the bucket)"
            )
        if key not in known:
            names = ", ".join(k for k in sorted(known) if k not in CODE_PARAMETERS)
            raise UsageError(f"--param {key}: the template has no such parameter (it has {names})")


# -- the command ------------------------------------------------------------------------------


def run(args: argparse.Namespace, now: datetime) -> int:
    del now
    try:
        result = deploy(args)
    except DeployFailed as exc:
        print(f"powercycle: deploy failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    show(result, Output.choose(args.json))
    return 0


@dataclass(frozen=True)
class Target:
    """Where the deploy goes: the stack, its region, clients and the artifacts bucket."""

    stack: str
    region: str
    cloudformation: Any
    s3: Any
    bucket: str


def deploy(
    args: argparse.Namespace, build: Callable[[Kit, str, Path], Path] = build_package
) -> Result:
    started = time.monotonic()
    region = args.region or aws.default_region()
    if not region:
        raise UsageError(
            "no region: pass --region R (or set AWS_REGION, or a region in your profile)"
        )
    params = parse_params(args.param)
    kit = Kit.find(args.template)
    cloudformation = aws.client("cloudformation", region)
    s3 = aws.client("s3", region)
    bucket = args.bucket or default_bucket(aws.account_id(region=region), region)
    target = Target(args.stack, region, cloudformation, s3, bucket)

    stack = describe_stack(cloudformation, target.stack)
    if stack is not None and str(stack["StackStatus"]).endswith("_IN_PROGRESS"):
        raise DeployFailed(
            f"stack {target.stack} is busy ({stack['StackStatus']}): wait for it and run again"
        )
    body = kit.template.read_text(encoding="utf-8")
    inline = len(body.encode()) <= TEMPLATE_BODY_LIMIT
    if inline:  # a wrong --param is refused before anything is created
        known = template_parameters(cloudformation, {"TemplateBody": body}, body)
        check_params(params, known)
    ensure_bucket(s3, bucket, region)
    source = template_source(target, body)
    if not inline:
        known = template_parameters(cloudformation, source, body)
        check_params(params, known)
    current = {
        p["ParameterKey"]: p.get("ParameterValue") for p in (stack or {}).get("Parameters", [])
    }
    with tempfile.TemporaryDirectory(prefix="powercycle-deploy.") as tmp:
        arch = params.get("Architecture") or current.get("Architecture") or "x86_64"
        package = Path(args.zip) if args.zip else build(kit, str(arch), Path(tmp))
        if not package.is_file():
            raise UsageError(f"no package at {package}")
        key = f"{KEY_PREFIX}{hashlib.sha256(package.read_bytes()).hexdigest()}.zip"
        upload(s3, bucket, key, package)

    shown = ", ".join(f"{k}={'****' if known[k].no_echo else v}" for k, v in sorted(params.items()))
    if shown:
        say(f"parameters: {shown}")
    values = {**params, "CodeS3Bucket": bucket, "CodeS3Key": key}
    parameters: list[dict[str, Any]] = [
        {"ParameterKey": k, "ParameterValue": v} for k, v in values.items()
    ]
    # Every parameter not given keeps its value; one the template dropped is left out.
    parameters += [
        {"ParameterKey": name, "UsePreviousValue": True}
        for name in current
        if name in known and name not in values
    ]
    status, changed = apply(target, stack, source, parameters)
    final = describe_stack(cloudformation, target.stack) or {}
    return Result(
        stack=target.stack,
        region=region,
        status=status,
        changed=changed,
        bucket=bucket,
        key=key,
        outputs=outputs_of(final),
        seconds=time.monotonic() - started,
    )


def template_source(target: Target, body: str) -> dict[str, str]:
    """TemplateBody, or TemplateURL for a template too large to pass inline."""
    if len(body.encode()) <= TEMPLATE_BODY_LIMIT:
        return {"TemplateBody": body}
    key = f"{KEY_PREFIX}template-{hashlib.sha256(body.encode()).hexdigest()}.yaml"
    with tempfile.TemporaryDirectory(prefix="powercycle-deploy.") as tmp:
        copy = Path(tmp) / "template.yaml"
        copy.write_text(body, encoding="utf-8")
        upload(target.s3, target.bucket, key, copy)
    return {"TemplateURL": f"https://{target.bucket}.s3.{target.region}.amazonaws.com/{key}"}


def next_steps(result: Result) -> list[str]:
    region = result.region
    function = result.outputs.get("FunctionName", "powercycle")
    return [
        f"powercycle plan --region {region}    # what the next pass will do",
        f'powercycle tag INSTANCE --schedule \'{{"stop": "0 19 * * *"}}\' --region {region}',
        f"aws logs tail /aws/lambda/{function} --follow --region {region}    "
        "# the passes, every 15 minutes",
        f"powercycle deploy --region {region} --stack {result.stack}    "
        "# again after a change: a new version goes LIVE",
    ]


def show(result: Result, out: Output) -> None:
    if out.json:
        out.document(
            {
                "stack": result.stack,
                "region": result.region,
                "status": result.status,
                "changed": result.changed,
                "package": f"s3://{result.bucket}/{result.key}",
                "outputs": result.outputs,
                "next": next_steps(result),
            }
        )
        return
    state = "deployed" if result.changed else "up to date (nothing changed)"
    print(f"stack {result.stack} in {result.region}: {state}, {result.status}")
    print(f"package: s3://{result.bucket}/{result.key}")
    if result.outputs:
        print("outputs:")
        width = max(len(k) for k in result.outputs)
        for key, value in sorted(result.outputs.items()):
            print(f"  {key.ljust(width)}  {value}")
    print("next:")
    for step in next_steps(result):
        print(f"  {step}")
