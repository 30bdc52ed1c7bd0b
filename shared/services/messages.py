"""Messages: deposit (inline or by upload link), listing, reading, audio, flags, trash, purge, forward.
Which audio a read answers is `audio_answers.py`; forwarding's limits are `forwards.py`.

Ordering keeps every acknowledged message whole: audio is stored before the document that points
at it, and deleted before that document, so a crash leaves at worst an orphan blob for the
retention sweep, never a message without its audio.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.deadline import within
from shared.domain import blobpaths
from shared.domain.audio import Containers, largest_needed
from shared.domain.commands import ForwardMessage, PatchMessage, RequestUpload
from shared.domain.errors import (
    AudioNotFound,
    DatabaseUnavailable,
    EtagMismatch,
    ForwardRefused,
    Held,
    IdempotencyConflict,
    InvalidAudio,
    MailboxFull,
    MailboxNotFound,
    MessageNotFound,
    MessageProcessing,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from shared.domain.model import (
    MAX_INLINE_AUDIO_BYTES,
    ListQuery,
    Mailbox,
    Message,
    decode_continuation,
    encode_continuation,
    expiry,
    forwarded_message_id,
    message_id_for,
    request_fingerprint,
    same_etag,
    utcnow,
)
from shared.domain.principal import Principal, require_mailbox, require_platform
from shared.ports import AudioStore, MessageRepository
from shared.services.admission import Admission
from shared.services.audio_answers import AudioAnswer, message_audio
from shared.services.forwards import FORWARD_REFUSED, ForwardQuota, forward_copy, forward_room
from shared.services.journal import DepositJournal
from shared.services.ledger import Ledger
from shared.services.mailboxes import MailboxService
from shared.services.mwi import Mwi
from shared.services.renditions import Renditions, is_lazy
from shared.services.replication import Regions
from shared.telemetry import Telemetry, trace_headers

logger = logging.getLogger(__name__)
LINK_TTL = timedelta(minutes=10)  # read and upload links: short-lived, minted per request
# A promised upload holds its room until its link expires (and a little longer, for an upload that
# started just before); then it stops holding room and disappears.
PROMISE_KEPT = LINK_TTL + timedelta(minutes=5)
_CONFLICT_RETRIES = 5


@dataclass(frozen=True)
class Sender:
    number: str | None
    name: str | None
    urgent: bool


class MessageService:
    def __init__(self, messages: MessageRepository, audio: AudioStore, mailboxes: MailboxService, mwi: Mwi,
                 region: str, containers: Containers,
                 regions: Regions, telemetry: Telemetry, renditions: Renditions, journal: DepositJournal | None,
                 journal_after_s: float = 4.0):
        # Deposits the database does not take within journal_after_s go to the journal (None: 503).
        self._journal, self._journal_after_s = journal, journal_after_s
        self._ledger = Ledger(messages, region)
        self._containers = containers
        self._telemetry = telemetry
        self._regions = regions
        # Finds the audio in the regions holding it; makes an MP3 not made yet (None: never makes one).
        self._renditions = renditions
        self._messages = messages
        self._audio = audio
        self._mailboxes = mailboxes
        self._mwi = mwi
        self._region = region
        self._forward_quota = ForwardQuota(messages, region)
        self._admission = Admission(messages, self._ledger)

    # -- deposit -------------------------------------------------------------------------------

    def _new_message(self, mailbox: Mailbox, message_id: str, sender: Sender, content_type: str, size: int,
                     fingerprint: str, upload_pending: bool) -> Message:
        now = utcnow()
        message = self._received(mailbox.id, message_id, sender, content_type, size, fingerprint, now)
        message = replace(message, upload_pending=upload_pending, incarnation=mailbox.incarnation)
        expires = now + PROMISE_KEPT if upload_pending else expiry(message, mailbox.settings, now)
        return replace(message, expires_at=expires)

    def _received(self, mailbox_id: str, message_id: str, sender: Sender, content_type: str, size: int,
                  fingerprint: str, now: datetime) -> Message:
        """A deposit as received here, before any mailbox setting applies (its expiry)."""
        return Message(id=message_id, mailbox_id=mailbox_id, received_at=now, deposit_region=self._region,
                       urgent=sender.urgent, from_number=sender.number, from_name=sender.name,
                       blobs={"original": blobpaths.message_original(self._containers, mailbox_id, message_id)},
                       content_type=content_type, size_bytes=size, request_hash=fingerprint,
                       replica_regions=(self._region,))

    def deposit(self, principal: Principal, mailbox_id: str, audio: bytes, content_type: str, sender: Sender,
                idempotency_key: str | None) -> tuple[dict[str, object], bool]:
        """Inline audio → 202 message. False when an earlier identical deposit is given back."""
        with self._telemetry.deposit("inline"), self._telemetry.span("deposit"):
            return self._deposit(principal, mailbox_id, audio, content_type, sender, idempotency_key)

    def _deposit(self, principal: Principal, mailbox_id: str, audio: bytes, content_type: str, sender: Sender,
                 idempotency_key: str | None) -> tuple[dict[str, object], bool]:
        require_platform(principal)
        if len(audio) > MAX_INLINE_AUDIO_BYTES:
            raise PayloadTooLarge(f"inline audio is limited to {MAX_INLINE_AUDIO_BYTES} bytes; ask for an upload link")
        if not audio:
            raise InvalidAudio("the body is empty")
        fingerprint = request_fingerprint("inline", audio, content_type, sender.number, sender.name, sender.urgent)
        message_id = message_id_for(mailbox_id, idempotency_key)
        # The database gets a bounded time for this deposit; past it, the message is journaled.
        with within(self._journal_after_s):
            try:
                # One query: the mailbox, its tallies and (for a retry) the message this key made.
                snapshot = self._messages.snapshot(mailbox_id, message_id if idempotency_key is not None else None)
            except DatabaseUnavailable:
                if self._journal is None:
                    raise
                message = self._received(mailbox_id, message_id, sender, content_type, len(audio), fingerprint,
                                         utcnow())
                return self._journaled(message, audio), True
            mailbox = self._mailboxes.active_in(snapshot, mailbox_id)
            snapshot, message_id = self._admission.of_incarnation(snapshot, mailbox, message_id, idempotency_key)
            if len(audio) > (bound := largest_needed(mailbox.settings.maxMessageSeconds)):
                raise PayloadTooLarge(f"this mailbox keeps {mailbox.settings.maxMessageSeconds} s of audio: "
                                      f"bodies over {bound} bytes are refused")
            existing = self._admission.twin(snapshot.message, fingerprint)
            if existing is not None:
                return existing.as_api(), False
            tallies = self._admission.has_room(mailbox, snapshot.tallies)
            message = self._new_message(mailbox, message_id, sender, content_type, len(audio), fingerprint, False)
            # Audio first: a document is never visible without its audio. The trace context goes with
            # it, so the transcoding its blob trigger starts continues this deposit's trace.
            self._audio.put(message.blobs["original"], audio, content_type,
                            {"mailboxId": mailbox_id, "messageId": message_id, **trace_headers()})
            try:
                stored, counts = self._admission.store(message, mailbox, tallies)
            except MailboxFull:
                self._forget_audio(message.blobs["original"])  # filled up meanwhile: refuse, leave nothing behind
                raise
            except DatabaseUnavailable:
                if self._journal is None:
                    raise
                # Whether the write landed is unknown: the replay finds out (the id is the same).
                return self._journaled(message, audio), True
        if counts is not None:  # the counts the write just moved: no second query
            self._mwi.changed(mailbox_id, counts)
        return stored.as_api(), counts is not None

    def _journaled(self, message: Message, audio: bytes) -> dict[str, object]:
        """The database did not answer in time: the deposit goes to the region's journal (durable
        once written) and becomes a message when the database answers again (services/journal.py)."""
        assert self._journal is not None
        self._journal.deposit(message, audio)
        return message.as_api()

    def _forget_audio(self, path: str) -> None:
        try:
            self._audio.delete(path)
        except Exception:  # the retention sweep's orphan pass deletes it later
            logger.exception("could not delete %s of a refused deposit", path)

    def request_upload(self, principal: Principal, mailbox_id: str, command: RequestUpload,
                       idempotency_key: str | None) -> dict[str, object]:
        """A message awaiting its audio, and a write-only link to exactly its one blob."""
        with self._telemetry.deposit("upload"), self._telemetry.span("request upload link"):
            return self._request_upload(principal, mailbox_id, command, idempotency_key)

    def _request_upload(self, principal: Principal, mailbox_id: str, command: RequestUpload,
                        idempotency_key: str | None) -> dict[str, object]:
        require_platform(principal)
        sender = Sender(command.from_, command.fromName, command.urgent)
        fingerprint = request_fingerprint("upload", command.model_dump(by_alias=True))
        message_id = message_id_for(mailbox_id, idempotency_key)
        snapshot = self._messages.snapshot(mailbox_id, message_id if idempotency_key is not None else None)
        mailbox = self._mailboxes.active_in(snapshot, mailbox_id)
        snapshot, message_id = self._admission.of_incarnation(snapshot, mailbox, message_id, idempotency_key)
        message = self._admission.twin(snapshot.message, fingerprint)
        if message is None:
            tallies = self._admission.has_room(mailbox, snapshot.tallies)
            # Hidden (not listed, not shown in the counts) until the upload lands and the blob
            # trigger sees it; it holds its room meanwhile.
            message, _ = self._admission.store(self._new_message(mailbox, message_id, sender, command.contentType,
                                                       command.sizeBytes, fingerprint, True),
                                     mailbox, tallies)
        url = self._audio.upload_url(message.blobs["original"], LINK_TTL)
        expires = utcnow() + LINK_TTL
        return {"message": message.as_api(),
                "upload": {"url": url, "method": "PUT", "expiresAt": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "headers": {"x-ms-blob-type": "BlockBlob", "Content-Type": command.contentType}}}

    # -- query ---------------------------------------------------------------------------------

    def _visible(self, mailbox_id: str, message_id: str) -> Message:
        message = self._messages.get_message(mailbox_id, message_id)
        if message is None or not message.visible:
            raise MessageNotFound(f"no message {message_id} in this mailbox")
        # A deprovisioned mailbox is gone at once for reads and changes too, not only at its purge.
        self._mailboxes.active(mailbox_id)
        return message

    def list(self, principal: Principal, mailbox_id: str, query: ListQuery,
             continuation: str | None) -> dict[str, object]:
        require_mailbox(principal, mailbox_id)
        self._mailboxes.active(mailbox_id)
        if continuation is not None:
            try:
                query = replace(query, after_key=decode_continuation(continuation, query.descending))
            except ValueError:
                raise ValidationFailed("continuation is not a token this listing gave out") from None
        found = self._messages.list_messages(mailbox_id, query)
        page = found[:query.limit]
        more = len(found) > query.limit
        return {"items": [m.as_api() for m in page],
                "continuation": encode_continuation(page[-1].sort_key, query.descending) if more else None}

    def get(self, principal: Principal, mailbox_id: str, message_id: str) -> dict[str, object]:
        require_mailbox(principal, mailbox_id)
        return self._visible(mailbox_id, message_id).as_api()

    def audio(self, principal: Principal, mailbox_id: str, message_id: str, audio_format: str | None,
              range_header: str | None, redirect: bool) -> AudioAnswer:
        with self._telemetry.retrieval(audio_format or "default"):
            return self._audio_answer(principal, mailbox_id, message_id, audio_format, range_header, redirect)

    def _audio_answer(self, principal: Principal, mailbox_id: str, message_id: str, audio_format: str | None,
                      range_header: str | None, redirect: bool) -> AudioAnswer:
        require_mailbox(principal, mailbox_id)
        message = self._visible(mailbox_id, message_id)
        return message_audio(message, self._renditions.locate, audio_format, range_header, redirect, LINK_TTL)

    # -- changes -------------------------------------------------------------------------------

    def patch(self, principal: Principal, mailbox_id: str, message_id: str, command: PatchMessage,
              if_match: str | None) -> dict[str, object]:
        require_mailbox(principal, mailbox_id)
        changes = command.model_dump(exclude_none=True)
        if not changes:
            raise ValidationFailed("nothing to change: give heard, folder or urgent")
        self._mailboxes.writes.take(principal, mailbox_id)
        for _ in range(_CONFLICT_RETRIES):
            message = self._visible(mailbox_id, message_id)
            if if_match is not None and not same_etag(if_match, message.etag):
                raise EtagMismatch("the message changed since it was read")
            updated = self._with_folder(replace(message, **{k: v for k, v in changes.items() if k != "folder"}),
                                        command.folder)
            try:
                stored, counts = self._ledger.write(updated, [*changes, *(["expiry"] if "folder" in changes else [])])
            except EtagMismatch:
                if if_match is not None:
                    raise
                continue
            if stored.tally != message.tally:
                self._mwi.changed(mailbox_id, counts)
            return stored.as_api()
        raise EtagMismatch("the message kept changing; try again")

    def _with_folder(self, message: Message, folder: str | None) -> Message:
        if folder is None or folder == message.folder:
            return message
        now = utcnow()
        moved = replace(message, folder=folder, trashed_at=now if folder == "trash" else None)
        mailbox = self._mailboxes.active(message.mailbox_id)
        return replace(moved, expires_at=expiry(moved, mailbox.settings, now))

    def delete(self, principal: Principal, mailbox_id: str, message_id: str, purge: bool) -> None:
        require_mailbox(principal, mailbox_id)
        self._mailboxes.writes.take(principal, mailbox_id)
        if purge:
            self._purge(mailbox_id, message_id)
            return
        for _ in range(_CONFLICT_RETRIES):
            message = self._visible(mailbox_id, message_id)
            if message.folder == "trash":
                return
            try:
                _, counts = self._ledger.write(self._with_folder(message, "trash"), ["folder", "expiry"])
            except EtagMismatch:
                continue
            if message.counted:
                self._mwi.changed(mailbox_id, counts)
            return
        raise EtagMismatch("the message kept changing; try again")

    def _purge(self, mailbox_id: str, message_id: str) -> None:
        """The document becomes a tombstone (it wins over any concurrent change in another region,
        and is deleted for good a day later), then the audio goes in every region that holds it."""
        for _ in range(_CONFLICT_RETRIES):
            message = self._messages.get_message(mailbox_id, message_id)
            if message is None:
                raise MessageNotFound(f"no message {message_id} in this mailbox")
            if self._mailboxes.active(mailbox_id).hold is not None:  # a deprovisioned one's are the sweep's
                raise Held("the mailbox is under legal hold: its messages cannot be purged (the trash still works)")
            counts = None
            if not message.purged:  # else a purge repeated: it finishes deleting the audio
                try:
                    _, counts = self._ledger.write(message.tombstone(utcnow()), ["status", "expiry"])
                except (EtagMismatch, NotFound):
                    continue
            for path in message.blobs.values():
                for store in self._regions.holders(message.replica_regions):
                    store.delete(path)
            if counts is not None and message.counted:
                self._mwi.changed(mailbox_id, counts)
            return
        raise EtagMismatch("the message kept changing; try again")

    def forward(self, principal: Principal, mailbox_id: str, message_id: str,
                command: ForwardMessage) -> dict[str, object]:
        """A copy in another mailbox. It never takes the target's last 20 % (kept for callers), a
        subscriber forwards at most 20 an hour, and every refusal looks the same: whether the
        target is unknown, full or refusing is nobody else's business."""
        require_mailbox(principal, mailbox_id)
        source = self._visible(mailbox_id, message_id)
        if source.status == "processing":
            raise MessageProcessing("the message can be forwarded once its audio is processed")
        if source.status == "failed":
            raise AudioNotFound("a failed message has no audio to forward")
        new_id = forwarded_message_id(source, command.to)
        snapshot = self._messages.snapshot(command.to, new_id)
        fingerprint = request_fingerprint("forward", source.mailbox_id, source.id)
        try:
            target = self._mailboxes.active_in(snapshot, command.to)
            existing = self._admission.twin(snapshot.message, fingerprint)
            if existing is not None:  # a replay: the first forward's answer, not the target's copy as it now is
                return forward_copy(source, target, existing.id, existing.blobs, fingerprint,
                                    existing.deposit_region, existing.received_at).as_api()
            room = forward_room(target.settings.maxMessages)
            tallies = self._admission.has_room(target, snapshot.tallies, room)
        except (MailboxNotFound, MailboxFull, IdempotencyConflict):
            raise ForwardRefused(FORWARD_REFUSED) from None
        self._mailboxes.writes.take(principal, mailbox_id)
        if not principal.is_platform:
            self._forward_quota.take(mailbox_id)
        blobs = {fmt: blobpaths.message_rendition(self._containers, target.id, new_id, fmt) for fmt in source.blobs}
        for fmt, path in source.blobs.items():  # audio first, as for any deposit; from a region that has it
            try:
                origin, _ = self._regions.read_anywhere(path, source.replica_regions)
            except AudioNotFound:
                if is_lazy(fmt):  # not made yet: the copy makes its own from the original it gets
                    continue
                raise
            self._audio.copy_from_url(origin.read_url(path, LINK_TTL), blobs[fmt])
        copy = forward_copy(source, target, new_id, blobs, fingerprint, self._region, utcnow())
        try:
            stored, counts = self._admission.store(copy, target, tallies, room)
        except MailboxFull:
            for path in blobs.values():
                self._forget_audio(path)
            raise ForwardRefused(FORWARD_REFUSED) from None
        if counts is not None:
            self._mwi.changed(target.id, counts)
        return stored.as_api()


def received_between(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since >= until:
        raise ValidationFailed("since must be before until")
