"""Whether a new message gets into a mailbox, and taking its room: for deposits, upload links and
forwards alike. An idempotent retry finds its twin instead; the room is checked cheaply first and
taken atomically with the document (the ledger's batch), so `maxMessages` holds under concurrency.
"""

from __future__ import annotations

from shared.domain.errors import EtagMismatch, IdempotencyConflict, MailboxFull, NotFound, Unavailable
from shared.domain.model import Mailbox, Message, message_id_for, utcnow
from shared.domain.replicated import RegionTally, Tally, mailbox_tally
from shared.ports import AlreadyExists, MessageRepository, Snapshot
from shared.services.ledger import Ledger


class Admission:
    def __init__(self, messages: MessageRepository, ledger: Ledger):
        self._messages = messages
        self._ledger = ledger

    @staticmethod
    def twin(existing: Message | None, fingerprint: str) -> Message | None:
        """An earlier deposit with the same Idempotency-Key (None: there is none)."""
        if existing is None:
            return None
        if existing.request_hash != fingerprint:
            raise IdempotencyConflict("this Idempotency-Key was used for a different deposit")
        if existing.purged:
            raise IdempotencyConflict("the message deposited with this Idempotency-Key has been purged")
        return existing

    def of_incarnation(self, snapshot: Snapshot, mailbox: Mailbox, message_id: str,
                       idempotency_key: str | None) -> tuple[Snapshot, str]:
        """The snapshot and message id a keyed deposit goes on with: when the key's message is a
        leftover of an earlier incarnation of the mailbox (an earlier owner of the id), the key is
        taken anew under this incarnation's own id, so the old message is never given back."""
        found = snapshot.message
        if idempotency_key is None or found is None or found.incarnation == mailbox.incarnation:
            return snapshot, message_id
        message_id = message_id_for(mailbox.id, idempotency_key, mailbox.incarnation)
        return self._messages.snapshot(mailbox.id, message_id), message_id

    def _existing_for_retry(self, mailbox_id: str, message_id: str, fingerprint: str) -> Message | None:
        return self.twin(self._messages.get_message(mailbox_id, message_id), fingerprint)

    def has_room(self, mailbox: Mailbox, tallies: dict[str, RegionTally],
                 limit: int | None = None) -> dict[str, RegionTally]:
        """A cheap early refusal (the room itself is taken atomically when the message is stored):
        the tallies to store against. When full, promised uploads whose links expired are released
        first (only then: a deposit's cost does not grow with the mailbox)."""
        limit = mailbox.settings.maxMessages if limit is None else limit
        if mailbox_tally(tallies.values()).held < limit:
            return tallies
        if self._release_expired_promises(mailbox.id):
            tallies = self._messages.snapshot(mailbox.id).tallies
            if mailbox_tally(tallies.values()).held < limit:
                return tallies
        raise MailboxFull("the mailbox is full")

    def _release_expired_promises(self, mailbox_id: str) -> int:
        released = 0
        for message in self._messages.expired_promises(mailbox_id, utcnow()):
            try:
                self._ledger.write(message.tombstone(utcnow()), ["status", "expiry"])
                released += 1
            except (EtagMismatch, NotFound):
                continue  # it landed or went meanwhile
        return released

    def store(self, message: Message, mailbox: Mailbox, tallies: dict[str, RegionTally],
              room: int | None = None) -> tuple[Message, Tally | None]:
        """Create the document and take its room in one step; a concurrent twin of the same
        idempotent deposit wins instead (then no counts: nothing changed)."""
        try:
            return self._ledger.write(message, room=mailbox.settings.maxMessages if room is None else room,
                                      tallies=tallies)
        except AlreadyExists:
            twin = self._existing_for_retry(message.mailbox_id, message.id, message.request_hash)
            if twin is None:  # deleted in between: a retry decides afresh
                raise Unavailable("the message changed while it was stored; retry") from None
            return twin, None
