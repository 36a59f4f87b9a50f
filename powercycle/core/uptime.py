"""The uptime form of the schedule tag: `Mon-Fri 08:00-17:55 Europe/London`.

A tag-safe spelling (letters, digits, spaces and `+ - : /` only) of the commonest
schedule, kube-downscaler's: start at the first time and stop at the second on those days,
in the zone. It is read into its *JSON twin* (`{"start": ..., "stop": ..., "tz": ...}`)
and that goes through `schedule.parse_schedule`, so an uptime value and its twin are the
same `Schedule` and behave alike in every way.

Grammar (days and zone names in any case; tokens separated by white space):

    value  := range ( " + " range )*
    range  := days " " times [ " " zone ]
    days   := item ( "+" item )*          item := day | day "-" day    (Mon, Sat-Sun, Mon+Wed+Fri)
    times  := HH:MM "-" HH:MM             (00:00-23:59; 24:00 only as the end)
    zone   := an IANA name (Europe/London, UTC)

* a day range wraps (`Sat-Sun`, `Sun-Fri`, `Fri-Mon`); `Monday` is `Mon`;
* a range that ends at or before its start ends on the next day (`Fri 22:00-06:00` stops on
  Saturday at 06:00), as does `24:00` (`Mon-Fri 00:00-24:00` is up all weekday);
  a range whose two times are equal is refused;
* a zone may end any range and applies to it; a range without one takes the zone that ends
  the value, else the default zone (`POWERCYCLE_DEFAULT_TZ`). A schedule reads all its
  crons in one zone, so ranges in different zones are refused;
* `,` is refused (ranges are joined by ` + `, days by `+`).

Which form a tag value is, is decided by its shape (`shape`): `{`/`[` JSON, a scheme a
location, white space or a leading day spec an uptime, a single word a library name.

Pure: no AWS, no HTTP, no clock. Bounded: at most `MAX_LENGTH` characters and `MAX_RANGES`
ranges, checked before any parsing; every error is one line quoting the culprit (shortened)
and the expected shape.
"""

from __future__ import annotations

import functools
import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, available_timezones

from powercycle.core.cron import CronError, compile_cron
from powercycle.core.document import show
from powercycle.core.schedule import MAX_CRONS, Event, Schedule, ScheduleError, parse_schedule

EXAMPLE = "Mon-Fri 08:00-17:55 Europe/London"
MAX_LENGTH = 1024
MAX_RANGES = MAX_CRONS // 2  # each range is one start and one stop cron
MAX_ZONE_LENGTH = 64

Shape = Literal["json", "location", "uptime", "name", "unknown"]

# Cron day-of-week numbers: 0 is Sunday.
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_FULL_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_DAYS = {name: i for i, name in enumerate(_DAY_NAMES)} | {
    name: i for i, name in enumerate(_FULL_NAMES)
}
_DAY = "|".join(sorted(_DAYS, key=len, reverse=True))
# A value that starts with a day spec followed by white space or its end is an uptime.
_STARTS_WITH_DAYS = re.compile(rf"(?:{_DAY})(?:[-+](?:{_DAY}))*(?:\s|\Z)", re.IGNORECASE | re.ASCII)
_TIMES = re.compile(r"([0-9]{1,2}):([0-9]{2})-([0-9]{1,2}):([0-9]{2})", re.ASCII)
_NAME = re.compile(r"[A-Za-z0-9_.-]+", re.ASCII)
_ZONE = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*", re.ASCII)
_SCHEMES = ("https://", "http://", "s3://")


class UptimeError(ScheduleError):
    """An uptime value that does not parse; the message quotes the culprit and the shape."""


def shape(value: str) -> Shape:
    """Which form a tag value is, by its shape alone (nothing is parsed or fetched)."""
    text = value.strip()
    if text.startswith(("{", "[")):
        return "json"
    if text[:8].lower().startswith(_SCHEMES):
        return "location"
    if any(c.isspace() for c in text) or _STARTS_WITH_DAYS.match(text):
        return "uptime"
    if _NAME.fullmatch(text):
        return "name"
    return "unknown"


def parse_uptime(value: str, *, default_tz: str = "UTC") -> Schedule:
    """The schedule an uptime value means: exactly its JSON twin's."""
    return parse_schedule(uptime_document(value, default_tz=default_tz), default_tz=default_tz)


