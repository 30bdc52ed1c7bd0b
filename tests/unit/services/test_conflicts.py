"""The conflicts feed merged into committed versions: both sides' changes kept, counts exact."""

from __future__ import annotations

import copy
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from shared.domain.commands import PutMailbox
from shared.domain.errors import ConflictsPending
from shared.domain.model import Mailbox, MailboxSettings, Message, count
from shared.domain.principal import PLATFORM
from shared.domain.replicated import Tally, clock, mailbox_tally
from shared.ports import Conflict
from shared.services.conflicts import ConflictResolver
from shared.services.ledger import Ledger
from tests.unit.fakes import FakeStore, fake_app

NOW = datetime(2026, 11, 30, tzinfo=UTC)


class FakeFeed:
    def __init__(self, conflicts: list[Conflict]):
        self.items = list(conflicts)

    def conflicts(self, limit: int) -> list[Conflict]:
        return self.items[:limit]

    def resolved(self, conflict: Conflict) -> None:
        self.items = [c for c in self.items if c.id != conflict.id]


def _regions_after_a_partition():
    """r1 marks a message heard while r2 saves it: r1's version was committed, r2's lost."""
    home = FakeStore()
    home.mailboxes["+1555"] = Mailbox("+1555", "A", MailboxSettings(), etag="m0")
    message, _ = Ledger(home, "r1", None).write(Message(id="m1", mailbox_id="+1555", received_at=NOW,
                                                  deposit_region="r1", status="ready"), room=100)
    away = copy.deepcopy(home)  # r2, replicated up to here
    Ledger(home, "r1", None).write(replace(message, heard=True), ["heard"])
    loser, _ = Ledger(away, "r2", None).write(replace(message, folder="saved"), ["folder", "expiry"])
    home.tallies[("+1555", "r2")] = away.tallies[("+1555", "r2")]  # single-writer documents just replicate
    return home, loser


def test_a_conflict_keeps_both_changes_and_the_home_region_makes_the_counts_exact():
    home, loser = _regions_after_a_partition()
    feed = FakeFeed([Conflict("c1", "+1555", "m1", loser)])
    assert mailbox_tally(home.tallies.values()).new == -1  # both regions took it out of `new`
    totals = ConflictResolver(home, feed, "r1", ("r1", "r2"), Ledger(home, "r1", None)).resolve()
    assert totals == {"examined": 1, "merged": 1, "deferred": 0, "failed": 0}
    merged = home.messages[("+1555", "m1")]
    assert (merged.heard, merged.folder) == (True, "saved")
    assert mailbox_tally(home.tallies.values()) == count([merged]) == Tally(saved=1)
    assert feed.items == []


def test_another_region_merges_the_same_conflict_without_correcting_the_counts_twice():
    home, loser = _regions_after_a_partition()
    conflict = Conflict("c1", "+1555", "m1", loser)
    ConflictResolver(home, FakeFeed([conflict]), "r1", ("r1", "r2"), Ledger(home, "r1", None)).resolve()
    tallies = dict(home.tallies)
    resolver = ConflictResolver(home, FakeFeed([conflict]), "r2", ("r1", "r2"), Ledger(home, "r2", None))
    assert resolver.resolve()["merged"] == 0
    assert home.tallies == tallies


def test_the_home_region_waits_for_the_committed_version_before_merging_its_own_losing_one():
    """The deposit region's own version lost, and the region reads the conflict before the committed
    version has replaced its own: merging the loser with itself would change nothing, so the
    counts' correction would never be made (CI, 2026-12-06: `new` one short in both regions)."""
    home, committed = _regions_after_a_partition()
    key = ("+1555", "m1")
    own = home.messages[key]  # r1's heard version: the one that lost
    feed = FakeFeed([Conflict("c1", "+1555", "m1", replace(own, etag="lost"), recorded_at=None)])
    resolver = ConflictResolver(home, feed, "r1", ("r1", "r2"), Ledger(home, "r1", None))
    assert resolver.resolve() == {"examined": 1, "merged": 0, "deferred": 1, "failed": 0}
    assert len(feed.items) == 1  # kept for the next run
    home.messages[key] = replace(committed, etag="replicated")  # the committed version arrives
    assert resolver.resolve()["merged"] == 1
    merged = home.messages[key]
    assert (merged.heard, merged.folder) == (True, "saved")
    assert mailbox_tally(home.tallies.values()) == count([merged]) == Tally(saved=1)
    assert feed.items == []


