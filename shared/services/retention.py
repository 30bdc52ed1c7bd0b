"""Retention: what the sweep deletes, and how, one idempotent step at a time.

Found by one indexed query on `expiresAt`: messages past their mailbox's `retentionDays`, trash past
`trashRetentionDays`, failed messages a day after they failed, and deprovisioned mailboxes (their
mailbox document expires at once). Audio goes before the document that points at it, so a crash
leaves at worst an orphan blob, which the orphan pass (blobs older than a day that no document
names) removes. Every step is idempotent: repeated after a crash, it deletes nothing twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from shared.domain import blobpaths
from shared.domain.audio import Containers
from shared.domain.errors import EtagMismatch, NotFound
from shared.domain.model import Message, utcnow
from shared.domain.replicated import mailbox_tally
from shared.ports import AudioStore, SweepRepository
from shared.services.erasure import erase_message_copies
from shared.services.events import Announcer
from shared.services.ledger import Ledger
from shared.services.replication import Regions

logger = logging.getLogger(__name__)
ORPHAN_AGE = timedelta(days=1)  # younger blobs may belong to a deposit still being written
ERASURES_SPARED = 1000  # beyond that many running erasures, the sweep and an erasure may share the work


class RetentionService:
    def __init__(self, store: SweepRepository, ledger: Ledger, audio: AudioStore, announcer: Announcer,
                 containers: Containers, regions: Regions, orphan_age: timedelta = ORPHAN_AGE):
        self._orphan_age = orphan_age
        # A ledger that does not announce: the sweep lights each lamp once a page (publish_counts).
        self._ledger = ledger
        self._store = store
        self._audio = audio
        self._regions = regions
        self._announcer = announcer
        self._containers = containers

    def find_expired(self, before: str, limit: int, exclude: list[str]) -> list[dict[str, str]]:
        """Expired documents, none of a mailbox under legal hold (so a held mailbox's pages never
        come back to the sweep again and again) and none of a mailbox whose erasure runs: that
        erasure removes everything of it and reports what it removed (shared/services/erasure.py);
        the sweep deletes the tombstone once the erasure is done."""
        spared = set(self._store.held_mailboxes()) | set(self._store.running_erasures(ERASURES_SPARED))
        return self._store.expired(before, limit, exclude, sorted(spared))

    def _held(self, mailbox_id: str) -> bool:
        """Checked again at each step: a hold set after the page was found still keeps everything."""
        mailbox = self._store.get_mailbox(mailbox_id)
        return mailbox is not None and mailbox.hold is not None

    def purge(self, item: dict[str, str]) -> dict[str, object]:
        """Delete one expired document and its audio (a mailbox: everything it holds): how many
        documents went, and the mailbox whose counts changed (the sweep publishes those once a page)."""
        if item["type"] == "message":
            deleted, counted = self._purge_message(item["mailboxId"], item["id"])
            return {"deleted": deleted, "countsChanged": item["mailboxId"] if counted else None}
        if item["type"] == "mailbox":
            return {"deleted": self._purge_mailbox(item["mailboxId"]), "countsChanged": None}
        return {"deleted": 0, "countsChanged": None}

    def publish_counts(self, mailbox_ids: list[str]) -> None:
        """One MWI event per mailbox whose counts the sweep changed (not one per deletion): the
        inline handlers of `mwi.changed` with the counts read now (shared/services/events.py)."""
        self._announcer.refresh(mailbox_ids, lambda mailbox_id: mailbox_tally(
            self._store.snapshot(mailbox_id).tallies.values()))

    def _purge_message(self, mailbox_id: str, message_id: str) -> tuple[int, bool]:
        """An expired message becomes a tombstone (ETag-guarded: one restored from the trash since
        it was found stays), then its audio goes in every region that holds it; an expired
        tombstone is deleted for good."""
        if self._held(mailbox_id):
            return 0, False
        for _ in range(5):
            message = self._store.get_message(mailbox_id, message_id)
            now = utcnow()
            if message is None or message.expires_at is None or message.expires_at > now:
                return 0, False  # gone already (a repeated step), or kept meanwhile
            if message.purged:
                self._delete_audio(message)  # gone already, unless a purge was cut short
                self._store.delete_message(mailbox_id, message_id)
                return 1, False
            try:
                self._ledger.write(message.tombstone(now), ["status", "expiry"])
            except (EtagMismatch, NotFound):
                continue
            self._delete_audio(message)
            return 1, message.counted
        return 0, False

    def _delete_audio(self, message: Message) -> None:
        """Every region's copies by name (shared/services/erasure.py), not only those recorded."""
        if self._regions is not None:
            erase_message_copies(self._regions, self._containers, message.mailbox_id, message.id)
            return
        for path in message.blobs.values():
            for store in self._holders(message.replica_regions):
                store.delete(path)

    def _holders(self, regions: tuple[str, ...]) -> list[AudioStore]:
        if self._regions is None:
            return [self._audio]
        stores = [self._regions.store(region) for region in dict.fromkeys([self._regions.region, *regions])]
        return [store for store in stores if store is not None]

    def _purge_mailbox(self, mailbox_id: str) -> int:
        mailbox = self._store.get_mailbox(mailbox_id)
        if mailbox is None or mailbox.active or mailbox.hold is not None:
            return 0  # gone already, (never) provisioned again, or held (a hold met a deprovision)
        deleted = 0
        for doc in self._store.partition_documents(mailbox_id):
            if doc["type"] == "message":
                message = self._store.get_message(mailbox_id, doc["id"])
                if message is not None:
                    self._delete_audio(message)
                    self._store.delete_message(mailbox_id, doc["id"])
                    deleted += 1
            elif doc["type"] == "greeting":
                greeting = self._store.get_greeting(mailbox_id, doc["id"].removeprefix("greeting-"))
                pending = greeting.pending.blobs.values() if greeting and greeting.pending else ()
                for path in [*(greeting.blobs.values() if greeting else ()), *pending]:
                    self._audio.delete(path)
                self._store.delete_greeting(mailbox_id, doc["id"].removeprefix("greeting-"))
                deleted += 1
            elif doc["type"] in ("tally", "pins", "event", "notifications"):  # notification outbox and targets too
                self._store.delete_message(mailbox_id, doc["id"])  # deletes any document by id
        self._store.delete_mailbox(mailbox_id)  # last: it is what the sweep finds
        return deleted + 1

    def orphans_page(self, container: str, marker: str | None, now: datetime, page_size: int) -> dict[str, object]:
        """One page of a container: blobs older than a day that no document names are deleted."""
        items, next_marker = self._audio.list_page(container, marker, page_size)
        deleted = 0
        for path, modified in items:
            if datetime.fromisoformat(modified) > now - self._orphan_age or self._owned(path):
                continue
            self._audio.delete(path)
            deleted += 1
        return {"examined": len(items), "deleted": deleted, "marker": next_marker}

    def _owned(self, path: str) -> bool:
        """Whether a document names this blob. Unknown layouts count as owned: never delete them."""
        found = blobpaths.parse(path)
        if found is None or found.container not in (self._containers.incoming, self._containers.audio):
            return True
        if found.is_greeting:
            greeting = self._store.get_greeting(found.mailbox_id, found.kind)
            versions = {greeting.version, greeting.pending.version if greeting.pending else None} if greeting else ()
            return found.id in versions
        message = self._store.get_message(found.mailbox_id, found.id)
        return message is not None and not message.purged
