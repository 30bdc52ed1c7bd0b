"""The audio pipeline behind the `incoming/` blob trigger: original in, renditions and a final
status out, for messages (`incoming/{mailboxId}/{messageId}`) and greetings
(`incoming/greetings/{mailboxId}/{kind}/{version}`).

Idempotent: a message or greeting that is already `ready` or `failed` is left alone, so a repeated
firing changes nothing and sends no second MWI event. Audio that can never make a message
(`invalid-audio`, `too-short`, `silent`) ends `failed` with that reason and returns normally: it is
not retried. Storage failures raise, so the trigger retries them.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from shared.domain import blobpaths, tenancy
from shared.domain.audio import (
    LAZY_RENDITIONS,
    RENDITION_CONTENT_TYPES,
    AudioLimits,
    AudioRejected,
    Containers,
    Transcoded,
)
from shared.domain.errors import DatabaseUnavailable, EtagMismatch, NotFound
from shared.domain.model import (
    FAILED_KEPT_FOR,
    MAX_INLINE_AUDIO_BYTES,
    RENDITIONS,
    Mailbox,
    Message,
    expiry,
    utcnow,
)
from shared.domain.notifications import message_event
from shared.ports import (
    AudioStore,
    GreetingRepository,
    MailboxRepository,
    MessageRepository,
    ReplicationRequests,
    Transcoder,
)
from shared.services.journal import DepositJournal
from shared.services.ledger import Ledger
from shared.services.renditions import AT_DEPOSIT
from shared.services.transcripts import TranscriptService
from shared.telemetry import Telemetry, in_tenant

logger = logging.getLogger(__name__)
_CONFLICT_RETRIES = 5


# A deposit stores the audio, then the document (one Cosmos write): the trigger may fire in between.
# It waits this long for the document before it raises NotYetStored, whose retry comes only after
# the trigger's back-off (in Azure, the blob trigger queue's visibility timeout: 10 s by host.json).
DOCUMENT_WAIT_S = 2.0
_DOCUMENT_CHECKS_S = (0.05, 0.1, 0.2, 0.4)  # then every 0.4 s


class NotYetStored(RuntimeError):
    """The audio landed before its document (a deposit writes audio first) and the document did not
    follow within DOCUMENT_WAIT_S: retried by the trigger."""


class Landed:
    """A blob of `incoming/`: its size known before its bytes, which are read once, only when asked
    for (an upload larger than it promised is refused by its size, never read)."""

    def __init__(self, data: bytes | Callable[[], bytes], size: int | None):
        self._data, self._reader = (data, None) if isinstance(data, bytes) else (None, data)
        self.size = len(data) if isinstance(data, bytes) else size

    def read(self) -> bytes:
        if self._data is None:
            assert self._reader is not None
            self._data = self._reader()
        return self._data


class AudioPipeline:
    def __init__(self, mailboxes: MailboxRepository, messages: MessageRepository, greetings: GreetingRepository,
                 audio: AudioStore, transcoder: Transcoder, ledger: Ledger, region: str, normalize: bool,
                 containers: Containers,
                 replication: ReplicationRequests, telemetry: Telemetry, transcripts: TranscriptService | None,
                 journal: DepositJournal | None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._clock, self._sleep = clock, sleep  # the document wait's (see _document_soon)
        self._transcripts = transcripts
        self._journal = journal  # where a landing goes while the database does not answer
        self._containers = containers
        self._ledger = ledger  # announces: a finished message lights the lamp (shared/services/events.py)
        self._telemetry = telemetry
        self._replication = replication
        self._mailboxes = mailboxes
        self._messages = messages
        self._greetings = greetings
        self._audio = audio
        self._transcoder = transcoder
        self._region = region
        self._normalize = normalize

    def process(self, blob_path: str, data: bytes | Callable[[], bytes], trace: Mapping[str, str] | None = None,
                size: int | None = None) -> str:
        """Handle one blob of `incoming/`; returns what happened (for the log). data: its bytes, or
        how to read them (called only once its size passed; size: the blob's, else asked of the
        store). trace: the W3C headers the deposit stored with the blob (its metadata), so this
        continues the deposit's trace."""
        found = blobpaths.parse(blob_path)
        in_tenant(tenancy.tenant_of(found.mailbox_id) if found else None)
        with self._telemetry.span("process incoming audio", trace) as span:
            landed = Landed(data, size)
            if landed.size is None:
                landed.size = self._audio.size(blob_path)
            outcome = "gone" if landed.size is None else self._process(blob_path, landed)
            span.set_attribute("voicemail.outcome", outcome)
            return outcome

    def _process(self, blob_path: str, data: Landed) -> str:
        found = blobpaths.parse(blob_path)
        if found is not None and found.is_original and not found.is_greeting:
            try:
                return self._message(found.mailbox_id, found.id, data)
            except DatabaseUnavailable:
                if self._journal is None:
                    raise
                # An upload that landed while the database does not answer: the replay runs this again.
                self._journal.landing(found.mailbox_id, found.id)
                return "journaled"
        if found is not None and found.is_original:
            return self._greeting(found.mailbox_id, found.kind, found.id, data)
        logger.warning("ignoring %s: not a message or greeting path", blob_path)
        return "ignored"

    def _limits(self, mailbox: Mailbox) -> AudioLimits:
        return AudioLimits(mailbox.settings.minMessageSeconds, mailbox.settings.maxMessageSeconds, self._normalize)

    def _transcode(self, data: Landed, limits: AudioLimits, work: Path, content_type: str,
                   renditions: tuple[str, ...] | None = None) -> Transcoded:
        if (data.size or 0) > MAX_INLINE_AUDIO_BYTES:  # by its size: never read
            raise AudioRejected("invalid-audio", f"larger than {MAX_INLINE_AUDIO_BYTES} bytes")
        source = work / "original"
        source.write_bytes(data.read())
        with self._telemetry.transcode():
            return self._transcoder.transcode(source, work, limits, content_type, renditions)

    def _store_renditions(self, result: Transcoded, where: Callable[[str], str]) -> dict[str, str]:
        """Upload each rendition to where(its name) (a `blobpaths` builder); where each went."""
        blobs = {}
        for name, local in result.files.items():
            blobs[name] = where(name)
            self._audio.put_file(blobs[name], local, RENDITION_CONTENT_TYPES[name])
        return blobs

    # -- messages -------------------------------------------------------------------------------

    def _message(self, mailbox_id: str, message_id: str, data: Landed) -> str:
        message = self._messages.get_message(mailbox_id, message_id)
        if message is None:
            if self._audio.size(blobpaths.message_original(self._containers, mailbox_id, message_id)) is None:
                return "gone"  # purged (tombstone and all) since the blob landed: nothing to do, no retries
            message = self._document_soon(mailbox_id, message_id)
        if message.purged:
            return "purged"
        if message.status != "processing":
            if self._transcripts is not None:  # a transcription not queued when it turned ready is, now
                self._transcripts.request(message)
            return f"already {message.status}"
        mailbox = self._mailboxes.get_mailbox(mailbox_id)
        if mailbox is None or not mailbox.active:
            return "mailbox gone"
        return self._transcode_message(message, mailbox, data)

    def _transcode_message(self, message: Message, mailbox: Mailbox, data: Landed) -> str:
        mailbox_id, message_id = message.mailbox_id, message.id
        size = data.size or 0
        if message.upload_pending and message.size_bytes is not None and size > message.size_bytes:
            return self._too_large(message, size)
        with tempfile.TemporaryDirectory(prefix="transcode-") as work:
            try:
                # The MP3 is made on its first request, from the original (shared/services/renditions.py).
                result = self._transcode(data, self._limits(mailbox), Path(work), message.content_type, AT_DEPOSIT)
            except AudioRejected as rejected:
                logger.info("message %s/%s failed: %s", mailbox_id, message_id, rejected)
                reason = rejected.reason
                kept_until = utcnow() + FAILED_KEPT_FOR
                return self._finish(message, lambda m: replace(m, status="failed", error=reason, upload_pending=False,
                                                               size_bytes=size, expires_at=kept_until))
            blobs = self._store_renditions(  # before the document
                result, lambda name: blobpaths.message_rendition(self._containers, mailbox_id, message_id, name))
        lazy = {name: blobpaths.message_rendition(self._containers, mailbox_id, message_id, name)
                for name in LAZY_RENDITIONS}  # named now, made on first request
        return self._finish(message, lambda m: replace(
            m, status="ready", error=None, duration_ms=result.duration_ms, truncated=result.truncated,
            formats=tuple(name for name in RENDITIONS if name in blobs or name in lazy),
            blobs={**m.blobs, **blobs, **lazy}, upload_pending=False, size_bytes=size,
            # A landed upload keeps what the mailbox's retention gives it, no longer its link's expiry.
            expires_at=expiry(replace(m, upload_pending=False), mailbox.settings, m.received_at)
            if m.upload_pending else m.expires_at,
            # Only this region holds the renditions now (after a takeover the depositing region has
            # just the original): replication copies them on from here.
            replica_regions=(self._region,),
            transcript=self._transcripts.pending_for(mailbox.settings) if self._transcripts else None),
            renditions=blobs)

    def _too_large(self, message: Message, size: int) -> str:
        """An upload larger than it promised: failed `too-large` by its size, its blob never read
        and deleted (a retried firing finds the message failed, or the blob gone)."""
        logger.info("message %s/%s failed: %d bytes where %d were promised", message.mailbox_id, message.id, size,
                    message.size_bytes)
        kept_until = utcnow() + FAILED_KEPT_FOR
        outcome = self._finish(message, lambda m: replace(m, status="failed", error="too-large", upload_pending=False,
                                                          size_bytes=size, expires_at=kept_until))
        if outcome in ("failed", "purged"):
            self._discard({"original": message.blobs["original"]})
        return outcome

    def _document_soon(self, mailbox_id: str, message_id: str) -> Message:
        """The document of audio that landed first, read again for up to DOCUMENT_WAIT_S (the deposit
        writes it right after the audio); NotYetStored if it is still missing."""
        started = self._clock()
        deadline = started + DOCUMENT_WAIT_S
        for step in itertools.chain(_DOCUMENT_CHECKS_S, itertools.repeat(_DOCUMENT_CHECKS_S[-1])):
            pause = min(step, deadline - self._clock())
            if pause <= 0:
                break
            self._sleep(pause)
            message = self._messages.get_message(mailbox_id, message_id)
            if message is not None:
                logger.info("%s/%s: document found %.2f s after its audio", mailbox_id, message_id,
                            self._clock() - started)
                return message
        raise NotYetStored(f"no document yet for {mailbox_id}/{message_id}")

    def _finish(self, message: Message, change: Callable[[Message], Message],
                renditions: dict[str, str] | None = None) -> str:
        renditions = renditions or {}
        for _ in range(_CONFLICT_RETRIES):
            try:
                done = change(message)
                done, _ = self._ledger.write(
                    done, ["status", *(["expiry"] if done.expires_at != message.expires_at else [])],
                    events=[message_event(done.mailbox_id, done.id, done.status, self._region, utcnow())])
            except (EtagMismatch, NotFound):
                message = self._messages.get_message(message.mailbox_id, message.id)
                if message is None or message.purged:
                    self._discard(renditions)  # purged while it was transcoded: no renditions left behind
                    return "purged"
                if message.status != "processing":
                    return "finished elsewhere"
                continue
            if done.status == "ready" and self._replication is not None:
                try:  # the fast path; the replication sweep is the safety net
                    self._replication.request_replication(done.mailbox_id, done.id)
                except Exception:
                    logger.exception("replication of %s/%s not requested", done.mailbox_id, done.id)
            if self._transcripts is not None:  # raises when it cannot queue: the trigger's retry queues it
                self._transcripts.request(done)
            return done.status
        raise EtagMismatch("the message kept changing")

    def _discard(self, blobs: dict[str, str]) -> None:
        """Delete blobs no message keeps (renditions of one purged meanwhile, an oversized upload)."""
        for path in blobs.values():
            try:
                self._audio.delete(path)
            except Exception:  # the orphan pass of the retention sweep gets it later
                logger.exception("could not delete %s", path)

    # -- greetings ------------------------------------------------------------------------------

    def _greeting(self, mailbox_id: str, kind: str, version: str, data: Landed) -> str:
        current = self._greetings.get_greeting(mailbox_id, kind)
        if current is not None and current.version == version:
            greeting, live = current, None  # the first upload of this kind (or one replacing a failed one)
        elif current is not None and current.pending is not None and current.pending.version == version:
            greeting, live = current.pending, current  # a replacement: `live` plays until it is ready
        else:
            return "superseded"  # replaced or deleted since this upload
        if greeting.status != "processing":
            return f"already {greeting.status}"
        mailbox = self._mailboxes.get_mailbox(mailbox_id)
        if mailbox is None or not mailbox.active:
            return "mailbox gone"
        with tempfile.TemporaryDirectory(prefix="greeting-") as work:
            try:
                result = self._transcode(data, self._limits(mailbox), Path(work), greeting.content_type)
            except AudioRejected as rejected:
                updated = replace(greeting, status="failed", error=rejected.reason, updated_at=utcnow())
            else:
                blobs = self._store_renditions(result, lambda name: blobpaths.greeting_rendition(
                    self._containers, mailbox_id, kind, version, name))
                updated = replace(greeting, status="ready", duration_ms=result.duration_ms, formats=tuple(blobs),
                                  blobs={**greeting.blobs, **blobs}, updated_at=utcnow())
        document = updated
        if live is not None:
            # A ready replacement takes the live one's place; a failed one waits beside it, not played.
            document = (replace(updated, etag=live.etag, pending=None) if updated.status == "ready"
                        else replace(live, pending=updated))
        try:
            self._greetings.save_greeting(document)
        except EtagMismatch:
            return "superseded"
        if live is not None and updated.status == "ready":
            for path in live.blobs.values():  # the replaced version's audio, now unreferenced
                try:
                    self._audio.delete(path)
                except Exception:  # the orphan pass of the retention sweep gets it later
                    logger.exception("could not delete %s of a replaced greeting", path)
        return updated.status
