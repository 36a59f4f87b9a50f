"""What the CLI prints, and how: a table on a terminal, JSON otherwise.

Every command builds data (rows of a table, or a JSON-ready dict) and hands it here. The
rule, the same for every fleet command: on a terminal a table; piped, or with `--json`,
JSON (one document, so `| jq` works). Messages for people (progress, warnings, errors) go
to stderr, so that stdout stays parseable. A closed pipe (`powercycle plan | head -2`)
ends the command quietly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, TextIO

from powercycle.core.schedule import format_utc

# A scan slower than this shows a progress line on stderr (on a terminal only).
PROGRESS_AFTER_S = 1.0

_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class UsageError(ValueError):
    """A command line that cannot be carried out as given (exit 2)."""


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal (tests replace this to see the table)."""
    return sys.stdout.isatty()


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


@dataclass(frozen=True)
class Output:
    """Where a command's result goes: `json` when asked for, or when stdout is no terminal."""

    json: bool

    @classmethod
    def choose(cls, as_json: bool) -> Output:
        return cls(json=as_json or not stdout_is_terminal())

    def document(self, data: Any) -> None:
        print(json.dumps(data, indent=2, default=str))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        for line in render_table(headers, rows):
            print(line)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Aligned columns; the last column is left to run on (errors, long reasons)."""
    if not rows:
        return []
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(headers), *[list(r) for r in rows]]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return lines


def note(message: str) -> None:
    """A line for the person at the terminal, on stderr."""
    print(message, file=sys.stderr)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class Progress:
    """`with Progress("scanning ..."):` shows the message on stderr if the work takes
    more than a second and stderr is a terminal, and erases it when the work ends."""

    def __init__(
        self, message: str, *, after: float = PROGRESS_AFTER_S, stream: TextIO | None = None
    ) -> None:
        self.message = message
        self._stream = stream
        self._after = after
        self._shown = False
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr

    def __enter__(self) -> Progress:
        if self._stream is not None or stderr_is_terminal():
            self._timer = threading.Timer(self._after, self._show)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _show(self) -> None:
        with self._lock:
            self.stream.write(f"{self.message}...\r")
            self.stream.flush()
            self._shown = True

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            if self._shown:
                # Blank the line so the table starts clean.
                self.stream.write(" " * (len(self.message) + 3) + "\r")
                self.stream.flush()


@contextmanager
def closed_pipe_is_fine() -> Iterator[None]:
    """`powercycle check ... | head -2`: the reader went away; stop without a traceback."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at /dev/null so that flush cannot
        # fail a second time (the recipe of the `signal` module's documentation).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def terminal_width() -> int:
    return shutil.get_terminal_size((100, 24)).columns


# --- times given on the command line ----------------------------------------------------


def parse_time(text: str, now: datetime) -> datetime:
    """`--at`/`--until`: `now`, an ISO-8601 time (a time without a zone is this machine's
    local time), or `+3h` (from now)."""
    value = text.strip()
    if value.lower() == "now":
        return now
    if value.startswith("+"):
        return now + parse_duration(value[1:])
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{text!r} is not a time: use ISO-8601 like 2026-11-30T08:00Z or "
            "2026-11-30T08:00+01:00 (without a zone: this machine's local time), or +3h"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # the machine's local zone, as a person means it
    return moment


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise UsageError(f"{text!r} is not a duration like 30m, 3h, 2d or 1w")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def when(moment: datetime | None, tz: Any = None) -> str:
    """A time as a person reads it: local (in `tz`) and UTC."""
    if moment is None:
        return "-"
    if tz is None:
        return format_utc(moment)
    local = moment.astimezone(tz)
    return f"{local.strftime('%a %d %b %H:%M %Z')} ({format_utc(moment)})"
