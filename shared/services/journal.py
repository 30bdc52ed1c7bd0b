"""Deposits that survive a database outage: the journal and its replay.

A caller's message is the one write that cannot wait: when the metadata store does not answer a
deposit in bounded time (`JOURNAL_AFTER_SECONDS`), the deposit writes its audio and then its
envelope (`shared/domain/journal.py`) to the region's own blob storage and answers 202 under the
message id it would have had. The envelope is the commit point: written, the message is durable.

The replay (a timer, `functions/journal.py`) turns each envelope into its message once the store
answers, exactly once: the id is the deposit's own, so the create of a message that exists (a retry
that was stored meanwhile, a replay cut short, the same deposit journaled in two regions) finds it
and stops. The create takes the mailbox's counts with it (the ledger), without the room check: what
was acknowledged during the outage is kept even past `maxMessages`. Then the audio goes where every
deposit's goes (`incoming/`), so the pipeline, MWI and notifications follow as for any deposit.

A record that cannot be read, whose audio is gone, whose mailbox does not exist, or that keeps
failing for a day, is moved aside (`aside/`) and reported (log line and `voicemail.journal`
metric): it never blocks the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

from shared.deadline import within
from shared.domain import blobpaths
from shared.domain.audio import Containers
from shared.domain.errors import (
    AudioNotFound,
    DatabaseUnavailable,
    MailboxNotFound,
)
from shared.domain.journal import (
    LANDING,
    PENDING,
    JournalEntry,
    JournalRecordInvalid,
    aside_name,
)
from shared.domain.model import Mailbox, Message, expiry, utcnow
from shared.ports import AlreadyExists, AudioStore, MessageRepository
from shared.services.ledger import Ledger
from shared.services.mailboxes import MailboxService
from shared.telemetry import Telemetry

logger = logging.getLogger(__name__)
GIVE_UP_AFTER = timedelta(days=1)  # a record failing (not for the outage) this long is moved aside
_PAGE = 500
BATCH = 40  # deposits a transactional batch creates (with the tally and an event: Cosmos DB takes 100)


def by_mailbox(names: list[str]) -> list[list[str]]:
    """Record names grouped by their mailbox (`pending/{mailboxId}/...`), each group in order."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.removeprefix(PENDING).split("/", 1)[0], []).append(name)
    return list(groups.values())


class DepositJournal:
    """Writes and reads the region's journal (its own storage account: up while the database is not)."""

    def __init__(self, audio: AudioStore, container: str, region: str, telemetry: Telemetry):
        self._audio = audio
        self._container = container
        self._region = region
        self._telemetry = telemetry

    def _path(self, name: str) -> str:
        return blobpaths.join(self._container, name)

    def deposit(self, message: Message, audio: bytes) -> None:
        """Journal a deposit: its audio with its envelope, one blob, one write (the commit point)."""
        entry = JournalEntry.of_deposit(message, utcnow())
        self._audio.put(self._path(entry.name), audio, message.content_type, entry.to_metadata())
        self._telemetry.journal("journaled", "deposit")
        logger.warning("journaled deposit %s/%s: the database did not answer", message.mailbox_id, message.id)

    def landing(self, mailbox_id: str, message_id: str) -> None:
        """An upload landed while the database did not answer: the pipeline runs again for it later."""
        entry = JournalEntry("landing", mailbox_id, message_id, self._region, utcnow())
        self._audio.put(self._path(entry.name), b"", "application/octet-stream", entry.to_metadata())
        self._telemetry.journal("journaled", "landing")
        logger.warning("journaled the landing of %s/%s: the database did not answer", mailbox_id, message_id)

    def pending(self, limit: int) -> list[str]:
        """Record names waiting, in name order (a deposit before its landing), at most limit."""
        names: list[str] = []
        marker: str | None = None
        while len(names) < limit:
            page, marker = self._audio.list_page(self._container, marker, _PAGE, prefix=PENDING)
            names += [blobpaths.split(path)[1] for path, _ in page]
            if marker is None:
                break
        return names[:limit]

    def read(self, name: str) -> tuple[JournalEntry, bytes]:
        """The record's envelope and audio, in one read (AudioNotFound: removed meanwhile)."""
        data, metadata = self._audio.read_with_metadata(self._path(name))
        return JournalEntry.from_metadata(metadata), data

    def remove(self, name: str) -> None:
        self._audio.delete(self._path(name))

    def set_aside(self, name: str, reason: str) -> None:
        """Keep the record under aside/ with the reason, out of the replay's way; report it."""
        try:
            data, metadata = self._audio.read_with_metadata(self._path(name))
        except AudioNotFound:
            return  # another replay moved it already
        self._audio.put(self._path(aside_name(name)), data, "application/octet-stream",
                        {**metadata, "reason": reason})
        self.remove(name)
        self._telemetry.journal("set_aside", reason)
        logger.error("journal: %s set aside (%s)", name, reason)


