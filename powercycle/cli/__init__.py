"""Command line: the same engine as the Lambda, for operators.

    powercycle plan [--at TIME]                  what a pass would do to every tagged resource
    powercycle run [--dry-run]                   one scheduling pass
    powercycle start|stop RESOURCE...            act now, through the scheduler's guards
    powercycle tag RESOURCE... --schedule VALUE  write a schedule tag (validated first)
    powercycle untag RESOURCE...                 remove the schedule and powercycle:* tags
    powercycle snooze RESOURCE... --for 3h       leave alone until then (or --until TIME,
                                                 --until-next-start)
    powercycle unsnooze RESOURCE...              end a snooze
    powercycle link RESOURCE --wake --days N     print a signed link that starts it (a bookmark)
    powercycle check SCHEDULE                    validate; next transitions; hours off a week
    powercycle deploy --region R                 build, upload and create or update the stack
    powercycle demo [--week]                     the real handler against a local AWS

Every fleet command takes `--region R` (repeatable), `--profile NAME`, `--json` and
`--debug`. Regions and credentials resolve as the AWS CLI resolves them: `--profile`,
`AWS_PROFILE`, the environment, `~/.aws/config` and `~/.aws/credentials`. Output is a table
on a terminal and JSON when piped or with `--json`. Exit codes: 0 ok, 1 a resource failed
or was refused, 2 usage, settings, credentials or network, 3 resources deferred to the
next pass (out of time).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import traceback
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from powercycle import aws
from powercycle.cli import check, deploy, link, plan, run, seal, stats, tagging
from powercycle.cli.output import UsageError, closed_pipe_is_fine
from powercycle.config import ConfigError
from powercycle.runtime import logs

EXIT_USAGE = run.EXIT_USAGE

_DENIED = "these credentials may not do that: see the IAM permissions in docs/configuration.md"
# Hints for the errors a person meets first, by botocore exception name or AWS error code.
_HINTS = {
    "NoCredentialsError": "no AWS credentials found: run `aws configure`, set AWS_PROFILE or "
    "pass --profile NAME",
    "PartialCredentialsError": "incomplete AWS credentials: check AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, or your profile",
    "ProfileNotFound": "no such AWS profile: `aws configure list-profiles` lists yours",
    "EndpointConnectionError": "AWS could not be reached: check the network (a proxy?) and the "
    "region (--region)",
    "ConnectTimeoutError": "AWS did not answer in time: check the network (a proxy?)",
    "NoRegionError": "no region: pass --region, set AWS_REGION or a region in your profile",
    "InvalidRegionError": "not a region name: pass --region like eu-west-1",
    "UnrecognizedClientException": "AWS does not know these credentials: check your profile",
    "InvalidClientTokenId": "AWS does not know these credentials: check your profile",
    "ExpiredToken": "your session has expired: log in again (`aws sso login`?)",
    "ExpiredTokenException": "your session has expired: log in again (`aws sso login`?)",
    "AccessDenied": _DENIED,
    "AccessDeniedException": _DENIED,
    "UnauthorizedOperation": _DENIED,
}


class _OneLine(logging.Formatter):
    """Log records as one line each: a failure inside the pass is in the report already;
    its traceback is for --debug."""

    def format(self, record: logging.LogRecord) -> str:
        # A decision or the summary (fields, for the Lambda's JSON lines): one JSON line here.
        if isinstance(record.msg, Mapping):
            message = json.dumps(record.msg, default=str)
        else:
            message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message += f": {aws.describe_error(record.exc_info[1]).splitlines()[0]}"
        return message


class _Debug(logging.Formatter):
    """--debug: every record with its traceback; fields as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.msg, Mapping):
            text = json.dumps(record.msg, default=str)
            record = logging.makeLogRecord({**record.__dict__, "msg": text, "args": None})
        return super().format(record)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING, format="%(message)s", stream=sys.stderr
    )
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler and not debug:  # ours, not a test tool's
            handler.setFormatter(_OneLine())
        elif type(handler) is logging.StreamHandler:
            handler.setFormatter(_Debug())
    logs.for_people()
    for noisy in ("botocore", "boto3", "urllib3"):  # "Found credentials..." and the like
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Decisions are logged as JSON lines for the Lambda's logs; here the table says it.
    logging.getLogger("powercycle").setLevel(logging.DEBUG if debug else logging.WARNING)
    with closed_pipe_is_fine():
        return dispatch(args)
    return 0  # the reader closed the pipe: what it wanted was printed


