"""Cron expressions: which ones a schedule accepts, and the days each one fires on.

croniter walks a cron firing by firing. A schedule's `skip` dates can hide hundreds of
firings in a row (a cron that fires only on skipped days for years), and walking them one
by one costs seconds. So the day part of a cron (day-of-month, month, day-of-week) is also
read here as a calendar: for each month, a bit mask of the days it fires on. Together with
the mask of skipped days, the next day that both fires and is not skipped is found in one
step per month. croniter stays the authority for the time of day and for every firing
returned; the masks only choose where it looks next (tests/test_faults_schedule.py checks
them against croniter day by day).

Accepted: 5 fields (minute hour day-of-month month day-of-week); numbers, names (`jan`,
`mon-fri`), ranges, lists, steps, `?`; croniter's `L` (last day of the month; `L5` the last
Friday), `#` (`1#2`, the second Monday) and `W` (`15W`, the weekday nearest the 15th).
When both day fields are restricted, a day matching either fires (cron's rule). Refused:
`R` (random) and `H` (hashed), which croniter resolves differently from pass to pass or by
an id we do not give, while an event must be the same instant on every pass; and `#` or `W`
beside a restricted other day field, which croniter reads as neither AND nor OR.
"""

from __future__ import annotations

import calendar
import functools
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

MAX_CRON_LENGTH = 200
# A lone `r` or `h` (not inside a name like `fri` or `thu`), also as `H(0-5)` or `H/5`.
_RANDOM_OR_HASHED = re.compile(r"(?<![a-z])[rh](?![a-z])")
_ALL_DAYS = (1 << 32) - 2  # bits 1..31
_MINUTE = timedelta(minutes=1)
# How far a cron is searched for a firing before we call it "never".
LOOKBACK = timedelta(days=366 * 5)
# croniter steps between two answers: a repeated hour holds at most 60 firings of a cron.
_MAX_STEPS = 5000


class CronError(ValueError):
    """A cron string is refused; the message says why (the caller adds the key)."""


@dataclass(frozen=True)
class DayPattern:
    """The day part of a cron, as croniter expands it."""

    months: frozenset[int] | None  # None: every month
    doms: frozenset[int] | None  # None: `*`
    last_dom: bool  # `L` in day-of-month
    nearest: int | None  # `15W`
    dows: frozenset[int] | None  # None: `*`; 0 is Sunday
    nth: tuple[tuple[int, frozenset[int]], ...]  # weekday -> which ones (0: the last)
    either: bool  # both day fields restricted: a day matching either fires

    def mask(self, year: int, month: int) -> int:
        """Bit d set when the cron fires on day d of that month."""
        return _month_mask(self, year, month)


@dataclass(frozen=True)
class Cron:
    expr: str  # whitespace normalised, as written otherwise
    key: tuple[object, ...]  # the expansion: two spellings of one cron share it
    days: DayPattern


@functools.lru_cache(maxsize=4096)
def compile_cron(expr: str) -> Cron:
    """Validate one cron string; raise CronError saying what is wrong."""
    if len(expr) > MAX_CRON_LENGTH:
        raise CronError(f"is longer than {MAX_CRON_LENGTH} characters")
    fields = expr.split()
    if len(fields) != 5:
        raise CronError(
            f"has {len(fields)} fields; a cron here has 5: "
            'minute hour day-of-month month day-of-week (e.g. "0 8 * * mon-fri")'
        )
    normalised = " ".join(fields)
    if _RANDOM_OR_HASHED.search(normalised.lower()):
        raise CronError(
            "uses R (random) or H (hashed), which are refused: an event must be the same "
            "instant on every pass; write the minute and hour you want"
        )
    try:
        it = croniter(normalised, datetime(2000, 1, 1))  # noqa: DTZ001 (naive on purpose)
    except Exception as exc:  # croniter raises several types for bad input
        raise CronError(f"is not a valid cron expression ({exc})") from None
    expanded = [list(field) for field in it.expanded]
    nth = {
        int(k): frozenset(0 if n == "l" else int(n) for n in v)
        for k, v in it.nth_weekday_of_month.items()
    }
    nearest = sorted(it.nearest_weekday)
    dom_star, dow_star = expanded[2][0] == "*", expanded[4][0] == "*"
    if (nth and not dom_star) or (nearest and not dow_star):
        raise CronError(
            "combines '#', 'W' or a last weekday with a restricted other day field; "
            "keep the other day field '*'"
        )
    try:
        it.get_next(datetime)
    except CroniterBadDateError:
        raise CronError("never fires (no such date)") from None
    except Exception as exc:
        raise CronError(f"is not a valid cron expression ({exc})") from None
    ints = [int(str(v)) for v in expanded[2] if str(v).isdigit()]
    days = DayPattern(
        months=None if expanded[3][0] == "*" else frozenset(int(v) for v in expanded[3]),
        doms=None if dom_star or nearest else frozenset(ints),
        last_dom="l" in expanded[2],
        nearest=nearest[0] if nearest else None,
        dows=None if dow_star or nth else frozenset(int(v) for v in expanded[4]),
        nth=tuple(sorted(nth.items())),
        either=not dom_star and not dow_star,
    )
    key = (tuple(tuple(str(v) for v in f) for f in expanded), days)
    return Cron(normalised, key, days)