class JournalReplay:
    """Turns the region's journal into messages once the database answers."""

    def __init__(self, journal: DepositJournal, messages: MessageRepository, audio: AudioStore,
                 mailboxes: MailboxService, ledger: Ledger, region: str, containers: Containers,
                 reprocess: Callable[[str, bytes], str], telemetry: Telemetry, workers: int = 16,
                 patience_s: float = 6.0, probe_s: float = 4.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self._journal = journal
        self._messages = messages
        self._ledger = ledger  # announces: a replayed deposit lights the lamp as any deposit does
        self._audio = audio
        self._mailboxes = mailboxes
        self._containers = containers
        self._reprocess = reprocess  # the audio pipeline: (incoming path, data) -> outcome
        self._telemetry = telemetry
        self._workers = workers
        self._patience_s, self._probe_s, self._clock, self._sleep = patience_s, probe_s, clock, sleep

    def replay(self, limit: int = 2000, busy_s: float = 45.0) -> dict[str, int]:
        """Passes over the journal while they find work (what was journaled during a pass, the last
        deposits of an outage, goes in the next one at once), for up to busy_s; then the next tick."""
        totals = {"replayed": 0, "done": 0, "setAside": 0, "waiting": 0}
        stop = self._clock() + busy_s
        while True:
            found = self._pass(limit)
            for outcome, count in found.items():
                totals[outcome] += count
            if not (found["replayed"] or found["done"] or found["setAside"]) or self._clock() >= stop:
                return totals

    def _pass(self, limit: int) -> dict[str, int]:
        """One pass: deposits first, then landings. The first record goes alone (while the database
        still does not answer, a pass costs that one call); then the rest in parallel, all of them
        stopping at the first sign that the database is down again, and leaving the rest."""
        names = self._journal.pending(limit)
        totals = {"replayed": 0, "done": 0, "setAside": 0, "waiting": 0}
        down = threading.Event()
        ordered = [n for n in names if not n.endswith(LANDING)] + [n for n in names if n.endswith(LANDING)]
        if not ordered:
            return totals
        totals[self._first(ordered[0], down)] += 1
        if down.is_set():
            totals["waiting"] += len(ordered) - 1
            return totals
        with ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="journal") as pool:
            rest = ordered[1:]
            for batch in ([n for n in rest if not n.endswith(LANDING)],  # a message is made before its landing
                          [n for n in rest if n.endswith(LANDING)]):
                # One worker a mailbox, its records in order: workers on one mailbox would only take
                # turns on its tally (each write moves it), so mailboxes go in parallel instead.
                for outcomes in pool.map(lambda names: self._mailbox(names, down), by_mailbox(batch)):
                    for outcome in outcomes:
                        totals[outcome] += 1
        return totals

    def _first(self, name: str, down: threading.Event) -> str:
        """The first record, alone, each try bounded by probe_s: while the database does not answer,
        tried again every second for up to patience_s, so the replay starts within about a second of
        the database answering rather than at the next tick."""
        give_up = self._clock() + self._patience_s
        while True:
            down.clear()
            with within(self._probe_s):
                outcome = self._mailbox([name], down)[0]
            if outcome != "waiting" or self._clock() >= give_up:
                return outcome
            self._sleep(1.0)

    def _mailbox(self, names: list[str], down: threading.Event) -> list[str]:
        """One mailbox's records in order, its deposits BATCH at a time; its lamp lit once, with the
        counts after the last (the ledger's announcements held till then)."""
        outcomes: list[str] = []
        with self._ledger.held():
            for start in range(0, len(names), BATCH):
                chunk = names[start:start + BATCH]
                outcomes += (self._batch(chunk, down) if len(chunk) > 1
                             else [self._one(name, down) for name in chunk])
        return outcomes

    def _batch(self, names: list[str], down: threading.Event) -> list[str]:
        """Deposits of one mailbox made in one query and one transactional batch, the usual case:
        none of them exists yet. Anything else (a twin, a bad record, no such mailbox, a landing)
        goes record by record, where each case has its answer."""
        if down.is_set():
            return ["waiting"] * len(names)
        try:
            records = [(name, *self._journal.read(name)) for name in names]
            if any(entry.kind != "deposit" or not audio for _, entry, audio in records):
                raise LookupError("not a batch of deposits")
            mailbox_id = records[0][1].mailbox_id
            snapshot = self._messages.snapshot(mailbox_id)
            mailbox = self._mailboxes.active_in(snapshot, mailbox_id)
            messages = [self._message(entry, mailbox) for _, entry, _ in records]
            for (_, _, audio), message in zip(records, messages, strict=True):  # audio first, as ever
                self._put_original(message, audio)
            self._ledger.create_many(messages, tallies=snapshot.tallies)
        except DatabaseUnavailable:
            down.set()
            return ["waiting"] * len(names)
        except Exception:  # noqa: BLE001 - each record on its own says what it is
            return [self._one(name, down) for name in names]
        for name in names:
            self._telemetry.journal("replayed", "deposit")
            try:
                self._journal.remove(name)
            except Exception:  # noqa: BLE001 - the next pass finds its message made: done then
                logger.warning("journal: could not remove %s; the next pass finds it done", name)
        logger.info("journal: replayed %d deposits of %s in one batch", len(names), mailbox_id)
        return ["replayed"] * len(names)

    def _one(self, name: str, down: threading.Event) -> str:
        if down.is_set():
            return "waiting"
        try:
            try:
                entry, audio = self._journal.read(name)
            except JournalRecordInvalid as error:
                self._journal.set_aside(name, f"unreadable: {error}")
                return "setAside"
            except AudioNotFound:
                return "done"  # removed meanwhile by another pass
            outcome = (self._deposit(name, entry, audio) if entry.kind == "deposit"
                       else self._landing(name, entry))
        except DatabaseUnavailable:
            down.set()
            return "waiting"
        except Exception:  # one record never stops the others; it is retried next pass
            logger.exception("journal: replaying %s failed; it is retried", name)
            return self._give_up_if_old(name)
        if outcome == "replayed":
            self._telemetry.journal("replayed", "deposit")
        return outcome

    def _give_up_if_old(self, name: str) -> str:
        try:
            entry, _ = self._journal.read(name)
        except Exception:  # noqa: BLE001 - it is retried next pass
            return "waiting"
        if utcnow() - entry.journaled_at > GIVE_UP_AFTER:
            self._journal.set_aside(name, "kept failing")
            return "setAside"
        return "waiting"

    def _deposit(self, name: str, entry: JournalEntry, audio: bytes) -> str:
        snapshot = self._messages.snapshot(entry.mailbox_id, entry.message_id)
        if snapshot.message is not None:
            return self._twin(name, snapshot.message, entry)
        try:
            mailbox = self._mailboxes.active_in(snapshot, entry.mailbox_id)
        except MailboxNotFound:
            self._journal.set_aside(name, "mailbox-not-found")
            return "setAside"
        if not audio:
            self._journal.set_aside(name, "audio-gone")
            return "setAside"
        message = self._message(entry, mailbox)
        self._put_original(message, audio)
        try:
            # No room check: what was acknowledged during the outage is kept (API.md).
            self._ledger.write(message, tallies=snapshot.tallies)
        except AlreadyExists:
            existing = self._messages.get_message(entry.mailbox_id, entry.message_id)
            if existing is None:
                raise  # deleted in between: the next pass decides afresh
            return self._twin(name, existing, entry)
        self._journal.remove(name)
        logger.info("journal: replayed %s/%s", entry.mailbox_id, entry.message_id)
        return "replayed"

    def _put_original(self, message: Message, audio: bytes) -> None:
        """Audio first, as for any deposit: in `incoming/`, whose blob trigger waits for the document
        (or is fired again by this write)."""
        self._audio.put(message.blobs["original"], audio, message.content_type,
                        {"mailboxId": message.mailbox_id, "messageId": message.id})

    def _message(self, entry: JournalEntry, mailbox: Mailbox) -> Message:
        """The message a journaled deposit becomes: as received then, kept as the mailbox keeps it now."""
        message = entry.message(blobpaths.message_original(self._containers, entry.mailbox_id, entry.message_id))
        return replace(message, expires_at=expiry(message, mailbox.settings, utcnow()), incarnation=mailbox.incarnation)

    def _twin(self, name: str, existing: Message, entry: JournalEntry) -> str:
        """The message exists already: this very deposit (stored by a retry, another region's
        replay, or a write that did land), or another deposit under the same Idempotency-Key."""
        if existing.request_hash != entry.request_hash:
            self._journal.set_aside(name, "idempotency-key-reused")
            return "setAside"
        self._journal.remove(name)
        return "done"

    def _landing(self, name: str, entry: JournalEntry) -> str:
        """Run the pipeline for an upload that landed during the outage (it is idempotent)."""
        if self._messages.get_message(entry.mailbox_id, entry.message_id) is None:
            self._journal.remove(name)  # no promise to land (a refused deposit, or purged): nothing to do
            return "done"
        original = blobpaths.message_original(self._containers, entry.mailbox_id, entry.message_id)
        try:
            data = self._audio.read(original)
        except AudioNotFound:
            self._journal.remove(name)  # purged since: the pipeline would find nothing either
            return "done"
        outcome = self._reprocess(original, data)
        if outcome == "journaled":  # the database went again mid-way: the new record is this one
            return "waiting"
        self._journal.remove(name)
        return "replayed"
