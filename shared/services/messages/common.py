"""What the message use cases share: the sender, the links' lifetime, a message as received, and
reading a message its caller may see."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.domain import blobpaths
from shared.domain.audio import Containers
from shared.domain.errors import MessageNotFound, ValidationFailed
from shared.domain.model import Mailbox, Message, expiry, utcnow
from shared.ports import AudioStore, MessageRepository, Snapshot
from shared.services.mailboxes import MailboxService

logger = logging.getLogger(__name__)
LINK_TTL = timedelta(minutes=10)  # read and upload links: short-lived, minted per request
# A promised upload holds its room until its link expires (and a little longer, for an upload that
# started just before); then it stops holding room and disappears.
PROMISE_KEPT = LINK_TTL + timedelta(minutes=5)
CONFLICT_RETRIES = 5


@dataclass(frozen=True)
class Sender:
    number: str | None
    name: str | None
    urgent: bool


def received(mailbox_id: str, message_id: str, sender: Sender, content_type: str, size: int, fingerprint: str,
             now: datetime, region: str, containers: Containers) -> Message:
    """A deposit as received here, before any mailbox setting applies (its expiry)."""
    return Message(id=message_id, mailbox_id=mailbox_id, received_at=now, deposit_region=region,
                   urgent=sender.urgent, from_number=sender.number, from_name=sender.name,
                   blobs={"original": blobpaths.message_original(containers, mailbox_id, message_id)},
                   content_type=content_type, size_bytes=size, request_hash=fingerprint,
                   replica_regions=(region,))


def new_message(mailbox: Mailbox, message_id: str, sender: Sender, content_type: str, size: int, fingerprint: str,
                upload_pending: bool, region: str, containers: Containers) -> Message:
    """A deposit as the mailbox keeps it: expiring by its settings, or with its link when promised."""
    now = utcnow()
    message = replace(received(mailbox.id, message_id, sender, content_type, size, fingerprint, now, region,
                               containers), upload_pending=upload_pending, incarnation=mailbox.incarnation)
    expires = now + PROMISE_KEPT if upload_pending else expiry(message, mailbox.settings, now)
    return replace(message, expires_at=expires)


def visible(messages: MessageRepository, mailboxes: MailboxService, mailbox_id: str, message_id: str) -> Message:
    return visible_in(messages, mailboxes, mailbox_id, message_id)[0]


def visible_in(messages: MessageRepository, mailboxes: MailboxService, mailbox_id: str,
               message_id: str) -> tuple[Message, Mailbox, Snapshot]:
    """The message, its mailbox and the mailbox's tallies, from one single-partition query (not a
    read of the message and another of the mailbox): MessageNotFound unless the message is visible,
    then MailboxNotFound unless the mailbox is active."""
    snapshot = messages.snapshot(mailbox_id, message_id)
    message = snapshot.message
    if message is None or not message.visible:
        raise MessageNotFound(f"no message {message_id} in this mailbox")
    # A deprovisioned mailbox is gone at once for reads and changes too, not only at its purge.
    return message, mailboxes.active_in(snapshot, mailbox_id), snapshot


def with_folder(mailbox: Mailbox, message: Message, folder: str | None) -> Message:
    """The message moved to folder (None: where it is), expiring as its mailbox keeps that folder."""
    if folder is None or folder == message.folder:
        return message
    now = utcnow()
    moved = replace(message, folder=folder, trashed_at=now if folder == "trash" else None)
    return replace(moved, expires_at=expiry(moved, mailbox.settings, now))


def forget_audio(audio: AudioStore, path: str) -> None:
    """Audio of a message refused after it was stored: deleted now, else by the orphan pass."""
    try:
        audio.delete(path)
    except Exception:  # the retention sweep's orphan pass deletes it later
        logger.exception("could not delete %s of a refused deposit", path)


def received_between(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since >= until:
        raise ValidationFailed("since must be before until")
