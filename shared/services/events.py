"""Domain events and what each one sets off: the one handler table.

A change records its events in the transactional batch that makes it (`Ledger.write`): they are
documents of the outbox, durable with the change or gone with it. Then `HANDLERS` says, per event
type, what runs, in one of two stages:

- inline: right after the batch commits, in the process that committed it, from the events the
  batch committed (`Announcer.committed`, which the ledger calls). Prompt, and best effort: a
  failure is logged, and the next change publishes fresh state. The MWI queue post is one.
- durable: the dispatcher (`NotificationService`), from the outbox, with its retries, leases,
  dedupe by event id and dead letters. Webhooks, e-mail, SMS and deleteAfterEmail are.

Nothing else posts MWI: a service that changes counts writes through a ledger that announces to
this module (tests/unit/services/test_events.py checks it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from shared.domain.notifications import EVENT_TYPES, Event
from shared.domain.replicated import Tally

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handler:
    name: str
    stage: Literal["inline", "durable"]
    target: str | None = None  # a durable handler delivering to a mailbox's targets of this kind


MWI_QUEUE = Handler("mwi-queue", "inline")  # the counts on the region's `mwi-events` queue (shared/services/mwi.py)
WEBHOOK = Handler("webhook", "durable", "webhook")  # Standard Webhooks to the platform's targets
EMAIL = Handler("email", "durable", "email")  # to verified e-mail targets, the audio attached
SMS = Handler("sms", "durable", "sms")  # to verified SMS targets
DELETE_AFTER_EMAIL = Handler("deleteAfterEmail", "durable")  # to the trash once every e-mail target has it

HANDLERS: dict[str, tuple[Handler, ...]] = {
    # The mailbox's counts (new, saved, urgentNew or total) changed.
    "mwi.changed": (MWI_QUEUE, WEBHOOK),
    # A message is ready to play (its `message.ready` waits for the transcript, at most a while).
    "message.ready": (MWI_QUEUE, WEBHOOK, EMAIL, SMS, DELETE_AFTER_EMAIL),
    # A message's audio could not be used.
    "message.failed": (MWI_QUEUE, WEBHOOK),
}
assert set(HANDLERS) == set(EVENT_TYPES), "every event type has its row"


def runs(event_type: str, handler: Handler) -> bool:
    return handler in HANDLERS.get(event_type, ())


def delivers_to(event_type: str, target: dict[str, str]) -> bool:
    """Whether the dispatcher sends this event to this target: the table has a handler for its
    kind, and an e-mail or SMS target has been verified (stored before verification existed: it is)."""
    if not any(h.target == target["kind"] for h in HANDLERS.get(event_type, ())):
        return False
    return target["kind"] == "webhook" or target.get("verified", True) is not False


@dataclass(frozen=True)
class Committed:
    """One committed batch: its mailbox, the events it recorded and the mailbox's counts after it."""

    mailbox_id: str
    events: tuple[Event, ...]
    counts: Tally


class Announcer:
    """Runs the inline handlers of committed batches: each handler at most once a batch (a failed
    message is one lamp post, not two). Within `held()`, a thread's batches wait, one per mailbox,
    and are announced together at its end with the last counts (a replay lights a lamp once)."""

    def __init__(self, inline: dict[Handler, Callable[[str, Tally], None]]):
        """inline: each inline handler of the table, as a function of (mailbox id, counts)."""
        wanted = {h for row in HANDLERS.values() for h in row if h.stage == "inline"}
        if set(inline) != wanted:
            raise ValueError(f"the inline handlers are {sorted(h.name for h in wanted)}")
        self._inline = inline
        self._held = threading.local()

    def committed(self, batch: Committed) -> None:
        held: dict[str, Committed] | None = getattr(self._held, "batches", None)
        if held is None:
            self._run(batch)
            return
        before = held.get(batch.mailbox_id)
        held[batch.mailbox_id] = batch if before is None else Committed(
            batch.mailbox_id, (*before.events, *batch.events), batch.counts)

    @contextmanager
    def held(self) -> Iterator[None]:
        if getattr(self._held, "batches", None) is not None:  # nested: the outer one announces
            yield
            return
        self._held.batches = {}
        try:
            yield
        finally:
            batches, self._held.batches = self._held.batches, None
            for batch in batches.values():
                self._run(batch)

    def _run(self, batch: Committed) -> None:
        self._handle(batch.mailbox_id, batch.counts, [e.type for e in batch.events])

    def _handle(self, mailbox_id: str, counts: Tally, event_types: Iterable[str]) -> None:
        for handler in _inline_handlers(event_types):
            try:
                self._inline[handler](mailbox_id, counts)
            except Exception:  # the change is durable already; the next one publishes fresh state
                logger.exception("%s for %s not run", handler.name, mailbox_id)

    def refresh(self, mailbox_ids: Sequence[str], counts: Callable[[str], Tally]) -> None:
        """The inline handlers of `mwi.changed` with the counts read now: for a sweep whose batches
        were committed without announcing, so that a page of deletions lights each lamp once."""
        for mailbox_id in mailbox_ids:
            try:
                now = counts(mailbox_id)
            except Exception:
                logger.exception("counts of %s not read for the lamp", mailbox_id)
                continue
            self._handle(mailbox_id, now, ["mwi.changed"])


def _inline_handlers(event_types: Iterable[str]) -> list[Handler]:
    found: list[Handler] = []
    for event_type in event_types:
        for handler in HANDLERS.get(event_type, ()):
            if handler.stage == "inline" and handler not in found:
                found.append(handler)
    return found
