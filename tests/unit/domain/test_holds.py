"""Incarnations and legal holds as data: how regions converge on them, and how they are stored."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from shared.adapters.cosmos_docs import mailbox_from_doc, mailbox_to_doc, pin_from_doc, pin_to_doc
from shared.domain.holds import LegalHold
from shared.domain.model import Mailbox, MailboxSettings
from shared.domain.replicated import PinRecord, clock, merge_mailboxes
from shared.domain.security import issue_token, verify_token

T0 = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
KEY = b"k" * 32


def _mailbox(incarnation: str, created_at: datetime = T0, **fields) -> Mailbox:
    return Mailbox(**{"id": "+1555", "display_name": "A", "settings": MailboxSettings(), "created_at": created_at,
                      "updated_at": created_at, "incarnation": incarnation, **fields})


def test_the_id_created_in_two_regions_at_once_converges_to_one_incarnation_everywhere():
    east = _mailbox("aaaa", display_name="East", clocks={"displayName": clock(T0, "east")})
    west = _mailbox("bbbb", display_name="West", clocks={"displayName": clock(T0 + timedelta(seconds=1), "west")})
    merged = merge_mailboxes(east, west)
    assert merged == merge_mailboxes(west, east)
    assert merged.incarnation == "bbbb" and merged.display_name == "West"  # one version whole, never a mix


def test_a_new_incarnation_wins_over_a_late_version_of_the_deprovisioned_one():
    old = _mailbox("old1", status="deprovisioned", session_epoch=3, expires_at=T0)
    new = _mailbox("new1", created_at=T0 + timedelta(minutes=5))
    merged = merge_mailboxes(old, new)
    assert (merged.incarnation, merged.status, merged.session_epoch) == ("new1", "active", 0)


def test_a_release_in_one_region_and_a_hold_in_another_converge_to_the_later():
    base = _mailbox("x")
    held = replace(base, hold=LegalHold("case 7", "platform", T0), clocks={"hold": clock(T0, "east")})
    released = replace(base, hold=None, clocks={"hold": clock(T0 + timedelta(seconds=2), "west")})
    assert merge_mailboxes(held, released).hold is None
    assert merge_mailboxes(released, held).hold is None
    held_later = replace(held, clocks={"hold": clock(T0 + timedelta(seconds=3), "east")})
    assert merge_mailboxes(released, held_later).hold == LegalHold("case 7", "platform", T0)


def test_incarnation_and_hold_are_stored_and_read_back_and_old_documents_read_as_legacy():
    mailbox = _mailbox("abcd", hold=LegalHold("subpoena 12", "platform", T0))
    assert mailbox_from_doc({**mailbox_to_doc(mailbox), "_etag": None}) == mailbox
    legacy = {k: v for k, v in mailbox_to_doc(mailbox).items() if k not in ("incarnation", "hold")}
    assert (mailbox_from_doc(legacy).incarnation, mailbox_from_doc(legacy).hold) == ("", None)
    record = PinRecord("+1555", "r1", (T0,), incarnation="abcd")
    assert pin_from_doc(pin_to_doc(record)).incarnation == "abcd"
    assert LegalHold("subpoena 12", "platform", T0).as_api() == {
        "reason": "subpoena 12", "by": "platform", "at": "2026-12-07T04:00:00.000000Z"}


def test_a_token_names_its_incarnation_and_tokens_from_before_name_none():
    token, _ = issue_token("+1555", KEY, 1000, 900, 2, "abcd")
    claims = verify_token(token, (KEY,), 1001)
    assert (claims.epoch, claims.incarnation) == (2, "abcd")
    legacy, _ = issue_token("+1555", KEY, 1000, 900)
    assert verify_token(legacy, (KEY,), 1001).incarnation == ""


def test_an_earlier_incarnations_pin_record_is_forgotten_but_keeps_its_etag():
    record = PinRecord("+1555", "r1", (T0,) * 1, attempts=(T0,), etag="e1", incarnation="old")
    fresh = record.of("new")
    assert (fresh.failures, fresh.attempts, fresh.etag, fresh.incarnation) == ((), (), "e1", "new")
    assert record.of("old") is record
