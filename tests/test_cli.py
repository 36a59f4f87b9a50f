"""cli.py: `powercycle check` (next transitions in the zone and in UTC, hours off a week)
and `powercycle run` against moto, with the clock frozen where the CLI reads it."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from freezegun import freeze_time

from powercycle.cli import main
from tests.helpers import REGION, SEED, STATE_TAG, TAG, Calls, launch, state_of, tags_of

pytestmark = pytest.mark.usefixtures("ec2_only")

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
