"""Message-waiting indication: counts from the mailbox's partition, and an event when they change."""

from __future__ import annotations

import logging

from shared.domain.model import Counts, iso, utcnow
from shared.domain.replicated import mailbox_tally
from shared.ports import EventPublisher, MessageRepository

logger = logging.getLogger(__name__)


class Mwi:
    def __init__(self, messages: MessageRepository, events: EventPublisher):
        self._messages = messages
        self._events = events

    def counts(self, mailbox_id: str) -> Counts:
        """The sum of the regions' tallies: one small single-partition query."""
        return mailbox_tally(self._messages.snapshot(mailbox_id).tallies.values())

    def changed(self, mailbox_id: str, counts: Counts | None = None) -> None:
        """Publish the mailbox's counts (read now unless the caller knows them). The change itself is
        already durable: a failure to publish is logged, not surfaced (the next change publishes
        fresh counts)."""
        try:
            counts = counts or self.counts(mailbox_id)
            self._events.publish_mwi({"mailboxId": mailbox_id, "new": counts.new, "saved": counts.saved,
                                      "urgentNew": counts.urgent_new, "at": iso(utcnow())})
        except Exception:
            logger.exception("MWI event for %s not published", mailbox_id)
