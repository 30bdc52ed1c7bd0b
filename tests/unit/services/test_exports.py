"""Exports on in-memory ports: the ZIP holds what the API answers (the mailbox, every message with
its transcript) and each original audio byte for byte; it is streamed (memory stays bounded
whatever the mailbox holds); the status answers a short-lived link once ready, 404 for an unknown
or another mailbox's export; a failure ends `failed`; expired ZIPs are deleted."""

from __future__ import annotations

import contextlib
import io
import json
import tracemalloc
import zipfile
import zlib
from dataclasses import replace
from datetime import timedelta

import pytest

from shared.domain.commands import PatchMessage, PutMailbox
from shared.domain.errors import Forbidden, MailboxNotFound, NotFound
from shared.domain.exports import KEPT, LINK_TTL
from shared.domain.model import parse_time, utcnow
from shared.domain.principal import PLATFORM, Principal
from shared.services.messages import Sender
from tests.unit.fakes import FakeAudio, FakeSweepStore, fake_app, fake_ports
from tests.unit.fakes_exports import FakeExports

MAILBOX, OTHER = "+15550001", "+15550002"
SUBSCRIBER = Principal("subscriber", MAILBOX)


@pytest.fixture
def region():
    region = fake_app()
    for mailbox_id in (MAILBOX, OTHER):
        region.app.mailboxes.put(PLATFORM, mailbox_id, PutMailbox(displayName="Alice"))
    return region


def deposit(region, audio: bytes, content_type: str = "audio/wav", mailbox_id: str = MAILBOX) -> str:
    message = region.app.messages.deposit(PLATFORM, mailbox_id, audio, content_type,
                                          Sender("+15557770000", "Bob", urgent=False), None)[0]
    return message["id"]


def exported(region, mailbox_id: str = MAILBOX) -> tuple[str, zipfile.ZipFile]:
    """Request, build and finish an export, as the orchestration does: its id and its ZIP."""
    export = region.app.exports.request(PLATFORM, mailbox_id)
    counts = region.app.exports.build(mailbox_id, export.id)
    region.app.exports.finish(mailbox_id, export.id, counts)
    return export.id, zipfile.ZipFile(io.BytesIO(region.audio.blobs[f"exports/{mailbox_id}/{export.id}.zip"]))


def test_the_zip_holds_the_mailbox_every_message_and_each_original_as_the_api_answers(region):
    app = region.app
    first = deposit(region, b"RIFF first message audio")
    app.pipeline.process(f"incoming/{MAILBOX}/{first}", b"RIFF first message audio")  # ready, transcoded
    second = deposit(region, b"OggS second message", "audio/ogg")  # still processing
    trashed = deposit(region, b"RIFF trashed one")
    app.messages.patch(PLATFORM, MAILBOX, trashed, PatchMessage(folder="trash"), None)
    app.greetings.put(PLATFORM, MAILBOX, "busy", b"RIFF busy greeting", "audio/wav")
    deposit(region, b"RIFF someone else's", mailbox_id=OTHER)

    _, archive = exported(region)

    assert json.loads(archive.read("mailbox.json")) == app.mailboxes.get(PLATFORM, MAILBOX)
    messages = json.loads(archive.read("messages.json"))
    assert sorted(messages, key=lambda m: m["id"]) == sorted(
        (app.messages.get(PLATFORM, MAILBOX, m) for m in (first, second, trashed)), key=lambda m: m["id"])
    assert {m["mailboxId"] for m in messages} == {MAILBOX}
    assert archive.read(f"messages/{first}.wav") == b"RIFF first message audio"
    assert archive.read(f"messages/{second}.ogg") == b"OggS second message"
    assert archive.read(f"messages/{trashed}.wav") == b"RIFF trashed one"
    assert archive.read("greetings/busy.wav") == b"RIFF busy greeting"
    assert sorted(archive.namelist()) == sorted(["mailbox.json", "messages.json", f"messages/{first}.wav",
                                                 f"messages/{second}.ogg", f"messages/{trashed}.wav",
                                                 "greetings/busy.wav"])
    assert archive.testzip() is None


