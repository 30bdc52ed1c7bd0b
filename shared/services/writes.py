"""A subscriber's write budget: at most 60 writes a minute to its mailbox, every region and
instance together (message changes, forwards, greetings, PIN and notification changes). The
platform's key is not budgeted."""

from __future__ import annotations

import math
from datetime import timedelta

from shared.domain.errors import EtagMismatch, TooManyRequests, Unavailable
from shared.domain.model import utcnow
from shared.domain.principal import Principal
from shared.domain.replicated import RecentEvents, events_wait
from shared.ports import MessageRepository

WRITES_PER_MINUTE = 60  # per mailbox, every region together (the contract's budget)
WRITE_WINDOW = timedelta(minutes=1)
WRITE_KIND = "write"  # a RecentEvents kind: one document per region, the last 60 writes
_GUESS_RETRIES = 20


class WriteBudget:
    """A subscriber's writes of the last minute, counted per region and added up across regions."""

    def __init__(self, store: MessageRepository, region: str):
        self._store = store
        self._region = region

    def take(self, principal: Principal, mailbox_id: str) -> None:
        """Recorded just before the write (the region's record, ETag-guarded), so parallel writes
        cannot pass the limit; TooManyRequests, with the seconds until the oldest of the last 60
        leaves the minute, when the regions' records already hold 60 in it."""
        if principal.is_platform:
            return
        for _ in range(_GUESS_RETRIES):
            now = utcnow()
            recent = self._store.snapshot(mailbox_id).recent
            wait = events_wait([r for (kind, _), r in recent.items() if kind == WRITE_KIND], now,
                               WRITE_WINDOW, WRITES_PER_MINUTE)
            if wait > 0:
                raise TooManyRequests(f"more than {WRITES_PER_MINUTE} changes a minute to this mailbox; slow down",
                                      retry_after_s=max(1, math.ceil(wait)))
            own = recent.get((WRITE_KIND, self._region)) or RecentEvents(mailbox_id, self._region, WRITE_KIND)
            try:
                self._store.save_recent(own.with_event(now, WRITES_PER_MINUTE))
                return
            except EtagMismatch:  # another write of this region was counted first: look again
                continue
        raise Unavailable("too many changes at once; retry")
