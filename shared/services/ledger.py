"""Message writes that keep a mailbox's counts exact, in O(1), with many writers in many regions.

Each message carries every region's share of what it counts for (`Message.shares`), and each
region keeps one tally document per mailbox: the sum of its shares. A write sets this region's
share so that the shares add up to what the message counts for now, and moves the region's tally
by the difference in the same transactional batch: the message and the counts change together or
not at all. Counts are then the sum of a few tally documents (one per region), read in the same
query that reads the mailbox, whatever the mailbox holds. Room for a new message is taken by that
same batch: the tally's ETag makes two writers of one region take turns, so `maxMessages` is never
exceeded by one region's concurrent deposits.

The same batch upserts the usage facts the write causes (a deposit, audio or transcription seconds:
shared/domain/usage.py), so usage is counted with the change or not at all.

After each batch commits, the ledger hands the events it recorded to its announcer, which runs
their inline handlers (the MWI queue post: shared/services/events.py); with none (None, given by
shared/composition.py) a batch's events are left to the dispatcher alone.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace

from shared.domain import tenancy
from shared.domain.errors import EtagMismatch, MailboxFull, NotFound, Unavailable
from shared.domain.model import Message, count, utcnow
from shared.domain.notifications import Event, mwi_event
from shared.domain.replicated import ZERO, RegionTally, Tally, clock, consistent, mailbox_tally, settle
from shared.domain.usage import message_facts
from shared.ports import MessageRepository, TallyMoved
from shared.services.events import Announcer, Committed

logger = logging.getLogger(__name__)
_TALLY_RETRIES = 40  # writers of one region take turns on its tally; each turn lets one through


def _back_off(attempt: int) -> None:
    """Full jitter, so the writers that lost a turn do not all come back at once."""
    time.sleep(random.uniform(0, min(0.1, 0.002 * 2 ** attempt)))  # noqa: S311 - not for secrets


class Ledger:
    def __init__(self, messages: MessageRepository, region: str, announcer: Announcer | None):
        self._messages = messages
        self._region = region
        self._announcer = announcer

    def held(self) -> AbstractContextManager[object]:
        """Within it, this thread's batches are announced once per mailbox, at its end, with the
        last counts (Announcer.held)."""
        return self._announcer.held() if self._announcer is not None else nullcontext()

    def _committed(self, mailbox_id: str, events: Sequence[Event], counts: Tally) -> None:
        if self._announcer is not None:
            self._announcer.committed(Committed(mailbox_id, tuple(events), counts))

    @property
    def region(self) -> str:
        return self._region

    def write(self, message: Message, changed: Iterable[str] = (), *, room: int | None = None,
              tallies: dict[str, RegionTally] | None = None, events: Sequence[Event] = ()) -> tuple[Message, Tally]:
        """Store the message (created when its etag is None, else replaced while its etag is
        current) with this region's tally: the stored message and the mailbox's counts after it.

        changed: the field groups this write changes (their clocks move to now, here).
        room: the mailbox's `maxMessages`; MailboxFull when this write would go beyond it.
        tallies: the mailbox's tallies as just read (saves a read); re-read when they moved.
        events: outbox events this change causes, written with it; a change of counts adds its
        `mwi.changed` on its own. Once committed, they are announced."""
        stamp = clock(utcnow(), self._region)
        changed = list(changed)
        message = replace(message, clocks={**message.clocks, **{name: stamp for name in changed}})
        usage = message_facts(message, created=message.etag is None, changed=changed)  # with the change, or not at all
        for attempt in range(_TALLY_RETRIES):
            if tallies is None:
                tallies = self._messages.snapshot(message.mailbox_id).tallies
            shares, delta = settle(message.shares, message.tally, self._region)
            after = mailbox_tally(tallies.values()) + delta
            if room is not None and delta.held > 0 and after.held > room:
                raise MailboxFull("the mailbox is full")
            moved, lamp = self._moved(message.mailbox_id, tallies, delta, after)
            outbox = [*events, *lamp]
            try:
                stored = self._messages.write_message(replace(message, shares=shares), moved, outbox, usage)
            except TallyMoved:
                tallies = None  # another write of this region moved the counts: read them again
                _back_off(attempt)
                continue
            self._committed(message.mailbox_id, outbox, after)
            return stored, after
        raise Unavailable("the mailbox's counts kept changing; retry")

    def _moved(self, mailbox_id: str, tallies: dict[str, RegionTally], delta: Tally,
               after: Tally) -> tuple[RegionTally | None, list[Event]]:
        """This region's tally moved by delta (None: unchanged), and the `mwi.changed` event when the
        mailbox's counts changed (new, saved, urgentNew or total: not a promised upload alone)."""
        own = tallies.get(self._region) or RegionTally(mailbox_id, self._region)
        moved = own.add(delta) if delta else None
        if moved is None or not (delta.new or delta.saved or delta.urgent_new or delta.heard):
            return moved, []
        return moved, [mwi_event(mailbox_id, self._region, moved.seq, after.as_api(), self._region, utcnow())]

    def create_many(self, messages: Sequence[Message], *,
                    tallies: dict[str, RegionTally] | None = None) -> tuple[list[Message], Tally]:
        """Create several new messages of one mailbox with this region's tally in one batch (no room
        check: the outage journal's replay keeps what was acknowledged): what `write` does for one."""
        mailbox_id = messages[0].mailbox_id
        for attempt in range(_TALLY_RETRIES):
            if tallies is None:
                tallies = self._messages.snapshot(mailbox_id).tallies
            settled, delta = [], ZERO
            for message in messages:
                shares, moved_by = settle(message.shares, message.tally, self._region)
                settled.append(replace(message, shares=shares))
                delta = delta + moved_by
            after = mailbox_tally(tallies.values()) + delta
            moved, lamp = self._moved(mailbox_id, tallies, delta, after)
            try:
                created = self._messages.create_messages(
                    settled, moved, lamp, [f for m in settled for f in message_facts(m, created=True)])
            except TallyMoved:
                tallies = None
                _back_off(attempt)
                continue
            self._committed(mailbox_id, lamp, after)
            return created, after
        raise Unavailable("the mailbox's counts kept changing; retry")

    def reconcile(self, mailbox_id: str) -> dict[str, object]:
        """Recount the mailbox from its messages (a scan: an operator's repair, never on a request's
        path): settle any message whose shares do not add up, then correct this region's tally by
        whatever drift is left. Reports what it repaired."""
        settled = 0
        for message in self._messages.all_messages(mailbox_id):
            if not consistent(message) and self._settle(message):
                settled += 1
        for _ in range(_TALLY_RETRIES):
            tallies = self._messages.snapshot(mailbox_id).tallies
            expected = count(self._messages.all_messages(mailbox_id))
            recorded = mailbox_tally(tallies.values())
            drift = expected - recorded
            if self._messages.snapshot(mailbox_id).tallies != tallies:
                continue  # something was written meanwhile: compare again
            if drift:
                own = tallies.get(self._region) or RegionTally(mailbox_id, self._region)
                try:
                    self._messages.save_tally(own.add(drift))
                except TallyMoved:
                    continue
                logger.warning("counts of %s drifted by %s; corrected in %s", mailbox_id, drift, self._region)
            return {"mailboxId": tenancy.local_id(mailbox_id), "messagesSettled": settled, "drift": _api(drift),
                    "counts": _api(expected), "region": self._region}
        raise Unavailable("the mailbox kept changing while it was recounted; retry")

    def _settle(self, message: Message) -> bool:
        for _ in range(_TALLY_RETRIES):
            try:
                self.write(message)
                return True
            except (EtagMismatch, NotFound):
                fresh = self._messages.get_message(message.mailbox_id, message.id)
                if fresh is None or consistent(fresh):
                    return False
                message = fresh
        return False


def _api(tally: Tally) -> dict[str, int]:
    return {"new": tally.new, "saved": tally.saved, "urgentNew": tally.urgent_new, "heard": tally.heard,
            "pending": tally.pending}
