"""Who is calling, and what they may touch."""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.errors import Forbidden


@dataclass(frozen=True)
class Principal:
    kind: str  # "platform" | "subscriber"
    mailbox_id: str | None = None
    key_id: str | None = None  # a platform key's id: the first 12 hex digits of its configured SHA-256

    @property
    def is_platform(self) -> bool:
        return self.kind == "platform"


PLATFORM = Principal("platform")


def require_platform(principal: Principal) -> None:
    if not principal.is_platform:
        raise Forbidden("this route is for the platform only")


def require_mailbox(principal: Principal, mailbox_id: str) -> None:
    """The platform may act on every mailbox; a subscriber only on the one its token names.

    The check needs no I/O and comes before any read, so another mailbox's existence never shows.
    """
    if not principal.is_platform and principal.mailbox_id != mailbox_id:
        raise Forbidden("this token is for another mailbox")
