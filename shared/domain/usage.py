"""Usage per tenant per day (API.md, "Tenants and classes of service"): what a carrier bills from.

Exact and idempotent by construction: every billable occurrence is one small *fact* document named
for what it counts (`usage-deposit-{messageId}`, `usage-audio-{messageId}`,
`usage-transcript-{messageId}`, `usage-{email|sms|webhook}-{event and target}`), dated by a moment
that never changes (the message's receipt, the event's creation, UTC days) and written (upserted) in
the mailbox's partition:

- a message's facts go into the same transactional batch as the write that causes them
  (`CosmosStore.write_message`): a deposit with the creation of its document, audio seconds with the
  write that makes it `ready`, transcription seconds with the write that settles its transcript
  `ready`. Committed together or not at all, so a crash never leaves a change uncounted or a count
  without its change; an idempotent replay creates nothing, so it writes no fact;
- a delivery's fact is written by the same transactional batch as the event document that records
  that delivery done (`CosmosOutbox.save_event`): if the process dies after delivering and before
  that write, the event comes back after its lease, is delivered again and counted then; per
  delivery, never per attempt;
- a retry, a pipeline run twice, two regions doing the same thing during a partition: each writes a
  fact with the same id and the same content, so it is one document once replication catches up
  (the conflicts feed's losing copy is identical: nothing to merge). Counters per region would add
  the same occurrence twice in that last case; facts cannot.

No document is hot: every fact is its own document, written once (a create or an idempotent
upsert, never a read-modify-write), so no two writers ever wait for each other. A report sums the
tenant's facts of the range with one cross-partition query (`tenant` and `date` on every fact);
`days()` below is that sum. Facts are not personal data (a message id, a day, an amount): an erasure
keeps them (shared/domain/erasure.py `KEPT_TYPES`), and they expire after `KEPT_DAYS`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from shared.domain.errors import ValidationFailed
from shared.domain.tenancy import tenant_of

if TYPE_CHECKING:
    from shared.domain.model import Message
    from shared.domain.notifications import Event

USAGE_TYPE = "usage"
KEPT_DAYS = 400  # a fact's time to live (Cosmos TTL): longer than the longest range one report covers
MAX_RANGE_DAYS = 366
DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")  # a UTC day as `from` and `to` give it
# A report's fields, in order; amounts of the *Seconds fields are kept in milliseconds.
FIELDS = ("deposits", "audioSeconds", "transcriptionSeconds", "emails", "sms", "webhooks")
SECONDS = frozenset({"audioSeconds", "transcriptionSeconds"})
DELIVERY_FIELDS = {"email": "emails", "sms": "sms", "webhook": "webhooks"}  # a target's kind -> its field


@dataclass(frozen=True)
class UsageFact:
    """One billable occurrence: `amount` of `field` (milliseconds for the seconds), on `day` (UTC)."""

    id: str
    mailbox_id: str
    day: str  # YYYY-MM-DD
    field: str
    amount: int

    @property
    def tenant(self) -> str:
        return tenant_of(self.mailbox_id)


def utc_day(moment: datetime) -> str:
    return (moment.astimezone(UTC) if moment.tzinfo is not None else moment).date().isoformat()


def message_facts(message: Message, *, created: bool, changed: Iterable[str] = ()) -> list[UsageFact]:
    """What a write of `message` counts: its deposit when the write creates it (an upload link's
    message: when its audio lands); its audio seconds
    when the write makes it (or creates it) ready; its transcription seconds when the write settles
    its transcript ready (a forward's copy, created with its source's transcript, was transcribed
    by no one). Writes that repeat one of these write the same facts again (same ids)."""
    changed = set(changed)
    mailbox_id, message_id = message.mailbox_id, message.id
    day = utc_day(message.received_at)
    duration = message.duration_ms or 0
    facts = []
    # An upload link's promised message counts once its audio landed (ready or failed), never for a
    # link left unused; the same fact again on a later write is the same document.
    if (created and not message.upload_pending) or ("status" in changed and message.status in ("ready", "failed")):
        facts.append(UsageFact(f"usage-deposit-{message_id}", mailbox_id, day, "deposits", 1))
    if message.status == "ready" and (created or "status" in changed):
        facts.append(UsageFact(f"usage-audio-{message_id}", mailbox_id, day, "audioSeconds", duration))
    transcript = message.transcript
    if transcript is not None and transcript.status == "ready" and "transcript" in changed:
        facts.append(UsageFact(f"usage-transcript-{message_id}", mailbox_id, day, "transcriptionSeconds", duration))
    return facts


def delivery_facts(event: Event) -> list[UsageFact]:
    """An event's deliveries done (an e-mail, an SMS or a webhook each), on the day each was done
    (the event's, for a delivery recorded before that was kept): saved with the event that records
    them done, so each is counted once however many attempts it took, on one day even when a dead
    letter is replayed later."""
    facts = []
    for key, delivery in sorted(event.deliveries.items()):
        kind = key.partition("-")[0]  # a delivery is kept under its target's key, `{kind}-{hash}`
        if delivery.done and kind in DELIVERY_FIELDS:
            digest = hashlib.sha256(f"{event.id}\n{key}".encode()).hexdigest()[:32]
            facts.append(UsageFact(f"usage-{kind}-{digest}", event.mailbox_id,
                                   utc_day(delivery.done_at or event.created_at), DELIVERY_FIELDS[kind], 1))
    return facts


def parse_range(start: str | None, end: str | None) -> tuple[str, str]:
    """`from` and `to` as UTC days (YYYY-MM-DD), both included: at most MAX_RANGE_DAYS, from <= to."""
    days = []
    for name, value in (("from", start), ("to", end)):
        if not value:
            raise ValidationFailed(f"`{name}` is required: a day, YYYY-MM-DD")
        try:
            if not DAY.fullmatch(value):  # fromisoformat alone takes week dates too (2026-W01-1)
                raise ValueError(value)
            days.append(date.fromisoformat(value))
        except ValueError:
            raise ValidationFailed(f"`{name}` must be a day, YYYY-MM-DD") from None
    first, last = days
    if first > last:
        raise ValidationFailed("`from` is after `to`")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed(f"a report covers at most {MAX_RANGE_DAYS} days")
    return first.isoformat(), last.isoformat()


def days(facts: Iterable[UsageFact], start: str, end: str) -> list[dict[str, object]]:
    """Every day of the range (those without usage too), each with the sum of its facts. A fact met
    twice (a query page read again) counts once: facts are keyed by id."""
    totals = {(date.fromisoformat(start) + timedelta(days=n)).isoformat(): dict.fromkeys(FIELDS, 0)
              for n in range((date.fromisoformat(end) - date.fromisoformat(start)).days + 1)}
    for fact in {(f.mailbox_id, f.id): f for f in facts}.values():
        if fact.day in totals and fact.field in FIELDS:
            totals[fact.day][fact.field] += fact.amount
    return [{"date": day, **{name: (round(value / 1000, 3) if name in SECONDS else value)
                             for name, value in fields.items()}} for day, fields in totals.items()]
