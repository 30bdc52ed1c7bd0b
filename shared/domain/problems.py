"""Errors as data: the problem+json envelope (RFC 9457) every 4xx/5xx answer uses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """A stable `type` slug, a fixed title, the status, and a detail safe to show a caller."""

    type: str
    title: str
    status: int
    detail: str = ""
    retry_after_s: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail}
