"""An in-process sliding-window rate limit, per key: a bound on one instance's work for one
client, cheap enough to check before any hashing. The global bound is Front Door's WAF rule
(infra/modules/frontdoor.bicep); this one holds where no WAF is in front (locally, Traffic Manager).

Memory is bounded without resetting anyone. At most `max_keys` keys keep their exact event times,
least recently used first out: a key whose window has expired leaves for free; a key still inside
its window leaves its live events in a count-min sketch (fixed size), and every key's count is its
exact events plus the sketch's estimate. A sketch only overestimates, so a key pushed out by a
flood of other keys comes back with at least the count it had: spraying keys never hands anyone a
fresh budget (it can only make a newcomer look busier than it is, while the flood lasts).
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from array import array
from collections import OrderedDict, deque
from collections.abc import Callable

CLIENT_LOGINS_PER_MINUTE = 60  # the contract: a client under 30 a minute is never refused


class EvictedCounts:
    """Events of evicted keys, per key, over the last window: a count-min sketch per time bucket
    (`buckets` buckets per window, one more kept so the buckets summed always cover the window).
    Estimates never undercount; they overcount by collisions and by at most one bucket's events."""

    def __init__(self, window_s: float, width: int = 1 << 15, depth: int = 4, buckets: int = 4):
        self._span = window_s / buckets
        self._width, self._depth, self._slots = width, depth, buckets + 1
        self._secret = secrets.token_bytes(16)  # per process: collisions cannot be aimed at a key
        self._ids = [-1] * self._slots  # the bucket each slot holds now
        self._counts = [array("I", bytes(4 * width * depth)) for _ in range(self._slots)]

    def _cells(self, key: str) -> list[int]:
        digest = hashlib.blake2b(key.encode(), digest_size=4 * self._depth, key=self._secret).digest()
        return [row * self._width + int.from_bytes(digest[4 * row:4 * row + 4], "big") % self._width
                for row in range(self._depth)]

    def _slot(self, bucket: int) -> array:
        index = bucket % self._slots
        if self._ids[index] != bucket:
            self._ids[index] = bucket
            self._counts[index] = array("I", bytes(4 * self._width * self._depth))
        return self._counts[index]

    def add(self, key: str, at: float, now: float) -> None:
        bucket = math.floor(at / self._span)
        if bucket <= math.floor(now / self._span) - self._slots:
            return  # older than every bucket kept
        counts = self._slot(bucket)
        for cell in self._cells(key):
            counts[cell] += 1

    def estimate(self, key: str, now: float) -> tuple[int, float]:
        """(events of key over the window at least, seconds until the oldest of them leaves)."""
        current, cells = math.floor(now / self._span), self._cells(key)
        total, oldest = 0, None
        for bucket in range(current - self._slots + 1, current + 1):
            if self._ids[bucket % self._slots] != bucket:
                continue
            counts = self._counts[bucket % self._slots]
            found = min(counts[cell] for cell in cells)
            if found and oldest is None:
                oldest = bucket
            total += found
        wait = 0.0 if oldest is None else (oldest + self._slots) * self._span - now
        return total, max(wait, 0.0)


class SlidingWindow:
    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000, evicted: EvictedCounts | None = None):
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()  # least recently used first
        self._evicted = evicted or EvictedCounts(window_s)

    @property
    def keys_held(self) -> int:  # not __len__: an empty limiter must stay truthy (`clients or default`)
        return len(self._seen)

    def wait(self, key: str) -> float:
        """Count one event for key: 0 when it fits, else the seconds until it would (not counted)."""
        now = self._clock()
        with self._lock:
            times = self._seen.get(key)
            if times is None:
                self._make_room(now)
                times = self._seen[key] = deque()
            self._seen.move_to_end(key)
            while times and times[0] <= now - self._window_s:
                times.popleft()
            earlier, earlier_wait = self._evicted.estimate(key, now)
            if len(times) + earlier >= self._limit:
                exact_wait = times[0] + self._window_s - now if times else self._window_s
                wait = exact_wait if len(times) >= self._limit else min(earlier_wait or exact_wait, exact_wait)
                return min(max(wait, 0.001), self._window_s)
            times.append(now)
            return 0.0

    def _make_room(self, now: float) -> None:
        while len(self._seen) >= self._max_keys:
            key, times = self._seen.popitem(last=False)
            for at in times:  # nothing when its window has expired: it leaves for free
                if at > now - self._window_s:
                    self._evicted.add(key, at, now)
