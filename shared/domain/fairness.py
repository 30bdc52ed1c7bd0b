"""A dispatcher fair between mailboxes (issue 23): one mailbox's backlog never takes a whole round.

Two rules, both pure, over the events a round found due:

- `lamp_states`: only the lamp's latest state matters, so of a mailbox's pending `mwi.changed`
  events the latest (by creation, then id) is sent and the earlier ones are settled without
  sending (`superseded`). A flood of toggles costs one delivery a round, not one a toggle; the
  latest state is always among those sent (it is the one kept).
- `fair_share`: at most `per_mailbox` events of a mailbox a round, in the order found (`dueAt`);
  the mailboxes that had more are named, so the dispatcher can look past them for the others.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.domain.notifications import Event

PER_MAILBOX = 20  # events of one mailbox a round: 100 a round leaves room for 4 others at least


def lamp_states(events: Iterable[Event]) -> tuple[list[Event], list[Event]]:
    """(to dispatch, in the order given; superseded): each mailbox's pending `mwi.changed` but its
    latest are superseded by that latest one, which carries the counts as they are now."""
    events = list(events)
    latest: dict[str, Event] = {}
    for event in events:
        if event.type == "mwi.changed" and event.status == "pending":
            best = latest.get(event.mailbox_id)
            if best is None or (event.created_at, event.id) > (best.created_at, best.id):
                latest[event.mailbox_id] = event
    keep = {event.id for event in latest.values()}
    superseded = [e for e in events if e.type == "mwi.changed" and e.status == "pending" and e.id not in keep]
    gone = {e.id for e in superseded}
    return [e for e in events if e.id not in gone], superseded


def fair_share(events: Iterable[Event], per_mailbox: int = PER_MAILBOX) -> tuple[list[Event], set[str]]:
    """(at most `per_mailbox` events of each mailbox, in the order given; the mailboxes that had more)."""
    taken: dict[str, int] = {}
    kept: list[Event] = []
    crowded: set[str] = set()
    for event in events:
        if taken.get(event.mailbox_id, 0) >= per_mailbox:
            crowded.add(event.mailbox_id)
            continue
        taken[event.mailbox_id] = taken.get(event.mailbox_id, 0) + 1
        kept.append(event)
    return kept, crowded
