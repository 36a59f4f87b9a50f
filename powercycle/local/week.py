"""`powercycle demo --week`: a simulated week of the real handler, as a timeline.

A moto server on loopback plays AWS, the CAST AI stand-in plays CAST AI, and a tiny HTTP
server on loopback serves a shared schedule document. A sample fleet is seeded (office
hours in London and New York, a stop-only box, a nightly batch box scheduled by URL, an
EKS cluster through CAST AI, an RDS database on the uptime form, a production box, a
broken tag, a holiday), then the real
handler (`handler.run_event`) runs every 15 simulated minutes for 7 days with that
moment passed in as `now`: no clock is patched. Between passes the script plays people:
someone starts a box after hours, someone starts the stop-only box in the morning.

After each pass the power state of every resource is read back, and the week is printed
as one line per resource, one character per hour (UTC), with the hours off and the share
of the week saved; on a terminal narrower than that (or with `--width N`) one character
stands for 2, 3 or 4 hours. `--png FILE` draws the same timeline with matplotlib (from a
clone: `pip install -e '.[plot]'`, or `./dev setup`), checked before the week is simulated.

Cost. 672 passes; each is one DescribeInstances, one ListClusters and DescribeCluster, one
DescribeDBInstances and DescribeDBClusters, one CAST AI listing, one document GET, plus
the state-tag writes when something happens and the read-back. Clients are made once and
kept (`aws.client`), so a pass is a handful of loopback requests.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from powercycle import aws
from powercycle.config import Config
from powercycle.local.demo import DEMO_CASTAI_KEY, REGION, local_aws

STEP = timedelta(minutes=15)
PASSES = 7 * 24 * 4
ON, OFF, ERROR = "#", ".", "!"
LONDON = {"start": "0 8 * * mon-fri", "stop": "0 18 * * mon-fri", "tz": "Europe/London"}


@dataclass
class Track:
    """One resource through the week: its state after each pass."""

    name: str
    kind: str
    about: str
    slots: list[str] = field(default_factory=list)

    def hours(self, per: int = 1) -> str:
        """One character per `per` hours: the state most of them were in (errors win)."""
        chars = []
        step = 4 * per
        for first in range(0, len(self.slots), step):
            part = self.slots[first : first + step]
            if ERROR in part:
                chars.append(ERROR)
            else:
                chars.append(OFF if part.count(OFF) > len(part) / 2 else ON)
        return "".join(chars)

    @property
    def hours_off(self) -> float:
        return self.slots.count(OFF) * STEP.total_seconds() / 3600


@dataclass
class Week:
    start: datetime
    tracks: list[Track]
    passes: int
    seconds: float
    people: list[str]


def monday_of(day: date) -> datetime:
    monday = day - timedelta(days=day.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)


def fleet(start: datetime, url: str) -> list[tuple[str, dict[str, str], str]]:
    """(name, tags, what it shows) of the EC2 instances."""
    holiday = (start + timedelta(days=2)).date().isoformat()  # the Wednesday

    def tag(schedule: dict[str, Any]) -> dict[str, str]:
        return {"ec2Powercycle": json.dumps(schedule)}

    return [
        ("office-london", tag(LONDON), "08:00-18:00 Mon-Fri, Europe/London"),
        (
            "office-new-york",
            tag({**LONDON, "tz": "America/New_York"}),
            "08:00-18:00 Mon-Fri, America/New_York",
        ),
        ("late-worker", tag(LONDON), "London office hours; started by hand Tue 21:00"),
        ("holiday-box", tag({**LONDON, "skip": [holiday]}), f"London office hours, {holiday} off"),
        (
            "stop-only",
            tag({"stop": "0 19 * * *"}),
            "stop at 19:00 daily; started by hand Wed 09:00",
        ),
        ("nightly-batch", {"ec2Powercycle": f"{url}#nightly"}, "01:00-05:00 daily, from a URL"),
        (
            "prod-db",
            {**tag({"stop": "0 19 * * *"}), "environment": "p"},
            "production: excluded, never touched",
        ),
        (
            "broken-tag",
            {"ec2Powercycle": '{"start": "0 8 * * 1-5", "stop": "55 25 * * 1-5"}'},
            "a bad cron: reported, left alone",
        ),
    ]


CLUSTER = (
    "eks-dev",
    {
        "ec2Powercycle": json.dumps(
            {
                "start": "0 7 * * mon-fri",
                "stop": "0 19 * * mon-fri",
                "tz": "Europe/Berlin",
                "resume": {"instanceType": "m5.large"},
            }
        )
    },
    "EKS via CAST AI, 07:00-19:00 Mon-Fri Berlin",
)
DOCUMENT = {"nightly": {"start": "0 1 * * *", "stop": "0 5 * * *"}}
# An RDS instance (kind rds): its tags hold no JSON, so it carries the uptime form.
DATABASE = (
    "dev-postgres",
    {"ec2Powercycle": "Mon-Fri 07:00-19:00 Europe/London"},
    "RDS, uptime form Mon-Fri 07:00-19:00 London",
)


class _Documents(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(DOCUMENT).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def simulate(start: datetime, *, passes: int = PASSES) -> Week:
    """Seed the fleet, run `passes` passes 15 minutes apart from `start`, read states."""
    from powercycle.handler import run_event
    from powercycle.local.castai_standin import CastAIStandin

    documents = ThreadingHTTPServer(("127.0.0.1", 0), _Documents)
    threading.Thread(target=documents.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{documents.server_address[1]}/"
    try:
        with local_aws(cache_reads=True), CastAIStandin(api_key=DEMO_CASTAI_KEY) as castai:
            config = Config(
                regions=(REGION,),
                castai_api_url=castai.url,
                castai_api_key=DEMO_CASTAI_KEY,
                url_allowlist=(base,),
                retry_delay_s=0.0,
            )
            ec2 = aws.client("ec2", REGION)
            machines = fleet(start, base + "schedules.json")
            ids = _launch(ec2, machines)
            name, tags, about = CLUSTER
            aws.client("eks", REGION).create_cluster(
                name=name,
                roleArn="arn:aws:iam::123456789012:role/eks-demo",
                resourcesVpcConfig={},
                tags=tags,
            )
            cluster_id = castai.add_cluster(name, region=REGION, status="ready")
            database, db_tags, db_about = DATABASE
            aws.client("rds", REGION).create_db_instance(
                DBInstanceIdentifier=database,
                Engine="postgres",
                DBInstanceClass="db.t4g.micro",
                AllocatedStorage=20,
                MasterUsername="demo",
                MasterUserPassword="demo-password-not-a-secret",
                Tags=[{"Key": k, "Value": v} for k, v in db_tags.items()],
            )
            tracks = {n: Track(n, "ec2", a) for n, _, a in machines}
            tracks[name] = Track(name, "eks", about)
            tracks[database] = Track(database, "rds", db_about)
            people = {
                start + timedelta(days=1, hours=21): ("late-worker", "starts late-worker"),
                start + timedelta(days=2, hours=9): ("stop-only", "starts stop-only"),
            }
            # What a pass changes is in its summary (moto carries out a start or a stop at
            # once): the power of each instance follows from it without asking EC2 again.
            power = dict.fromkeys([*ids.values(), database], True)
            began = time.monotonic()
            for step in range(passes):
                now = start + step * STEP
                if now in people:
                    ec2.start_instances(InstanceIds=[ids[people[now][0]]])
                    power[ids[people[now][0]]] = True
                summary = run_event({}, config, now)
                failed = {e["id"] for e in summary["errors"]}
                for action in summary["actions"]:
                    if action["result"] == "done":
                        power[action["id"]] = action["action"] == "start"
                for machine, instance_id in ids.items():
                    on = power[instance_id]
                    mark = ERROR if instance_id in failed else ON if on else OFF
                    tracks[machine].slots.append(mark)
                status = castai.status(cluster_id)
                mark = ERROR if name in failed else ON if status in ("ready", "resuming") else OFF
                tracks[name].slots.append(mark)
                on = power[database]
                tracks[database].slots.append(ERROR if database in failed else ON if on else OFF)
            seconds = time.monotonic() - began
            _check_states(ec2, ids, power)
            (db,) = aws.client("rds", REGION).describe_db_instances(DBInstanceIdentifier=database)[
                "DBInstances"
            ]
            if (db["DBInstanceStatus"] == "available") != power[database]:
                raise RuntimeError(f"{database}: the timeline lost track")
    finally:
        documents.shutdown()
        documents.server_close()
    said = [f"{when:%a %H:%M} UTC: a person {what}" for when, (_, what) in sorted(people.items())]
    return Week(start, list(tracks.values()), passes, seconds, said)


def _launch(ec2: Any, machines: list[tuple[str, dict[str, str], str]]) -> dict[str, str]:
    # One launch for the whole fleet (moto takes about as long for one as for eight),
    # then one CreateTags per instance.
    answer = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=len(machines), MaxCount=len(machines)
    )
    ids: dict[str, str] = {}
    for (name, tags, _), instance in zip(machines, answer["Instances"], strict=True):
        ec2.create_tags(
            Resources=[instance["InstanceId"]],
            Tags=[{"Key": k, "Value": v} for k, v in {"Name": name, **tags}.items()],
        )
        ids[name] = instance["InstanceId"]
    return ids


def _check_states(ec2: Any, ids: dict[str, str], power: dict[str, bool]) -> None:
    """The power the timeline ends with is the power EC2 reports."""
    states = {
        i["InstanceId"]: i["State"]["Name"]
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
    }
    for name, instance_id in ids.items():
        if (states[instance_id] == "running") != power[instance_id]:
            raise RuntimeError(f"{name}: the timeline lost track ({states[instance_id]})")


# Hours per character the chart may use, finest first, and each one's ticks for a day.
PER = (1, 2, 3, 4)
_TICKS = {1: "|     6     12    18    ", 2: "|  6  12 18 ", 3: "|   12  ", 4: "|     "}
_TAIL = len("  123.4 h off  100%")


def hours_per_character(names: int, columns: int | None) -> int:
    """The finest resolution whose lines fit in `columns` (None: one hour a character)."""
    if columns is None:
        return 1
    for per in PER:
        if names + 2 + 7 * 24 // per + _TAIL <= columns:
            return per
    return PER[-1]


def render(week: Week, columns: int | None = None) -> list[str]:
    """The week as text, one line per resource, fitted to `columns` when given."""
    width = max(len(t.name) for t in week.tracks)
    per = hours_per_character(width, columns)
    day_chars = 24 // per
    pad = " " * (width + 2)
    days = "".join(
        f"{(week.start + timedelta(days=d)):%a %d}"[:day_chars].ljust(day_chars) for d in range(7)
    )
    ticks = _TICKS[per] * 7
    end = week.start + timedelta(days=7)
    unit = "hour" if per == 1 else f"{per} hours"
    lines = [
        f"simulated week {week.start:%a %Y-%m-%d} to {end:%a %Y-%m-%d} (UTC): {week.passes} "
        f"passes of the real handler, 15 minutes apart, in {week.seconds:.1f} s",
        f"one character per {unit}: {ON} running  {OFF} stopped  {ERROR} error reported "
        "(left as it was)",
        "",
        pad + days,
        pad + ticks,
    ]
    for track in week.tracks:
        off = track.hours_off
        lines.append(
            f"{track.name.ljust(width)}  {track.hours(per)}  {off:5.1f} h off  {off / 168:4.0%}"
        )
    lines.append("")
    for track in week.tracks:
        lines.append(f"{track.name.ljust(width)}  {track.about}")
    lines += ["", *week.people]
    total = sum(t.hours_off for t in week.tracks)
    lines.append(
        f"fleet: {total:.0f} of {168 * len(week.tracks)} resource-hours off "
        f"({total / (168 * len(week.tracks)):.0%} saved)"
    )
    return lines


def draw(week: Week, path: str) -> None:
    """The timeline as a picture (matplotlib, the `plot` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {ON: "#2e7d32", OFF: "#e0e0e0", ERROR: "#c62828"}
    fig, ax = plt.subplots(figsize=(14, 0.45 * len(week.tracks) + 1.6))
    for row, track in enumerate(reversed(week.tracks)):
        hours = track.hours()
        begin = 0
        for i in range(1, len(hours) + 1):
            if i == len(hours) or hours[i] != hours[begin]:
                ax.broken_barh(
                    [(begin, i - begin)], (row - 0.35, 0.7), facecolors=colours[hours[begin]]
                )
                begin = i
        ax.text(169, row, f"{track.hours_off:.0f} h off ({track.hours_off / 168:.0%})", va="center")
    ax.set_yticks(range(len(week.tracks)), [t.name for t in reversed(week.tracks)])
    ax.set_xticks(
        range(0, 169, 24),
        [f"{(week.start + timedelta(days=d)):%a %d}" for d in range(8)],
    )
    ax.set_xlim(0, 190)
    ax.grid(axis="x", color="#9e9e9e", linewidth=0.5)
    ax.set_title("powercycle: a simulated week (green running, grey stopped, red error), UTC")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


PLOT_MISSING = (
    "--png needs matplotlib, which is not installed: from the clone, "
    "pip install -e '.[plot]' (or ./dev setup)"
)


def run_week(
    *, start: str | None = None, png: str | None = None, columns: int | None = None
) -> int:
    """The simulated week, printed in `columns` (None: one character per hour)."""
    try:
        day = date.fromisoformat(start) if start else datetime.now(UTC).date()
    except ValueError:
        print(f"powercycle: --start {start!r} is not a date like 2026-11-23", file=sys.stderr)
        return 2
    if png and importlib.util.find_spec("matplotlib") is None:  # before a long simulation
        print(f"powercycle: {PLOT_MISSING}", file=sys.stderr)
        return 2
    monday = monday_of(day)
    print(f"simulating the week of {monday:%Y-%m-%d} against a local AWS...", file=sys.stderr)
    week = simulate(monday)
    for line in render(week, columns):
        print(line)
    if png:
        draw(week, png)
        print(f"timeline drawn in {png}")
    return 0
