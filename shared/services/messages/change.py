"""Changing a message's flags and folder (PATCH): heard, urgent, folder; guarded by If-Match when
given, else retried over concurrent changes. The ledger's batch moves the counts with it."""

from __future__ import annotations

from dataclasses import replace

from shared.domain.commands import PatchMessage
from shared.domain.errors import EtagMismatch, ValidationFailed
from shared.domain.model import same_etag
from shared.domain.principal import Principal, require_mailbox
from shared.ports import MessageRepository
from shared.services.ledger import Ledger
from shared.services.mailboxes import MailboxService
from shared.services.messages.common import CONFLICT_RETRIES, visible_in, with_folder


class Change:
    def __init__(self, messages: MessageRepository, mailboxes: MailboxService, ledger: Ledger):
        self._messages = messages
        self._mailboxes = mailboxes
        self._ledger = ledger

    def __call__(self, principal: Principal, mailbox_id: str, message_id: str, command: PatchMessage,
                 if_match: str | None) -> dict[str, object]:
        require_mailbox(principal, mailbox_id)
        changes = command.model_dump(exclude_none=True)
        if not changes:
            raise ValidationFailed("nothing to change: give heard, folder or urgent")
        self._mailboxes.writes.take(principal, mailbox_id)
        for _ in range(CONFLICT_RETRIES):
            # The message, its mailbox and the tallies the write moves: one query.
            message, mailbox, snapshot = visible_in(self._messages, self._mailboxes, mailbox_id, message_id)
            if if_match is not None and not same_etag(if_match, message.etag):
                raise EtagMismatch("the message changed since it was read")
            updated = with_folder(mailbox, replace(message, **{k: v for k, v in changes.items() if k != "folder"}),
                                  command.folder)
            try:
                stored, _ = self._ledger.write(updated, [*changes, *(["expiry"] if "folder" in changes else [])],
                                               tallies=snapshot.tallies)
            except EtagMismatch:
                if if_match is not None:
                    raise
                continue
            return stored.as_api()
        raise EtagMismatch("the message kept changing; try again")
