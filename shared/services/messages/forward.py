"""Forwarding a message: a copy in another mailbox (its limits: shared/services/forwards.py)."""

from __future__ import annotations

from shared.domain import blobpaths, tenancy
from shared.domain.audio import Containers
from shared.domain.commands import ForwardMessage
from shared.domain.errors import (
    AudioNotFound,
    ForwardRefused,
    IdempotencyConflict,
    MailboxFull,
    MailboxNotFound,
    MessageProcessing,
    NotAllowed,
)
from shared.domain.model import forwarded_message_id, request_fingerprint, utcnow
from shared.domain.principal import Principal, require_mailbox
from shared.ports import AudioStore, MessageRepository
from shared.services.admission import Admission
from shared.services.forwards import FORWARD_REFUSED, ForwardQuota, forward_copy, forward_room
from shared.services.mailboxes import MailboxService
from shared.services.messages.common import LINK_TTL, forget_audio, visible_in
from shared.services.renditions import is_lazy
from shared.services.replication import Regions


class Forward:
    def __init__(self, messages: MessageRepository, audio: AudioStore, mailboxes: MailboxService,
                 admission: Admission, quota: ForwardQuota, regions: Regions, containers: Containers):
        self._messages = messages
        self._audio = audio
        self._mailboxes = mailboxes
        self._admission = admission
        self._quota = quota
        self._regions = regions
        self._containers = containers

    def __call__(self, principal: Principal, mailbox_id: str, message_id: str,
                 command: ForwardMessage) -> dict[str, object]:
        """A copy in another mailbox. It never takes the target's last 20 % (kept for callers), a
        subscriber forwards at most 20 an hour, and every refusal looks the same: whether the
        target is unknown, full or refusing is nobody else's business."""
        require_mailbox(principal, mailbox_id)
        source, mailbox, _ = visible_in(self._messages, self._mailboxes, mailbox_id, message_id)
        if not mailbox.allows("forward"):
            raise NotAllowed("this mailbox's class of service does not allow forwarding")
        if source.status == "processing":
            raise MessageProcessing("the message can be forwarded once its audio is processed")
        if source.status == "failed":
            raise AudioNotFound("a failed message has no audio to forward")
        to = tenancy.key(tenancy.tenant_of(mailbox_id), command.to)  # a forward stays in its tenant
        new_id = forwarded_message_id(source, to)
        snapshot = self._messages.snapshot(to, new_id)
        fingerprint = request_fingerprint("forward", source.mailbox_id, source.id)
        try:
            target = self._mailboxes.active_in(snapshot, to)
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
            self._quota.take(mailbox_id)
        blobs = {fmt: blobpaths.message_rendition(self._containers, target.id, new_id, fmt) for fmt in source.blobs}
        for fmt, path in source.blobs.items():  # audio first, as for any deposit; from a region that has it
            try:
                origin, _ = self._regions.read_anywhere(path, source.replica_regions)
            except AudioNotFound:
                if is_lazy(fmt):  # not made yet: the copy makes its own from the original it gets
                    continue
                raise
            self._audio.copy_from_url(origin.read_url(path, LINK_TTL), blobs[fmt])
        copy = forward_copy(source, target, new_id, blobs, fingerprint, self._regions.region, utcnow())
        try:
            stored, _ = self._admission.store(copy, target, tallies, room)
        except MailboxFull:
            for path in blobs.values():
                forget_audio(self._audio, path)
            raise ForwardRefused(FORWARD_REFUSED) from None
        return stored.as_api()