def uptime_document(value: str, *, default_tz: str = "UTC") -> dict[str, object]:
    """The JSON twin: `{"start": cron(s), "stop": cron(s), "tz": zone}`; UptimeError if the
    value is not an uptime."""
    starts, stops, zone = _twin(value.strip(), default_tz)
    twin: dict[str, object] = {"start": starts[0] if len(starts) == 1 else list(starts)}
    if stops:
        twin["stop"] = stops[0] if len(stops) == 1 else list(stops)
    twin["tz"] = zone
    return twin


@functools.lru_cache(maxsize=4096)
def _twin(text: str, default_tz: str) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    if len(text) > MAX_LENGTH:
        raise _error(text, f"it has {len(text)} characters; an uptime has at most {MAX_LENGTH}")
    if "," in text:
        raise _error(
            text,
            "',' is not allowed: join ranges with ' + ' (with spaces, "
            "Mon-Fri 08:00-12:00 + Mon-Fri 13:00-18:00) and days with '+' (Mon+Wed+Fri)",
        )
    tokens = text.split()
    if not tokens:
        raise _error(text, "it is empty")
    joins = tokens.count("+")
    if joins >= MAX_RANGES:
        raise _error(text, f"it joins {joins + 1} ranges; at most {MAX_RANGES} are allowed")
    groups: list[list[str]] = [[]]
    for word in tokens:
        if word == "+":
            groups.append([])
        else:
            groups[-1].append(word)
    ranges = [_range(text, group) for group in groups]
    value_zone = ranges[-1][2] or default_tz
    zones = {zone or value_zone for _, _, zone in ranges}
    if len(zones) > 1:
        raise _error(
            text,
            f"its ranges are in different zones ({', '.join(sorted(zones))}); a schedule reads "
            "all its times in one zone: give every range the same zone (or none, and one at "
            "the end)",
        )
    starts = tuple(dict.fromkeys(s for s, _, _ in ranges))
    # Every day 00:00-24:00 stops when it starts: start wins the tie, so it is always up
    # and that stop would never stop anything.
    stops = tuple(dict.fromkeys(s for _, s, _ in ranges if s not in starts))
    return starts, stops, value_zone


def _range(text: str, group: list[str]) -> tuple[str, str, str | None]:
    """One range's start cron, stop cron and zone (None: the value's)."""
    if not group:
        raise _error(text, "an empty range beside ' + ' (a range is days and times)")
    if len(group) == 1:
        only = group[0]
        if _TIMES.fullmatch(only):
            raise _error(text, f"{_quote(only)} needs days before it")
        if "+" in only and any(c == ":" for c in only):
            raise _error(text, f"{_quote(only)}: join ranges with ' + ' (spaces around the +)")
        _days(text, only)
        raise _error(text, f"{_quote(only)} needs a time range after it (08:00-17:55)")
    if len(group) > 3:
        raise _error(
            text,
            f"unexpected {_quote(group[3])} after a range; join ranges with ' + ' "
            "(spaces around the +)",
        )
    days = _days(text, group[0])
    start, stop, overnight = _times(text, group[1])
    zone = _zone(text, group[2]) if len(group) == 3 else None
    start_cron = f"{start[1]} {start[0]} * * {_dow_field(days)}"
    stop_days = frozenset((d + 1) % 7 for d in days) if overnight else days
    stop_cron = f"{stop[1]} {stop[0]} * * {_dow_field(stop_days)}"
    return start_cron, stop_cron, zone


def _days(text: str, token: str) -> frozenset[int]:
    if not token.isascii():
        raise _error(text, f"{_quote(token)} is not days like Mon-Fri, Sat-Sun or Mon+Wed+Fri")
    days: set[int] = set()
    for item in token.split("+"):
        first, sep, last = item.partition("-")
        a, b = _DAYS.get(first.lower()), _DAYS.get(last.lower()) if sep else None
        if a is None or (sep and b is None):
            culprit = item if item else token
            hint = "Mon, Tue, Wed, Thu, Fri, Sat, Sun"
            if _TIMES.fullmatch(token) or _TIMES.fullmatch(item):
                hint = "days come first"
            raise _error(
                text,
                f"{_quote(culprit)} is not a day or a day range like Mon-Fri ({hint})",
            )
        if b is None:
            days.add(a)
        else:
            days.update((a + i) % 7 for i in range((b - a) % 7 + 1))  # wraps: Sat-Sun
    return frozenset(days)