@functools.lru_cache(maxsize=65536)
def _month_mask(days: DayPattern, year: int, month: int) -> int:
    if days.months is not None and month not in days.months:
        return 0
    first_weekday, last = calendar.monthrange(year, month)
    first_dow = (first_weekday + 1) % 7  # cron numbering: Sunday is 0
    all_days = _ALL_DAYS & ((1 << (last + 1)) - 1)
    if days.nearest is not None:
        dom_mask = 1 << _nearest_weekday(year, month, days.nearest, last)
    elif days.doms is None and not days.last_dom:
        dom_mask = all_days
    else:
        dom_mask = sum(1 << d for d in days.doms or () if d <= last)
        if days.last_dom:
            dom_mask |= 1 << last
    if days.nth:
        dow_mask = 0
        for weekday, which in days.nth:
            on = list(range(1 + (weekday - first_dow) % 7, last + 1, 7))
            for n in which:
                if n == 0 or n <= len(on):
                    dow_mask |= 1 << on[n - 1]
    elif days.dows is None:
        dow_mask = all_days
    else:
        dow_mask = sum(1 << d for d in range(1, last + 1) if (first_dow + d - 1) % 7 in days.dows)
    return dom_mask | dow_mask if days.either else dom_mask & dow_mask


def _nearest_weekday(year: int, month: int, day: int, last: int) -> int:
    day = min(day, last)
    weekday = calendar.weekday(year, month, day)  # Monday is 0
    if weekday == 5:  # Saturday: the Friday before, or the Monday after the 1st
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: the Monday after, or the Friday before the last day
        return day + 1 if day < last else day - 2
    return day


class SkipCalendar:
    """A schedule's skip dates: merged ranges, found by bisection, and masks per month."""

    def __init__(self, ranges: tuple[tuple[date, date], ...]) -> None:
        merged: list[list[int]] = []
        for first, last in sorted((a.toordinal(), b.toordinal()) for a, b in ranges):
            if merged and first <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        self._starts = [a for a, _ in merged]
        self._ends = [b for _, b in merged]
        self._masks: dict[tuple[int, int], int] = {}

    def find(self, day: date) -> tuple[date, date] | None:
        """The merged range holding `day`, or None."""
        i = bisect_right(self._starts, day.toordinal()) - 1
        if i >= 0 and self._ends[i] >= day.toordinal():
            return date.fromordinal(self._starts[i]), date.fromordinal(self._ends[i])
        return None

    def mask(self, year: int, month: int) -> int:
        """Bit d set when day d of that month is skipped."""
        found = self._masks.get((year, month))
        if found is None:
            last = calendar.monthrange(year, month)[1]
            lo, hi = date(year, month, 1).toordinal(), date(year, month, last).toordinal()
            found = 0
            i = max(bisect_right(self._starts, lo) - 1, 0)
            while i < len(self._starts) and self._starts[i] <= hi:
                a, b = max(self._starts[i], lo), min(self._ends[i], hi)
                if a <= b:
                    found |= ((1 << (b - a + 1)) - 1) << (a - lo + 1)
                i += 1
            self._masks[(year, month)] = found
        return found


def latest_day(days: DayPattern, skip: SkipCalendar, before: date, floor: date) -> date | None:
    """The latest day in [floor, before) on which the cron fires and that is not skipped."""
    day = before - timedelta(days=1)
    year, month, top = day.year, day.month, day.day
    while (year, month) >= (floor.year, floor.month):
        bits = days.mask(year, month) & ~skip.mask(year, month) & ((1 << (top + 1)) - 1)
        if (year, month) == (floor.year, floor.month):
            bits &= ~((1 << floor.day) - 1)
        if bits:
            return date(year, month, bits.bit_length() - 1)
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        top = 31
    return None


