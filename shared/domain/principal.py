"""Who is calling, and what they may touch."""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.errors import Forbidden
from shared.domain.tenancy import DEFAULT, tenant_of


@dataclass(frozen=True)
class Principal:
    kind: str  # "platform" | "subscriber" | "operator"
    mailbox_id: str | None = None  # a subscriber's: the mailbox key its token names (shared/domain/tenancy.py)
    key_id: str | None = None  # a key's id: 12 hex digits (a configured key's: of its SHA-256)
    tenant: str = DEFAULT  # a platform key's tenant (a subscriber's is its mailbox's)

    @property
    def is_platform(self) -> bool:
        return self.kind == "platform"

    @property
    def tenant_id(self) -> str | None:
        """The tenant whose mailboxes this principal may reach (an operator: none)."""
        if self.kind == "subscriber":
            return tenant_of(self.mailbox_id or "")
        return self.tenant if self.kind == "platform" else None


PLATFORM = Principal("platform")
OPERATOR = Principal("operator")


def require_platform(principal: Principal) -> None:
    if not principal.is_platform:
        raise Forbidden("this route is for the platform only")


def require_mailbox(principal: Principal, mailbox_id: str) -> None:
    """The platform may act on every mailbox; a subscriber only on the one its token names.

    The check needs no I/O and comes before any read, so another mailbox's existence never shows.
    """
    if not principal.is_platform and principal.mailbox_id != mailbox_id:
        raise Forbidden("this token is for another mailbox")
