"""Messages: one module per use case, each with only what it needs.

- deposit.py: a deposit with its audio inline;  upload.py: an upload link, the message awaiting it;
- change.py: flags and folder (PATCH);  trash.py: to the trash, or purged;
- forward.py: a copy in another mailbox;  queries.py: the listing, one message, its audio.

`Messages` groups them as endpoints call them (`app.messages.deposit(...)`). A change of counts
lights the lamp through the ledger's announcer (shared/services/events.py), never here.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.model import ListQuery
from shared.domain.principal import Principal
from shared.services.audio_answers import AudioAnswer
from shared.services.messages.change import Change
from shared.services.messages.common import LINK_TTL, Sender, received_between
from shared.services.messages.deposit import Deposit
from shared.services.messages.forward import Forward
from shared.services.messages.queries import MessageQueries
from shared.services.messages.trash import Trash
from shared.services.messages.upload import UploadLink

__all__ = ["LINK_TTL", "Change", "Deposit", "Forward", "MessageQueries", "Messages", "Sender", "Trash",
           "UploadLink", "received_between"]


@dataclass(frozen=True)
class Messages:
    """The commands, each callable as the method it replaces, and the queries."""

    deposit: Deposit
    request_upload: UploadLink
    patch: Change
    delete: Trash
    forward: Forward
    queries: MessageQueries

    def get(self, principal: Principal, mailbox_id: str, message_id: str) -> dict[str, object]:
        return self.queries.get(principal, mailbox_id, message_id)

    def audio(self, principal: Principal, mailbox_id: str, message_id: str, audio_format: str | None,
              range_header: str | None, redirect: bool) -> AudioAnswer:
        return self.queries.audio(principal, mailbox_id, message_id, audio_format, range_header, redirect)

    def list(self, principal: Principal, mailbox_id: str, query: ListQuery,
             continuation: str | None) -> dict[str, object]:
        return self.queries.list(principal, mailbox_id, query, continuation)
