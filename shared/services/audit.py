"""The audit trail: what the operation table's boundary records (functions/table.py), written to this
region's trail, and read per mailbox over every region's.

Recording never waits on storage: a record joins a buffer that a background thread appends to this
region's trail every `flush_s` (or at once past `batch`), in one append per stream and day. An append
that fails keeps its records for the next flush, so an outage of the storage account delays records,
never drops them, up to `max_pending` (beyond that the oldest are dropped and counted: the process
would otherwise grow without bound). What a crash can lose is the last `flush_s` of records
(docs/compliance.md). A query flushes this process's buffer first, so what it recorded is there.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Mapping
from datetime import datetime

from shared.domain.audit import AuditRecord, day, page
from shared.domain.errors import Unavailable
from shared.domain.model import iso
from shared.domain.principal import Principal, require_platform
from shared.ports import AuditTrail

logger = logging.getLogger(__name__)


class AuditLog:
    def __init__(self, trails: Mapping[str, AuditTrail], region: str, *, flush_s: float = 0.5, batch: int = 500,
                 max_pending: int = 100_000):
        self._own = trails[region]
        self._trails, self._region = dict(trails), region
        self._flush_s, self._batch, self._max_pending = flush_s, batch, max_pending
        self._pending: list[AuditRecord] = []
        self._lock = threading.Lock()  # the buffer
        self._writing = threading.Lock()  # one append at a time, in order
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def record(self, record: AuditRecord) -> None:
        with self._lock:
            self._pending.append(record)
            over = len(self._pending) - self._max_pending
            if over > 0:
                del self._pending[:over]
                self.dropped += over
                logger.error("audit trail: %d records dropped, this region's trail has not taken any for too long",
                             over)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="audit-trail", daemon=True)
                self._thread.start()
                atexit.register(self.flush)
            if len(self._pending) >= self._batch:
                self._wake.set()

    def flush(self) -> None:
        """Append what is waiting now; on failure it waits for the next flush (and this raises)."""
        with self._writing:
            with self._lock:
                taken, self._pending = self._pending, []
            if not taken:
                return
            try:
                self._own.append(taken)
            except Exception:
                with self._lock:
                    self._pending[:0] = taken
                raise

    def _run(self) -> None:
        while True:
            self._wake.wait(self._flush_s)
            self._wake.clear()
            try:
                self.flush()
            except Exception as error:  # noqa: BLE001 - kept for the next flush; the loop never dies
                logger.warning("audit trail: append failed, retrying in %.1f s: %r", self._flush_s, error)

    def query(self, principal: Principal, mailbox_id: str, since: datetime | None,
              continuation: str | None) -> dict[str, object]:
        """A page of the mailbox's records from every region, oldest first. Records outlive the mailbox
        (an erased mailbox's are still here); a region whose trail cannot be read is a 503, never a
        silently shorter answer."""
        require_platform(principal)
        self.flush()
        since_day = day(iso(since) or "0000-00-00")
        records: list[AuditRecord] = []
        for region, trail in sorted(self._trails.items()):
            try:
                records += trail.read(mailbox_id, since_day)
            except Unavailable as error:
                raise Unavailable(f"the audit trail of {region} did not answer; retry") from error
        return page(records, since, continuation)
