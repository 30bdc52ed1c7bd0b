"""Deleting a message: to the trash (undone by moving it back), or purged for good.

A purge makes the document a tombstone first (it wins over any concurrent change in another
region, and is deleted for good a day later), then deletes its audio in every region by name
(originals wherever deposited or taken over, renditions wherever made, recorded or not:
shared/services/erasure.py): a crash in between leaves a tombstone whose repeated purge finishes
the job."""

from __future__ import annotations

from shared.domain.audio import Containers
from shared.domain.errors import EtagMismatch, Held, MessageNotFound, NotFound
from shared.domain.model import utcnow
from shared.domain.principal import Principal, require_mailbox
from shared.ports import MessageRepository
from shared.services.erasure import erase_message_copies
from shared.services.ledger import Ledger
from shared.services.mailboxes import MailboxService
from shared.services.messages.common import CONFLICT_RETRIES, visible_in, with_folder
from shared.services.replication import Regions


class Trash:
    def __init__(self, messages: MessageRepository, mailboxes: MailboxService, ledger: Ledger, regions: Regions,
                 containers: Containers):
        self._containers = containers
        self._messages = messages
        self._mailboxes = mailboxes
        self._ledger = ledger
        self._regions = regions

    def __call__(self, principal: Principal, mailbox_id: str, message_id: str, purge: bool) -> None:
        require_mailbox(principal, mailbox_id)
        self._mailboxes.writes.take(principal, mailbox_id)
        if purge:
            self._purge(mailbox_id, message_id)
            return
        for _ in range(CONFLICT_RETRIES):
            message, mailbox, snapshot = visible_in(self._messages, self._mailboxes, mailbox_id, message_id)
            if message.folder == "trash":
                return
            try:
                self._ledger.write(with_folder(mailbox, message, "trash"), ["folder", "expiry"],
                                   tallies=snapshot.tallies)
            except EtagMismatch:
                continue
            return
        raise EtagMismatch("the message kept changing; try again")

    def _purge(self, mailbox_id: str, message_id: str) -> None:
        for _ in range(CONFLICT_RETRIES):
            snapshot = self._messages.snapshot(mailbox_id, message_id)  # the message, mailbox, tallies: one query
            message = snapshot.message
            if message is None:
                raise MessageNotFound(f"no message {message_id} in this mailbox")
            # a deprovisioned mailbox's messages are the erasure's; a held one's stay (the trash still works)
            if self._mailboxes.active_in(snapshot, mailbox_id).hold is not None:
                raise Held("the mailbox is under legal hold: its messages cannot be purged (the trash still works)")
            if not message.purged:  # else a purge repeated: it finishes deleting the audio
                try:
                    self._ledger.write(message.tombstone(utcnow()), ["status", "expiry"], tallies=snapshot.tallies)
                except (EtagMismatch, NotFound):
                    continue
            erase_message_copies(self._regions, self._containers, mailbox_id, message_id)
            return
        raise EtagMismatch("the message kept changing; try again")
