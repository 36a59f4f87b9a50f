"""`powercycle demo --week`: the real handler every 15 simulated minutes against a moto
server, the CAST AI stand-in and a schedule document on loopback. Three simulated days
keep the test short; they hold every scene of the fleet but the weekend."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from powercycle.local import week
from powercycle.local.motocache import ReadCache

MONDAY = datetime(2026, 11, 23, tzinfo=UTC)
DAYS = 3


@pytest.fixture(scope="module")
def three_days() -> week.Week:
    return week.simulate(MONDAY, passes=DAYS * 24 * 4)


def hours(simulated: week.Week) -> dict[str, str]:
    return {t.name: t.hours() for t in simulated.tracks}


def day(on_from: int, off_from: int) -> str:
    return "." * on_from + "#" * (off_from - on_from) + "." * (24 - off_from)


def test_office_hours_in_two_zones_and_a_cluster(three_days: week.Week) -> None:
    """London is UTC in November; New York 5 hours behind; Berlin (the cluster) 1 ahead.
    The first pass, at Monday 00:00, stops what was left running (first sight)."""
    found = hours(three_days)
    assert found["office-london"] == day(8, 18) * DAYS
    assert found["office-new-york"] == day(13, 23) * DAYS
    assert found["eks-dev"] == day(6, 18) * DAYS
    assert found["dev-postgres"] == day(7, 19) * DAYS  # an RDS instance, uptime form


def test_a_person_the_holiday_and_a_stop_only_box(three_days: week.Week) -> None:
    found = hours(three_days)
    # Started by hand on Tuesday 21:00, left up until the next stop (Wednesday 18:00).
    assert found["late-worker"] == day(8, 18) + day(8, 18)[:21] + "###" + day(0, 18)
    # Wednesday is a holiday: no start, so off all day.
    assert found["holiday-box"] == day(8, 18) * 2 + "." * 24
    # Stopped at the first pass (Sunday's 19:00 stop, first sight), started by hand on
    # Wednesday 09:00 and stopped again at 19:00.
    assert found["stop-only"] == "." * 48 + day(9, 19)


def test_url_schedule_production_and_a_broken_tag(three_days: week.Week) -> None:
    found = hours(three_days)
    assert found["nightly-batch"] == day(1, 5) * DAYS
    assert found["prod-db"] == "#" * 24 * DAYS
    assert found["broken-tag"] == "!" * 24 * DAYS


def test_hours_off_and_the_rendered_timeline(three_days: week.Week) -> None:
    office = next(t for t in three_days.tracks if t.name == "office-london")
    assert office.hours_off == 3 * 14
    lines = week.render(three_days)
    assert lines[0].startswith(
        "simulated week Mon 2026-11-23 to Mon 2026-11-30 (UTC): 288 passes of the real handler"
    )
    (row,) = [line for line in lines if line.startswith("office-london ")][:1]
    assert row.split()[1] == day(8, 18) * DAYS
    assert row.endswith("42.0 h off   25%")
    assert lines[-1].startswith("fleet: ")


def test_the_picture(three_days: week.Week, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "week.png"
    week.draw(three_days, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_read_cache_serves_repeats_until_a_write() -> None:
    answers: list[bytes] = []

    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        body = f"answer {len(answers)}".encode()
        answers.append(body)
        start_response("200 OK", [])  # type: ignore[operator]
        return [body]

    cache = ReadCache(app)

    def ask(body: bytes) -> bytes:
        import io

        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/",
            "QUERY_STRING": "",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
        return b"".join(cache(environ, lambda *a: None))

    describe = b"Action=DescribeInstances&Version=2016-11-15"
    assert ask(describe) == b"answer 0"
    assert ask(describe) == b"answer 0"
    assert ask(b"Action=StopInstances&InstanceId.1=i-1") == b"answer 1"
    assert ask(describe) == b"answer 2"
    assert (cache.hits, cache.misses) == (1, 2)


def test_the_single_pass_demo(capsys: pytest.CaptureFixture[str]) -> None:
    """`powercycle demo`: two real passes; the second finds every event handled."""
    from powercycle.cli import main

    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "== second pass: handled events are not acted on again" in out
    assert 'EKS clusters in CAST AI now: {"eks-dev": "hibernated", "eks-qa": "ready"}' in out
    assert 'ECS services now: {"dev-api": "desired 0"}' in out  # its uptime range ended


@pytest.mark.parametrize(
    ("columns", "per"),
    [(None, 1), (204, 1), (203, 2), (120, 2), (95, 3), (90, 4), (78, 4), (60, 4)],
)
def test_the_chart_fits_the_width_asked_for(
    three_days: week.Week, columns: int | None, per: int
) -> None:
    """One character per hour when it fits (or nobody asked), else 2, 3 or 4 hours; each
    resource's line still adds up to its hours, and no line of the chart is wider."""
    lines = week.render(three_days, columns)
    unit = "hour" if per == 1 else f"{per} hours"
    assert lines[1].startswith(f"one character per {unit}: ")
    (row,) = [line for line in lines if line.startswith("office-london ")][:1]
    assert row.split()[1] == next(t for t in three_days.tracks if t.name == "office-london").hours(
        per
    )
    assert len(row.split()[1]) == DAYS * 24 // per
    chart = lines[3 : 5 + len(three_days.tracks)]
    if columns is not None and columns >= 78:  # the narrowest chart: 4 hours a character
        assert max(len(line) for line in chart) <= columns, chart


def test_png_without_matplotlib_is_refused_before_the_simulation(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The package is not on PyPI: the message names the clone's extra, and it comes
    before the (long) simulated week, which is never started."""
    real = week.importlib.util.find_spec
    monkeypatch.setattr(
        week.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real(name, *a),
    )

    def never(*_: object, **__: object) -> week.Week:
        raise AssertionError("the week was simulated")

    monkeypatch.setattr(week, "simulate", never)
    from powercycle.cli import main

    assert main(["demo", "--week", "--png", "week.png"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "powercycle: --png needs matplotlib, which is not installed: from the clone, "
        "pip install -e '.[plot]' (or ./dev setup)\n"
    )


def test_demo_week_width_on_the_command_line(
    three_days: week.Week, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(week, "simulate", lambda monday: three_days)
    from powercycle.cli import main

    assert main(["demo", "--week", "--start", "2026-11-23", "--width", "120"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("one character per 2 hours: ")
