"""The one thread pool: every "do this for each item, a few at a time" of powercycle.

`map_guarded(items, work, workers=..., budget=...)` runs `work(item)` for each item,
`workers` at a time, and answers in the order of `items`. Each item's answer is what
`work` returned, or the exception it raised (`Exception`, not `BaseException`: an
interrupt still stops the pass), or `DEFERRED` when the pass budget was spent before the
item started (its work was not begun, so nothing was done for it). The caller turns each
answer into its own vocabulary (an `ActionError`, a scope's error, a retry next pass).

`Streams` is the same pool for work whose answers are used as they come (a schedule
document fetched while other resources are already acted on): `submit` returns a
`Future`, and `close()` leaves behind whatever has not started or not returned, without
waiting for it (each such task ends itself within its own bounded wait).

Logging: the pool logs each exception once, at DEBUG with its traceback, under the
`powercycle` logger; saying it in the summary or the log line of its resource is the
caller's part.

Tests swap `EXECUTOR` for a main-thread executor (as cloud-custodian's
`c7n.executor.MainThreadExecutor`) to run every item in order on the calling thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Final, TypeVar

from powercycle.runtime.budget import Budget

__all__ = ["DEFERRED", "EXECUTOR", "Deferred", "Streams", "map_guarded"]

LOG = logging.getLogger("powercycle")

T = TypeVar("T")
R = TypeVar("R")


class Deferred:
    """The answer of an item the pool did not start: the pass budget was spent first."""

    message: Final = "pass budget spent"

    def __repr__(self) -> str:
        return "DEFERRED"

    def __str__(self) -> str:
        return self.message


DEFERRED: Final = Deferred()


def _threads(workers: int) -> Executor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="powercycle")


# The seam: a callable taking the number of workers and giving an Executor.
EXECUTOR: Callable[[int], Executor] = _threads


def map_guarded(
    items: Sequence[T],
    work: Callable[[T], R],
    *,
    workers: int,
    budget: Budget | None = None,
) -> list[R | BaseException | Deferred]:
    """work(item) in order, `workers` at a time; an exception or a spent budget is the
    item's answer."""

    def one(item: T) -> R | BaseException | Deferred:
        if budget is not None and not budget.open():
            return DEFERRED
        try:
            return work(item)
        except Exception as exc:
            LOG.debug("powercycle: %s failed", _label(item), exc_info=exc)
            return exc

    if len(items) <= 1 or workers <= 1:
        return [one(item) for item in items]
    with EXECUTOR(min(workers, len(items))) as pool:
        return list(pool.map(one, items))


class Streams:
    """A pool whose tasks are used as they finish; `close()` never waits for a straggler."""

    def __init__(self, workers: int) -> None:
        self._pool = EXECUTOR(max(1, workers))

    def submit(self, work: Callable[[], R]) -> Future[R]:
        return self._pool.submit(work)

    def close(self) -> None:
        """Start nothing more; leave what is under way to end by itself."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Streams:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _label(item: object) -> str:
    kind = getattr(item, "kind", None)
    region = getattr(item, "region", None)
    if isinstance(kind, str):
        return f"{kind} in {region}" if isinstance(region, str) else kind
    text = repr(item)
    return text if len(text) <= 80 else text[:77] + "..."
