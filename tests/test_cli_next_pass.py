"""What `tag`, `untag`, `snooze` and `unsnooze` say the next pass will do, on moto with the
clock frozen: the pass's own decision (a dry-run pass over just those resources), checked
against what a real pass then does; `unsnooze`, `snooze --until-next-start`, and a
manual action that did nothing saying why on a terminal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from freezegun import freeze_time

from powercycle import aws as aws_module
from powercycle.cli import main, output
from tests.helpers import REGION, TAG, launch, state_of, tags_of

pytestmark = pytest.mark.usefixtures("ec2_only")

# Tuesday 24 November 2026, 10:00 in London (GMT, UTC+0).
TUESDAY_10 = "2026-11-24 10:00:00+00:00"
STOP_ONLY = '{"stop": "55 17 * * 1-5", "tz": "Europe/London"}'
OFFICE = '{"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5", "tz": "Europe/London"}'
SKIP = "powercycle:skip-until"


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "stdout_is_terminal", lambda: True)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    aws_module.reset()
    with freeze_time(TUESDAY_10):
        code = main(list(argv))
    return code, capsys.readouterr().out


def said(out: str, box: str) -> str:
    (line,) = [line for line in out.splitlines() if line.startswith(f"{box}: ")]
    return line.removeprefix(f"{box}: ")


@pytest.mark.usefixtures("terminal")
def test_tagging_a_running_box_with_a_stop_only_schedule_says_the_next_pass_stops_it(
    ec2: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's stop-only example on a box running at 10:00: the latest event is last
    night's stop, so the next pass stops it; and the pass that follows does."""
    (box,) = launch(ec2, {"Name": "dev-web"})
    code, out = cli(capsys, "tag", box, "--schedule", STOP_ONLY)
    assert code == 0
    assert said(out, box) == (
        "the next pass stops it (first-sight): latest event stop at Mon 23 Nov 17:55 GMT "
        "(2026-11-23T17:55:00Z)"
    )
    assert cli(capsys, "run")[0] == 0
    assert state_of(ec2, box) in ("stopping", "stopped")


@pytest.mark.usefixtures("terminal")
def test_tagging_in_office_hours_names_the_next_transition(
    ec2: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (box,) = launch(ec2)
    code, out = cli(capsys, "tag", box, "--schedule", OFFICE)
    assert code == 0
    assert said(out, box) == (
        "the next pass leaves it as it is (already-running): latest event start at Tue 24 "
        "Nov 08:00 GMT (2026-11-24T08:00:00Z); next transition: stop Tue 24 Nov 17:55 GMT "
        "(2026-11-24T17:55:00Z)"
    )
    assert cli(capsys, "run")[0] == 0
    assert state_of(ec2, box) == "running"


@pytest.mark.usefixtures("terminal")
def test_tagging_an_excluded_box_says_it_is_left_alone(
    ec2: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (box,) = launch(ec2, {"Environment": "Production"})
    code, out = cli(capsys, "tag", box, "--schedule", STOP_ONLY)
    assert code == 0
    assert said(out, box) == "the next pass leaves it alone: excluded:environment=production"


@pytest.mark.usefixtures("terminal")
def test_snooze_then_unsnooze(ec2: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Snoozed: left alone until then, and what the first pass after it does (the same
    pure decision at the snooze's end); unsnoozed: the pass follows the schedule again."""
    (box,) = launch(ec2, {TAG: STOP_ONLY})
    code, out = cli(capsys, "snooze", box, "--for", "3h")
    assert code == 0
    assert tags_of(ec2, box)[SKIP] == "2026-11-24T13:00:00Z"
    assert said(out, box) == (
        "the next pass leaves it alone: snoozed until Tue 24 Nov 13:00 GMT "
        "(2026-11-24T13:00:00Z); the first pass after that stops it (first-sight): latest "
        "event stop at Mon 23 Nov 17:55 GMT (2026-11-23T17:55:00Z)"
    )
    code, out = cli(capsys, "unsnooze", box)
    assert code == 0
    assert SKIP not in tags_of(ec2, box)
    assert "unsnoozed (was until 2026-11-24T13:00:00Z)" in out
    assert said(out, box).startswith("the next pass stops it (first-sight)")
    code, out = cli(capsys, "unsnooze", box, "--json")
    (entry,) = json.loads(out)
    assert (code, entry["result"]) == (0, "not snoozed, nothing removed")
    assert entry["next_pass"]["action"] == "stop"
    assert entry["next_pass"]["reason"] == "first-sight"


@pytest.mark.usefixtures("terminal")
def test_snooze_until_next_start_uses_each_resource_s_own_schedule(
    ec2: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tuesday 10:00: the office box sleeps until Wednesday's 08:00 start; a stop-only box
    and an untagged one have no start to wait for: refused, nothing written, exit 1."""
    office, stop_only, untagged = (
        launch(ec2, {TAG: OFFICE})[0],
        launch(ec2, {TAG: STOP_ONLY})[0],
        launch(ec2)[0],
    )
    code, out = cli(capsys, "snooze", office, stop_only, untagged, "--until-next-start")
    assert code == 1
    assert tags_of(ec2, office)[SKIP] == "2026-11-25T08:00:00Z"
    assert SKIP not in tags_of(ec2, stop_only) and SKIP not in tags_of(ec2, untagged)
    assert "error: refused, nothing written: its schedule has no start" in out
    assert f"error: refused, nothing written: the scheduler leaves it alone: no {TAG} tag" in out
    assert said(out, office).startswith(
        "the next pass leaves it alone: snoozed until Wed 25 Nov 08:00 GMT"
    )


@pytest.mark.usefixtures("terminal")
def test_untag_says_the_scheduler_forgets_it(ec2: Any, capsys: pytest.CaptureFixture[str]) -> None:
    (box,) = launch(ec2, {TAG: OFFICE})
    code, out = cli(capsys, "untag", box)
    assert code == 0
    assert said(out, box) == f"the scheduler leaves it alone: no {TAG} tag"


@pytest.mark.usefixtures("terminal", "moto")
def test_a_manual_action_on_nothing_says_why_on_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = cli(capsys, "stop", "i-0123456789abcdef0")
    assert code == 1
    assert out.splitlines()[-2:] == [
        f"error: i-0123456789abcdef0: no ec2 resource 'i-0123456789abcdef0' found in {REGION}",
        "0 resources: nothing done",
    ]
