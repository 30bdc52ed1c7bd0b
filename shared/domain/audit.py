"""The audit trail's records: who did what to which mailbox, from where, when (API.md, "Audit").

A record holds ids, never content: no audio, transcript text, caller number or name, display name
or PIN. Records are append-only and outlive an erasure (docs/compliance.md). A mailbox's records are
read newest last, merged over every region's trail, in pages: the continuation is the last record's
(at, id), so a page never repeats or skips a record whatever was appended since.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

from shared.domain.errors import ValidationFailed
from shared.domain.model import iso
from shared.domain.principal import Principal

PLATFORM_STREAM = "_platform"  # what is about no mailbox (sweeps, dead letters)
PAGE_SIZE = 100


@dataclass(frozen=True)
class AuditRecord:
    at: str  # RFC 3339, microseconds, UTC
    actor: str  # `platform:<keyId>`, `operator` or `subscriber`
    action: str  # the operation's name (functions/table.py), e.g. `get_message_audio`
    target: str  # the route's path with its ids, e.g. `mailboxes/+1555/messages/m1`
    region: str
    client: str  # the caller's address (shared/domain/client.py)
    status: int  # the HTTP status answered: a refused login is recorded as 401 or 423
    mailbox_id: str = PLATFORM_STREAM
    id: str = ""

    @classmethod
    def new(cls, **fields: object) -> AuditRecord:
        return cls(id=uuid.uuid4().hex, **fields)  # type: ignore[arg-type]

    def as_api(self) -> dict[str, object]:
        return {"at": self.at, "actor": self.actor, "action": self.action, "target": self.target,
                "region": self.region, "client": self.client, "status": self.status}

    def to_line(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_line(cls, line: str) -> AuditRecord | None:
        try:
            return cls(**json.loads(line))
        except (ValueError, TypeError):
            return None  # a torn or foreign line is skipped, never fatal to the read


def actor(principal: Principal | None) -> str:
    """As API.md names them: `subscriber`, `operator`, or `platform:<keyId>` (any tenant's key: key
    ids are random, and a mailbox's trail is its tenant's; the target's path names the tenant)."""
    if principal is None or principal.kind == "subscriber":
        return "subscriber"
    if principal.kind == "operator" or not principal.key_id:
        return principal.kind
    return f"platform:{principal.key_id}"


def day(at: str) -> str:
    """The day a record is filed under (its trail blob's folder)."""
    return at[:10]


def page(records: Iterable[AuditRecord], since: datetime | None, continuation: str | None,
         limit: int = PAGE_SIZE) -> dict[str, object]:
    """One page of records in time order, from `since` and after the continuation's record."""
    after = _decode(continuation) if continuation else None
    floor = iso(since) or ""
    ordered = sorted((r for r in records if r.at >= floor and (after is None or (r.at, r.id) > after)),
                     key=lambda r: (r.at, r.id))
    items = ordered[:limit]
    more = len(ordered) > limit
    return {"items": [r.as_api() for r in items],
            "continuation": _encode(items[-1].at, items[-1].id) if more else None}


def _encode(at: str, record_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([at, record_id]).encode()).decode().rstrip("=")


def _decode(token: str) -> tuple[str, str]:
    try:
        at, record_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if isinstance(at, str) and isinstance(record_id, str):
            return at, record_id
    except (ValueError, TypeError):
        pass
    raise ValidationFailed("continuation is not one this route gave")
