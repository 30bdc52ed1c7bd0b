"""The audio pipeline's rules with in-memory ports: idempotent, deterministic failures final,
transient ones raised for the trigger to retry, greetings only for their current version."""

from __future__ import annotations

import pytest

from shared.domain.commands import PutMailbox
from shared.domain.errors import Unavailable
from shared.domain.model import MailboxSettings
from shared.domain.principal import PLATFORM
from shared.services import pipeline
from shared.services.messages import Sender
from shared.services.pipeline import NotYetStored
from tests.unit.fakes import FakeClock, fake_app

SENDER = Sender("+15550001111", "Bob", urgent=False)


@pytest.fixture
def world():
    region = fake_app()
    region.app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="A",
                                                          settings=MailboxSettings(maxMessageSeconds=60)))
    return {"store": region.store, "audio": region.audio, "events": region.events, "transcoder": region.transcoder,
            "messages": region.app.messages, "greetings": region.app.greetings, "pipeline": region.app.pipeline}


def deposit(world, data: bytes) -> str:
    return world["messages"].deposit(PLATFORM, "+1555", data, "audio/wav", SENDER, None)[0]["id"]


def test_ready_with_renditions_stored_before_the_document_says_so(world):
    message_id = deposit(world, b"hello audio")
    world["store"].journal.clear()
    assert world["pipeline"].process(f"incoming/+1555/{message_id}", b"hello audio") == "ready"
    message = world["messages"].get(PLATFORM, "+1555", message_id)
    assert message["formats"] == ["opus", "wav", "mp3"] and message["durationMs"] == 11
    assert world["audio"].blobs[f"audio/+1555/{message_id}/opus"] == b"opushello audio"
    *puts, last = world["store"].journal
    # The opus and the wav: the mp3 is made on its first request (tests/unit/services/test_renditions.py).
    assert len(puts) == 2 and all(entry.startswith("put audio/") for entry in puts)
    assert last == f"replace {message_id}"  # the document says ready only once its renditions are stored
    assert [e["new"] for e in world["events"].events] == [1, 1]


def test_a_second_firing_changes_nothing(world):
    message_id = deposit(world, b"hello audio")
    world["pipeline"].process(f"incoming/+1555/{message_id}", b"hello audio")
    before = world["messages"].get(PLATFORM, "+1555", message_id)
    assert world["pipeline"].process(f"incoming/+1555/{message_id}", b"hello audio") == "already ready"
    assert world["messages"].get(PLATFORM, "+1555", message_id) == before
    assert world["transcoder"].calls == 1 and len(world["events"].events) == 2


@pytest.mark.parametrize(("data", "reason"),
                         [(b"silent", "silent"), (b"short", "too-short"), (b"junk", "invalid-audio")])
def test_unusable_audio_fails_once_and_for_good(world, data, reason):
    message_id = deposit(world, data)
    assert world["pipeline"].process(f"incoming/+1555/{message_id}", data) == "failed"
    message = world["messages"].get(PLATFORM, "+1555", message_id)
    assert message["status"] == "failed" and message["error"] == reason
    assert world["pipeline"].process(f"incoming/+1555/{message_id}", data) == "already failed"
    assert [e["new"] for e in world["events"].events] == [1, 0]


@pytest.fixture
def fake_time(world, monkeypatch):
    clock = FakeClock()  # the document wait's clock and sleep
    monkeypatch.setattr(world["pipeline"], "_clock", clock)
    monkeypatch.setattr(world["pipeline"], "_sleep", clock.sleep)
    return clock


def test_audio_before_its_document_is_retried(world, fake_time):
    world["audio"].blobs["incoming/+1555/0123456789abcdef"] = b"hello"  # a deposit writes audio first
    with pytest.raises(NotYetStored):
        world["pipeline"].process("incoming/+1555/0123456789abcdef", b"hello")
    # It read the document again for DOCUMENT_WAIT_S, backing off, before it gave up.
    assert sum(fake_time.slept) == pytest.approx(pipeline.DOCUMENT_WAIT_S)
    assert fake_time.slept[:3] == [0.05, 0.1, 0.2] and max(fake_time.slept) <= 0.4


def test_audio_a_moment_before_its_document_waits_for_it(world, monkeypatch, fake_time):
    """The trigger may fire between a deposit's audio and its document: it reads the document again
    for a moment (a retry would wait for the trigger's back-off: 10 s in Azure) and goes on."""
    message_id = deposit(world, b"hello audio")
    store, reads = world["store"], []
    original_get = store.get_message

    def not_yet(mailbox_id, message_id):  # the document lands on the third read
        reads.append(fake_time())
        return original_get(mailbox_id, message_id) if len(reads) >= 3 else None

    monkeypatch.setattr(store, "get_message", not_yet)
    assert world["pipeline"].process(f"incoming/+1555/{message_id}", b"hello audio") == "ready"
    assert len(reads) == 3 and reads[-1] - reads[0] < pipeline.DOCUMENT_WAIT_S


def test_audio_whose_message_and_blob_are_gone_ends_quietly(world):
    """Purged (tombstone expired too) between the blob landing and the trigger: no retries, no poison."""
    assert world["pipeline"].process("incoming/+1555/0123456789abcdef", b"hello") == "gone"


