"""The CLI's `check`, `run` and `plan` against moto, with the clock frozen where the CLI
reads it: tables on a (simulated) terminal, JSON when piped, one-line errors, exit codes."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

import pytest
from freezegun import freeze_time

from powercycle import aws as aws_module
from powercycle.cli import main, output
from powercycle.cli.output import Progress
from tests.helpers import REGION, SEED, STATE_TAG, TAG, Calls, launch, state_of, tags_of

pytestmark = pytest.mark.usefixtures("ec2_only")


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stdout is a terminal: tables, not JSON."""
    monkeypatch.setattr(output, "stdout_is_terminal", lambda: True)


LONDON = '{ "start": "0 8 * * 1-5", "stop": "55 17 * * 1-5", "tz": "Europe/London" }'


def check(capsys: pytest.CaptureFixture[str], schedule: str, moment: str) -> tuple[int, str, str]:
    with freeze_time(moment):
        code = main(["check", schedule])
    out, err = capsys.readouterr()
    return code, out, err


def test_check_the_seed_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    """Monday noon UTC: five transitions from the 17:55 stop on, and 168 - 5 x 9h55m =
    118.4 hours off a week."""
    code, out, err = check(capsys, SEED, "2026-11-23 12:00:00")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "valid schedule, zone UTC",
        "uptime twin (tag-safe): Mon-Fri 08:00-17:55 UTC",
        "latest event: start Mon 2026-11-23 08:00 UTC  (2026-11-23T08:00:00Z)",
        "next 5 transitions:",
        "  stop  Mon 2026-11-23 17:55 UTC  (2026-11-23T17:55:00Z)",
        "  start Tue 2026-11-24 08:00 UTC  (2026-11-24T08:00:00Z)",
        "  stop  Tue 2026-11-24 17:55 UTC  (2026-11-24T17:55:00Z)",
        "  start Wed 2026-11-25 08:00 UTC  (2026-11-25T08:00:00Z)",
        "  stop  Wed 2026-11-25 17:55 UTC  (2026-11-25T17:55:00Z)",
        "off 118.4 h per week (70% of the week)",
    ]


