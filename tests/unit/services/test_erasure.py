"""Erasure: a deprovisioned mailbox's every copy goes from every region's storage, found by prefix
(also the copies no document records), and every document but its tombstone and the erasure's
records; the request is `done` once each region did its part, and says when the backups expire."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from shared import backups
from shared.domain.commands import PutMailbox
from shared.domain.errors import Forbidden, MailboxDeprovisioning, NotFound, Unavailable
from shared.domain.model import iso, parse_time
from shared.domain.principal import PLATFORM, Principal
from shared.services.messages import Sender
from tests.unit.fakes import FakeAudio, FakeSweepStore, fake_app

SENDER = Sender(None, None, False)
MAILBOX, OTHER = "+1555", "+15551"  # OTHER starts with MAILBOX's digits: a prefix must not reach it


def run_erasure(region) -> dict[str, int]:
    """What the orchestration does in a region (functions/erasure.py), step by step."""
    erasure = region.app.erasure
    jobs = {job["mailboxId"]: job for job in erasure.pending()}
    blobs = documents = 0
    for target in erasure.plan(MAILBOX):
        marker = None
        while True:
            page = erasure.erase_blobs(MAILBOX, target, marker)
            blobs, marker = blobs + page["deleted"], page["marker"]
            if marker is None:
                break
    while (deleted := erasure.erase_documents(MAILBOX)) > 0:
        documents += deleted
    if MAILBOX in jobs:
        erasure.finish(MAILBOX, jobs[MAILBOX]["requestedAt"], blobs, documents)
    return {"blobs": blobs, "documents": documents}


@pytest.fixture
def world():
    """Two regions sharing one database, each its own storage: a message deposited in b, its MP3
    made in a and recorded nowhere, a greeting uploaded in each, journal records in a."""
    store = FakeSweepStore()
    audio_a, audio_b = FakeAudio(store), FakeAudio(store)
    a = fake_app("a", store=store, audio=audio_a, peers={"b": audio_b}, REGIONS="a,b")
    b = fake_app("b", store=store, audio=audio_b, peers={"a": audio_a}, REGIONS="a,b")
    for mailbox in (MAILBOX, OTHER):
        b.app.mailboxes.put(PLATFORM, mailbox, PutMailbox(displayName=mailbox))
    message_id = b.app.messages.deposit(PLATFORM, MAILBOX, b"audio", "audio/wav", SENDER, "k1")[0]["id"]
    kept_id = b.app.messages.deposit(PLATFORM, OTHER, b"other", "audio/wav", SENDER, "k2")[0]["id"]
    unrecorded = {audio_a: [f"incoming/{MAILBOX}/{message_id}", f"audio/{MAILBOX}/{message_id}/mp3",
                            f"incoming/greetings/{MAILBOX}/standard/v1", f"audio/greetings/{MAILBOX}/standard/v1/opus",
                            f"journal/pending/{MAILBOX}/m9", f"journal/aside/{MAILBOX}/m8"],
                  audio_b: [f"incoming/greetings/{MAILBOX}/busy/v2", f"audio/{MAILBOX}/{message_id}/opus",
                            f"journal/aside/{MAILBOX}/m7"]}
    for audio, paths in unrecorded.items():
        for path in paths:
            audio.blobs[path] = b"copy"
    kept = {f"incoming/{OTHER}/{kept_id}", f"incoming/greetings/{OTHER}/busy/v1"}
    audio_a.blobs[f"incoming/greetings/{OTHER}/busy/v1"] = b"theirs"
    return {"a": a, "b": b, "store": store, "id": message_id, "kept": kept, "kept_id": kept_id}


def everything(world, mailbox: str) -> set[tuple[str, str]]:
    """(region, path) of every blob of the mailbox in either region's storage."""
    return {(region, path) for region in ("a", "b") for path in world[region].audio.blobs if f"/{mailbox}/" in path}


