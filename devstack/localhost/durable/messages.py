"""What an instance's worker takes from its queue, one episode each: typed, not dicts with magic keys."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Deliver:
    """A history event for the orchestrator: its start, a completion, a fired timer, a raised event."""

    event: dict[str, Any]
    inbox: str | None = None  # its row in the instance's inbox (a raised event): deleted with the episode


@dataclass(frozen=True)
class Terminate:
    reason: str
    inbox: str | None = None


@dataclass(frozen=True)
class Forget:
    """An inbox row the history already holds (delivered before a restart): delete it, nothing else."""

    inbox: str


Message = Deliver | Terminate | Forget


def inbox_row(message: Deliver) -> str:
    """A raised event as its inbox row stores it (read back by `from_inbox_row`)."""
    return json.dumps({"event": message.event})


def from_inbox_row(text: str, key: str, delivered: set[str]) -> Message:
    return Forget(key) if key in delivered else Deliver(json.loads(text)["event"], key)