def test_check_shows_local_time_and_utc_across_a_clock_change(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """London in the week the clocks go back: BST then GMT, UTC beside each."""
    code, out, _ = check(capsys, LONDON, "2026-10-23 12:00:00")
    assert code == 0
    transitions = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    assert transitions == [
        "stop  Fri 2026-10-23 17:55 BST  (2026-10-23T16:55:00Z)",
        "start Mon 2026-10-26 08:00 GMT  (2026-10-26T08:00:00Z)",
        "stop  Mon 2026-10-26 17:55 GMT  (2026-10-26T17:55:00Z)",
        "start Tue 2026-10-27 08:00 GMT  (2026-10-27T08:00:00Z)",
        "stop  Tue 2026-10-27 17:55 GMT  (2026-10-27T17:55:00Z)",
    ]


def test_check_a_repeated_stop_and_a_stop_only_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    """A stop-only schedule still lists its stops (each one stops a box started by hand)."""
    code, out, _ = check(capsys, '{"stop": "0 19 * * *"}', "2026-11-23 12:00:00")
    assert code == 0
    transitions = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    assert transitions == [
        f"stop  {day} 2026-11-{date} 19:00 UTC  (2026-11-{date}T19:00:00Z)"
        for day, date in [("Mon", 23), ("Tue", 24), ("Wed", 25), ("Thu", 26), ("Fri", 27)]
    ]
    assert "off 168.0 h per week" in out and "stop-only" in out


def test_check_a_max_runtime_only_schedule_and_fallback_types(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", '{"maxRuntime": "8h"}']) == 0
    out = capsys.readouterr().out
    assert "no transitions: only maxRuntime applies" in out and "maxRuntime only" in out
    value = '{"start": "30 6 * * 1-5", "stop": "0 19 * * 1-5", "fallbackTypes": ["m6i.large"]}'
    assert main(["check", value]) == 0
    assert "on a capacity refusal, starts on: m6i.large" in capsys.readouterr().out
    assert main(["check", "--json", value]) == 0
    assert json.loads(capsys.readouterr().out)["fallbackTypes"] == ["m6i.large"]
    assert main(["check", '{"stop": "0 19 * * *", "fallbackTypes": ["not a type"]}']) == 1
    assert "fallbackTypes" in capsys.readouterr().err


def test_check_counts_the_transitions_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    with freeze_time("2026-11-23 12:00:00"):
        assert main(["check", SEED, "--count", "2"]) == 0
    out = capsys.readouterr().out
    assert "next 2 transitions:" in out
    assert len([line for line in out.splitlines() if line.startswith("  ")]) == 2


@pytest.mark.parametrize(
    ("schedule", "needle"),
    [
        ('{"start": "0 8 * * 1-5", "stop": "55 25 * * 1-5"}', "55 25 * * 1-5"),
        ("{not json", "not valid JSON"),
        ('{"start": "0 8 * * *", "tz": "Nowhere/City"}', "Nowhere/City"),
        ('{"start": "0 8 * * *", "statr": "x"}', "'statr'"),
    ],
)
def test_check_an_invalid_schedule_exits_1(
    capsys: pytest.CaptureFixture[str], schedule: str, needle: str
) -> None:
    code, out, err = check(capsys, schedule, "2026-11-23 12:00:00")
    assert code == 1 and out == ""
    assert err.startswith("invalid schedule: ") and needle in err


def test_check_needs_no_aws_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No region, no credentials: `check` touches no AWS (the default zone still applies)."""
    monkeypatch.setenv("POWERCYCLE_DEFAULT_TZ", "Asia/Tokyo")
    code, out, _ = check(capsys, '{"stop": "0 19 * * *"}', "2026-11-23 12:00:00")
    assert code == 0 and "zone Asia/Tokyo" in out


def test_python_dash_m_powercycle_check() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "powercycle", "check", '{"stop": "0 19 * * *", "tz": "Nowhere"}'],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "invalid schedule" in done.stderr and "Nowhere" in done.stderr


# --- run -------------------------------------------------------------------------------


def test_run_dry_run_plans_and_changes_nothing(
    ec2: Any, shared_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (box,) = launch(ec2, {TAG: SEED})
    calls = Calls(ec2)
    with freeze_time("2026-11-23 18:00:00"):
        code = main(["run", "--dry-run"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert summary["dryRun"] is True and summary["now"] == "2026-11-23T18:00:00Z"
    assert summary["actions"] == [
        {
            "id": box,
            "kind": "ec2",
            "region": REGION,
            "action": "stop",
            "reason": "first-sight",
            "result": "planned",
        }
    ]
    assert calls.mutating() == []
    assert state_of(ec2, box) == "running" and STATE_TAG not in tags_of(ec2, box)


def test_run_acts_and_exits_1_when_something_failed(
    ec2: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (box,) = launch(ec2, {TAG: SEED})
    (bad,) = launch(ec2, {TAG: '{"stop": "61 17 * * *"}'})
    with freeze_time("2026-11-23 18:00:00"):
        code = main(["run", "--region", REGION])
    summary = json.loads(capsys.readouterr().out)
    assert code == 1
    assert summary["dryRun"] is False
    assert [e["id"] for e in summary["errors"]] == [bad]
    assert state_of(ec2, box) == "stopped" and state_of(ec2, bad) == "running"


def test_run_with_a_bad_setting_exits_2(
    ec2: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERCYCLE_DRY_RUN", "perhaps")
    (box,) = launch(ec2, {TAG: SEED})
    with freeze_time("2026-11-23 18:00:00"):
        code = main(["run"])
    err = capsys.readouterr().err
    assert code == 2
    assert "configuration error" in err and "POWERCYCLE_DRY_RUN" in err
    assert state_of(ec2, box) == "running"


# --- check: warnings, refusals, hours off ----------------------------------------------


def test_check_warns_of_a_stop_that_never_wins_and_of_cron_day_rules(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Valid but surprising: the warnings go to stderr, the report to stdout, exit 0."""
    schedule = '{"start": "0 8 1-7 * mon", "stop": ["0 8 1-7 * mon", "0 18 * * *"]}'
    code, out, err = check(capsys, schedule, "2026-11-23 12:00:00")
    assert code == 0 and out.startswith("valid schedule")
    warnings = err.splitlines()
    assert warnings[0] == (
        'warning: "0 8 1-7 * mon" is both a start and a stop: at the same minute start wins, '
        "so this stop never stops anything"
    )
    assert any("days 1-7 of the month OR on weekdays mon" in w for w in warnings)


def test_check_describes_enforce_with_stop_only_as_always_off(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = check(capsys, '{"stop": "0 19 * * *", "enforce": true}', "2026-11-23 12:00")
    assert code == 0
    assert "every pass (every 15 minutes) stops it again" in err
    assert out.splitlines()[-1] == (
        "off 168.0 h per week (100% of the week) "
        "(stop-only with enforce: stopped again on every pass, always off)"
    )
    assert "until someone starts it by hand" not in out


@pytest.mark.parametrize(
    ("schedule", "needle"),
    [
        ('{"start": "0 8 * * 1-5", "start": "0 9 * * 1-5"}', "duplicate key 'start'"),
        ('{"stop": "0 19 * * *", "tz": "UTC"' + " " * 240 + "}", "at most 256"),
    ],
)
def test_check_refuses_duplicate_keys_and_values_too_long_for_a_tag(
    capsys: pytest.CaptureFixture[str], schedule: str, needle: str
) -> None:
    code, out, err = check(capsys, schedule, "2026-11-23 12:00:00")
    assert (code, out) == (1, "")
    assert needle in err


def test_a_value_of_exactly_256_characters_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    value = '{"stop": "0 19 * * *"' + " " * 234 + "}"
    assert len(value) == 256
    assert check(capsys, value, "2026-11-23 12:00:00")[0] == 0


@pytest.mark.parametrize("count", ["0", "101", "x"])
def test_check_count_is_between_1_and_100(capsys: pytest.CaptureFixture[str], count: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["check", SEED, "--count", count])
    assert exit_.value.code == 2
    assert "--count" in capsys.readouterr().err


@pytest.mark.parametrize("moment", ["2026-10-23 12:00", "2026-10-26 12:00", "2026-07-01 12:00"])
def test_hours_off_are_the_same_in_a_week_with_a_clock_change(
    capsys: pytest.CaptureFixture[str], moment: str
) -> None:
    """London office hours: 118.4 h off (5 x 9h55m on), whether or not the coming week
    holds the night the clocks go back (it has 169 hours of real time)."""
    code, out, _ = check(capsys, LONDON, moment)
    assert code == 0
    assert out.splitlines()[-1] == "off 118.4 h per week (70% of the week)"


def test_check_json_parses_back(capsys: pytest.CaptureFixture[str]) -> None:
    with freeze_time("2026-11-23 12:00:00"):
        code = main(["check", LONDON, "--json", "--count", "2"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["valid"] is True and doc["zone"] == "Europe/London"
    assert doc["hoursOffPerWeek"] == 118.42 and doc["percentOff"] == 70.5
    assert doc["transitions"] == [
        {"action": "stop", "local": "2026-11-23T17:55:00+00:00", "utc": "2026-11-23T17:55:00Z"},
        {"action": "start", "local": "2026-11-24T08:00:00+00:00", "utc": "2026-11-24T08:00:00Z"},
    ]
    assert doc["warnings"] == []


def test_check_json_of_an_invalid_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "{not json", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False and "not valid JSON" in doc["error"]


def test_a_closed_pipe_ends_check_quietly() -> None:
    """`powercycle check ... | head -0`: the reader is gone before the first line."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "powercycle", "check", SEED, "--count", "100"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
    assert done.returncode == 0


# --- run: the table, the scope, the exit codes -----------------------------------------


def test_run_on_a_terminal_prints_a_table_with_names(
    ec2: Any, capsys: pytest.CaptureFixture[str], terminal: None
) -> None:
    (box,) = launch(ec2, {TAG: SEED, "Name": "dev-web"})
    (bad,) = launch(ec2, {TAG: '{"stop": "61 17 * * *"}', "Name": "broken"})
    with freeze_time("2026-11-23 18:00:00"):
        code = main(["run", "--region", REGION])
    out, err = capsys.readouterr()
    assert code == 1
    assert f"account 123456789012, regions {REGION}, kinds ec2, tag {TAG}" in err
    lines = out.splitlines()
    assert lines[0].split() == [
        "resource",
        "Name",
        "kind",
        "action",
        "reason",
        "result",
        "/",
        "error",
    ]
    assert lines[1].split()[:6] == [box, "dev-web", "ec2", "stop", "first-sight", "done"]
    assert lines[2].split()[:6] == [bad, "broken", "ec2", "-", "bad-schedule", "error:"]
    assert lines[-1] == "2 resources: 1 done, 1 error"
    assert state_of(ec2, box) == "stopped"


def test_run_that_finds_nothing_says_where_it_looked(
    moto: None, capsys: pytest.CaptureFixture[str], terminal: None
) -> None:
    with freeze_time("2026-11-23 18:00:00"):
        code = main(["run", "--region", "eu-west-2"])
    err = capsys.readouterr().err
    assert code == 0
    assert (
        "warning: found nothing tagged ec2Powercycle in account 123456789012, regions "
        "eu-west-2, kinds ec2, tag ec2Powercycle; check the region and the tag"
    ) in err


def test_run_json_flag_on_a_terminal(
    ec2: Any, capsys: pytest.CaptureFixture[str], terminal: None
) -> None:
    launch(ec2, {TAG: SEED})
    with freeze_time("2026-11-23 18:00:00"):
        assert main(["run", "--json", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"] == {"planned": 1}


def test_no_credentials_is_one_line_with_a_hint(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask an address off loopback
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("powercycle: no AWS credentials found: run `aws configure`")


def test_debug_shows_the_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["run", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "NoCredentialsError" in err


def test_an_unreachable_endpoint_is_one_line_with_a_hint(
    aws_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    assert main(["plan"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("powercycle: AWS could not be reached: check the network")


def test_an_unknown_region_is_refused_before_any_call(
    moto: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--region", "eu-wset-1"]) == 2
    assert "unknown region 'eu-wset-1'" in capsys.readouterr().err


def test_the_profile_gives_the_region(
    moto: None, tmp_path: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--profile and AWS_PROFILE: the region of ~/.aws/config, as the AWS CLI reads it."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile ops]\nregion = ap-southeast-2\n"
        "aws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for argv, env in ((["plan", "--profile", "ops"], None), (["plan"], "ops")):
        aws_module.reset()
        if env:
            monkeypatch.setenv("AWS_PROFILE", env)
        with freeze_time("2026-11-23 18:00:00"):
            assert main(argv) == 0
        assert json.loads(capsys.readouterr().out)["regions"] == ["ap-southeast-2"]


def test_progress_shows_on_a_slow_scan_and_is_erased() -> None:
    stream = io.StringIO()
    with Progress("scanning eu-west-1", after=0.01, stream=stream):
        time.sleep(0.05)
    assert stream.getvalue() == "scanning eu-west-1...\r" + " " * 21 + "\r"
    quick = io.StringIO()
    with Progress("scanning", after=5, stream=quick):
        pass
    assert quick.getvalue() == ""


# --- plan ------------------------------------------------------------------------------


def test_plan_on_a_terminal_shows_next_transitions_and_errors_inline(
    ec2: Any, capsys: pytest.CaptureFixture[str], terminal: None
) -> None:
    (box,) = launch(ec2, {TAG: LONDON, "Name": "office"})
    (bad,) = launch(ec2, {TAG: '{"stop": "61 17 * * *"}', "Name": "broken"})
    with freeze_time("2026-11-23 18:00:00"):
        code = main(["plan"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[0] == (
        f"plan at 2026-11-23T18:00:00Z: account 123456789012, regions {REGION}, kinds ec2, "
        f"tag {TAG}"
    )
    assert out[1].split()[:8] == [
        "kind",
        "resource",
        "Name",
        "source",
        "power",
        "last",
        "handled",
        "would",
    ]
    (broken,) = [line for line in out if bad in line]
    assert "error: ec2Powercycle:" in broken and "61 17 * * *" in broken
    (office,) = [line for line in out if box in line]
    assert office.split()[:8] == [
        "ec2",
        box,
        "office",
        "inline",
        "running",
        "-",
        "stop",
        "first-sight",
    ]
    assert office.endswith("start Tue 24 Nov 08:00 GMT (2026-11-24T08:00:00Z)")
    assert state_of(ec2, box) == "running" and STATE_TAG not in tags_of(ec2, box)


def test_plan_piped_is_json_and_plans_another_moment(
    ec2: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (box,) = launch(ec2, {TAG: LONDON, "Name": "office"})
    with freeze_time("2026-11-23 18:00:00"):
        code = main(["plan", "--at", "2026-11-24T09:00Z"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["at"] == "2026-11-24T09:00:00Z" and doc["tag"] == TAG
    assert doc["accounts"] == ["123456789012"] and doc["regions"] == [REGION]
    (row,) = doc["resources"]
    assert row == {
        "kind": "ec2",
        "id": box,
        "name": "office",
        "region": REGION,
        "source": "inline",
        "power": "running",
        "state": None,
        "action": None,
        "reason": "already-running",
        "next": {
            "action": "stop",
            "local": "2026-11-24T17:55:00+00:00",
            "utc": "2026-11-24T17:55:00Z",
        },
        "error": None,
    }
    assert STATE_TAG not in tags_of(ec2, box)


def test_plan_shows_what_is_excluded_and_why(ec2: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Production by any of the default spellings (case and spaces ignored): `plan` names
    the exclusion that keeps each one untouched, and nothing is written."""
    boxes = {
        spelling: launch(ec2, {TAG: LONDON, "Environment": spelling})[0]
        for spelling in ("Production", " prod ", "P")
    }
    with freeze_time("2026-11-23 18:00:00"):
        code = main(["plan"])
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)["resources"]}
    assert code == 0
    for spelling, box in boxes.items():
        value = spelling.strip().lower()
        assert rows[box]["action"] is None
        assert rows[box]["reason"] == f"excluded:environment={value}", rows[box]
        assert STATE_TAG not in tags_of(ec2, box)


def test_plan_of_nothing_warns(moto: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["resources"] == []
    assert "warning: found nothing tagged ec2Powercycle" in err


def test_plan_with_a_bad_at_is_a_usage_error(
    moto: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--at", "tomorrow"]) == 2
    assert "'tomorrow' is not a time" in capsys.readouterr().err


def test_exit_code_3_when_the_pass_deferred_a_region_and_nothing_failed() -> None:
    from datetime import UTC, datetime

    from powercycle.cli.run import exit_code
    from powercycle.engine import Summary

    summary = Summary(now=datetime(2026, 11, 23, 18, tzinfo=UTC), dry_run=False)
    summary.add_scope(kind="ec2", region="eu-west-1", resources=3)
    summary.add_scope(kind="ec2", region="eu-west-2", deferred=True)
    assert exit_code(summary) == 3
    summary.add_scope(kind="ec2", region="eu-central-1", error="AccessDenied")
    assert exit_code(summary) == 1


def test_version_and_plural_forms(capsys: pytest.CaptureFixture[str]) -> None:
    """`powercycle --version` names the package's version; counts read as English."""
    from importlib.metadata import version

    from powercycle.runtime.text import plural

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"powercycle {version('powercycle')}"
    assert (plural(1, "resource"), plural(0, "resource"), plural(2, "resource")) == (
        "1 resource",
        "0 resources",
        "2 resources",
    )
