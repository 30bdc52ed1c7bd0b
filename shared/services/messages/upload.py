"""Asking for an upload link: a message awaiting its audio, and a write-only link to its one blob.
The audio pipeline makes it a message when the upload lands (shared/services/pipeline.py)."""

from __future__ import annotations

from shared.domain.audio import Containers
from shared.domain.commands import RequestUpload
from shared.domain.model import message_id_for, request_fingerprint, utcnow
from shared.domain.principal import Principal, require_platform
from shared.ports import AudioStore, MessageRepository
from shared.services.admission import Admission
from shared.services.mailboxes import MailboxService
from shared.services.messages.common import LINK_TTL, Sender, new_message
from shared.telemetry import Telemetry


class UploadLink:
    def __init__(self, messages: MessageRepository, audio: AudioStore, mailboxes: MailboxService,
                 admission: Admission, region: str, containers: Containers, telemetry: Telemetry):
        self._messages = messages
        self._audio = audio
        self._mailboxes = mailboxes
        self._admission = admission
        self._region = region
        self._containers = containers
        self._telemetry = telemetry

    def __call__(self, principal: Principal, mailbox_id: str, command: RequestUpload,
                 idempotency_key: str | None) -> dict[str, object]:
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
            promised = new_message(mailbox, message_id, sender, command.contentType, command.sizeBytes, fingerprint,
                                   True, self._region, self._containers)
            message, _ = self._admission.store(promised, mailbox, tallies)
        url = self._audio.upload_url(message.blobs["original"], LINK_TTL)
        expires = utcnow() + LINK_TTL
        return {"message": message.as_api(),
                "upload": {"url": url, "method": "PUT", "expiresAt": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "headers": {"x-ms-blob-type": "BlockBlob", "Content-Type": command.contentType}}}