def _times(text: str, token: str) -> tuple[tuple[int, int], tuple[int, int], bool]:
    """(start, stop, stops the next day), each time as (hour, minute); 24:00 is next day's 0:00."""
    match = _TIMES.fullmatch(token)
    if match is None:
        problem = f"{_quote(token)} is not a time range HH:MM-HH:MM like 08:00-17:55"
        if any(c.isdigit() and not c.isascii() for c in token):
            problem += " (write the digits 0-9)"
        elif "+" in token:
            problem += "; join ranges with ' + ' (spaces around the +)"
        raise _error(text, problem)
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59:
        why = "may only end a range" if (h1, m1) == (24, 0) else "is not a time of day"
        raise _error(text, f"{_quote(token)}: {match.group(1)}:{match.group(2)} {why}")
    if (h2 > 23 or m2 > 59) and (h2, m2) != (24, 0):
        end = f"{match.group(3)}:{match.group(4)}"
        raise _error(text, f"{_quote(token)}: {end} is not a time of day")
    if (h1, m1) == (h2, m2):
        raise _error(text, f"{_quote(token)} starts and stops at the same time")
    if (h2, m2) == (24, 0):
        return (h1, m1), (0, 0), True
    return (h1, m1), (h2, m2), (h2, m2) < (h1, m1)


def _zone(text: str, token: str) -> str:
    problem = f"{_quote(token)} is not a known IANA time zone like Europe/London"
    if len(token) > MAX_ZONE_LENGTH or not _ZONE.fullmatch(token):
        if _TIMES.fullmatch(token):
            problem = f"{_quote(token)} is a second time range; join ranges with ' + '"
        raise _error(text, problem)
    if _is_zone(token):
        return token
    named = _zone_names().get(token.lower())  # europe/london is Europe/London
    if named is not None and _is_zone(named):
        return named
    raise _error(text, problem)


def _is_zone(name: str) -> bool:
    try:
        datetime(2000, 1, 1, tzinfo=ZoneInfo(name)).utcoffset()
    except Exception:  # not found, a directory of the zone database, not a zone file
        return False
    return True


@functools.cache
def _zone_names() -> dict[str, str]:
    """Zone names by their lower case (read once, only for a zone that is not found)."""
    return {name.lower(): name for name in available_timezones()}


def _dow_field(days: frozenset[int]) -> str:
    """Cron day-of-week field: `*`, or names in runs (`mon-fri`, `sun,sat`), never wrapping."""
    if len(days) == 7:
        return "*"
    parts: list[str] = []
    ordered = sorted(days)
    run_start = previous = ordered[0]
    for day in [*ordered[1:], None]:
        if day is not None and day == previous + 1:
            previous = day
            continue
        first, last = _DAY_NAMES[run_start], _DAY_NAMES[previous]
        parts.append(first if run_start == previous else f"{first}-{last}")
        if day is not None:
            run_start = previous = day
    return ",".join(parts)


def _quote(token: str) -> str:
    return show(token, 40)


def _error(text: str, problem: str) -> UptimeError:
    return UptimeError(f"uptime {show(text, 80)}: {problem}; expected a shape like {EXAMPLE}")


# --- the other way: a JSON schedule's uptime twin ------------------------------------------

_WEEK = 7 * 1440  # minutes
_DAY_TITLES = tuple(name.title() for name in _DAY_NAMES)
_MONDAY_FIRST = (1, 2, 3, 4, 5, 6, 0)


