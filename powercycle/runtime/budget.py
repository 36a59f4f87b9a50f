"""The pass budget: one deadline that bounds every wait of a pass.

A Lambda invocation ends when its time is up, whatever it was doing; a pass that is cut
there has recorded nothing for what it was in the middle of, and says nothing about it. So
every wait (an HTTP read, CAST AI's `Retry-After`, a retry's back-off) asks the budget how
long it may last, and near the end the pass starts no new work: what it did not reach is
reported as `deferred` and picked up by the next pass.

The clock is `CLOCK_MONOTONIC` read through `time.clock_gettime`, which test tools that
freeze the wall clock (freezegun patches `time.time`, `time.monotonic`, `time.perf_counter`)
leave alone: a pass under `freeze_time` keeps real deadlines, in every thread.
"""

from __future__ import annotations

import math
import time
from typing import Protocol

# Lambda: stop starting work this long before the invocation's own end, so that the
# actions already under way return and their state tags are written.
LAMBDA_MARGIN_S = 20.0
DEFAULT_SECONDS = 600.0


def monotonic() -> float:
    """Seconds on a monotonic clock that freezegun does not patch."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class BudgetExceeded(TimeoutError):
    """Raised by `Budget.check` when no time is left for new work."""


class Budget:
    """A deadline: `remaining()` seconds left, `bound(wait)` caps a wait by them.

    `reserve` is the time kept back at the end: `open()` turns false (start no new work)
    once only the reserve is left, while waits already under way may use it.
    """

    def __init__(self, seconds: float, *, reserve: float = 0.0) -> None:
        if math.isnan(seconds):
            raise ValueError("budget seconds must be a number")
        self.seconds = max(0.0, seconds)
        self.reserve = max(0.0, min(reserve, self.seconds / 2))
        self._end = monotonic() + self.seconds

    @classmethod
    def unlimited(cls) -> Budget:
        return cls(math.inf)

    @classmethod
    def for_lambda(cls, context: object, default: float = DEFAULT_SECONDS) -> Budget:
        """The invocation's remaining time less a margin; `default` outside Lambda."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if remaining is None:
            return cls(default, reserve=min(10.0, default / 10))
        seconds = max(1.0, remaining() / 1000 - LAMBDA_MARGIN_S)
        return cls(seconds, reserve=min(10.0, seconds / 10))

    def remaining(self) -> float:
        return max(0.0, self._end - monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def open(self) -> bool:
        """True while there is time to start new work (more than the reserve left)."""
        return self.remaining() > self.reserve

    def check(self, what: str = "work") -> None:
        if not self.open():
            raise BudgetExceeded(f"pass budget spent before {what}")

    def bound(self, wait: float) -> float:
        """`wait` seconds, or what is left of the budget if that is less (never negative)."""
        return max(0.0, min(wait, self.remaining()))

    def child(self, seconds: float) -> Budget:
        """A budget of `seconds` (e.g. one document's 15 s) that ends no later than this one."""
        return Budget(min(seconds, self.remaining()))

    def sleep(self, seconds: float) -> bool:
        """Sleep `seconds` if the budget allows it in full; False (and no sleep) otherwise."""
        if seconds > self.remaining() - self.reserve:
            return False
        time.sleep(max(0.0, seconds))
        return True

    def __repr__(self) -> str:
        return f"Budget(remaining={self.remaining():.1f}s)"
