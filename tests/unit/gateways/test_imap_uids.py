"""IMAP UIDs computed from receipt times: unique, ascending, the same every time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateways.imap import uids

CREATED = datetime(2026, 12, 1, 8, 0, 0, 500_000, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return CREATED + timedelta(seconds=seconds)


def test_validity_is_the_mailbox_creation_second():
    assert uids.uid_validity(CREATED) == int(CREATED.timestamp())
    assert uids.uid_validity(CREATED + timedelta(days=1)) != uids.uid_validity(CREATED)  # provisioned again


def test_uids_follow_receipt_in_quarter_seconds_whatever_the_listing_order():
    messages = [("b", at(10)), ("a", at(2)), ("c", at(3600))]
    assert uids.assign(messages, CREATED) == uids.assign(list(reversed(messages)), CREATED)
    got = uids.assign(messages, CREATED)
    assert got["a"] < got["b"] < got["c"]
    assert got["c"] - got["b"] == (3600 - 10) * uids.TICKS_PER_SECOND


def test_messages_in_the_same_quarter_second_get_distinct_uids_in_id_order():
    got = uids.assign([("y", at(5.01)), ("x", at(5.01)), ("z", at(5.02))], CREATED)
    assert len(set(got.values())) == 3
    assert got["x"] < got["y"] < got["z"]


def test_a_burst_faster_than_four_a_second_stays_unique_and_ascending():
    burst = [(f"m{n:04d}", at(1 + n * 0.01)) for n in range(1000)]
    got = uids.assign(burst, CREATED)
    assert [got[f"m{n:04d}"] for n in range(1000)] == sorted(set(got.values()))


def test_a_new_message_never_changes_the_uids_already_given():
    before = uids.assign([("a", at(1)), ("b", at(2))], CREATED)
    after = uids.assign([("a", at(1)), ("b", at(2)), ("c", at(3))], CREATED)
    assert {k: after[k] for k in before} == before and after["c"] > before["b"]


def test_a_message_received_before_the_creation_second_still_gets_a_valid_uid():
    got = uids.assign([("early", CREATED - timedelta(seconds=3)), ("later", at(1))], CREATED)
    assert 1 <= got["early"] < got["later"]