def test_a_deprovision_erases_every_copy_in_every_region_and_nothing_else(world):
    a, b, store = world["a"], world["b"], world["store"]
    before = everything(world, MAILBOX)
    assert len(before) == 10  # six in a, four in b
    a.app.mailboxes.deprovision(PLATFORM, MAILBOX)
    assert a.app.erasure.status(PLATFORM, MAILBOX) == {"status": "running", "removed": {"blobs": 0, "documents": 0},
                                                       "backupsExpireAt": None}
    first = run_erasure(a)
    # a removed its own copies, journal included, and b's message audio and greetings; b's journal is b's
    assert everything(world, MAILBOX) == {("b", f"journal/aside/{MAILBOX}/m7")}
    assert a.app.erasure.status(PLATFORM, MAILBOX)["status"] == "running"  # b has yet to do its part
    second = run_erasure(b)
    assert everything(world, MAILBOX) == set()
    status = b.app.erasure.status(PLATFORM, MAILBOX)
    assert status["status"] == "done"
    assert status["removed"] == {"blobs": first["blobs"] + second["blobs"],
                                 "documents": first["documents"] + second["documents"]}
    assert status["removed"]["blobs"] == len(before)
    assert status["removed"]["documents"] >= 2  # the message and the tally at least
    done_at = max(part.done_at for part in store.get_erasure(MAILBOX).regions)
    windows = backups.load()
    assert parse_time(status["backupsExpireAt"]) == done_at + timedelta(days=windows.cosmos_restore_days)
    # What stays: the tombstone and the erasure's records; the other mailbox is whole.
    assert store.get_mailbox(MAILBOX).status == "deprovisioned"
    assert [key for key in store.messages if key[0] == MAILBOX] == []
    assert [key for key in store.tallies if key[0] == MAILBOX] == []
    assert world["kept"] <= set(a.audio.blobs) | set(b.audio.blobs)
    assert (OTHER, world["kept_id"]) in store.messages
    assert store.erasure_requests[MAILBOX].status == "done"
    assert a.app.erasure.pending() == [] and b.app.erasure.pending() == []


def test_repeating_every_step_removes_nothing_twice_and_keeps_the_counts(world):
    a, b = world["a"], world["b"]
    a.app.mailboxes.deprovision(PLATFORM, MAILBOX)
    first = run_erasure(a)
    assert first["blobs"] > 0
    # a crash before the region's record: the orchestration runs again from its start
    assert run_erasure(a) == {"blobs": 0, "documents": 0}
    assert a.app.erasure.status(PLATFORM, MAILBOX)["removed"]["blobs"] == first["blobs"]
    run_erasure(b)
    done = b.app.erasure.status(PLATFORM, MAILBOX)
    assert run_erasure(a) == {"blobs": 0, "documents": 0} and run_erasure(b) == {"blobs": 0, "documents": 0}
    assert b.app.erasure.status(PLATFORM, MAILBOX) == done


def test_a_failed_delete_is_retried_and_the_erasure_finishes(world):
    a, b, store = world["a"], world["b"], world["store"]
    a.app.mailboxes.deprovision(PLATFORM, MAILBOX)
    store.fail_next["delete_audio"] = RuntimeError("storage did not answer")
    with pytest.raises(RuntimeError):
        run_erasure(a)  # the activity raises: the retry policy runs it again
    run_erasure(a)
    run_erasure(b)
    assert everything(world, MAILBOX) == set()
    assert a.app.erasure.status(PLATFORM, MAILBOX)["status"] == "done"


def test_provisioning_the_id_again_waits_until_the_erasure_is_done(world):
    a, b, store = world["a"], world["b"], world["store"]
    a.app.mailboxes.deprovision(PLATFORM, MAILBOX)
    with pytest.raises(MailboxDeprovisioning):
        a.app.mailboxes.put(PLATFORM, MAILBOX, PutMailbox(displayName="new owner"))
    store.delete_mailbox(MAILBOX)  # the retention sweep purged the tombstone: the erasure still runs
    with pytest.raises(MailboxDeprovisioning):
        a.app.mailboxes.put(PLATFORM, MAILBOX, PutMailbox(displayName="new owner"))
    run_erasure(a)
    run_erasure(b)
    _, created = a.app.mailboxes.put(PLATFORM, MAILBOX, PutMailbox(displayName="new owner"))
    assert created
    new_id = b.app.messages.deposit(PLATFORM, MAILBOX, b"new", "audio/wav", SENDER, "k3")[0]["id"]
    assert run_erasure(a) == {"blobs": 0, "documents": 0}  # a late step never touches the new owner's
    assert f"incoming/{MAILBOX}/{new_id}" in b.audio.blobs


def test_the_erasure_route_is_the_platforms_and_404_when_none_was_requested(world):
    a = world["a"]
    with pytest.raises(NotFound):
        a.app.erasure.status(PLATFORM, MAILBOX)
    a.app.mailboxes.deprovision(PLATFORM, MAILBOX)
    with pytest.raises(Forbidden):
        a.app.erasure.status(Principal("subscriber", MAILBOX), MAILBOX)


