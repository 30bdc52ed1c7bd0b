"""A mailbox provisioned again under an old id starts fresh: the earlier owner's tokens, lockouts
and Idempotency-Keys never apply to it (in-memory ports)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.domain.commands import CreateSession, PutMailbox
from shared.domain.errors import InvalidCredentials, InvalidToken, PinLocked
from shared.domain.principal import PLATFORM
from shared.services.messages import Sender
from tests.unit.fakes import fake_app

SENDER = Sender("+15550001111", "Bob", urgent=False)
MAILBOX = "+1555"


@pytest.fixture
def region():
    region = fake_app()
    region.app.mailboxes.put(PLATFORM, MAILBOX, PutMailbox(displayName="First owner", pin="1234"))
    return region


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _erased(region) -> None:
    """What the erasure's orchestration does (functions/erasure.py), to the end."""
    erasure = region.app.erasure
    for job in erasure.pending():
        for target in erasure.plan(job["mailboxId"]):
            marker = "start"
            while marker is not None:
                marker = erasure.erase_blobs(job["mailboxId"], target, None if marker == "start" else marker)["marker"]
        while erasure.erase_documents(job["mailboxId"]) > 0:
            pass
        erasure.finish(job["mailboxId"], job["requestedAt"], 0, 0)


def _gone_and_back(region, pin: str = "9876") -> None:
    """Deprovision, its erasure and the retention sweep's purge of the mailbox, and a new owner
    under the same id."""
    region.app.mailboxes.deprovision(PLATFORM, MAILBOX)
    _erased(region)
    assert region.app.retention.purge({"id": "mailbox", "mailboxId": MAILBOX, "type": "mailbox"})["deleted"] >= 1
    assert MAILBOX not in region.store.mailboxes
    _, created = region.app.mailboxes.put(PLATFORM, MAILBOX, PutMailbox(displayName="New owner", pin=pin))
    assert created


def test_each_creation_is_a_new_incarnation(region):
    first = region.store.mailboxes[MAILBOX].incarnation
    region.app.mailboxes.put(PLATFORM, MAILBOX, PutMailbox(displayName="renamed"))  # a replace keeps it
    assert region.store.mailboxes[MAILBOX].incarnation == first and first
    _gone_and_back(region)
    assert region.store.mailboxes[MAILBOX].incarnation not in ("", first)


def test_the_earlier_owners_token_is_refused_and_the_new_owners_works(region):
    old = region.app.mailboxes.login(MAILBOX, CreateSession(pin="1234"))["token"]
    assert region.app.auth.authenticate(_bearer(old)).mailbox_id == MAILBOX
    _gone_and_back(region)
    # The new mailbox's session epoch starts at 0 again, as the old token's did: only the
    # incarnation tells them apart.
    with pytest.raises(InvalidToken):
        region.app.auth.authenticate(_bearer(old))
    new = region.app.mailboxes.login(MAILBOX, CreateSession(pin="9876"))["token"]
    assert region.app.auth.authenticate(_bearer(new)).mailbox_id == MAILBOX


def test_wrong_pins_against_the_id_before_it_was_provisioned_again_do_not_lock_the_new_owner(region):
    region.app.mailboxes.deprovision(PLATFORM, MAILBOX)
    _erased(region)
    region.app.retention.purge({"id": "mailbox", "mailboxId": MAILBOX, "type": "mailbox"})
    for _ in range(5):  # someone guesses at the free id: an unknown mailbox answers as a known one
        with pytest.raises(InvalidCredentials):
            region.app.mailboxes.login(MAILBOX, CreateSession(pin="0000"))
    with pytest.raises(PinLocked):
        region.app.mailboxes.login(MAILBOX, CreateSession(pin="0000"))
    region.app.mailboxes.put(PLATFORM, MAILBOX, PutMailbox(displayName="New owner", pin="9876"))
    assert region.app.mailboxes.login(MAILBOX, CreateSession(pin="9876"))["token"]
    # The new owner's own wrong PINs still lock it, as always.
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            region.app.mailboxes.login(MAILBOX, CreateSession(pin="0000"))
    with pytest.raises(PinLocked):
        region.app.mailboxes.login(MAILBOX, CreateSession(pin="9876"))


def test_an_idempotency_key_of_the_earlier_owner_deposits_anew_even_when_its_message_was_left_behind(region):
    messages = region.app.messages
    old, created = messages.deposit(PLATFORM, MAILBOX, b"RIFF-first", "audio/wav", SENDER, "call-42")
    assert created
    leftover = region.store.messages[(MAILBOX, old["id"])]
    _gone_and_back(region)
    # A copy the purge did not reach (a region's late replica): the key's message of the first owner.
    region.store.messages[(MAILBOX, old["id"])] = replace(leftover, etag="left-behind")
    new, created = messages.deposit(PLATFORM, MAILBOX, b"RIFF-first", "audio/wav", SENDER, "call-42")
    assert created and new["id"] != old["id"]
    assert region.store.messages[(MAILBOX, new["id"])].incarnation == region.store.mailboxes[MAILBOX].incarnation
    # A retry of the new deposit gives the new message back, not the old one.
    again, created = messages.deposit(PLATFORM, MAILBOX, b"RIFF-first", "audio/wav", SENDER, "call-42")
    assert not created and again["id"] == new["id"]


def test_mailboxes_and_tokens_from_before_incarnations_keep_working(region):
    """Documents written by the release before this one carry no incarnation: they match tokens
    that name none."""
    region.store.mailboxes[MAILBOX] = replace(region.store.mailboxes[MAILBOX], incarnation="")
    token = region.app.auth.issue(MAILBOX, 0, "")[0]
    region.app.auth.epoch_changed(MAILBOX, ("", 0))
    assert region.app.auth.authenticate(_bearer(token)).mailbox_id == MAILBOX


def test_a_deposit_journaled_through_an_outage_is_of_the_mailboxs_incarnation_so_its_retry_meets_it(region):
    region.store.down = True
    journaled = region.app.messages.deposit(PLATFORM, MAILBOX, b"RIFF-j", "audio/wav", SENDER, "call-7")[0]
    region.store.down = False
    region.app.journal.replay()
    stored = region.store.messages[(MAILBOX, journaled["id"])]
    assert stored.incarnation == region.store.mailboxes[MAILBOX].incarnation
    again, created = region.app.messages.deposit(PLATFORM, MAILBOX, b"RIFF-j", "audio/wav", SENDER, "call-7")
    assert not created and again["id"] == journaled["id"]
