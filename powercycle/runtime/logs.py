"""The Lambda's log lines: one Powertools `Logger` (service `powercycle`), pure JSON.

Every module logs through the standard `logging.getLogger("powercycle...")`; records
propagate to the `powercycle` logger, where the Lambda door (`handler`) attaches
Powertools' JSON handler (`for_lambda`). So each line is one JSON object with `level`,
`timestamp`, `service` and, inside an invocation, the Lambda context (`function_request_id`,
`cold_start`, ...), and Logs Insights discovers every field.

A record whose message is a mapping (a decision, the summary) has its fields at the top
level of the line, as they are (None included), not inside a `message` string: that is
`_Fields.serialize`, Powertools' documented place for a custom shape.

The CLI prints for people (`for_people`): its warnings stay plain lines on stderr, and a
Lambda door run earlier in the same process (the demo, tests) leaves no JSON handler
behind. `POWERTOOLS_LOG_LEVEL` (or Lambda's `AWS_LAMBDA_LOG_LEVEL`) sets the level;
INFO otherwise.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

SERVICE = "powercycle"
# The fields Powertools' `inject_lambda_context` adds to every line of an invocation.
CONTEXT_KEYS = (
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
)
_NOISY = ("botocore", "boto3", "urllib3")

_lock = threading.RLock()


class _Process:
    logger: Logger | None = None
    people = False  # the CLI's process: no JSON lines, whoever asks


class _Stdout:
    """sys.stdout as it is at each write (pytest and the demo swap it)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def _formatter() -> Any:
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    class _Fields(LambdaPowertoolsFormatter):
        def serialize(self, log: Any) -> str:
            message = log.get("message")
            if isinstance(message, Mapping):
                if "message" not in message:
                    del log["message"]
                log.update(message)  # a `message` among the fields keeps its place
            return str(self.json_serializer(log))

    return _Fields(utc=True, use_rfc3339=True)


def for_lambda() -> Logger:
    """The one Powertools Logger, its JSON handler on `powercycle` (made once, kept warm).

    In the CLI's process (`for_people` was called) the logger is returned without its
    handler: nothing prints JSON to a person's terminal.
    """
    with _lock:
        logger = _made()
        std = logging.getLogger(SERVICE)
        # The level Powertools read from the environment, again on every invocation: a CLI
        # command run earlier in the process (the demo) may have changed it.
        std.setLevel(logger.initial_log_level)
        if not _Process.people and logger.logger_handler not in std.handlers:
            std.addHandler(logger.logger_handler)
        for noisy in _NOISY:  # botocore's INFO lines ("Found credentials...")
            logging.getLogger(noisy).setLevel(logging.WARNING)
        return logger


def line(record: logging.LogRecord) -> str:
    """The JSON line the Lambda writes for `record` (with the invocation's context keys)."""
    with _lock:
        formatter = _made().registered_formatter
    return str(formatter.format(record))


def _made() -> Logger:
    if _Process.logger is None:
        from aws_lambda_powertools import Logger

        # Powertools attaches its handler the first time; the CLI's process takes it off.
        stream = cast("IO[str]", _Stdout())
        _Process.logger = Logger(service=SERVICE, stream=stream, logger_formatter=_formatter())
        if _Process.people:
            _detach()
    return _Process.logger


def for_people() -> None:
    """The CLI: plain lines through the root handler; no JSON handler, now or later."""
    with _lock:
        _Process.people = True
        _detach()


def json_lines() -> bool:
    """Whether this process writes the Lambda's JSON lines (and so its metrics)."""
    logger = _Process.logger
    return logger is not None and logger.logger_handler in logging.getLogger(SERVICE).handlers


def reset() -> None:
    """Forget the CLI's choice and detach the JSON handler (tests start afresh)."""
    with _lock:
        _Process.people = False
        _detach()


def _detach() -> None:
    logger = _Process.logger
    from_lambda = logger.logger_handler if logger is not None else None
    std = logging.getLogger(SERVICE)
    if from_lambda is not None and from_lambda in std.handlers:
        std.removeHandler(from_lambda)
    # Powertools keeps `powercycle` records off the root's other handlers (no line twice in
    # Lambda); without its handler they go there again.
    for handler in logging.getLogger().handlers:
        for kept in [f for f in handler.filters if type(f).__name__ == "SuppressFilter"]:
            handler.removeFilter(kept)
