"""Exports: a subscriber's data request answered as a ZIP of the mailbox (shared/domain/exports.py).

`request` records it (the API plane); `build`, `finish` and `fail` are the management plane's
orchestration's activities (functions/sweeps/exports.py), each idempotent; `status` answers with a
read link minted per request; `expire` deletes ZIPs whose time is up. The ZIP is streamed into
blob storage: one message's JSON, or one chunk of audio, is in memory at a time."""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import IO

from shared.domain.errors import AudioNotFound, EtagMismatch, NotFound, Unavailable
from shared.domain.exports import (
    CHUNK,
    EXPORT_ID,
    KEPT,
    ZIP_CONTENT_TYPE,
    Export,
    greeting_entry,
    message_entry,
    new_export_id,
    short_reason,
)
from shared.domain.model import ListQuery
from shared.domain.principal import PLATFORM, Principal, require_platform
from shared.ports import AudioStore, BlobStreams, ExportRecords, GreetingRepository, MessageRepository
from shared.services.mailboxes import MailboxService
from shared.services.replication import Regions

logger = logging.getLogger(__name__)
PAGE = 200
FOLDERS = ("inbox", "saved", "trash")
_RETRIES = 5


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()  # as the API answers (functions/http.py)


class ExportService:
    def __init__(self, records: ExportRecords, mailboxes: MailboxService, messages: MessageRepository,
                 greetings: GreetingRepository, regions: Regions, streams: BlobStreams,
                 now: Callable[[], datetime]):
        self._records = records
        self._mailboxes = mailboxes
        self._messages = messages
        self._greetings = greetings
        self._regions = regions
        self._streams = streams
        self._now = now

    @property
    def _store(self) -> AudioStore:  # the ZIPs this region builds are in its own account
        return self._regions.local

    def _holder(self, export: Export) -> AudioStore:
        """The account its ZIP is in: the region's that built it (the record is read in every region)."""
        store = self._regions.store(export.region) if export.region else None
        if store is None:
            raise Unavailable(f"the export is in region {export.region}, which this region cannot reach")
        return store

    # -- the API plane --------------------------------------------------------------------------

    def request(self, principal: Principal, mailbox_id: str) -> Export:
        """Record a request (status running); the management plane builds it."""
        require_platform(principal)
        self._mailboxes.active(mailbox_id)  # an unknown or deprovisioned mailbox: 404
        return self._records.save_export(Export(new_export_id(), mailbox_id, "running", self._now(),
                                                region=self._regions.region))

    def status(self, principal: Principal, mailbox_id: str, export_id: str) -> dict[str, object]:
        require_platform(principal)
        export = self._find(mailbox_id, export_id)
        now = self._now()
        if export.status == "ready" and export.keep_until is not None and export.keep_until <= now:
            export = replace(export, status="expired")  # the cleanup has not run yet: gone all the same
        if export.status != "ready":
            return export.as_api()
        expires = export.link_expiry(now)
        url = self._holder(export).read_url(export.path, expires - now, content_type=ZIP_CONTENT_TYPE)
        return export.as_api(url, expires)

    def _find(self, mailbox_id: str, export_id: str) -> Export:
        # Records live in their mailbox's partition: another mailbox's export id finds nothing.
        found = None
        if EXPORT_ID.fullmatch(export_id):
            found = self._records.get_export(mailbox_id, export_id)
        if found is None:
            raise NotFound(f"no export {export_id} of this mailbox")
        return found

    # -- the management plane -----------------------------------------------------------------

    def pending(self, limit: int) -> list[Export]:
        return self._records.exports_with("running", self._regions.region, limit)

    def build(self, mailbox_id: str, export_id: str) -> dict[str, int] | None:
        """Write the ZIP (again, whole, if a retry runs it again); None when the export is no longer
        running (finished, failed or gone): nothing to do."""
        export = self._records.get_export(mailbox_id, export_id)
        if export is None or export.status != "running":
            return None
        mailbox = self._mailboxes.get(PLATFORM, mailbox_id)
        counts = {"messages": 0, "audio": 0, "missing": 0}
        with self._streams.open_write(export.path, ZIP_CONTENT_TYPE) as sink, \
                zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("mailbox.json", _json(mailbox))
            originals: list[tuple[str, str | None, tuple[str, ...]]] = []  # entry, path, regions: no audio
            with archive.open("messages.json", "w") as out:
                out.write(b"[")
                for message in self._all_messages(mailbox_id):
                    out.write((b"," if counts["messages"] else b"") + _json(message.as_api()))
                    counts["messages"] += 1
                    originals.append((message_entry(message.id, message.content_type),
                                      message.blobs.get("original"), message.replica_regions))
                out.write(b"]")
            for kind, greeting in sorted(self._greetings.greetings(mailbox_id).items()):
                originals.append((greeting_entry(kind, greeting.content_type), greeting.blobs.get("original"),
                                  greeting.regions))
            for entry, path, holders in originals:
                copied = path is not None and self._copy(archive, entry, path, holders)
                counts["audio" if copied else "missing"] += 1
        return counts

    def _all_messages(self, mailbox_id: str) -> Iterator:
        for folder in FOLDERS:
            after = None
            while True:
                found = self._messages.list_messages(
                    mailbox_id, ListQuery(folder=folder, descending=False, limit=PAGE, after_key=after))
                page = found[:PAGE]
                yield from (m for m in page if m.visible)
                if len(found) <= PAGE:
                    break
                after = page[-1].sort_key

    def _copy(self, archive: zipfile.ZipFile, entry: str, path: str, holders: tuple[str, ...]) -> bool:
        """One original into the ZIP as stored (not compressed again), a chunk at a time."""
        try:
            store, size = self._regions.read_anywhere(path, holders)
        except AudioNotFound:
            logger.warning("export: %s is in no region reachable from here", path)
            return False
        info = zipfile.ZipInfo(entry, date_time=self._now().timetuple()[:6])
        info.compress_type, info.file_size = zipfile.ZIP_STORED, size
        out: IO[bytes]
        with archive.open(info, "w", force_zip64=size >= zipfile.ZIP64_LIMIT) as out:
            for offset in range(0, size, CHUNK):
                out.write(store.read(path, offset, min(CHUNK, size - offset)))
        return True

    def finish(self, mailbox_id: str, export_id: str, counts: dict[str, int]) -> Export | None:
        """Mark it ready (idempotent). A ZIP built for an export that ended meanwhile (failed: too
        late) is deleted."""
        def ready(export: Export) -> Export:
            now = self._now()
            return replace(export, status="ready", finished_at=now, keep_until=now + KEPT,
                           size_bytes=self._store.size(export.path), entries=counts.get("audio", 0) + 2)

        export = self._settle(mailbox_id, export_id, ready)
        if export is not None and export.status in ("failed", "expired"):
            self._store.delete(export.path)
        return export

    def fail(self, mailbox_id: str, export_id: str, reason: str) -> Export | None:
        """Mark it failed with the reason (idempotent); what was written of its ZIP is deleted."""
        export = self._settle(mailbox_id, export_id, lambda e: replace(
            e, status="failed", finished_at=self._now(), reason=short_reason(reason)))
        if export is not None and export.status == "failed":
            self._store.delete(export.path)
        return export

    def _settle(self, mailbox_id: str, export_id: str, change: Callable[[Export], Export]) -> Export | None:
        """Apply change to a running export; the export as it stands (None: no such export)."""
        for _ in range(_RETRIES):
            export = self._records.get_export(mailbox_id, export_id)
            if export is None or export.status != "running":
                return export
            try:
                return self._records.save_export(change(export))
            except EtagMismatch:
                continue
        raise EtagMismatch("the export kept changing")

    def expire(self, limit: int) -> int:
        """Delete the ZIPs whose time is up; their records say `expired`. How many."""
        now, expired = self._now(), 0
        for export in self._records.exports_with("ready", self._regions.region, limit):
            if export.keep_until is None or export.keep_until > now:
                continue
            self._store.delete(export.path)  # the ZIP first: a record never says expired while it stands
            try:
                self._records.save_export(replace(export, status="expired"))
            except EtagMismatch:
                continue  # changed meanwhile: the next run sees it again
            expired += 1
        return expired
