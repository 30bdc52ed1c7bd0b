"""What retention deletes, in what order, and that repeating a step deletes nothing twice."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.commands import PutMailbox
from shared.domain.model import iso
from shared.domain.principal import PLATFORM
from shared.services.messages import Sender
from tests.unit.fakes import fake_app

NOW = datetime.now(UTC)
LATER = iso(NOW + timedelta(days=400))
SENDER = Sender(None, None, urgent=False)


@pytest.fixture
def world():
    region = fake_app()
    for mailbox in ("+1555", "+1666"):
        region.app.mailboxes.put(PLATFORM, mailbox, PutMailbox(displayName=mailbox))
    return {"store": region.store, "audio": region.audio, "events": region.events, "mailboxes": region.app.mailboxes,
            "messages": region.app.messages, "greetings": region.app.greetings, "retention": region.app.retention}


def test_expired_messages_go_audio_first_and_fresh_ones_stay(world):
    store, retention = world["store"], world["retention"]
    old = world["messages"].deposit(PLATFORM, "+1555", b"old", "audio/wav", SENDER, None)[0]["id"]
    world["messages"].deposit(PLATFORM, "+1555", b"fresh", "audio/wav", SENDER, None)
    store.messages[("+1555", old)] = replace(store.messages[("+1555", old)], expires_at=NOW - timedelta(days=1))
    found = retention.find_expired(iso(NOW), 100, [])
    assert found == [{"id": old, "mailboxId": "+1555", "type": "message"}]
    store.journal.clear()
    assert retention.purge(found[0]) == {"deleted": 1, "countsChanged": "+1555"}
    # A tombstone first (guarded by the ETag: a message restored meanwhile would stay), then the audio.
    assert store.journal == [f"replace {old}", f"delete incoming/+1555/{old}"]
    assert retention.purge(found[0]) == {"deleted": 0, "countsChanged": None}  # nothing deleted twice
    retention.publish_counts(["+1555"])
    assert retention.find_expired(iso(NOW), 100, []) == []
    assert [m.id for m in store.messages.values() if m.visible] != [old] and len(
        [m for m in store.messages.values() if m.visible]) == 1
    assert world["events"].events[-1]["new"] == 1
    # The tombstone outlives any replication lag, then goes for good.
    tomb = store.messages[("+1555", old)]
    assert tomb.purged and tomb.expires_at > NOW
    store.messages[("+1555", old)] = replace(tomb, expires_at=NOW - timedelta(seconds=1))
    assert retention.purge({"id": old, "mailboxId": "+1555", "type": "message"}) == {"deleted": 1,
                                                                                    "countsChanged": None}
    assert ("+1555", old) not in store.messages


def test_a_message_restored_after_it_was_found_expired_stays(world):
    store, retention = world["store"], world["retention"]
    old = world["messages"].deposit(PLATFORM, "+1555", b"old", "audio/wav", SENDER, None)[0]["id"]
    store.messages[("+1555", old)] = replace(store.messages[("+1555", old)], expires_at=NOW - timedelta(days=1))
    found = retention.find_expired(iso(NOW), 100, [])
    store.messages[("+1555", old)] = replace(store.messages[("+1555", old)], expires_at=None, etag="restored")
    assert retention.purge(found[0]) == {"deleted": 0, "countsChanged": None}
    assert store.messages[("+1555", old)].visible


def test_a_deprovisioned_mailbox_is_purged_whole_and_its_document_last(world):
    store, retention = world["store"], world["retention"]
    for data in (b"a", b"b"):
        world["messages"].deposit(PLATFORM, "+1555", data, "audio/wav", SENDER, None)
    world["greetings"].put(PLATFORM, "+1555", "busy", b"hi", "audio/wav")
    world["messages"].deposit(PLATFORM, "+1666", b"other", "audio/wav", SENDER, None)
    world["mailboxes"].deprovision(PLATFORM, "+1555")
    store.erasure_requests.pop("+1555")  # deprovisioned before erasures were recorded: the sweep's to purge
    found = retention.find_expired(LATER, 100, [])
    mailbox_items = [item for item in found if item["type"] == "mailbox"]
    assert mailbox_items == [{"id": "mailbox", "mailboxId": "+1555", "type": "mailbox"}]
    assert retention.purge(mailbox_items[0])["deleted"] == 4  # two messages, one greeting, the mailbox
    assert "+1555" not in store.mailboxes
    assert not [key for key in store.messages if key[0] == "+1555"]
    assert not [path for path in world["audio"].blobs if "+1555" in path]
    assert [key for key in store.messages if key[0] == "+1666"]  # others untouched
    assert retention.purge(mailbox_items[0])["deleted"] == 0


def test_a_mailbox_whose_erasure_runs_is_left_to_it_and_its_tombstone_goes_once_it_is_done(world):
    store, retention = world["store"], world["retention"]
    world["messages"].deposit(PLATFORM, "+1555", b"a", "audio/wav", SENDER, None)
    world["mailboxes"].deprovision(PLATFORM, "+1555")
    # The erasure removes everything and says how much: a sweep meanwhile would make its report short.
    assert [item for item in retention.find_expired(LATER, 100, []) if item["mailboxId"] == "+1555"] == []
    store.erasure_requests["+1555"] = replace(store.erasure_requests["+1555"], status="done")
    found = [item for item in retention.find_expired(LATER, 100, []) if item["mailboxId"] == "+1555"]
    assert {"id": "mailbox", "mailboxId": "+1555", "type": "mailbox"} in found


def test_orphan_blobs_older_than_a_day_go_and_owned_or_young_ones_stay(world):
    audio, retention = world["audio"], world["retention"]
    kept = world["messages"].deposit(PLATFORM, "+1555", b"kept", "audio/wav", SENDER, None)[0]["id"]
    audio.blobs["incoming/+1555/deadbeef"] = b"no document"
    audio.blobs["audio/+1555/deadbeef/opus"] = b"no document either"
    audio.blobs["incoming/+1555/youngorphan"] = b"too young to judge"
    audio.modified["incoming/+1555/youngorphan"] = iso(NOW)
    audio.blobs["incoming/something/else/entirely/here"] = b"unknown layout"
    total = {"examined": 0, "deleted": 0}
    for container in ("incoming", "audio"):
        marker = None
        while True:
            page = retention.orphans_page(container, marker, NOW, page_size=2)
            total["examined"] += page["examined"]
            total["deleted"] += page["deleted"]
            marker = page["marker"]
            if marker is None:
                break
    assert total == {"examined": 5, "deleted": 2}
    assert f"incoming/+1555/{kept}" in audio.blobs and "incoming/+1555/youngorphan" in audio.blobs
    assert "incoming/something/else/entirely/here" in audio.blobs
