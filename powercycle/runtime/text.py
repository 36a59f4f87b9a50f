"""Short text for logs, summaries and messages: one line, a bounded length, durations.

`error_line(exc)` is the one way an exception becomes a line of a log or a summary: an AWS
error (anything carrying botocore's `response["Error"]`) as `Code: message`, any other as
`Type: text`, first line only. The AWS-only parts (the code and message of a botocore
exception, for an `ActionError`) stay in `powercycle.aws`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

__all__ = ["clip", "duration", "error_line", "first_line", "one_line", "squash"]

FIRST_LINE_LIMIT = 300


def squash(text: str) -> str:
    """`text` on one line: every run of whitespace (newlines included) one space."""
    return " ".join(text.split())


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in `...` when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 3)] + "..."


def one_line(text: str, limit: int | None = None) -> str:
    """`squash`, then `clip` at `limit` (no limit: the whole text)."""
    line = squash(text)
    return line if limit is None else clip(line, limit)


def first_line(text: str, limit: int = FIRST_LINE_LIMIT) -> str:
    """The first line of `text`, cut at `limit` characters (then `...`)."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[:limit] + "..."


def error_line(exc: BaseException) -> str:
    """One line for a log or a summary: an AWS error's `Code: message`, else `Type: text`."""
    error = _aws_error(exc)
    if error is not None:
        code, message = error
        return first_line(f"{code}: {message}".rstrip(": "))
    text = first_line(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def duration(value: timedelta) -> str:
    """A whole number of minutes in its largest exact unit: `2d`, `3h`, `90m`."""
    minutes = int(value.total_seconds() // 60)
    for unit, size in (("d", 1440), ("h", 60)):
        if minutes % size == 0 and minutes >= size:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"


def _aws_error(exc: BaseException) -> tuple[str, str] | None:
    """(code, message) of an exception carrying an AWS error answer (botocore's
    `ClientError`), without importing botocore here."""
    response: Any = getattr(exc, "response", None)
    if not isinstance(response, dict) or "Error" not in response:
        return None
    error = response["Error"]
    if not isinstance(error, dict):
        return None
    return str(error.get("Code", "ClientError")), str(error.get("Message", ""))


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 resource`, `2 resources` (`many` for an irregular plural)."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"