def to_uptime(schedule: Schedule) -> str | None:
    """The uptime value meaning exactly `schedule`, or None when it has none.

    It has one when it is only start and stop crons at a fixed minute and hour on sets of
    week days (no day of month, month, `L`, `#`), each start followed in the week by one
    stop at most 24 hours later (a stop at a start's instant counts for nothing: start wins
    the tie), and nothing else (no `skip`, `calendars`, `enforce`, `hibernate`,
    `maxRuntime`, `resume`, `via`, `fallbackTypes`). The twin is read back and its
    transitions compared with the schedule's over weeks around the zone's clock changes;
    any difference answers None."""
    bare = Schedule(start=schedule.start, stop=schedule.stop, tz=schedule.tz)
    zone = schedule.tz.key
    if schedule != bare or not zone or not schedule.start or not schedule.stop:
        return None
    starts, stops = _weekly(schedule.start), _weekly(schedule.stop)
    if starts is None or stops is None:
        return None
    events = sorted([(t, "start") for t in starts] + [(t, "stop") for t in stops - starts])
    ranges: dict[tuple[int, int], set[int]] = {}
    for i, (begin, action) in enumerate(events):
        end, after = events[(i + 1) % len(events)]
        if action == "stop":  # a stop must end the uptime a start began
            if events[i - 1][1] != "start":
                return None
            continue
        # A stop at the next start's instant counts for nothing but ends this range.
        if after != "stop" and end not in stops:
            return None
        length = (end - begin) % _WEEK or _WEEK
        if length > 1440 or (length == 1440 and begin % 1440):  # 08:00-08:00 is refused
            return None
        ranges.setdefault((begin % 1440, begin % 1440 + length), set()).add(begin // 1440)
    twin = " + ".join(
        f"{_day_spec(days)} {_clock(first)}-{_clock(last % 1440 or (last and 1440))}"
        for (first, last), days in sorted(ranges.items(), key=lambda r: (_first(r[1]), r[0]))
    )
    value = f"{twin} {zone}"
    return value if _same(schedule, value) else None


def _weekly(crons: tuple[str, ...]) -> set[int] | None:
    """The minutes of the week (Sunday 00:00 is 0) the crons fire at, or None when one of
    them is not a fixed time on week days."""
    found: set[int] = set()
    for expr in crons:
        try:
            cron = compile_cron(expr)
        except CronError:
            return None
        fields, days = cron.key[0], cron.days
        restricted = days.months, days.doms, days.nearest
        if days.nth or days.last_dom or days.either or any(x is not None for x in restricted):
            return None
        if not isinstance(fields, tuple):
            return None
        minutes, hours = fields[0], fields[1]
        if len(minutes) != 1 or len(hours) != 1 or not f"{minutes[0]}{hours[0]}".isdigit():
            return None
        dows = set(range(7)) if days.dows is None else {d % 7 for d in days.dows}
        at = int(hours[0]) * 60 + int(minutes[0])
        found.update(d * 1440 + at for d in dows)
    return found


def _day_spec(days: set[int]) -> str:
    """`Mon-Fri`, `Sat-Sun`, `Mon+Wed+Fri`, `Fri-Mon` (runs wrap the week), `Mon-Sun`."""
    if len(days) == 7:
        return "Mon-Sun"
    runs: list[list[int]] = []
    for day in _MONDAY_FIRST:
        if day in days:
            if runs and runs[-1][-1] == (day - 1) % 7:
                runs[-1].append(day)
            else:
                runs.append([day])
    if len(runs) > 1 and runs[0][0] == 1 and runs[-1][-1] == 0:  # ... Sun + Mon ...: wrap
        runs[0] = runs.pop() + runs[0]
    return "+".join(
        _DAY_TITLES[r[0]] if len(r) == 1 else f"{_DAY_TITLES[r[0]]}-{_DAY_TITLES[r[-1]]}"
        for r in runs
    )


def _first(days: set[int]) -> int:
    return min(_MONDAY_FIRST.index(d) for d in days)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _same(schedule: Schedule, value: str) -> bool:
    """Whether `value` reads back as a schedule with `schedule`'s transitions over a plain
    fortnight and the fortnights around each clock change of its zone (in 2026)."""
    try:
        twin = parse_uptime(value)
    except ScheduleError:
        return False
    if twin.tz.key != schedule.tz.key:
        return False
    begin = datetime(2026, 1, 5, tzinfo=UTC)
    moments = [begin]
    noon = [begin + timedelta(days=d, hours=12) for d in range(366)]
    offsets = [m.astimezone(schedule.tz).utcoffset() for m in noon]
    moments += [noon[d] - _FORTNIGHT / 2 for d in range(1, 366) if offsets[d] != offsets[d - 1]]
    return all(_transitions(schedule, m) == _transitions(twin, m) for m in moments)


_FORTNIGHT = timedelta(days=14)


def _transitions(schedule: Schedule, after: datetime) -> list[Event]:
    end = after + _FORTNIGHT
    return list(itertools.takewhile(lambda e: e.time <= end, schedule.events_after(after)))