def test_a_conflict_whose_committed_version_never_arrives_is_merged_after_the_wait():
    home, _ = _regions_after_a_partition()
    own = home.messages[("+1555", "m1")]
    feed = FakeFeed([Conflict("c1", "+1555", "m1", own, recorded_at=time.time() - 3600)])
    assert ConflictResolver(home, feed, "r1", ("r1", "r2"), Ledger(home, "r1", None)).resolve()["deferred"] == 0
    assert feed.items == []


def test_mailbox_conflicts_keep_both_fields_and_the_higher_session_epoch():
    home = FakeStore()
    base = Mailbox("+1555", "A", MailboxSettings(), created_at=NOW, updated_at=NOW)
    home.mailboxes["+1555"] = replace(base, display_name="Renamed", clocks={"displayName": clock(NOW, "r1")},
                                      etag="e1")
    loser = replace(base, settings=MailboxSettings(maxMessages=7), session_epoch=1, pin_hash="new",
                    clocks={"settings": clock(NOW, "r2"), "pin": clock(NOW, "r2")})
    feed = FakeFeed([Conflict("c2", "+1555", "mailbox", loser)])
    ConflictResolver(home, feed, "r1", ("r1", "r2"), Ledger(home, "r1", None)).resolve()
    merged = home.mailboxes["+1555"]
    assert (merged.display_name, merged.settings.maxMessages, merged.pin_hash) == ("Renamed", 7, "new")
    assert merged.session_epoch == 1


def test_a_conflict_that_keeps_failing_stays_in_the_feed():
    _, loser = _regions_after_a_partition()

    class Broken(FakeStore):
        def get_message(self, mailbox_id: str, message_id: str) -> Message | None:
            raise RuntimeError("down")

    broken = Broken()
    feed = FakeFeed([Conflict("c1", "+1555", "m1", loser)])
    assert ConflictResolver(broken, feed, "r1", ("r1", "r2"), Ledger(broken, "r1", None)).resolve()["failed"] == 1
    assert len(feed.items) == 1


def test_a_write_of_the_losing_region_on_the_committed_version_before_the_merge_keeps_the_counts_exact():
    """The committed version reached r1 before r1 merged its own losing one, and r1 wrote the message
    meanwhile (replication recorded a copy: no count changes). That write must not rewrite r1's share
    from the committed version's older one (CI, 2026-12-07: `new` one short in both regions)."""
    home, committed = _regions_after_a_partition()
    key = ("+1555", "m1")
    own = home.messages[key]  # r1's heard version: it lost
    home.messages[key] = replace(committed, etag="replicated")  # the committed one replaces it in r1
    Ledger(home, "r1", None).write(replace(home.messages[key], replica_regions=("r1", "r2")))
    feed = FakeFeed([Conflict("c1", "+1555", "m1", replace(own, etag="lost"), recorded_at=None)])
    assert ConflictResolver(home, feed, "r1", ("r1", "r2"), Ledger(home, "r1", None)).resolve()["merged"] == 1
    merged = home.messages[key]
    assert (merged.heard, merged.folder, merged.replica_regions) == (True, "saved", ("r1", "r2"))
    assert mailbox_tally(home.tallies.values()) == count([merged]) == Tally(saved=1)


def test_a_recount_waits_while_a_conflict_of_the_mailbox_is_still_to_be_merged():
    """The counts already hold a losing version's change that the messages do not show until the
    merge: a recount then would "correct" a drift that the merge makes real (CI, 2026-12-07)."""
    region = fake_app()
    region.app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="A"))
    region.feed.items.append(Conflict("c1", "+1555", "m1", None))
    with pytest.raises(ConflictsPending):
        region.app.mailboxes.reconcile(PLATFORM, "+1555")
    region.feed.items.append(Conflict("c2", "+1666", "m2", None))  # another mailbox's: no matter
    region.feed.items = region.feed.items[1:]
    assert region.app.mailboxes.reconcile(PLATFORM, "+1555")["drift"]["new"] == 0
