"""A time budget for the work of the current request, as gRPC deadlines and Go's contexts carry one.

A service opens it (`with within(4.0): ...`) around calls that must give up in bounded time; the
adapters that honour it (the Cosmos DB store) shorten each SDK call's timeout to what is left, and
raise their dependency's Unavailable once nothing is left. Outside a budget, `remaining` is the
adapter's own timeout. One budget per thread of work (a context variable): concurrent requests never
see each other's.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("deadline", default=None)


@contextlib.contextmanager
def within(seconds: float) -> Iterator[None]:
    """Inside: at most `seconds` from now (or less, when an enclosing budget ends sooner)."""
    end = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(end if outer is None else min(outer, end))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining(default: float) -> float:
    """Seconds a call may take now: `default`, or less when the current budget ends sooner (0 when spent)."""
    end = _deadline.get()
    if end is None:
        return default
    return max(0.0, min(default, end - time.monotonic()))
