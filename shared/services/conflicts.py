"""Write conflicts between regions: the versions that lost (Cosmos DB's conflicts feed, the
container's policy being Custom) merged into the committed ones by the domain's merge rules.

Every region reads its own feed, so two regions may merge the same conflict: merges are
idempotent, and the one correction a merge may need (a message's regional shares no longer adding
up to what it counts for) is made by one region only, the message's deposit region, so it is
never made twice.

A region may read a conflict before the committed version has reached it: its own document is then
still the losing version itself, and merging the two would change nothing, so the deposit region
would have nothing to correct and the correction would be lost. Such a conflict is left in the feed
for the next run (`deferred`), for up to `_WAIT_FOR_COMMITTED_S`.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import replace
from typing import TypeVar

from shared.domain.errors import EtagMismatch, NotFound
from shared.domain.model import Greeting, Mailbox, Message
from shared.domain.replicated import (
    PinRecord,
    RegionTally,
    consistent,
    merge_mailboxes,
    merge_messages,
    merge_pin_records,
    merge_region_tallies,
)
from shared.ports import AlreadyExists, Conflict, ConflictFeed, TallyMoved
from shared.services.ledger import Ledger
from shared.services.mailboxes import Store

logger = logging.getLogger(__name__)
_RETRIES = 5
_WAIT_FOR_COMMITTED_S = 300.0


class _Deferred(Exception):  # not an error: the committed version is still on its way
    """This region still holds the losing version itself: merge once the committed one is here."""


D = TypeVar("D", Message, Mailbox, Greeting, RegionTally, PinRecord)


def _with_etag(document: D, etag: str | None) -> D:
    return replace(document, etag=etag)


def _same(a: D, b: D) -> bool:
    """Equal but for the ETag (a merge that changes nothing needs no write)."""
    return _with_etag(a, None) == _with_etag(b, None)


class ConflictResolver:
    def __init__(self, store: Store, feed: ConflictFeed, region: str, regions: tuple[str, ...], ledger: Ledger):
        self._store = store
        self._feed = feed
        self._region = region
        self._regions = regions
        self._ledger = ledger

    def resolve(self, limit: int = 100) -> dict[str, int]:
        """Merge one page of the feed: how many were examined, merged (written), deferred (left for
        the next run: the committed version has not reached this region yet) and failed."""
        totals = {"examined": 0, "merged": 0, "deferred": 0, "failed": 0}
        for conflict in self._feed.conflicts(limit):
            totals["examined"] += 1
            try:
                totals["merged"] += self._resolve(conflict)
                self._feed.resolved(conflict)
            except _Deferred:
                totals["deferred"] += 1
            except Exception:  # left in the feed: the next run tries again
                logger.exception("conflict %s (%s/%s) not resolved", conflict.id, conflict.mailbox_id,
                                 conflict.document_id)
                totals["failed"] += 1
        return totals

    def _resolve(self, conflict: Conflict) -> int:
        loser = conflict.loser
        if loser is None:
            # A losing delete: the app deletes only expired tombstones and purged mailboxes, whose
            # committed successors say the same; nothing to merge.
            return 0
        merge = {Message: functools.partial(self._message, recorded_at=conflict.recorded_at),
                 Mailbox: self._mailbox, Greeting: self._greeting, RegionTally: self._tally,
                 PinRecord: self._pins}.get(type(loser))
        if merge is None:
            return 0
        for _ in range(_RETRIES):
            try:
                return merge(loser)
            except (EtagMismatch, TallyMoved, AlreadyExists):
                continue  # changed while merging: merge with the newer version
        raise EtagMismatch("the document kept changing while its conflict was merged")

    def _corrects(self, message: Message) -> bool:
        home = message.deposit_region if message.deposit_region in self._regions else min(self._regions)
        return home == self._region

    def _message(self, loser: Message, recorded_at: float | None = None) -> int:
        current = self._store.get_message(loser.mailbox_id, loser.id)
        if current is None:
            return 0  # deleted for good since: a purge's tombstone expired; nothing to keep
        if _same(current, loser) and (recorded_at is None or time.time() - recorded_at <= _WAIT_FOR_COMMITTED_S):
            raise _Deferred  # this region still holds the losing version itself: the committed one is on its way
        merged = merge_messages(current, loser)
        if self._corrects(merged) and not consistent(merged):
            try:
                self._ledger.write(_with_etag(merged, current.etag))
            except NotFound:
                return 0
            return 1
        if _same(merged, current):
            return 0
        self._store.write_message(_with_etag(merged, current.etag), None)
        return 1

    def _mailbox(self, loser: Mailbox) -> int:
        current = self._store.get_mailbox(loser.id)
        if current is None:
            return 0
        merged = merge_mailboxes(current, loser)
        if _same(merged, current):
            return 0
        self._store.replace_mailbox(_with_etag(merged, current.etag))
        return 1

    def _greeting(self, loser: Greeting) -> int:
        """Greetings: the later upload (or change) wins as a whole."""
        current = self._store.get_greeting(loser.mailbox_id, loser.kind)
        if current is None or (current.updated_at, current.version) >= (loser.updated_at, loser.version):
            return 0
        self._store.save_greeting(_with_etag(loser, current.etag))
        return 1

    def _tally(self, loser: RegionTally) -> int:
        current = self._store.snapshot(loser.mailbox_id).tallies.get(loser.region)
        if current is None or loser.region != self._region:
            return 0  # only its own region writes a tally
        merged = merge_region_tallies(current, loser)
        if merged is current:
            return 0
        self._store.save_tally(_with_etag(merged, current.etag))
        return 1

    def _pins(self, loser: PinRecord) -> int:
        current = self._store.snapshot(loser.mailbox_id).pins.get(loser.region)
        if current is None:
            return 0
        merged = merge_pin_records(current, loser)
        if (merged.failures, merged.succeeded_at) == (current.failures, current.succeeded_at):
            return 0
        self._store.save_pin_record(_with_etag(merged, current.etag))
        return 1