def test_a_purged_message_is_not_in_the_export(region):
    kept, purged = deposit(region, b"RIFF kept"), deposit(region, b"RIFF purged")
    region.app.messages.delete(PLATFORM, MAILBOX, purged, purge=True)
    _, archive = exported(region)
    assert [m["id"] for m in json.loads(archive.read("messages.json"))] == [kept]
    assert not any(purged in name for name in archive.namelist())


class CountingStreams:
    """A sink that keeps only a CRC and a count: what the build holds is all that memory holds."""

    def __init__(self) -> None:
        self.size = 0

    @contextlib.contextmanager
    def open_write(self, path, content_type):
        sink = self

        class Sink(io.RawIOBase):
            def writable(self):
                return True

            def write(self, data):
                sink.size += len(data)
                return len(data)

        yield Sink()


def test_the_zip_is_streamed_never_the_whole_mailbox_in_memory():
    streams = CountingStreams()
    store = FakeSweepStore()
    region = fake_app(ports=fake_ports(store, audio=FakeAudio(store), streams=streams))
    region.app.mailboxes.put(PLATFORM, MAILBOX, PutMailbox(displayName="Alice"))
    each = 3 << 20
    for n in range(24):  # 72 MiB of originals
        deposit(region, bytes([n]) * each)
    export = region.app.exports.request(PLATFORM, MAILBOX)
    tracemalloc.start()
    try:
        counts = region.app.exports.build(MAILBOX, export.id)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert counts == {"messages": 24, "audio": 24, "missing": 0}
    assert streams.size > 24 * each  # every byte went through
    assert peak < 12 << 20, f"the build held {peak >> 20} MiB at once"


def test_status_running_then_ready_with_a_short_lived_link_then_expired(region):
    deposit(region, b"RIFF audio")
    app = region.app
    export = app.exports.request(PLATFORM, MAILBOX)
    running = app.exports.status(PLATFORM, MAILBOX, export.id)
    assert running["status"] == "running" and running["url"] is None and running["expiresAt"] is None
    app.exports.finish(MAILBOX, export.id, app.exports.build(MAILBOX, export.id))
    ready = app.exports.status(PLATFORM, MAILBOX, export.id)
    assert ready["status"] == "ready" and ready["url"]
    assert parse_time(ready["expiresAt"]) - utcnow() <= LINK_TTL
    assert parse_time(ready["availableUntil"]) - utcnow() <= KEPT
    zip_path = f"exports/{MAILBOX}/{export.id}.zip"
    assert zipfile.ZipFile(io.BytesIO(region.audio.blobs[zip_path])).testzip() is None

    record = region.ports.exports.records[(MAILBOX, export.id)]  # its time is up
    region.ports.exports.records[(MAILBOX, export.id)] = replace(record, keep_until=utcnow() - timedelta(seconds=1))
    assert app.exports.status(PLATFORM, MAILBOX, export.id)["status"] == "expired"
    assert app.exports.expire(10) == 1
    assert zip_path not in region.audio.blobs
    gone = app.exports.status(PLATFORM, MAILBOX, export.id)
    assert gone["status"] == "expired" and gone["url"] is None
    assert app.exports.expire(10) == 0


def test_unknown_and_another_mailboxs_exports_are_not_found(region):
    export = region.app.exports.request(PLATFORM, OTHER)
    for mailbox_id, export_id in ((MAILBOX, export.id), (MAILBOX, "0" * 32), (MAILBOX, "not-an-id"),
                                  (OTHER, "f" * 32)):
        with pytest.raises(NotFound):
            region.app.exports.status(PLATFORM, mailbox_id, export_id)
    with pytest.raises(MailboxNotFound):
        region.app.exports.request(PLATFORM, "+19990000")
    with pytest.raises(Forbidden):
        region.app.exports.request(SUBSCRIBER, MAILBOX)


