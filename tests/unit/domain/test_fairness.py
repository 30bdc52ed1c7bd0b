"""The dispatcher's fairness rules (issue 23): the latest lamp state of a mailbox supersedes its
earlier ones, whatever order they were found in, and a round's share of one mailbox is capped."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from shared.domain.fairness import fair_share, lamp_states
from shared.domain.notifications import message_event, mwi_event

T0 = datetime(2026, 12, 7, tzinfo=UTC)


def lamp(mailbox: str, seq: int):
    return mwi_event(mailbox, "r1", seq, {"new": seq, "saved": 0, "urgentNew": 0}, "r1", T0 + timedelta(seconds=seq))


def test_of_each_mailboxs_lamp_states_the_latest_is_kept_and_messages_are_untouched():
    events = [lamp("a", n) for n in range(1, 6)] + [lamp("b", 1), message_event("a", "m1", "ready", "r1", T0)]
    random.Random(3).shuffle(events)
    kept, superseded = lamp_states(events)
    assert sorted((e.mailbox_id, e.type, e.data and e.data["new"]) for e in kept) == [
        ("a", "message.ready", None), ("a", "mwi.changed", 5), ("b", "mwi.changed", 1)]
    assert sorted(e.data["new"] for e in superseded) == [1, 2, 3, 4]
    assert [e for e in events if e in kept] == kept  # in the order found


def test_a_rounds_share_of_one_mailbox_is_capped_in_the_order_found():
    events = [lamp("a", n) for n in range(1, 30)] + [lamp("b", 1)]
    kept, crowded = fair_share(events, per_mailbox=20)
    assert [e.data["new"] for e in kept if e.mailbox_id == "a"] == list(range(1, 21))
    assert crowded == {"a"} and kept[-1].mailbox_id == "b"