def earliest_day(days: DayPattern, skip: SkipCalendar, after: date, ceiling: date) -> date | None:
    """The earliest day in (after, ceiling] on which the cron fires and is not skipped."""
    day = after + timedelta(days=1)
    year, month, bottom = day.year, day.month, day.day
    while (year, month) <= (ceiling.year, ceiling.month):
        bits = days.mask(year, month) & ~skip.mask(year, month) & ~((1 << bottom) - 1)
        if (year, month) == (ceiling.year, ceiling.month):
            bits &= (1 << (ceiling.day + 1)) - 1
        if bits:
            return date(year, month, (bits & -bits).bit_length() - 1)
        year, month = (year, month + 1) if month < 12 else (year + 1, 1)
        bottom = 1
    return None


# --- firings: the DST rules are those of schedule.py's docstring -----------------------


def fires_after(expr: str, tz: ZoneInfo, skip: SkipCalendar, after: datetime) -> Iterator[datetime]:
    """Instants (UTC) at which `expr` fires, strictly after `after`, for LOOKBACK at most."""
    # Walking forward needs no fold adjustment: wall times of a repeated hour that
    # already fired map to instants <= after and are dropped below.
    local = after.astimezone(tz)
    it = _croniter(expr, local.replace(tzinfo=None, second=0, microsecond=0))
    days = compile_cron(expr).days
    previous: datetime | None = None
    horizon = after + LOOKBACK
    ceiling = horizon.astimezone(tz).date() + timedelta(days=1)
    for _ in _bounded(expr):
        naive = _step(it, expr, backwards=False)
        if naive is None:
            return
        skipped = skip.find(naive.date())
        if skipped is not None:
            day = earliest_day(days, skip, skipped[1], ceiling)
            if day is None:
                return
            it.set_current(datetime.combine(day, time()) - _MINUTE)
            continue
        instant = wall_to_instant(naive, tz)
        if instant > horizon:
            return
        if instant > after and instant != previous:
            previous = instant
            yield instant


def latest_fire(expr: str, tz: ZoneInfo, skip: SkipCalendar, now: datetime) -> datetime | None:
    """The last instant <= now at which `expr` fires (within LOOKBACK), or None."""
    local = now.astimezone(tz)
    # croniter's get_prev is strictly before its start: start one minute later so that a
    # firing at exactly the current minute counts.
    start = local.replace(tzinfo=None, second=0, microsecond=0) + _MINUTE
    if local.fold:
        # Second pass of a repeated hour: all of its wall times already fired.
        start += _fold_length(local)
    horizon = now - LOOKBACK
    floor = horizon.astimezone(tz).date() - timedelta(days=1)
    it = _croniter(expr, start)
    days = compile_cron(expr).days
    for _ in _bounded(expr):
        naive = _step(it, expr, backwards=True)
        if naive is None:
            return None
        skipped = skip.find(naive.date())
        if skipped is not None:
            day = latest_day(days, skip, skipped[0], floor)
            if day is None:
                return None
            it.set_current(datetime.combine(day + timedelta(days=1), time()))
            continue
        instant = wall_to_instant(naive, tz)
        if instant < horizon:
            return None
        if instant <= now:
            return instant
    return None  # pragma: no cover (_bounded raises first)


def _bounded(expr: str) -> Iterator[int]:
    """Steps of a walk: at most _MAX_STEPS between two answers, then an error."""
    steps = 0
    while steps < _MAX_STEPS:
        yield steps
        steps += 1
    raise CronError(f"{expr!r}: no firing found in {_MAX_STEPS} steps")


def _croniter(expr: str, start: datetime) -> croniter:
    try:
        return croniter(expr, start)
    except Exception as exc:
        raise CronError(f"{expr!r} could not be evaluated: {exc}") from None


def _step(it: croniter, expr: str, *, backwards: bool) -> datetime | None:
    try:
        found: datetime = it.get_prev(datetime) if backwards else it.get_next(datetime)
    except CroniterBadDateError:
        return None
    except Exception as exc:  # anything else croniter raises is this cron's fault
        raise CronError(f"{expr!r} could not be evaluated: {exc}") from None
    return found


def _fold_length(local: datetime) -> timedelta:
    first = local.replace(fold=0).utcoffset()
    second = local.replace(fold=1).utcoffset()
    assert first is not None and second is not None
    return first - second


def wall_to_instant(naive: datetime, tz: ZoneInfo) -> datetime:
    """Map a local wall time to its instant (UTC): gaps go forward, folds take the first."""
    moment = naive
    # A wall time in a gap does not survive the round trip; step to the gap's end.
    for _ in range(60 * 24 + 1):
        aware = moment.replace(tzinfo=tz, fold=0)
        instant = aware.astimezone(UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == moment:
            return instant
        moment += _MINUTE
    raise CronError(f"no valid wall time near {naive} in {tz.key}")
