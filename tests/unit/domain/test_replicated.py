"""Merges of replicated state: commutative, associative, idempotent (hypothesis), and what they keep."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.holds import LegalHold
from shared.domain.model import Mailbox, MailboxSettings, Message, count
from shared.domain.replicated import (
    PinRecord,
    RecentEvents,
    RegionTally,
    Share,
    Tally,
    clock,
    consistent,
    lockout,
    mailbox_tally,
    merge_mailboxes,
    merge_messages,
    merge_pin_records,
    merge_recent_events,
    merge_region_tallies,
    merge_shares,
    settle,
    total_of,
)
from shared.domain.transcripts import Transcript

T0 = datetime(2026, 11, 30, tzinfo=UTC)
REGIONS = ("r1", "r2", "r3")
times = st.integers(0, 50).map(lambda s: T0 + timedelta(seconds=s))
clocks = st.builds(clock, times, st.sampled_from(REGIONS))
tallies = st.builds(Tally, *(st.integers(-2, 2) for _ in range(5)))
shares = st.dictionaries(st.sampled_from(REGIONS), st.builds(Share, tallies, st.integers(0, 5)), max_size=3)


transcripts = st.one_of(st.none(), st.sampled_from([
    Transcript.pending("en"), Transcript.pending("en").ready("call me back", 0.5),
    Transcript.pending("en").ready("call me bad", 0.4), Transcript.pending("en").failed("no-speech")]))


@st.composite
def messages(draw):
    status = draw(st.sampled_from(["processing", "ready", "failed", "purged"]))
    return Message(
        id="m1", mailbox_id="+1555", received_at=T0, deposit_region="r1",
        folder=draw(st.sampled_from(["inbox", "saved", "trash"])), heard=draw(st.booleans()),
        urgent=draw(st.booleans()), status=status, error=None if status != "failed" else "silent",
        formats=("opus",) if status == "ready" else (), upload_pending=draw(st.booleans()),
        expires_at=draw(st.one_of(st.none(), times)),
        replica_regions=tuple(sorted(draw(st.sets(st.sampled_from(REGIONS), max_size=3)))),
        clocks=draw(st.dictionaries(st.sampled_from(["folder", "heard", "urgent", "status", "transcript"]), clocks,
                                    max_size=5)),
        shares=draw(shares), transcript=draw(transcripts))


holds = st.one_of(st.none(), st.builds(LegalHold, st.sampled_from(["case 1", "case 2"]), st.just("platform"), times))
# An incarnation is made with its mailbox: every version of one has the creation time it was made with.
INCARNATIONS = {"": T0, "x": T0 + timedelta(seconds=10), "y": T0 + timedelta(seconds=10),
                "z": T0 + timedelta(seconds=30)}


@st.composite
def mailboxes(draw):
    incarnation = draw(st.sampled_from(["", *INCARNATIONS]))
    return Mailbox(
        id="+1555", display_name=draw(st.sampled_from(["A", "B", "C"])),
        settings=MailboxSettings(maxMessages=draw(st.sampled_from([1, 5, 100]))),
        pin_hash=draw(st.sampled_from([None, "h1", "h2"])), greeting=draw(st.sampled_from(["personal", "name"])),
        status=draw(st.sampled_from(["active", "deprovisioned"])), expires_at=draw(st.one_of(st.none(), times)),
        created_at=INCARNATIONS[incarnation], updated_at=draw(times),
        session_epoch=draw(st.integers(0, 3)), incarnation=incarnation, hold=draw(holds),
        clocks=draw(st.dictionaries(st.sampled_from(["displayName", "settings", "pin", "greeting", "hold"]), clocks,
                                    max_size=5)))


pin_records = st.builds(lambda f, s, i: PinRecord("+1555", "r1", tuple(sorted(f))[-10:], s, incarnation=i),
                        st.sets(times, max_size=12), st.one_of(st.none(), times), st.sampled_from(["", "", "x"]))
region_tallies = st.builds(lambda t, q: RegionTally("+1555", "r1", t, q), tallies, st.integers(0, 5))

recent_events = st.builds(lambda t: RecentEvents("+1555", "r1", "forwards", tuple(sorted(t))),
                          st.sets(times, max_size=12))

MERGES = {"message": (merge_messages, messages()), "mailbox": (merge_mailboxes, mailboxes()),
          "pin record": (merge_pin_records, pin_records), "region tally": (merge_region_tallies, region_tallies),
          "shares": (merge_shares, shares), "recent events": (merge_recent_events, recent_events)}


@pytest.mark.parametrize("kind", MERGES)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_merges_are_commutative_associative_and_idempotent(kind, data):
    merge, strategy = MERGES[kind]
    a, b, c = (data.draw(strategy) for _ in range(3))
    assert merge(a, b) == merge(b, a)
    assert merge(merge(a, b), c) == merge(a, merge(b, c))
    assert merge(merge(a, b), b) == merge(a, b)
    assert merge(a, a) == a or merge(a, a) == replace(a, etag=None)


def _message(**fields) -> Message:
    return Message(id="m1", mailbox_id="+1555", received_at=T0, deposit_region="r1", **fields)


def test_heard_in_one_region_and_folder_in_another_both_survive():
    base = _message(status="ready", clocks={"status": clock(T0, "r1")})
    heard = replace(base, heard=True, clocks={**base.clocks, "heard": clock(T0 + timedelta(seconds=1), "r1")})
    saved = replace(base, folder="saved", clocks={**base.clocks, "folder": clock(T0 + timedelta(seconds=2), "r2")})
    merged = merge_messages(heard, saved)
    assert (merged.heard, merged.folder) == (True, "saved")


def test_the_same_field_changed_in_two_regions_takes_the_later_change():
    base = _message(status="ready")
    early = replace(base, folder="saved", clocks={"folder": clock(T0 + timedelta(seconds=5), "r2")})
    late = replace(base, folder="trash", trashed_at=T0, clocks={"folder": clock(T0 + timedelta(seconds=6), "r1")})
    assert merge_messages(early, late).folder == "trash"


def test_a_purge_wins_over_any_concurrent_change():
    base = _message(status="ready")
    purged = replace(base.tombstone(T0), clocks={"status": clock(T0, "r1")})
    changed = replace(base, heard=True, clocks={"heard": clock(T0 + timedelta(hours=1), "r2")})
    assert merge_messages(purged, changed).purged


def test_a_settled_transcript_wins_over_a_pending_one_and_the_heard_flag_survives():
    # Region r1 turned the message ready (transcript pending); r2 marked it heard before it saw the
    # transcript settle in r1: both changes are kept.
    pending = _message(status="ready", transcript=Transcript.pending("en"), clocks={"status": clock(T0, "r1")})
    settled = replace(pending, transcript=pending.transcript.ready("call me back", 0.8),
                      clocks={**pending.clocks, "transcript": clock(T0 + timedelta(seconds=3), "r1")})
    heard = replace(pending, heard=True, clocks={**pending.clocks, "heard": clock(T0 + timedelta(seconds=9), "r2")})
    merged = merge_messages(settled, heard)
    assert merged.heard and merged.transcript.status == "ready" and merged.transcript.text == "call me back"


def test_a_purge_drops_the_transcript_even_against_a_later_settle():
    base = _message(status="ready", transcript=Transcript.pending("en"))
    purged = replace(base.tombstone(T0), clocks={"status": clock(T0, "r1")})
    settled = replace(base, transcript=base.transcript.ready("secret words", 0.9),
                      clocks={"transcript": clock(T0 + timedelta(hours=1), "r2")})
    merged = merge_messages(purged, settled)
    assert merged.purged and merged.transcript is None


def test_audio_holders_are_the_union_of_what_each_region_recorded():
    base = _message(status="ready")
    a = replace(base, replica_regions=("r1", "r2"))
    b = replace(base, replica_regions=("r1", "r3"))
    assert merge_messages(a, b).replica_regions == ("r1", "r2", "r3")


def test_wrong_pins_of_every_region_add_up_to_the_lockout():
    a = PinRecord("+1555", "r1")
    b = PinRecord("+1555", "r2")
    for n in range(3):
        a = a.with_failure(T0 + timedelta(seconds=n))
    for n in range(2):
        b = b.with_failure(T0 + timedelta(seconds=10 + n))
    assert not lockout([a]).locked(T0 + timedelta(seconds=11))
    assert lockout([a, b]).locked(T0 + timedelta(seconds=11))


def _apply(message: Message, region: str, tallies: dict[str, Tally]) -> Message:
    """A write in `region`, as the ledger makes it: settle the region's share, move its tally."""
    new_shares, delta = settle(message.shares, message.tally, region)
    tallies[region] = tallies.get(region, Tally()) + delta
    return replace(message, shares=new_shares)