def test_a_purge_removes_every_regions_copies_of_the_message(world):
    """Deposited in b, taken over by a (its original copied there), MP3 made in a: none recorded."""
    a, b = world["a"], world["b"]
    message_id = world["id"]
    a.app.messages.delete(PLATFORM, MAILBOX, message_id, purge=True)
    left = {p for _, p in everything(world, MAILBOX) if message_id in p}
    assert left == set()
    assert f"incoming/greetings/{MAILBOX}/busy/v2" in b.audio.blobs  # not the message's: kept
    assert world["kept"] <= set(a.audio.blobs) | set(b.audio.blobs)


def test_a_hold_put_on_a_deprovisioned_mailbox_stops_its_erasure_until_released(world):
    from shared.domain.holds import PutHold

    a, b = world["a"], world["b"]
    before = everything(world, MAILBOX)
    a.app.mailboxes.deprovision(PLATFORM, MAILBOX)
    a.app.holds.hold(PLATFORM, MAILBOX, PutHold(reason="case 42"))
    assert a.app.erasure.pending() == []  # nothing is due while held
    run_erasure(a), run_erasure(b)  # a run already going when the hold came does nothing either
    assert everything(world, MAILBOX) == before
    assert a.app.erasure.status(PLATFORM, MAILBOX)["status"] == "running"
    a.app.holds.release(PLATFORM, MAILBOX)
    run_erasure(a), run_erasure(b)
    assert everything(world, MAILBOX) == set()
    assert b.app.erasure.status(PLATFORM, MAILBOX)["status"] == "done"


def test_a_region_that_still_reads_the_mailbox_active_fails_its_step_and_records_nothing(world):
    """Replication lag: the erasure record reached the region before the deprovision did. The step
    fails (retried, the orchestration started again) instead of recording 0 blobs as erased."""
    a, b, store = world["a"], world["b"], world["store"]
    a.app.mailboxes.deprovision(PLATFORM, MAILBOX)
    gone = store.mailboxes[MAILBOX]
    store.mailboxes[MAILBOX] = replace(gone, status="active", expires_at=None)  # b's copy, not replicated yet
    with pytest.raises(Unavailable):
        run_erasure(b)
    assert a.app.erasure.status(PLATFORM, MAILBOX)["removed"] == {"blobs": 0, "documents": 0}
    store.mailboxes[MAILBOX] = gone  # the deprovision arrives
    run_erasure(b), run_erasure(a)
    assert everything(world, MAILBOX) == set()
    assert a.app.erasure.status(PLATFORM, MAILBOX)["status"] == "done"


def test_only_the_regions_the_request_names_take_it_up_and_judge_it_done(world):
    """A store another deployment also reads (the local test stack's shared emulator): its region
    neither erases this deployment's mailbox nor marks the erasure done after doing its own part."""
    a, b, store = world["a"], world["b"], world["store"]
    stranger = fake_app("x", store=store, audio=FakeAudio(store))  # a one-region deployment of its own
    a.app.mailboxes.deprovision(PLATFORM, MAILBOX)
    assert store.erasure_requests[MAILBOX].regions == ("a", "b")
    assert stranger.app.erasure.pending() == []
    stranger.app.erasure.finish(MAILBOX, iso(store.erasure_requests[MAILBOX].requested_at), 0, 0)  # a stray step
    assert stranger.app.erasure.status(PLATFORM, MAILBOX)["status"] == "running"  # a and b have yet to do theirs
    run_erasure(a), run_erasure(b)
    assert everything(world, MAILBOX) == set()
    assert stranger.app.erasure.status(PLATFORM, MAILBOX)["status"] == "done"


def test_a_request_recorded_before_it_named_its_regions_waits_for_every_region_of_the_reader(world):
    a, b, store = world["a"], world["b"], world["store"]
    a.app.mailboxes.deprovision(PLATFORM, MAILBOX)
    store.erasure_requests[MAILBOX] = replace(store.erasure_requests[MAILBOX], regions=())
    assert [job["mailboxId"] for job in b.app.erasure.pending()] == [MAILBOX]
    run_erasure(a)
    assert b.app.erasure.status(PLATFORM, MAILBOX)["status"] == "running"
    run_erasure(b)
    assert b.app.erasure.status(PLATFORM, MAILBOX)["status"] == "done"