def test_a_purge_during_transcoding_leaves_no_renditions(world):
    message_id = deposit(world, b"hello audio")
    messages, store = world["messages"], world["store"]
    original_write = store.write_message

    def purge_first(message, tally, events=(), usage=()):  # the purge wins the race to the document
        store.write_message = original_write
        messages.delete(PLATFORM, "+1555", message_id, purge=True)
        return original_write(message, tally, events, usage)

    store.write_message = purge_first
    assert world["pipeline"].process(f"incoming/+1555/{message_id}", b"hello audio") == "purged"
    assert not [p for p in world["audio"].blobs if p.startswith(f"audio/+1555/{message_id}")]


def test_storage_failures_raise_for_the_trigger_to_retry(world):
    message_id = deposit(world, b"hello audio")
    world["store"].fail_next["put_audio"] = Unavailable("blob down")
    with pytest.raises(Unavailable):
        world["pipeline"].process(f"incoming/+1555/{message_id}", b"hello audio")
    assert world["messages"].get(PLATFORM, "+1555", message_id)["status"] == "processing"
    assert world["pipeline"].process(f"incoming/+1555/{message_id}", b"hello audio") == "ready"


def test_only_the_current_greeting_version_is_finished(world):
    first = world["greetings"].put(PLATFORM, "+1555", "busy", b"first", "audio/wav")
    old_path = next(p for p in world["audio"].blobs if p.startswith("incoming/greetings/"))
    world["greetings"].put(PLATFORM, "+1555", "busy", b"second", "audio/wav")
    new_path = next(p for p in world["audio"].blobs if p.startswith("incoming/greetings/") and p != old_path)
    assert world["pipeline"].process(old_path, b"first") == "superseded"
    assert world["pipeline"].process(new_path, b"second") == "ready"
    answer = world["greetings"].active(PLATFORM, "+1555", "busy", "opus")
    assert answer.data == b"opussecond"
    assert first["status"] == "processing"


def upload_path(world, known: set[str]) -> str:
    return next(p for p in world["audio"].blobs if p.startswith("incoming/greetings/") and p not in known)


def test_a_ready_greeting_plays_until_its_replacement_is_ready_and_survives_a_failed_one(world):
    greetings, pipeline, audio = world["greetings"], world["pipeline"], world["audio"]
    greetings.put(PLATFORM, "+1555", "busy", b"first", "audio/wav")
    first = upload_path(world, set())
    assert pipeline.process(first, b"first") == "ready"

    greetings.put(PLATFORM, "+1555", "busy", b"junk replacement", "audio/wav")
    bad = upload_path(world, {first})
    assert greetings.active(PLATFORM, "+1555", "busy", "opus").data == b"opusfirst"  # while it transcodes
    assert pipeline.process(bad, b"junk replacement") == "failed"
    assert greetings.active(PLATFORM, "+1555", "busy", "opus").data == b"opusfirst"  # the failure loses nothing

    greetings.put(PLATFORM, "+1555", "busy", b"second", "audio/wav")
    good = upload_path(world, {first, bad})
    assert greetings.active(PLATFORM, "+1555", "busy", "opus").data == b"opusfirst"
    assert pipeline.process(good, b"second") == "ready"
    assert greetings.active(PLATFORM, "+1555", "busy", "opus").data == b"opussecond"
    first_version = first.rsplit("/", 1)[1]
    assert not any(first_version in path for path in audio.blobs)  # the replaced audio is deleted
    assert pipeline.process(good, b"second") == "already ready"  # a re-firing changes nothing


def test_a_greeting_put_that_replaces_one_not_yet_playing_deletes_that_ones_audio(world):
    greetings, pipeline, audio = world["greetings"], world["pipeline"], world["audio"]
    greetings.put(PLATFORM, "+1555", "busy", b"first", "audio/wav")
    first = upload_path(world, set())
    greetings.put(PLATFORM, "+1555", "busy", b"first again", "audio/wav")  # replaces a processing first upload
    again = upload_path(world, {first})
    assert first not in audio.blobs
    assert pipeline.process(again, b"first again") == "ready"

    greetings.put(PLATFORM, "+1555", "busy", b"junk", "audio/wav")
    bad = upload_path(world, {again})
    assert pipeline.process(bad, b"junk") == "failed"  # waits beside the live one, not played
    greetings.put(PLATFORM, "+1555", "busy", b"pending", "audio/wav")  # replaces the failed pending one
    pending = upload_path(world, {again, bad})
    assert bad not in audio.blobs
    greetings.put(PLATFORM, "+1555", "busy", b"second", "audio/wav")  # replaces one still processing
    second = upload_path(world, {again, bad, pending})
    assert pending not in audio.blobs
    assert pipeline.process(pending, b"pending") == "superseded"
    assert greetings.active(PLATFORM, "+1555", "busy", "opus").data == b"opusfirst again"  # the live one plays on
    assert pipeline.process(second, b"second") == "ready"
    assert greetings.active(PLATFORM, "+1555", "busy", "opus").data == b"opussecond"
    versions = {p.split("/")[4] for p in (first, again, bad, pending)}
    assert not [p for p in audio.blobs if "/greetings/" in p and p.split("/")[4] in versions]


def test_paths_that_are_not_ours_are_ignored(world):
    assert world["pipeline"].process("incoming/whatever", b"x") == "ignored"
    assert world["pipeline"].process("incoming/greetings/+1555/loud/abc", b"x") == "ignored"
