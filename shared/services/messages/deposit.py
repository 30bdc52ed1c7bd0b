"""Depositing a message with its audio inline (a caller's message, from the voice platform).

Audio is stored before the document that points at it, so a crash leaves at worst an orphan blob
for the retention sweep, never a message without its audio. The ledger's batch takes the room and
records the change of counts; its announcer lights the lamp (shared/services/events.py).
"""

from __future__ import annotations

from shared.deadline import within
from shared.domain.audio import Containers, largest_needed
from shared.domain.errors import DatabaseUnavailable, InvalidAudio, MailboxFull, PayloadTooLarge
from shared.domain.model import MAX_INLINE_AUDIO_BYTES, Message, message_id_for, request_fingerprint, utcnow
from shared.domain.principal import Principal, require_platform
from shared.ports import AudioStore, MessageRepository
from shared.services.admission import Admission
from shared.services.journal import DepositJournal
from shared.services.mailboxes import MailboxService
from shared.services.messages.common import Sender, forget_audio, new_message, received
from shared.telemetry import Telemetry, trace_headers


class Deposit:
    def __init__(self, messages: MessageRepository, audio: AudioStore, mailboxes: MailboxService,
                 admission: Admission, region: str, containers: Containers, telemetry: Telemetry,
                 journal: DepositJournal | None, journal_after_s: float):
        self._messages = messages
        self._audio = audio
        self._mailboxes = mailboxes
        self._admission = admission
        self._region = region
        self._containers = containers
        self._telemetry = telemetry
        # Deposits the database does not take within journal_after_s go to the journal (None: 503).
        self._journal, self._journal_after_s = journal, journal_after_s

    def __call__(self, principal: Principal, mailbox_id: str, audio: bytes, content_type: str, sender: Sender,
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
                message = received(mailbox_id, message_id, sender, content_type, len(audio), fingerprint, utcnow(),
                                   self._region, self._containers)
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
            message = new_message(mailbox, message_id, sender, content_type, len(audio), fingerprint, False,
                                  self._region, self._containers)
            # Audio first: a document is never visible without its audio. The trace context goes with
            # it, so the transcoding its blob trigger starts continues this deposit's trace.
            self._audio.put(message.blobs["original"], audio, content_type,
                            {"mailboxId": mailbox_id, "messageId": message_id, **trace_headers()})
            try:
                stored, counts = self._admission.store(message, mailbox, tallies)
            except MailboxFull:
                forget_audio(self._audio, message.blobs["original"])  # filled up meanwhile: refuse, leave nothing
                raise
            except DatabaseUnavailable:
                if self._journal is None:
                    raise
                # Whether the write landed is unknown: the replay finds out (the id is the same).
                return self._journaled(message, audio), True
        return stored.as_api(), counts is not None

    def _journaled(self, message: Message, audio: bytes) -> dict[str, object]:
        """The database did not answer in time: the deposit goes to the region's journal (durable
        once written) and becomes a message when the database answers again (services/journal.py)."""
        assert self._journal is not None
        self._journal.deposit(message, audio)
        return message.as_api()
