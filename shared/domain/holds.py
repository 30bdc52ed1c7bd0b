"""Legal hold and a mailbox's incarnation: the two rules that outlive an ordinary lifecycle.

- A legal hold keeps everything of a mailbox: while one is set, retention removes nothing (in every
  region: the hold is on the mailbox document, which replicates), and a purge or a deprovision
  answers 409 `held`; moving a message to the trash still works. Who set it, when and why are on the
  mailbox. It is one register of the mailbox (`hold`, with its clock `(time, region)`): a release in
  one region and a hold in another converge to whichever was done later (ties: the region's name),
  in every region, as every other mailbox field does (`merge_mailboxes`).
- An incarnation is a random id a mailbox gets when it is created, and again when a deprovisioned id
  is provisioned anew. Session tokens name it, PIN records and deposits carry it: what an earlier
  owner of the id left behind (a token, a lockout, an Idempotency-Key) never applies to the new one.
  Documents written before incarnations existed carry "" (the mailbox's too), so they keep working.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

LEGACY_INCARNATION = ""  # a mailbox, token or record from before incarnations: they match one another


def new_incarnation() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True)
class LegalHold:
    reason: str
    by: str  # the actor, as the audit trail names it: `platform:<keyId>`
    at: datetime

    def as_api(self) -> dict[str, str]:
        return {"reason": self.reason, "by": self.by,
                "at": self.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}

    def to_doc(self) -> dict[str, str]:
        return self.as_api()

    @classmethod
    def from_doc(cls, doc: dict[str, str] | None) -> LegalHold | None:
        if not doc:
            return None
        return cls(doc["reason"], doc["by"], datetime.fromisoformat(doc["at"].replace("Z", "+00:00")))


class PutHold(BaseModel):
    """The body of `PUT /api/mailboxes/{mailboxId}/hold`."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="why the mailbox is held (a case, a request)")
