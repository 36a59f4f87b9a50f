"""Holiday calendars: what they add to a pass, side by side with the same schedules without.

Serves two calendars from a loopback HTTP server (the gov.uk-like bank holidays of
tests/calendars, and a generated Outlook-like export of `--events` meetings, weekly
series with EXDATEs, close to the 1 MB limit), resolves `--schedules` distinct schedules
that name them (in `--zones` zones) with `sources.resolve_all`, then evaluates
`--resources` resources (`decide` at a new minute each, so no cached answer is reused),
and does the same with the `calendars` key removed.

    .venv/bin/python bench/bench_calendars.py [--resources 2000] [--schedules 20]
        [--zones 4] [--events 2500]

Prints the time to read the calendars (fetch, parse, expand: once per pass), the
evaluation time per resource with and without calendars, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import icalendar  # noqa: F401 - imported up front: the pass's import cost is reported apart

from powercycle import sources
from powercycle.config import Config
from powercycle.core.decide import Power, decide
from powercycle.core.schedule import Schedule

NOW = datetime(2026, 12, 24, 12, 0, tzinfo=UTC)
ZONES = ["Europe/London", "Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC"]
FILES = Path(__file__).parent.parent / "tests" / "calendars"
GOVUK = (FILES / "england-and-wales.ics").read_bytes()


def outlook(events: int) -> bytes:
    lines = [
        "BEGIN:VCALENDAR",
        "PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN",
        "VERSION:2.0",
        "BEGIN:VTIMEZONE",
        "TZID:Romance Standard Time",
        "BEGIN:STANDARD",
        "DTSTART:16011028T030000",
        "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10",
        "TZOFFSETFROM:+0200",
        "TZOFFSETTO:+0100",
        "END:STANDARD",
        "BEGIN:DAYLIGHT",
        "DTSTART:16010325T020000",
        "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3",
        "TZOFFSETFROM:+0100",
        "TZOFFSETTO:+0200",
        "END:DAYLIGHT",
        "END:VTIMEZONE",
    ]
    start = datetime(2025, 1, 6, 9, 0)  # noqa: DTZ001 - a wall time of the VTIMEZONE
    for i in range(events):
        begin = start + timedelta(days=i % 700, hours=i % 8)
        stamp = begin.strftime("%Y%m%dT%H%M%S")
        end = (begin + timedelta(hours=1)).strftime("%Y%m%dT%H%M%S")
        lines += [
            "BEGIN:VEVENT",
            f"UID:{i:08d}-040000008200E00074C5B7101A82E0080000000",
            f"SUMMARY:Meeting {i} about the quarterly planning of team {i % 17}",
            f'DTSTART;TZID="Romance Standard Time":{stamp}',
            f'DTEND;TZID="Romance Standard Time":{end}',
            "DTSTAMP:20261101T093000Z",
            "DESCRIPTION:Agenda: status\\, risks\\, next steps. Join from the room or online.",
        ]
        if i % 50 == 0:
            skipped = (begin + timedelta(days=14)).strftime("%Y%m%dT%H%M%S")
            lines += [
                "RRULE:FREQ=WEEKLY;UNTIL=20271231T000000Z",
                f'EXDATE;TZID="Romance Standard Time":{skipped}',
            ]
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


class Handler(BaseHTTPRequestHandler):
    bodies: ClassVar[dict[str, bytes]] = {}
    gets: ClassVar[dict[str, int]] = {}
    lock = threading.Lock()

    def do_GET(self) -> None:
        body = self.bodies.get(self.path)
        with self.lock:
            self.gets[self.path] = self.gets.get(self.path, 0) + 1
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/calendar; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def evaluate(schedules: list[Schedule], resources: int) -> float:
    """Seconds per resource: decide at a new minute each (no cached evaluation reused)."""
    started = time.perf_counter()
    for i in range(resources):
        schedule = schedules[i % len(schedules)]
        now = NOW + timedelta(minutes=i)
        decide(schedule, None, Power.RUNNING, now)
    return (time.perf_counter() - started) / resources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=2000)
    parser.add_argument("--schedules", type=int, default=20)
    parser.add_argument("--zones", type=int, default=4)
    parser.add_argument("--events", type=int, default=2500)
    args = parser.parse_args()

    big = outlook(args.events)
    Handler.bodies = {"/england-and-wales.ics": GOVUK, "/closures.ics": big}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/"
    config = Config(url_allowlist=(base,))
    calendars = [base + "england-and-wales.ics", base + "closures.ics"]

    values, plain = [], []
    for i in range(args.schedules):
        doc = {
            "start": f"{i % 60} 8 * * 1-5",
            "stop": "0 18 * * 1-5",
            "tz": ZONES[i % args.zones],
        }
        plain.append(json.dumps(doc))
        values.append(json.dumps({**doc, "calendars": calendars}))

    started, cpu = time.perf_counter(), time.process_time()
    with_calendars = sources.resolve_all(values, config, now=NOW)
    read, read_cpu = time.perf_counter() - started, time.process_time() - cpu
    started = time.perf_counter()
    without = sources.resolve_all(plain, config, now=NOW)
    resolve_plain = time.perf_counter() - started
    server.shutdown()
    assert all(isinstance(s, Schedule) for s in with_calendars.values()), with_calendars
    assert all(isinstance(s, Schedule) for s in without.values())
    cal = [with_calendars[v] for v in values]
    flat = [without[v] for v in plain]
    assert all(isinstance(s, Schedule) for s in cal + flat)
    per_cal = evaluate(cal, args.resources)  # type: ignore[arg-type]
    per_flat = evaluate(flat, args.resources)  # type: ignore[arg-type]
    holidays = cal[0].holidays  # type: ignore[union-attr]
    print(
        f"calendars: gov.uk {len(GOVUK)} bytes, Outlook-like {len(big)} bytes "
        f"({args.events} events); {args.schedules} schedules in {args.zones} zones; "
        f"GETs {dict(sorted(Handler.gets.items()))}"
    )
    print(f"skipped ranges per schedule: {len(holidays.ranges) if holidays else 0}")
    print(
        f"resolve with calendars (fetch + parse + expand, once per pass): {read * 1000:.0f} ms "
        f"({read_cpu * 1000:.0f} ms CPU); "
        f"without: {resolve_plain * 1000:.1f} ms"
    )
    print(
        f"evaluation per resource over {args.resources}: with calendars "
        f"{per_cal * 1000:.3f} ms, without {per_flat * 1000:.3f} ms, "
        f"ratio {per_cal / per_flat:.2f}"
    )


if __name__ == "__main__":
    main()
