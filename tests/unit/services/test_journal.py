"""Deposits through a database outage (API.md, added 2026-12-06): journaled while the database does
not answer, replayed once it does: once, under the same id, counted, with MWI; bad records aside."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from shared.deadline import remaining, within
from shared.domain.commands import PutMailbox, RequestUpload
from shared.domain.errors import DatabaseUnavailable, MailboxFull, Unavailable
from shared.domain.model import ListQuery, MailboxSettings
from shared.domain.principal import PLATFORM
from shared.services.messages import Sender
from tests.unit.fakes import FakeAudio, FakeClock, fake_app

SENDER = Sender("+15550001111", "Bob", urgent=True)
MAILBOX = "+1555"


@pytest.fixture
def region():
    region = fake_app()
    region.app.mailboxes.put(PLATFORM, MAILBOX, PutMailbox(displayName="A", settings=MailboxSettings(maxMessages=3)))
    # The replay's wait for the database (a second between tries) on a clock that takes no time.
    region.clock = FakeClock()
    region.app.journal._clock, region.app.journal._sleep = region.clock, region.clock.sleep
    return region


def deposit(region, audio=b"RIFF-a", key="call-1"):
    return region.app.messages.deposit(PLATFORM, MAILBOX, audio, "audio/wav", SENDER, key)[0]


def listed(region) -> list[str]:
    return [m["id"] for m in region.app.messages.list(PLATFORM, MAILBOX, ListQuery(), None)["items"]]


def counts(region) -> dict:
    return region.app.mailboxes.get(PLATFORM, MAILBOX)["counts"]


def journal_names(audio: FakeAudio) -> list[str]:
    return sorted(p for p in audio.blobs if p.startswith("journal/"))


def test_a_deposit_the_database_does_not_take_is_journaled_and_answered(region):
    region.store.down = True
    message = deposit(region)
    assert message["status"] == "processing" and message["mailboxId"] == MAILBOX
    assert message["from"] == {"number": "+15550001111", "name": "Bob"} and message["urgent"] is True
    # one blob in the region's own storage: the audio, its envelope in the metadata; nothing in
    # incoming/ yet (no trigger would find a document), nothing in the database
    record = f"journal/pending/{MAILBOX}/{message['id']}"
    assert journal_names(region.audio) == [record]
    assert region.audio.blobs[record] == b"RIFF-a"
    envelope = json.loads(base64.urlsafe_b64decode(region.audio.metadata[record]["envelope"]))
    assert (envelope["messageId"], envelope["from"], envelope["fromName"], envelope["urgent"]) == (
        message["id"], "+15550001111", "Bob", True)
    assert not any(p.startswith("incoming/") for p in region.audio.blobs)
    assert region.store.messages == {}


def test_the_replay_makes_the_message_once_with_its_counts_and_mwi(region):
    region.store.down = True
    journaled = deposit(region)
    with pytest.raises(Unavailable):  # reads answer 503 meanwhile
        region.app.messages.list(PLATFORM, MAILBOX, ListQuery(), None)
    assert region.app.journal.replay() == {"replayed": 0, "done": 0, "setAside": 0, "waiting": 1}
    assert len(journal_names(region.audio)) == 1  # still down: kept

    region.store.down = False
    assert region.app.journal.replay()["replayed"] == 1
    assert listed(region) == [journaled["id"]]
    stored = region.app.messages.get(PLATFORM, MAILBOX, journaled["id"])
    assert stored["receivedAt"] == journaled["receivedAt"]  # when the caller left it, not the replay
    assert stored["expiresAt"] is not None  # the mailbox's retention applies
    assert counts(region) == {"new": 1, "saved": 0, "urgentNew": 1, "total": 1}
    assert region.events.events[-1]["new"] == 1  # the lamp lights as for any deposit
    assert region.audio.blobs[f"incoming/{MAILBOX}/{journaled['id']}"] == b"RIFF-a"  # the pipeline's trigger
    assert journal_names(region.audio) == []
    # a second pass, and the caller's retry of the same deposit: still one message
    assert region.app.journal.replay() == {"replayed": 0, "done": 0, "setAside": 0, "waiting": 0}
    assert deposit(region)["id"] == journaled["id"]
    assert listed(region) == [journaled["id"]] and counts(region)["total"] == 1


def test_a_retry_stored_before_the_replay_is_not_made_twice(region):
    region.store.down = True
    journaled = deposit(region)
    region.store.down = False
    assert deposit(region)["id"] == journaled["id"]  # the client's retry, answered normally
    assert region.app.journal.replay()["done"] == 1
    assert listed(region) == [journaled["id"]] and counts(region)["total"] == 1
    assert journal_names(region.audio) == []


def test_the_same_deposit_journaled_in_two_regions_makes_one_message(region):
    other = fake_app("r2", store=region.store)
    region.store.down = True
    first = deposit(region)
    second = other.app.messages.deposit(PLATFORM, MAILBOX, b"RIFF-a", "audio/wav", SENDER, "call-1")[0]
    assert first["id"] == second["id"]
    region.store.down = False
    assert region.app.journal.replay()["replayed"] == 1
    assert other.app.journal.replay()["done"] == 1
    assert listed(region) == [first["id"]] and counts(region)["total"] == 1


def test_a_write_that_times_out_after_the_snapshot_is_journaled_too(region):
    region.store.fail_next["create_message"] = DatabaseUnavailable("timed out")
    message = deposit(region)
    assert region.store.messages == {}
    assert journal_names(region.audio) == [f"journal/pending/{MAILBOX}/{message['id']}"]
    region.app.journal.replay()
    assert listed(region) == [message["id"]] and counts(region)["total"] == 1


def test_other_failures_still_answer_503_and_journal_nothing(region):
    region.store.fail_next["create_message"] = Unavailable("storage throttled")
    with pytest.raises(Unavailable):
        deposit(region)
    assert journal_names(region.audio) == []


def test_what_was_journaled_is_kept_past_max_messages_and_later_deposits_wait(region):
    for i in range(3):
        deposit(region, f"RIFF-{i}".encode(), key=f"before-{i}")
    region.store.down = True
    journaled = [deposit(region, f"RIFF-j{i}".encode(), key=f"during-{i}")["id"] for i in range(2)]
    region.store.down = False
    assert region.app.journal.replay()["replayed"] == 2
    assert set(journaled) <= set(listed(region)) and counts(region)["total"] == 5
    with pytest.raises(MailboxFull):
        deposit(region, b"RIFF-after", key="after")


def test_an_unreadable_record_or_lost_audio_is_set_aside_and_never_blocks_the_others(region, caplog):
    region.store.down = True
    good, lost = deposit(region, key="good"), deposit(region, b"RIFF-b", key="lost")
    region.store.down = False
    region.audio.put("journal/pending/+1555/zzz", b"RIFF", "audio/wav", {"envelope": "e25vdCBqc29u"})  # {not json
    region.audio.blobs[f"journal/pending/{MAILBOX}/{lost['id']}"] = b""
    with caplog.at_level(logging.ERROR):
        totals = region.app.journal.replay()
    assert totals == {"replayed": 1, "done": 0, "setAside": 2, "waiting": 0}
    assert listed(region) == [good["id"]]
    assert journal_names(region.audio) == sorted([
        "journal/aside/+1555/zzz", f"journal/aside/{MAILBOX}/{lost['id']}"])
    assert region.audio.metadata["journal/aside/+1555/zzz"]["reason"].startswith("unreadable")
    assert "zzz set aside (unreadable" in caplog.text and "(audio-gone)" in caplog.text
    assert region.app.journal.replay()["setAside"] == 0  # aside is out of the replay's way


def test_a_journaled_deposit_for_a_mailbox_that_does_not_exist_is_set_aside(region):
    region.store.down = True
    message = region.app.messages.deposit(PLATFORM, "+1999", b"RIFF", "audio/wav", SENDER, None)[0]
    region.store.down = False
    assert region.app.journal.replay()["setAside"] == 1
    aside = region.audio.metadata[f"journal/aside/+1999/{message['id']}"]
    assert aside["reason"] == "mailbox-not-found"
    assert region.audio.blobs[f"journal/aside/+1999/{message['id']}"] == b"RIFF"
    assert json.loads(base64.urlsafe_b64decode(aside["envelope"]))["messageId"] == message["id"]


def test_an_idempotency_key_reused_for_another_deposit_is_set_aside(region):
    region.store.down = True
    deposit(region, b"RIFF-one", key="k")
    region.store.down = False
    deposit_now = region.app.messages.deposit(PLATFORM, MAILBOX, b"RIFF-two", "audio/wav", SENDER, "k")[0]
    assert region.app.journal.replay()["setAside"] == 1
    assert listed(region) == [deposit_now["id"]]


def test_a_pass_starts_replaying_as_soon_as_the_database_answers(region):
    region.store.down = True
    journaled = deposit(region)

    def database_back(seconds: float) -> None:  # the database answers two seconds into the pass
        FakeClock.sleep(region.clock, seconds)
        region.store.down = region.clock.slept != [1.0, 1.0]

    region.app.journal._sleep = database_back
    assert region.app.journal.replay()["replayed"] == 1
    assert listed(region) == [journaled["id"]] and region.clock.slept == [1.0, 1.0]


def test_an_upload_landing_while_the_database_is_down_is_processed_after(region):
    upload = region.app.messages.request_upload(
        PLATFORM, MAILBOX, RequestUpload(contentType="audio/wav", sizeBytes=6), "up-1")
    path = f"incoming/{MAILBOX}/{upload['message']['id']}"
    region.audio.blobs[path] = b"RIFF-u"  # the caller's PUT to the link
    region.store.down = True
    assert region.app.pipeline.process(path, b"RIFF-u") == "journaled"
    assert journal_names(region.audio) == [f"journal/pending/{MAILBOX}/{upload['message']['id']}.landing"]
    region.store.down = False
    assert region.app.journal.replay()["replayed"] == 1
    assert region.app.messages.get(PLATFORM, MAILBOX, upload["message"]["id"])["status"] == "ready"
    assert counts(region)["total"] == 1 and journal_names(region.audio) == []


def test_a_budget_shortens_calls_and_nests():
    assert remaining(10.0) == 10.0
    with within(2.0):
        assert 1.9 < remaining(10.0) <= 2.0
        assert remaining(1.0) == 1.0
        with within(5.0):  # an inner budget never outlives the outer one
            assert remaining(10.0) <= 2.0
    assert remaining(10.0) == 10.0
    with within(0.0):
        assert remaining(10.0) == 0.0


def test_a_pass_while_the_database_is_still_down_asks_it_once(region, monkeypatch):
    region.store.down = True
    for i in range(20):
        deposit(region, f"RIFF-{i}".encode(), key=f"k{i}")
    calls = []
    snapshot = region.store.snapshot
    monkeypatch.setattr(region.store, "snapshot", lambda *a, **k: (calls.append(a), snapshot(*a, **k))[1])
    totals = region.app.journal.replay()
    # the first record alone, once a second for the pass's patience (6 s); never the other 19
    assert totals["waiting"] == 20 and region.clock.slept == [1.0] * 6
    assert len(calls) == 7 and len({call[1] for call in calls}) == 1
    region.store.down = False
    calls.clear()
    assert region.app.journal.replay()["replayed"] == 20
    # the first alone, then the other 19 in one query and one batch: not a query and a write each
    assert len(calls) == 2
    assert counts(region)["total"] == 20
    assert len(listed(region)) == 20 and region.events.events[-1]["new"] == 20  # one lamp, the last counts
