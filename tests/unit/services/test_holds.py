"""Legal hold on in-memory ports: the routes' service, and what purges, deprovisioning and the
retention sweep may no longer remove while a mailbox is held."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.commands import PutMailbox
from shared.domain.errors import Forbidden, Held, MailboxNotFound
from shared.domain.holds import PutHold
from shared.domain.model import iso
from shared.domain.principal import PLATFORM, Principal
from shared.services.messages import Sender
from tests.unit.fakes import fake_app
from tests.unit.services.test_erasure import run_erasure

MAILBOX = "+1555"
SENDER = Sender(None, None, urgent=False)
OWNER = Principal("subscriber", MAILBOX)


@pytest.fixture
def region():
    region = fake_app()
    region.app.mailboxes.put(PLATFORM, MAILBOX, PutMailbox(displayName="Held", pin="1234"))
    return region


def _deposit(region) -> str:
    return region.app.messages.deposit(PLATFORM, MAILBOX, b"RIFF", "audio/wav", SENDER, None)[0]["id"]


def _expire(region, message_id: str, mailbox: str = MAILBOX) -> None:
    key = (mailbox, message_id)
    region.store.messages[key] = replace(region.store.messages[key], expires_at=datetime.now(UTC) - timedelta(days=1))


def _sweep(region) -> int:
    """One pass of the retention sweep's expired phase, as its orchestration runs it."""
    now = iso(datetime.now(UTC) + timedelta(seconds=1))
    return sum(region.app.retention.purge(item)["deleted"] for item in region.app.retention.find_expired(now, 100, []))


def test_a_hold_records_who_when_and_why_and_only_the_platform_sets_or_releases_it(region):
    answer = region.app.holds.hold(PLATFORM, MAILBOX, PutHold(reason="case 2026-117"))
    assert answer["reason"] == "case 2026-117" and answer["by"] == "platform" and answer["at"].endswith("Z")
    stored = region.store.mailboxes[MAILBOX]
    assert stored.hold.reason == "case 2026-117" and "hold" in stored.clocks
    with pytest.raises(Forbidden):
        region.app.holds.hold(OWNER, MAILBOX, PutHold(reason="mine"))
    with pytest.raises(Forbidden):
        region.app.holds.release(OWNER, MAILBOX)
    with pytest.raises(MailboxNotFound):
        region.app.holds.hold(PLATFORM, "+1999", PutHold(reason="nobody"))
    region.app.holds.release(PLATFORM, MAILBOX)
    assert region.store.mailboxes[MAILBOX].hold is None
    region.app.holds.release(PLATFORM, MAILBOX)  # releasing what is not held does nothing


def test_while_held_purge_and_deprovision_answer_held_and_the_trash_still_works(region):
    kept, trashed = _deposit(region), _deposit(region)
    region.app.holds.hold(PLATFORM, MAILBOX, PutHold(reason="case 9"))
    with pytest.raises(Held):
        region.app.messages.delete(PLATFORM, MAILBOX, kept, purge=True)
    with pytest.raises(Held):
        region.app.messages.delete(OWNER, MAILBOX, kept, purge=True)
    with pytest.raises(Held):
        region.app.mailboxes.deprovision(PLATFORM, MAILBOX)
    region.app.messages.delete(OWNER, MAILBOX, trashed, purge=False)
    assert region.store.messages[(MAILBOX, trashed)].folder == "trash"
    assert region.store.mailboxes[MAILBOX].active and not region.store.messages[(MAILBOX, kept)].purged
    region.app.holds.release(PLATFORM, MAILBOX)
    region.app.messages.delete(PLATFORM, MAILBOX, kept, purge=True)
    assert region.store.messages[(MAILBOX, kept)].purged
    region.app.mailboxes.deprovision(PLATFORM, MAILBOX)


def test_the_retention_sweep_keeps_everything_of_a_held_mailbox_and_catches_up_after_the_release(region):
    region.app.mailboxes.put(PLATFORM, "+1666", PutMailbox(displayName="Not held"))
    expired = _deposit(region)
    other = region.app.messages.deposit(PLATFORM, "+1666", b"RIFF", "audio/wav", SENDER, None)[0]["id"]
    _expire(region, expired)
    _expire(region, other, "+1666")
    region.app.holds.hold(PLATFORM, MAILBOX, PutHold(reason="case 9"))
    assert [item["mailboxId"] for item in region.app.retention.find_expired(iso(datetime.now(UTC)), 100, [])] \
        == ["+1666"]  # a held mailbox's expired messages are not found, so no page comes back forever
    assert _sweep(region) == 1
    assert not region.store.messages[(MAILBOX, expired)].purged
    assert f"incoming/{MAILBOX}/{expired}" in region.audio.blobs
    assert region.store.messages[("+1666", other)].purged
    region.app.holds.release(PLATFORM, MAILBOX)
    assert _sweep(region) == 1
    assert region.store.messages[(MAILBOX, expired)].purged


def test_a_hold_set_after_the_sweep_found_a_page_still_keeps_its_messages(region):
    expired = _deposit(region)
    _expire(region, expired)
    page = region.app.retention.find_expired(iso(datetime.now(UTC)), 100, [])
    region.app.holds.hold(PLATFORM, MAILBOX, PutHold(reason="just in time"))
    assert [region.app.retention.purge(item)["deleted"] for item in page] == [0]
    assert not region.store.messages[(MAILBOX, expired)].purged


def test_a_deprovisioned_mailbox_held_before_its_purge_is_kept_until_released(region):
    message = _deposit(region)
    region.app.mailboxes.deprovision(PLATFORM, MAILBOX)
    region.app.holds.hold(PLATFORM, MAILBOX, PutHold(reason="a regulator asked in time"))
    _sweep(region)
    assert MAILBOX in region.store.mailboxes and (MAILBOX, message) in region.store.messages
    region.app.holds.release(PLATFORM, MAILBOX)
    _sweep(region)  # its erasure runs again, and the sweep leaves the mailbox to it
    assert (MAILBOX, message) in region.store.messages
    assert run_erasure(region)["documents"] >= 1
    _sweep(region)  # then the tombstone goes
    assert MAILBOX not in region.store.mailboxes and (MAILBOX, message) not in region.store.messages


def test_a_hold_names_the_platform_key_that_set_it_as_the_audit_does(region):
    keyed = Principal("platform", key_id="0123456789ab")  # as a platform key authenticates
    assert region.app.holds.hold(keyed, MAILBOX, PutHold(reason="case 7"))["by"] == "platform:0123456789ab"
    assert region.store.mailboxes[MAILBOX].hold.by == "platform:0123456789ab"