def test_a_failure_ends_failed_with_its_reason_and_leaves_no_zip(region):
    app = region.app
    export = app.exports.request(PLATFORM, MAILBOX)
    app.mailboxes.deprovision(PLATFORM, MAILBOX)
    with pytest.raises(MailboxNotFound):
        app.exports.build(MAILBOX, export.id)
    app.exports.fail(MAILBOX, export.id, "mailbox-not-found: no mailbox")
    failed = app.exports.status(PLATFORM, MAILBOX, export.id)
    assert failed["status"] == "failed" and failed["reason"] == "mailbox-not-found: no mailbox"
    assert failed["url"] is None
    assert not any(path.startswith("exports/") for path in region.audio.blobs)
    # Settled for good: a late build or finish changes nothing, and a ZIP written too late is deleted.
    assert app.exports.build(MAILBOX, export.id) is None
    region.audio.blobs[f"exports/{MAILBOX}/{export.id}.zip"] = b"late"
    assert app.exports.finish(MAILBOX, export.id, {}).status == "failed"
    assert not any(path.startswith("exports/") for path in region.audio.blobs)


def test_finishing_twice_is_the_same_as_once(region):
    app = region.app
    export = app.exports.request(PLATFORM, MAILBOX)
    counts = app.exports.build(MAILBOX, export.id)
    first = app.exports.finish(MAILBOX, export.id, counts)
    again = app.exports.finish(MAILBOX, export.id, counts)
    assert again == first and first.status == "ready"
    assert zlib.crc32(region.audio.blobs[first.path]) == zlib.crc32(region.audio.blobs[again.path])


def test_two_regions_the_asking_region_builds_it_and_either_answers_its_link():
    """Regions share the database: only the region asked builds (in its own account), and a status
    read in the other region links to that account; audio deposited in the other region is read there."""
    store, records = FakeSweepStore(), FakeExports()  # one database: the records too
    audio_a, audio_b = FakeAudio(store), FakeAudio(store)
    a = fake_app("ra", ports=fake_ports(store, audio=audio_a, peers={"rb": audio_b}, exports=records))
    b = fake_app("rb", ports=fake_ports(store, audio=audio_b, peers={"ra": audio_a}, exports=records))
    a.app.mailboxes.put(PLATFORM, MAILBOX, PutMailbox(displayName="Alice"))
    in_b = deposit(b, b"RIFF deposited in b")
    b.app.greetings.put(PLATFORM, MAILBOX, "name", b"RIFF name said in b", "audio/wav")

    export = a.app.exports.request(PLATFORM, MAILBOX)
    assert b.app.exports.pending(10) == [] and [e.id for e in a.app.exports.pending(10)] == [export.id]
    a.app.exports.finish(MAILBOX, export.id, a.app.exports.build(MAILBOX, export.id))
    assert export.path in audio_a.blobs and export.path not in audio_b.blobs
    archive = zipfile.ZipFile(io.BytesIO(audio_a.blobs[export.path]))
    assert archive.read(f"messages/{in_b}.wav") == b"RIFF deposited in b"
    assert archive.read("greetings/name.wav") == b"RIFF name said in b"
    from_b = b.app.exports.status(PLATFORM, MAILBOX, export.id)
    assert from_b["status"] == "ready" and from_b["url"] == f"fake://{id(audio_a)}/{export.path}"
    assert b.app.exports.expire(10) == 0  # nor does the other region delete it


def test_an_erasure_removes_the_mailboxs_exports_and_no_other(region):
    app = region.app
    deposit(region, b"RIFF mine")
    deposit(region, b"RIFF theirs", mailbox_id=OTHER)
    mine, _ = exported(region)
    theirs, _ = exported(region, OTHER)
    app.mailboxes.deprovision(PLATFORM, MAILBOX)
    for target in app.erasure.plan(MAILBOX):  # what the erasure's orchestration does, page by page
        marker = None
        while (marker := app.erasure.erase_blobs(MAILBOX, target, marker)["marker"]) is not None:
            pass
    assert f"exports/{MAILBOX}/{mine}.zip" not in region.audio.blobs
    assert f"exports/{OTHER}/{theirs}.zip" in region.audio.blobs