def test_counts_stay_exact_through_concurrent_changes_once_the_home_region_settles():
    tallies: dict[str, Tally] = {}
    deposited = _apply(_message(status="ready"), "r1", tallies)  # new
    # Partition: r1 marks it heard, r2 saves it; each moves its own tally.
    heard = _apply(replace(deposited, heard=True, clocks={"heard": clock(T0, "r1")}), "r1", tallies)
    saved = _apply(replace(deposited, folder="saved", clocks={"folder": clock(T0, "r2")}), "r2", tallies)
    merged = merge_messages(heard, saved)
    assert (merged.heard, merged.folder) == (True, "saved")
    assert not consistent(merged)  # both regions took the message out of `new`
    settled = _apply(merged, merged.deposit_region, tallies)  # the conflict's merge, in the home region
    assert consistent(settled)
    assert total_of(tallies.values()) == count([settled]) == Tally(saved=1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(REGIONS), st.sampled_from(["heard", "saved", "trash", "inbox", "purge"])),
                max_size=8))
def test_a_sequence_of_writes_in_any_regions_keeps_tallies_equal_to_the_count(writes):
    tallies: dict[str, Tally] = {}
    message = _apply(_message(status="ready"), "r1", tallies)
    for region, change in writes:
        if message.purged:
            break
        changed = {"heard": {"heard": True}, "saved": {"folder": "saved"}, "trash": {"folder": "trash"},
                   "inbox": {"folder": "inbox"}}.get(change)
        message = _apply(message.tombstone(T0) if changed is None else replace(message, **changed), region, tallies)
        assert total_of(tallies.values()) == message.tally
    assert mailbox_tally(RegionTally("+1555", r, t) for r, t in tallies.items()) == count([message])
