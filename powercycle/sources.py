"""Schedule sources: where a tag value's schedule comes from.

Each distinct tag value is resolved once per run, before any decision is made, so a
thousand instances sharing one schedule cost one parse (and, for remote sources, one
fetch).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .schedule import Schedule, ScheduleError, parse_schedule_text

if TYPE_CHECKING:
    from .config import Config


def describe_source(value: str) -> str:
    """How a tag value is named in logs and summaries."""
    return "inline"


def resolve_all(values: Iterable[str], config: Config) -> dict[str, Schedule | str]:
    """Schedule, or the error message, for each distinct tag value."""
    resolved: dict[str, Schedule | str] = {}
    for value in set(values):
        try:
            resolved[value] = parse_schedule_text(value, default_tz=config.default_tz)
        except ScheduleError as exc:
            resolved[value] = f"bad schedule: {exc}"
    return resolved
