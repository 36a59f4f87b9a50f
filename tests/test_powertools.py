"""Powertools in the Lambda: JSON lines with the request id, context None, the CLI's plain
lines, secrets kept for their maximum age (GetSecretValue counted on moto), a configured
CAST AI secret that cannot be read, the function URL's 404, and the Logs Insights queries
of docs/logs.md checked against real lines."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from powercycle import aws, cli
from powercycle.aws import sealkey
from powercycle.castai.access import CastAIAccess
from powercycle.config import Config, ConfigError
from powercycle.handler import handler, run_event
from powercycle.runtime.budget import Budget
from tests.helpers import REGION, SEED, TAG, launch
from tests.test_nodegroups import (  # noqa: F401 - `eks` is a fixture
    CLUSTER,
    SIZES,
    cluster_tags,
    eks,
    make_cluster,
    sizes_now,
)

REPO = Path(__file__).resolve().parent.parent
MONDAY_EVENING = "2026-11-23 18:00:00"  # UTC: the seed's 17:55 stop is due
REQUEST = "8f5e4c1a-0000-4a5b-9c3d-1234567890ab"


@dataclass
class LambdaContext:
    """What Lambda hands the handler (the fields Powertools reads, and the budget's)."""

    aws_request_id: str = REQUEST
    function_name: str = "powercycle"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:powercycle"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def printed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every line the invocation wrote to stdout, each parsed as JSON (it must be)."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


# --- logs -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("ec2_only")
def test_every_line_is_json_and_resource_lines_carry_the_request_id(
    ec2: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """In Lambda: the decision and summary lines carry the request id and cold start, with
    the decision's fields at the top level; the EMF lines follow."""
    (box,) = launch(ec2, {TAG: SEED, "Name": "dev-web"})
    with freeze_time(MONDAY_EVENING):
        handler({}, LambdaContext())
    lines = printed(capsys)
    (decision,) = [line for line in lines if line.get("message") == "decision"]
    assert decision["function_request_id"] == REQUEST
    assert isinstance(decision["cold_start"], bool)
    assert (decision["service"], decision["level"]) == ("powercycle", "INFO")
    assert {k: decision[k] for k in ("resource", "name", "kind", "action", "result")} == {
        "resource": box,
        "name": "dev-web",
        "kind": "ec2",
        "action": "stop",
        "result": "done",
    }
    (summary,) = [line for line in lines if line.get("message") == "summary"]
    assert summary["function_request_id"] == REQUEST and summary["summary"]["scanned"] == 1
    assert [line for line in lines if "_aws" in line]  # the metrics, beside the logs


@pytest.mark.usefixtures("ec2_only")
def test_context_none_writes_the_same_lines_without_the_request(
    ec2: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI's demo, local runs and tests call handler(event, None): same JSON lines, and
    no request id left over from an earlier invocation in the process."""
    launch(ec2, {TAG: SEED})
    with freeze_time(MONDAY_EVENING):
        handler({"dryRun": True}, LambdaContext())
        capsys.readouterr()
        result = handler({}, None)
    assert result["counts"] == {"done": 1}
    lines = printed(capsys)
    (decision,) = [line for line in lines if line.get("message") == "decision"]
    assert decision["result"] == "done" and "function_request_id" not in decision
    assert all("function_request_id" not in line for line in lines)


@pytest.mark.parametrize(("level", "summary_lines"), [("", 1), ("WARNING", 0)])
def test_powertools_log_level_is_honoured(level: str, summary_lines: int) -> None:
    """A fresh process (a cold start) with POWERTOOLS_LOG_LEVEL=WARNING writes no INFO line;
    the metrics are printed still (they are no log line)."""
    script = (
        "from moto import mock_aws\n"
        "from powercycle.handler import handler\n"
        "with mock_aws():\n"
        "    handler({}, None)\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWER"))},
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "POWERCYCLE_KINDS": "ec2",
        "POWERTOOLS_LOG_LEVEL": level,
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len([line for line in lines if line.get("message") == "summary"]) == summary_lines
    assert [line for line in lines if "_aws" in line]


@pytest.mark.usefixtures("ec2_only")
def test_the_cli_after_a_lambda_run_prints_no_json(
    ec2: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CLI command in a process that ran the handler (the demo): its own output only,
    no JSON log or EMF line."""
    launch(ec2, {TAG: SEED})
    monkeypatch.setenv("POWERCYCLE_REGIONS", REGION)
    with freeze_time(MONDAY_EVENING):
        handler({"dryRun": True}, None)
        capsys.readouterr()
        code = cli.main(["run", "--dry-run", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads(out)  # the CLI's one JSON document, nothing else
    assert "_aws" not in out and '"level"' not in out and isinstance(report, dict)


def test_the_queries_of_docs_logs_name_fields_real_lines_have(
    ec2: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every field a Logs Insights query in docs/logs.md names is in the lines of a real
    invocation (a decision, the summary), so the queries find what they say."""
    monkeypatch.setenv("POWERCYCLE_KINDS", "ec2")
    launch(ec2, {TAG: SEED})
    launch(ec2, {TAG: "{not a schedule"})  # a decision line with an error
    with freeze_time(MONDAY_EVENING):
        handler({}, LambdaContext())
    lines = [line for line in printed(capsys) if "message" in line]
    have: set[str] = set()
    for line in lines:
        have |= set(line)
        have |= {f"{k}.{sub}" for k, v in line.items() if isinstance(v, dict) for sub in v}
    text = (REPO / "docs" / "logs.md").read_text()
    queries = re.findall(r"```\n(.*?)```", text, flags=re.S)
    assert len(queries) == 4
    keywords = {"fields", "filter", "sort", "stats", "by", "and", "or", "in", "desc", "asc"}
    keywords |= {"count"}
    named = set()
    for query in queries:
        bare = re.sub(r'"[^"]*"', "", query)  # strings are values, not fields
        named |= {w for w in re.findall(r"(?<![@\w.])[a-z_][\w.]*", bare) if w not in keywords}
    assert {"function_request_id", "resource", "result", "summary.scanned"} <= named
    assert named <= have, named - have


# --- secrets ---------------------------------------------------------------------------------


class SecretReads:
    """GetSecretValue calls sent through the process's Secrets Manager client."""

    def __init__(self) -> None:
        self.count = 0
        client = aws.client("secretsmanager", REGION)
        client.meta.events.register("before-call.secrets-manager.GetSecretValue", self.hook)

    def hook(self, **_: Any) -> None:
        self.count += 1


@pytest.mark.usefixtures("moto")
def test_a_warm_process_reads_the_sealing_key_once_per_age() -> None:
    """Passes 4 minutes apart (each its own budget, as each worker invocation has) share one
    read; past POWERCYCLE_SECRET_MAX_AGE_S (300 s) the next pass reads it again."""
    config = Config(regions=(REGION,))
    reads = SecretReads()
    with freeze_time("2026-11-23 18:00:00") as clock:
        first = sealkey.for_pass(config, Budget(60)).get()
        clock.move_to("2026-11-23 18:04:00")
        assert sealkey.for_pass(config, Budget(60)).get() == first
        assert reads.count == 1
        clock.move_to("2026-11-23 18:05:01")
        assert sealkey.for_pass(config, Budget(60)).get() == first
        assert reads.count == 2


@pytest.mark.usefixtures("moto")
def test_a_warm_process_reads_the_castai_key_once_per_age() -> None:
    """The CAST AI key the same way, with the age set to 60 s; 0 reads at every pass."""
    aws.client("secretsmanager", REGION).create_secret(
        Name="CastAI-API", SecretString=json.dumps({"CastAIKey": "key-7f6e5d"})
    )
    reads = SecretReads()
    config = Config(regions=(REGION,), secret_max_age_s=60)
    with freeze_time("2026-11-23 18:00:00") as clock:
        # The client redacts the key it was made with: it was given the secret's.
        assert "key-7f6e5d" not in CastAIAccess(config, [REGION]).client().redact("key-7f6e5d")
        clock.move_to("2026-11-23 18:00:59")
        assert "key-7f6e5d" not in CastAIAccess(config, [REGION]).client().redact("key-7f6e5d")
        assert reads.count == 1
        clock.move_to("2026-11-23 18:01:01")
        CastAIAccess(config, [REGION]).client()
        assert reads.count == 2
        never = Config(regions=(REGION,), secret_max_age_s=0)
        CastAIAccess(never, [REGION]).client()
        CastAIAccess(never, [REGION]).client()
        assert reads.count == 4


def test_the_secret_age_is_validated() -> None:
    assert Config.from_env({"AWS_REGION": REGION}).secret_max_age_s == 300
    env = {"AWS_REGION": REGION, "POWERCYCLE_SECRET_MAX_AGE_S": "0"}
    assert Config.from_env(env).secret_max_age_s == 0
    for bad in ("-1", "5m", "1.5"):
        with pytest.raises(ConfigError, match="POWERCYCLE_SECRET_MAX_AGE_S"):
            Config.from_env({**env, "POWERCYCLE_SECRET_MAX_AGE_S": bad})


def test_a_configured_castai_secret_that_cannot_be_read_is_an_error(eks: Any) -> None:  # noqa: F811
    """CASTAI_SECRET_NAME names a secret that does not exist: the cluster gets an error naming
    it, and its node groups are not touched (never a silent switch to node groups)."""
    make_cluster(eks, SIZES)
    config = Config.from_env(
        {"AWS_REGION": REGION, "POWERCYCLE_KINDS": "eks", "CASTAI_SECRET_NAME": "team/castai"}
    )
    assert config.castai_secret_set
    result = run_event({}, config, at_monday_evening())
    (error,) = [e for e in result["errors"] if e["id"] == CLUSTER]
    assert "'team/castai'" in error["error"] and "CASTAI_SECRET_NAME" in error["error"]
    assert sizes_now(eks) == SIZES
    assert "powercycle:nodegroups" not in cluster_tags(eks)
    # The default name absent: CAST AI is not configured, node groups it is.
    default = Config.from_env({"AWS_REGION": REGION, "POWERCYCLE_KINDS": "eks"})
    assert not default.castai_secret_set
    assert run_event({}, default, at_monday_evening())["counts"] == {"done": 1}


def at_monday_evening() -> Any:
    from tests.helpers import at

    return at("2026-11-23 18:00")


# --- the function URL -----------------------------------------------------------------------


def url_request(path: str, accept: str = "application/json") -> dict[str, Any]:
    """A function URL request as Lambda sends it (payload format 2.0, as in the Lambda
    developer guide's "Invoking Lambda function URLs")."""
    domain = "abc.lambda-url.eu-west-1.on.aws"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"accept": accept, "host": domain, "user-agent": "test"},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abc",
            "domainName": domain,
            "domainPrefix": "abc",
            "http": {
                "method": "GET",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "test",
            },
            "requestId": "r-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:18:00:00 +0000",
            "timeEpoch": 1795456800000,
        },
        "isBase64Encoded": False,
    }


def test_an_unknown_path_at_the_function_url_is_a_404(monkeypatch: pytest.MonkeyPatch) -> None:
    """JSON to a program, HTML to a browser; no pass is run and no setting is read."""
    monkeypatch.setenv("POWERCYCLE_DRY_RUN", "maybe")  # a pass would refuse this setting
    answer = handler(url_request("/nowhere"), LambdaContext())
    assert answer["statusCode"] == 404
    assert answer["headers"]["Content-Type"] == "application/json"
    assert json.loads(answer["body"]) == {"error": "no page at GET /nowhere"}
    page = handler(url_request("/<x>", accept="text/html,application/xhtml+xml"), None)
    assert page["statusCode"] == 404 and page["headers"]["Content-Type"].startswith("text/html")
    assert "no page at GET /&lt;x&gt;" in page["body"] and "<x>" not in page["body"]
