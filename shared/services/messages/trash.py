"""Deleting a message: to the trash (undone by moving it back), or purged for good.

A purge makes the document a tombstone first (it wins over any concurrent change in another
region, and is deleted for good a day later), then deletes the audio in every region that holds
it: a crash in between leaves a tombstone whose repeated purge finishes the job."""

from __future__ import annotations

from shared.domain.errors import EtagMismatch, MessageNotFound, NotFound
from shared.domain.model import utcnow
from shared.domain.principal import Principal, require_mailbox
from shared.ports import MessageRepository
from shared.services.ledger import Ledger
from shared.services.mailboxes import MailboxService
from shared.services.messages.common import CONFLICT_RETRIES, visible_in, with_folder
from shared.services.replication import Regions


class Trash:
    def __init__(self, messages: MessageRepository, mailboxes: MailboxService, ledger: Ledger, regions: Regions):
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
            self._mailboxes.active_in(snapshot, mailbox_id)  # a deprovisioned mailbox's messages are the purge's
            if not message.purged:  # else a purge repeated: it finishes deleting the audio
                try:
                    self._ledger.write(message.tombstone(utcnow()), ["status", "expiry"], tallies=snapshot.tallies)
                except (EtagMismatch, NotFound):
                    continue
            for path in message.blobs.values():
                for store in self._regions.holders(message.replica_regions):
                    store.delete(path)
            return
        raise EtagMismatch("the message kept changing; try again")