def dispatch(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    debug = getattr(args, "debug", False)
    try:
        if getattr(args, "profile", None):
            aws.use_profile(args.profile)
        if args.command == "demo":
            return demo(args)
        command = {
            "check": check.run,
            "plan": plan.run,
            "run": run.run,
            "start": run.manual,
            "stop": run.manual,
            "tag": tagging.tag,
            "untag": tagging.untag,
            "snooze": tagging.snooze,
            "unsnooze": tagging.unsnooze,
            "stats": stats.run,
            "seal": seal.run,
            "link": link.run,
            "deploy": deploy.run,
        }[args.command]
        return command(args, now)
    except BrokenPipeError:
        raise
    except (ConfigError, UsageError) as exc:
        what = "configuration error" if isinstance(exc, ConfigError) else "error"
        return fail(f"{what}: {exc}", debug, EXIT_USAGE)
    except KeyboardInterrupt:
        return fail("interrupted", debug, 130)
    except Exception as exc:
        name = aws.error_code(exc)
        hint = _HINTS.get(name) or _HINTS.get(type(exc).__name__)
        message = aws.describe_error(exc).splitlines()[0] if str(exc) else name
        if hint:
            return fail(f"{hint} ({message})", debug, EXIT_USAGE)
        return fail(f"{message} (--debug shows the traceback)", debug, run.EXIT_FAILED)


def fail(message: str, debug: bool, code: int) -> int:
    if debug:
        traceback.print_exc()
    print(f"powercycle: {message}", file=sys.stderr)
    return code


def demo(args: argparse.Namespace) -> int:
    if args.week:
        from powercycle.local.week import run_week

        columns = args.width
        if columns is None and sys.stdout.isatty():
            columns = shutil.get_terminal_size().columns
        return run_week(start=args.start, png=args.png, columns=columns)
    if args.png:
        raise UsageError("--png draws the simulated week: use it with --week")
    from powercycle.local.demo import run_demo

    return run_demo()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("powercycle")
    except PackageNotFoundError:  # run from a checkout without installing it
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="powercycle",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Exit codes: 0 ok; 1 a resource failed or was refused; 2 usage, settings, "
        "credentials or network; 3 resources deferred to the next pass.",
    )
    parser.add_argument("--version", action="version", version=f"powercycle {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="print JSON (the default when piped)")
    output.add_argument("--debug", action="store_true", help="tracebacks and AWS debug logs")
    common = argparse.ArgumentParser(add_help=False, parents=[output])
    common.add_argument(
        "--region",
        action="append",
        default=None,
        metavar="R",
        help="region to scan (repeatable; default POWERCYCLE_REGIONS or the profile's region)",
    )
    common.add_argument("--profile", default=None, help="AWS profile (as for the AWS CLI)")

    plan.add_parser(sub, common)
    run.add_parsers(sub, common)
    tagging.add_parsers(sub, common)
    stats.add_parser(sub, common)
    seal.add_parser(sub, common)
    link.add_parser(sub, common)
    check.add_parser(sub)
    deploy.add_parser(sub)
    sub.choices["check"].add_argument("--debug", action="store_true", help="show tracebacks")
    sub.choices["check"].add_argument("--profile", default=None, help="AWS profile (for s3://)")

    demo_parser = sub.add_parser(
        "demo",
        help="the real handler against an embedded local AWS (no account needed)",
        description="One real pass (twice) against a local moto server; --week simulates "
        "a week of passes every 15 minutes and draws a timeline.",
    )
    demo_parser.add_argument("--week", action="store_true", help="simulate a whole week")
    demo_parser.add_argument(
        "--start", default=None, metavar="DATE", help="--week: the Monday to start (YYYY-MM-DD)"
    )
    demo_parser.add_argument(
        "--png", default=None, metavar="FILE", help="--week: draw the timeline (matplotlib)"
    )
    demo_parser.add_argument(
        "--width",
        type=int,
        default=None,
        metavar="N",
        help="--week: fit the chart in N columns (default: the terminal's width)",
    )
    demo_parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
