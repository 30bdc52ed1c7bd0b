"""The message service's rules and ordering, with in-memory ports."""

from __future__ import annotations

import pytest

from shared.domain.commands import PutMailbox
from shared.domain.errors import (
    IdempotencyConflict,
    MailboxFull,
    MessageNotFound,
    RangeNotSatisfiable,
    Unavailable,
)
from shared.domain.model import ListQuery, MailboxSettings
from shared.domain.principal import PLATFORM, Principal
from shared.services.audio_answers import parse_range
from shared.services.messages import Sender
from tests.unit.fakes import fake_app

SENDER = Sender("+15550001111", "Bob", urgent=False)


@pytest.fixture
def parts():
    region = fake_app()
    region.app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="A", settings=MailboxSettings(maxMessages=3)))
    return region.store, region.audio, region.events, region.app.messages


def test_audio_is_stored_before_the_document(parts):
    store, _, events, messages = parts
    message, created = messages.deposit(PLATFORM, "+1555", b"RIFF", "audio/wav", SENDER, None)
    assert created
    assert store.journal == [f"put incoming/+1555/{message['id']}", f"create {message['id']}"]
    assert events.events[-1]["new"] == 1


def test_a_failed_document_write_leaves_no_visible_message(parts):
    store, audio, events, messages = parts
    store.fail_next["create_message"] = Unavailable("cosmos down")
    with pytest.raises(Unavailable):
        messages.deposit(PLATFORM, "+1555", b"RIFF", "audio/wav", SENDER, "key-1")
    assert messages.list(PLATFORM, "+1555", ListQuery(), None)["items"] == []
    assert len(audio.blobs) == 1  # an orphan for the retention sweep, never a document without audio
    assert events.events == []
    _retried, created = messages.deposit(PLATFORM, "+1555", b"RIFF", "audio/wav", SENDER, "key-1")
    assert created and len(audio.blobs) == 1  # the retry converges on the same blob


def test_a_failed_audio_write_stores_nothing(parts):
    store, audio, _, messages = parts
    store.fail_next["put_audio"] = Unavailable("blob down")
    with pytest.raises(Unavailable):
        messages.deposit(PLATFORM, "+1555", b"RIFF", "audio/wav", SENDER, None)
    assert store.messages == {} and audio.blobs == {}


def test_idempotent_replay_and_conflict(parts):
    _, _, events, messages = parts
    first, _ = messages.deposit(PLATFORM, "+1555", b"RIFF1", "audio/wav", SENDER, "k")
    again, created = messages.deposit(PLATFORM, "+1555", b"RIFF1", "audio/wav", SENDER, "k")
    assert not created and again["id"] == first["id"]
    assert len(events.events) == 1
    with pytest.raises(IdempotencyConflict):
        messages.deposit(PLATFORM, "+1555", b"RIFF2", "audio/wav", SENDER, "k")


def test_full_mailbox_counts_inbox_and_saved_but_not_trash(parts):
    _, _, _, messages = parts
    ids = [messages.deposit(PLATFORM, "+1555", b"R", "audio/wav", SENDER, None)[0]["id"] for _ in range(3)]
    with pytest.raises(MailboxFull):
        messages.deposit(PLATFORM, "+1555", b"R", "audio/wav", SENDER, None)
    messages.delete(PLATFORM, "+1555", ids[0], purge=False)
    messages.deposit(PLATFORM, "+1555", b"R", "audio/wav", SENDER, None)


def test_purge_hides_the_message_at_once_and_a_repeat_finishes_its_audio(parts):
    store, audio, _, messages = parts
    message, _ = messages.deposit(PLATFORM, "+1555", b"R", "audio/wav", SENDER, None)
    original = f"incoming/+1555/{message['id']}"
    store.fail_next["delete_audio"] = Unavailable("blob down")
    with pytest.raises(Unavailable):
        messages.delete(PLATFORM, "+1555", message["id"], purge=True)
    # The tombstone went first: the message is gone for clients, and counted nowhere.
    with pytest.raises(MessageNotFound):
        messages.get(PLATFORM, "+1555", message["id"])
    assert messages.list(PLATFORM, "+1555", ListQuery(), None)["items"] == []
    assert original in audio.blobs
    messages.delete(PLATFORM, "+1555", message["id"], purge=True)  # the client's retry
    assert original not in audio.blobs
    assert store.journal[-2:] == [f"replace {message['id']}", f"delete {original}"]


def test_subscriber_of_another_mailbox_is_refused_before_any_read(parts):
    from shared.domain.errors import Forbidden

    _, _, _, messages = parts
    with pytest.raises(Forbidden):
        messages.get(Principal("subscriber", "+1999"), "+1555", "nothing")


@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=0-9", (0, 9)), ("bytes=10-", (10, 99)), ("bytes=-5", (95, 99)), ("bytes=90-200", (90, 99)),
])
def test_ranges(header, expected):
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=5-1", "items=0-1", "bytes=0-1,5-6", "bytes=-0", "bytes=a-b"])
def test_unsatisfiable_ranges(header):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)


def test_promised_uploads_take_room_in_the_mailbox(parts):
    from shared.domain.commands import RequestUpload

    _, _, _, messages = parts  # maxMessages 3
    for _ in range(3):
        messages.request_upload(PLATFORM, "+1555", RequestUpload(contentType="audio/wav", sizeBytes=10), None)
    with pytest.raises(MailboxFull):
        messages.request_upload(PLATFORM, "+1555", RequestUpload(contentType="audio/wav", sizeBytes=10), None)
