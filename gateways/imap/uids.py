"""IMAP UIDs from what the API returns, with no table of our own.

A folder's UIDs must be unique, stable across sessions and ascending in the order messages arrive,
and UIDVALIDITY must not change while the mailbox exists. The gateway keeps no state, so both are
computed from the messages themselves:

- UIDVALIDITY is the mailbox's `createdAt` in Unix seconds: a mailbox provisioned again under the
  same id is a new mailbox, and clients drop what they cached of the old one.
- A message's UID is its `receivedAt` in quarter-seconds since the mailbox was created, plus one.
  Two messages in the same quarter-second (or a burst faster than four a second) take the next free
  number, in the API's own order (`receivedAt`, then `id`), so UIDs never collide. 2^32 quarter-seconds
  is 34 years: a mailbox older than that would wrap, and nothing here pretends otherwise.

What this cannot give: a message that enters a folder late (moved there, or from another region
after a replication delay) gets a UID below numbers already shown. A session never shows it out of
order: it appears at the next SELECT (docs/imap.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

TICKS_PER_SECOND = 4
MAX_UID = 2**32 - 1


def uid_validity(created_at: datetime) -> int:
    return max(1, int(created_at.timestamp()))


def assign(messages: Iterable[tuple[str, datetime]], created_at: datetime) -> dict[str, int]:
    """UIDs for (id, receivedAt) pairs of one folder, in any order."""
    epoch = uid_validity(created_at)
    uids: dict[str, int] = {}
    previous = 0
    for message_id, received_at in sorted(messages, key=lambda pair: (pair[1], pair[0])):
        base = int((received_at.timestamp() - epoch) * TICKS_PER_SECOND) + 1
        previous = min(MAX_UID, max(base, previous + 1))
        uids[message_id] = previous
    return uids
