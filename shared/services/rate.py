"""An in-process sliding-window rate limit, per key: a bound on one instance's work for one
client, cheap enough to check before any hashing. The global bound is Front Door's WAF rule
(infra/modules/frontdoor.bicep); this one holds where no WAF is in front (locally, Traffic Manager).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

CLIENT_LOGINS_PER_MINUTE = 60  # the contract: a client under 30 a minute is never refused


class SlidingWindow:
    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000):
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}

    def wait(self, key: str) -> float:
        """Count one event for key: 0 when it fits, else the seconds until it would (not counted)."""
        now = self._clock()
        with self._lock:
            times = self._seen.get(key)
            if times is None:
                if len(self._seen) >= self._max_keys:
                    self._seen.clear()  # bounded memory under a flood of keys
                times = self._seen[key] = deque()
            while times and times[0] <= now - self._window_s:
                times.popleft()
            if len(times) >= self._limit:
                return times[0] + self._window_s - now
            times.append(now)
            return 0.0
