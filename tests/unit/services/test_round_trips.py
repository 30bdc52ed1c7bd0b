"""Storage round trips per request: a message and its mailbox come from one query, a change writes
against the tallies that query read, and the dispatcher reads a mailbox only for events with
somewhere to go. Each test also keeps the check the saved round trip used to make."""

from __future__ import annotations

from collections import Counter

import pytest

from shared.domain.commands import PatchMessage, PutMailbox
from shared.domain.errors import MailboxNotFound, MessageNotFound
from shared.domain.model import MailboxSettings
from shared.domain.principal import PLATFORM
from shared.services.messages import Sender
from tests.unit.fakes import fake_app

MAILBOX = "+15550002222"
SENDER = Sender("+15550001111", "Bob", urgent=False)
READS = ("get_mailbox", "get_message", "snapshot", "list_messages")
WRITES = ("write_message", "create_messages")


@pytest.fixture
def region():
    region = fake_app()
    region.app.mailboxes.put(PLATFORM, MAILBOX, PutMailbox(displayName="A", settings=MailboxSettings(maxMessages=5)))
    return region


@pytest.fixture
def calls(region, monkeypatch):
    """Every call the services make to the store's reads and writes, by name."""
    seen: Counter = Counter()
    for name in READS + WRITES:
        original = getattr(region.store, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            seen[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(region.store, name, counted)
    return seen


def deposit(region) -> str:
    return region.app.messages.deposit(PLATFORM, MAILBOX, b"RIFF", "audio/wav", SENDER, None)[0]["id"]


def test_a_get_reads_the_message_and_its_mailbox_in_one_query(region, calls):
    message_id = deposit(region)
    calls.clear()
    assert region.app.messages.get(PLATFORM, MAILBOX, message_id)["id"] == message_id
    assert calls == Counter(snapshot=1)


def test_a_get_in_a_deprovisioned_mailbox_is_404_at_once(region, calls):
    message_id = deposit(region)
    region.app.mailboxes.deprovision(PLATFORM, MAILBOX)
    with pytest.raises(MailboxNotFound):
        region.app.messages.get(PLATFORM, MAILBOX, message_id)
    with pytest.raises(MessageNotFound):  # no such message: that answer first, as before
        region.app.messages.get(PLATFORM, MAILBOX, "nope")


def test_a_change_of_folder_is_one_query_and_one_batch_and_moves_the_counts(region, calls):
    message_id = deposit(region)
    calls.clear()
    changed = region.app.messages.patch(PLATFORM, MAILBOX, message_id, PatchMessage(folder="saved", heard=True), None)
    assert changed["folder"] == "saved" and changed["heard"] is True
    assert calls == Counter(snapshot=1, write_message=1)
    counts = region.app.mailboxes.get(PLATFORM, MAILBOX)["counts"]
    assert counts["new"] == 0 and counts["saved"] == 1


def test_a_change_against_counts_moved_meanwhile_reads_them_again_and_stays_exact(region, calls):
    first, second = deposit(region), deposit(region)
    real_snapshot = region.store.snapshot

    def stale_after_a_concurrent_change(mailbox_id, message_id=None):
        found = real_snapshot(mailbox_id, message_id)
        if message_id == first:  # another request changes the tally between this read and the write
            region.app.messages.patch(PLATFORM, MAILBOX, second, PatchMessage(heard=True), None)
        return found

    region.store.snapshot = stale_after_a_concurrent_change
    region.app.messages.patch(PLATFORM, MAILBOX, first, PatchMessage(heard=True), None)
    region.store.snapshot = real_snapshot
    counts = region.app.mailboxes.get(PLATFORM, MAILBOX)["counts"]
    assert counts["new"] == 0 and counts["total"] == 2  # neither change of counts was lost


def test_to_the_trash_is_one_query_and_one_batch_and_frees_the_room(region, calls):
    message_id = deposit(region)
    calls.clear()
    region.app.messages.delete(PLATFORM, MAILBOX, message_id, purge=False)
    assert calls == Counter(snapshot=1, write_message=1)
    assert region.app.messages.get(PLATFORM, MAILBOX, message_id)["folder"] == "trash"
    counts = region.app.mailboxes.get(PLATFORM, MAILBOX)["counts"]
    assert counts["new"] == 0 and counts["total"] == 0


def test_a_purge_is_one_query_and_one_batch_and_refused_in_a_deprovisioned_mailbox(region, calls):
    message_id, kept = deposit(region), deposit(region)
    calls.clear()
    region.app.messages.delete(PLATFORM, MAILBOX, message_id, purge=True)
    assert calls == Counter(snapshot=1, write_message=1)
    with pytest.raises(MessageNotFound):
        region.app.messages.get(PLATFORM, MAILBOX, message_id)
    region.app.mailboxes.deprovision(PLATFORM, MAILBOX)
    with pytest.raises(MailboxNotFound):
        region.app.messages.delete(PLATFORM, MAILBOX, kept, purge=True)


def test_the_dispatcher_reads_no_mailbox_for_events_with_nowhere_to_go(monkeypatch):
    """A mailbox without targets: its events are settled unsent after one read (its targets), not
    two; with a target, a deprovisioned mailbox is still read and gets nothing."""
    from tests.unit.services.test_notifications import MAILBOX as NOTIFIED
    from tests.unit.services.test_notifications import configure, ready_message, world

    state = world.__wrapped__(monkeypatch)
    ready_message(state)
    reads: Counter = Counter()
    real_get = state["store"].get_mailbox

    def get_mailbox(mailbox_id):
        reads[mailbox_id] += 1
        return real_get(mailbox_id)

    monkeypatch.setattr(state["store"], "get_mailbox", get_mailbox)
    assert state["service"]().dispatch() == {"nothing to send": 2}
    assert reads == Counter()
    assert state["service"]().dispatch() == {}  # settled: never again
    configure(state, {"kind": "webhook", "url": "https://hooks.example.com/vm"})
    ready_message(state)
    state["mailboxes"].deprovision(PLATFORM, NOTIFIED)
    reads.clear()
    assert state["service"]().dispatch() == {"nothing to send": 2}
    assert reads == Counter({NOTIFIED: 1}) and state["webhooks"].sent == []
