"""Forwarding's limits (shared/services/messages/forward.py makes the copy): a forward never takes
the last 20 % of the target mailbox, kept for callers, and a subscriber forwards at most 20 an hour."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta

from shared.domain.errors import EtagMismatch, ForwardRefused, Unavailable
from shared.domain.model import Mailbox, Message, expiry, utcnow
from shared.domain.replicated import RecentEvents, events_since
from shared.ports import MessageRepository

FORWARD_RESERVE = 0.2  # of a mailbox's maxMessages: forwards never take it, callers may
FORWARDS_PER_HOUR = 20  # per subscriber's mailbox, every region together
FORWARD_WINDOW = timedelta(hours=1)
FORWARD_REFUSED = "the message cannot be forwarded there"  # one answer, whatever the reason
_GUESS_RETRIES = 20


def forward_room(max_messages: int) -> int:
    """How full a forward may make a mailbox: never into the last 20 % of it, kept for callers."""
    return max_messages - math.ceil(max_messages * FORWARD_RESERVE)


def forward_copy(source: Message, target: Mailbox, new_id: str, blobs: dict[str, str], fingerprint: str,
                 region: str, now: datetime) -> Message:
    """The copy a forward makes in target, as made: in the inbox, unheard, with the source's urgency
    and an expiry from now. A replay rebuilds it from the first copy's time and region, so it answers
    what the first forward did, never the target's copy as its owner has since changed it."""
    copy = Message(id=new_id, mailbox_id=target.id, received_at=now, deposit_region=region,
                   urgent=source.urgent, from_number=source.from_number, from_name=source.from_name,
                   duration_ms=source.duration_ms, truncated=source.truncated, status=source.status,
                   formats=source.formats, blobs=blobs,
                   content_type=source.content_type, size_bytes=source.size_bytes, request_hash=fingerprint,
                   replica_regions=(region,), incarnation=target.incarnation,
                   # Same audio, same words: a settled transcript goes along, if the target wants transcripts.
                   transcript=source.transcript if target.settings.transcription and source.transcript
                   and source.transcript.settled else None)
    return replace(copy, expires_at=expiry(copy, target.settings, now))


class ForwardQuota:
    """A subscriber's forwards of the last hour, counted per region and added up across regions."""

    def __init__(self, messages: MessageRepository, region: str):
        self._messages = messages
        self._region = region

    def take(self, mailbox_id: str) -> None:
        """Recorded before the copy is made (the region's record, ETag-guarded), so parallel
        forwards cannot pass the hourly limit; the forwards of every region add up."""
        for _ in range(_GUESS_RETRIES):
            now = utcnow()
            recent = self._messages.snapshot(mailbox_id).recent
            if events_since([r for (kind, _), r in recent.items() if kind == "forwards"],
                            now - FORWARD_WINDOW) >= FORWARDS_PER_HOUR:
                raise ForwardRefused(FORWARD_REFUSED)
            own = recent.get(("forwards", self._region)) or RecentEvents(mailbox_id, self._region, "forwards")
            try:
                self._messages.save_recent(own.with_event(now, FORWARDS_PER_HOUR))
                return
            except EtagMismatch:
                continue
        raise Unavailable("too many forwards at once; retry")
