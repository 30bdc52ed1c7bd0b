"""Reading messages: the listing (paged by a continuation token), one message, and its audio
(which audio a read answers: shared/services/audio_answers.py). Nothing here writes."""

from __future__ import annotations

from dataclasses import replace

from shared.domain.errors import ValidationFailed
from shared.domain.model import ListQuery, decode_continuation, encode_continuation
from shared.domain.principal import Principal, require_mailbox
from shared.ports import MessageRepository
from shared.services.audio_answers import AudioAnswer, message_audio
from shared.services.mailboxes import MailboxService
from shared.services.messages.common import LINK_TTL, visible
from shared.services.renditions import Renditions
from shared.telemetry import Telemetry


class MessageQueries:
    def __init__(self, messages: MessageRepository, mailboxes: MailboxService, renditions: Renditions,
                 telemetry: Telemetry):
        self._messages = messages
        self._mailboxes = mailboxes
        # Finds the audio in the regions holding it; makes an MP3 not made yet.
        self._renditions = renditions
        self._telemetry = telemetry

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
        return visible(self._messages, self._mailboxes, mailbox_id, message_id).as_api()

    def audio(self, principal: Principal, mailbox_id: str, message_id: str, audio_format: str | None,
              range_header: str | None, redirect: bool) -> AudioAnswer:
        with self._telemetry.retrieval(audio_format or "default"):
            require_mailbox(principal, mailbox_id)
            message = visible(self._messages, self._mailboxes, mailbox_id, message_id)
            return message_audio(message, self._renditions.locate, audio_format, range_header, redirect, LINK_TTL)
