"""Message-waiting indication: counts from the mailbox's partition, and the MWI queue post, the
inline handler of the events that light the lamp (shared/services/events.py runs it)."""

from __future__ import annotations

from shared.domain import tenancy
from shared.domain.model import Counts, iso, utcnow
from shared.domain.replicated import mailbox_tally
from shared.ports import EventPublisher, MessageRepository


class Mwi:
    def __init__(self, messages: MessageRepository, events: EventPublisher):
        self._messages = messages
        self._events = events

    def counts(self, mailbox_id: str) -> Counts:
        """The sum of the regions' tallies: one small single-partition query."""
        return mailbox_tally(self._messages.snapshot(mailbox_id).tallies.values())

    def post(self, mailbox_id: str, counts: Counts) -> None:
        """The mailbox's counts on the region's `mwi-events` queue (API.md, Events). Raises when the
        queue does not take it; the announcer logs that (the change itself is durable already)."""
        self._events.publish_mwi({**tenancy.public(mailbox_id), "new": counts.new, "saved": counts.saved,
                                  "urgentNew": counts.urgent_new, "at": iso(utcnow())})
