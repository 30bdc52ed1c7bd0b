"""Legal hold: set and released by the platform; who, when and why are kept on the mailbox.

The rules a hold imposes live where each removal happens: `MessageService` (a purge answers 409
`held`), `MailboxService.deprovision` (409 `held`) and `RetentionService` (the sweep finds nothing
of a held mailbox, and checks again before each removal). Moving a message to the trash still works.
A hold is one register of the mailbox document (shared/domain/holds.py says how regions converge).
"""

from __future__ import annotations

from dataclasses import replace

from shared.domain.audit import actor
from shared.domain.errors import EtagMismatch, MailboxNotFound
from shared.domain.holds import LegalHold, PutHold
from shared.domain.model import Mailbox, utcnow
from shared.domain.principal import Principal, require_platform
from shared.domain.replicated import clock
from shared.ports import MailboxRepository

_CONFLICT_RETRIES = 5


class HoldService:
    def __init__(self, mailboxes: MailboxRepository, region: str):
        self._mailboxes = mailboxes
        self._region = region

    def hold(self, principal: Principal, mailbox_id: str, command: PutHold) -> dict[str, str]:
        """Hold the mailbox (again: the reason is replaced); a deprovisioned mailbox not purged yet
        may be held too, and then nothing of it is purged until the hold is released."""
        require_platform(principal)
        for _ in range(_CONFLICT_RETRIES):
            mailbox = self._existing(mailbox_id)
            held = LegalHold(command.reason, actor(principal), utcnow())  # `platform:<keyId>`, as the audit names it
            try:
                self._mailboxes.replace_mailbox(self._stamped(mailbox, held))
            except EtagMismatch:
                continue
            return held.as_api()
        raise EtagMismatch("the mailbox kept changing; try again")

    def release(self, principal: Principal, mailbox_id: str) -> None:
        """End the hold (nothing happens when there is none); retention catches up at its next run."""
        require_platform(principal)
        for _ in range(_CONFLICT_RETRIES):
            mailbox = self._existing(mailbox_id)
            if mailbox.hold is None:
                return
            try:
                self._mailboxes.replace_mailbox(self._stamped(mailbox, None))
            except EtagMismatch:
                continue
            return
        raise EtagMismatch("the mailbox kept changing; try again")

    def _existing(self, mailbox_id: str) -> Mailbox:
        mailbox = self._mailboxes.get_mailbox(mailbox_id)
        if mailbox is None:
            raise MailboxNotFound(f"no mailbox {mailbox_id}")
        return mailbox

    def _stamped(self, mailbox: Mailbox, held: LegalHold | None) -> Mailbox:
        """The `hold` register with this change's clock: the later of two changes wins in every region."""
        now = utcnow()
        return replace(mailbox, hold=held, updated_at=now, clocks={**mailbox.clocks, "hold": clock(now, self._region)})
