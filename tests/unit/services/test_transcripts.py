"""Transcripts with in-memory ports: pending when a message turns ready, settled once (ready with
the words, or failed with a reason), retried with growing back-off and never forever, and never a
change to the message itself (status, audio, counts, flags set meanwhile)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.domain.commands import ForwardMessage, PatchMessage, PutMailbox
from shared.domain.errors import Unavailable
from shared.domain.model import ListQuery, MailboxSettings
from shared.domain.principal import PLATFORM
from shared.domain.transcripts import (
    FIRST_RETRY_S,
    LONGEST_WAIT_S,
    MAX_ATTEMPTS,
    Recognized,
    TranscriberUnavailable,
    TranscriptionJob,
    TranscriptionRejected,
    retry_delay,
    speech_locale,
)
from shared.services.messages import Sender
from shared.services.mwi import Mwi
from shared.services.pipeline import AudioPipeline
from shared.services.replication import Regions
from shared.services.transcripts import TranscriptService
from shared.telemetry import Telemetry
from tests.unit.fakes import (
    CONTAINERS,
    FakeAudio,
    FakeEvents,
    FakeGreetings,
    FakeJobs,
    FakeReplicationRequests,
    FakeStore,
    FakeTranscoder,
    hand_mailboxes,
)
from tests.unit.services.wiring import announcing_ledger, message_use_cases

SENDER = Sender("+15550001111", "Bob", urgent=False)
MAILBOX = "+1555"


class FakeTranscriber:
    """Hears `words` in whatever it is given; or raises what `failures` holds, one per call."""

    name = "fake"

    def __init__(self, words: str = "please call me back") -> None:
        self.words = words
        self.failures: list[Exception] = []
        self.heard: list[tuple[bytes, str]] = []
        self.during: list = []  # callables run while it "listens": a concurrent change

    def transcribe(self, audio: bytes, locale: str) -> Recognized:
        self.heard.append((audio, locale))
        for change in self.during:
            change()
        if self.failures:
            raise self.failures.pop(0)
        return Recognized(self.words, 0.87)


def make_world(transcriber: FakeTranscriber | None, **settings):
    store, events, jobs = FakeStore(), FakeEvents(), FakeJobs()
    audio = FakeAudio(store)
    mwi, ledger = Mwi(store, events), announcing_ledger(store, "r1", events)
    mailboxes = hand_mailboxes(store, mwi)
    mailboxes.put(PLATFORM, MAILBOX, PutMailbox(displayName="A", settings=MailboxSettings(maxMessageSeconds=60,
                                                                                          **settings)))
    settled = []
    transcripts = TranscriptService(store, Regions("r1", audio, {}), transcriber, jobs, Telemetry(),
                                    on_settled=[settled.append])
    return {
        "store": store, "audio": audio, "events": events, "jobs": jobs, "settled": settled,
        "transcriber": transcriber, "transcripts": transcripts,
        "messages": message_use_cases(store, audio, mailboxes, ledger),
        "pipeline": AudioPipeline(store, store, FakeGreetings(), audio, FakeTranscoder(), ledger, "r1", normalize=True,
                                  containers=CONTAINERS, replication=FakeReplicationRequests(), telemetry=Telemetry(),
                                  transcripts=transcripts, journal=None),
    }


@pytest.fixture
def world():
    return make_world(FakeTranscriber())


def ready_message(world, data: bytes = b"hello audio") -> str:
    message_id = world["messages"].deposit(PLATFORM, MAILBOX, data, "audio/wav", SENDER, None)[0]["id"]
    assert world["pipeline"].process(f"incoming/{MAILBOX}/{message_id}", data) == "ready"
    return message_id


def read(world, message_id: str) -> dict:
    return world["messages"].get(PLATFORM, MAILBOX, message_id)


def run_jobs(world) -> list[str]:
    outcomes = []
    while world["jobs"].queued:
        outcomes.append(world["transcripts"].transcribe(world["jobs"].take()))
    return outcomes


def test_a_message_turning_ready_is_pending_then_ready_with_the_words(world):
    message_id = ready_message(world)
    pending = read(world, message_id)
    assert pending["status"] == "ready"
    assert pending["transcript"] == {"status": "pending", "text": None, "language": "en-US", "confidence": None,
                                     "error": None}
    assert [job.message_id for job, delay in world["jobs"].queued] == [message_id]
    assert run_jobs(world) == ["ready"]
    done = read(world, message_id)
    assert done["transcript"] == {"status": "ready", "text": "please call me back", "language": "en-US",
                                  "confidence": 0.87, "error": None}
    # Nothing else about the message changed: same status, audio, flags; no MWI event of its own.
    assert {k: v for k, v in done.items() if k not in ("transcript", "etag")} == \
        {k: v for k, v in pending.items() if k not in ("transcript", "etag")}
    assert [e["new"] for e in world["events"].events] == [1, 1]
    # What it heard is what the subscriber hears: the Opus rendition, in the mailbox's language.
    assert world["transcriber"].heard == [(b"opushello audio", "en-US")]
    listed = world["messages"].list(PLATFORM, MAILBOX, ListQuery(), None)["items"]
    assert listed[0]["transcript"]["text"] == "please call me back"


def test_the_mailbox_language_is_the_transcription_language():
    world = make_world(FakeTranscriber(), language="en-gb")
    message_id = ready_message(world)
    run_jobs(world)
    assert read(world, message_id)["transcript"]["language"] == "en-GB"
    assert world["transcriber"].heard[0][1] == "en-GB"


@pytest.mark.parametrize(("engine", "settings"), [(FakeTranscriber(), {"transcription": False}), (None, {})])
def test_no_transcription_wanted_or_configured_gives_null_and_no_job(engine, settings):
    world = make_world(engine, **settings)
    message_id = ready_message(world)
    assert read(world, message_id)["transcript"] is None
    assert world["jobs"].queued == []


def test_the_settle_is_announced_once_however_often_the_job_runs(world):
    message_id = ready_message(world)
    job = world["jobs"].take()
    assert world["transcripts"].transcribe(job) == "ready"
    etag = read(world, message_id)["etag"]
    assert world["transcripts"].transcribe(job) == "nothing to do"
    assert world["pipeline"].process(f"incoming/{MAILBOX}/{message_id}", b"hello audio") == "already ready"
    assert world["jobs"].queued == []  # settled: a re-fired trigger queues nothing
    assert read(world, message_id)["etag"] == etag
    assert [m.id for m in world["settled"]] == [message_id]
    assert world["settled"][0].transcript.status == "ready"


def test_a_listener_that_fails_does_not_undo_the_transcript_and_others_still_hear(world):
    heard = []
    world["transcripts"].listen(lambda message: (_ for _ in ()).throw(RuntimeError("notifier down")))
    world["transcripts"].listen(heard.append)
    message_id = ready_message(world)
    assert run_jobs(world) == ["ready"]
    assert read(world, message_id)["transcript"]["status"] == "ready"
    assert [m.id for m in heard] == [message_id] == [m.id for m in world["settled"]]


def test_an_engine_that_keeps_failing_is_retried_with_growing_back_off_then_fails_for_good(world):
    world["transcriber"].failures = [TranscriberUnavailable("503")] * MAX_ATTEMPTS
    message_id = ready_message(world)
    delays = []
    for attempt in range(1, MAX_ATTEMPTS):
        assert world["transcripts"].transcribe(world["jobs"].take()).startswith(f"attempt {attempt} failed")
        assert read(world, message_id)["transcript"]["status"] == "pending"
        job, delay = world["jobs"].queued[0]
        assert job.attempt == attempt + 1
        delays.append(delay)
    assert delays == sorted(delays) and delays[0] == FIRST_RETRY_S and len(set(delays)) == len(delays)
    assert world["transcripts"].transcribe(world["jobs"].take()) == "failed"
    message = read(world, message_id)
    assert message["transcript"]["status"] == "failed" and message["transcript"]["error"] == "engine-unavailable"
    assert message["transcript"]["text"] is None
    assert message["status"] == "ready" and message["formats"] == ["opus", "wav", "mp3"]  # the message unaffected
    assert world["jobs"].queued == []  # nothing loops
    assert len(world["settled"]) == 1


def test_an_engine_that_recovers_gives_the_words(world):
    world["transcriber"].failures = [TranscriberUnavailable("busy")]
    message_id = ready_message(world)
    assert run_jobs(world)[-1] == "ready"
    assert read(world, message_id)["transcript"]["text"] == "please call me back"


@pytest.mark.parametrize(("failure", "reason"), [
    (TranscriptionRejected("unsupported-language"), "unsupported-language"),
    (TranscriptionRejected("audio-unreadable"), "audio-unreadable"),
])
def test_what_the_engine_can_never_do_fails_at_once(world, failure, reason):
    world["transcriber"].failures = [failure]
    message_id = ready_message(world)
    assert run_jobs(world) == ["failed"]
    assert read(world, message_id)["transcript"]["error"] == reason
    assert len(world["transcriber"].heard) == 1


def test_no_words_heard_is_a_failed_transcript_not_an_empty_one():
    world = make_world(FakeTranscriber(words=""))
    message_id = ready_message(world)
    run_jobs(world)
    assert read(world, message_id)["transcript"]["error"] == "no-speech"


def test_a_change_made_while_transcribing_survives(world):
    message_id = ready_message(world)
    world["transcriber"].during.append(
        lambda: world["messages"].patch(PLATFORM, MAILBOX, message_id, PatchMessage(heard=True, folder="saved"), None))
    run_jobs(world)
    message = read(world, message_id)
    assert message["heard"] is True and message["folder"] == "saved"
    assert message["transcript"]["status"] == "ready"


def test_a_message_purged_before_its_job_runs_is_left_alone(world):
    message_id = ready_message(world)
    world["messages"].delete(PLATFORM, MAILBOX, message_id, purge=True)
    assert run_jobs(world) == ["gone"]
    assert world["transcriber"].heard == [] and world["settled"] == []


def test_a_truncated_message_is_transcribed_from_what_was_kept_not_the_original(world):
    message_id = ready_message(world)
    key = (MAILBOX, message_id)
    world["store"].messages[key] = replace(world["store"].messages[key], truncated=True)
    world["audio"].blobs.pop(f"audio/{MAILBOX}/{message_id}/opus")
    run_jobs(world)
    assert world["transcriber"].heard[0][0] == b"wavhello audio"


def test_audio_missing_everywhere_ends_failed_after_its_attempts(world):
    message_id = ready_message(world)
    for path in list(world["audio"].blobs):
        world["audio"].blobs.pop(path)
    outcomes = run_jobs(world)
    assert len(outcomes) == MAX_ATTEMPTS and outcomes[-1] == "failed"
    assert read(world, message_id)["transcript"]["error"] == "audio-unavailable"


def test_a_store_failing_on_the_last_delivery_still_settles_the_transcript(world):
    message_id = ready_message(world)
    job = world["jobs"].take()
    world["transcriber"].during.append(lambda: (_ for _ in ()).throw(Unavailable("cosmos")))
    with pytest.raises(Unavailable):
        world["transcripts"].transcribe(job, last_delivery=False)
    assert read(world, message_id)["transcript"]["status"] == "pending"  # the queue delivers it again
    with pytest.raises(Unavailable):
        world["transcripts"].transcribe(job, last_delivery=True)
    assert read(world, message_id)["transcript"]["error"] == "engine-unavailable"  # none stays pending


def test_a_job_not_queued_when_the_message_turned_ready_is_queued_by_the_trigger_retry(world):
    message_id = world["messages"].deposit(PLATFORM, MAILBOX, b"hello", "audio/wav", SENDER, None)[0]["id"]
    world["jobs"].fail_next = Unavailable("queue down")
    with pytest.raises(Unavailable):
        world["pipeline"].process(f"incoming/{MAILBOX}/{message_id}", b"hello")
    assert read(world, message_id)["status"] == "ready" and world["jobs"].queued == []
    assert world["pipeline"].process(f"incoming/{MAILBOX}/{message_id}", b"hello") == "already ready"
    assert run_jobs(world) == ["ready"]
    assert [e["new"] for e in world["events"].events] == [1, 1]  # one MWI event for ready, not two


def test_locales_from_mailbox_languages():
    assert [speech_locale(x) for x in ("en", "fr", "en-gb", "pt-br", "zh-Hans-cn", "xx")] == \
        ["en-US", "fr-FR", "en-GB", "pt-BR", "zh-Hans-CN", "xx"]


def test_back_off_doubles_and_is_capped():
    assert [retry_delay(n) for n in (1, 2, 3)] == [FIRST_RETRY_S, 2 * FIRST_RETRY_S, 4 * FIRST_RETRY_S]
    assert retry_delay(50) == LONGEST_WAIT_S


@pytest.mark.parametrize("body", [{}, {"mailboxId": "+1", "messageId": 5}, {"mailboxId": "+1", "messageId": "m",
                                                                            "attempt": 0},
                                  {"mailboxId": "+1", "messageId": "m", "attempt": True}])
def test_queue_messages_that_are_not_jobs_are_refused(body):
    with pytest.raises(ValueError):
        TranscriptionJob.from_payload(body)


def test_jobs_round_trip_through_their_queue_format():
    job = TranscriptionJob("+1555", "abc", 3, {"traceparent": "00-1-2-01"})
    assert TranscriptionJob.from_payload(job.to_payload()) == job


def test_a_forwarded_copy_carries_the_settled_transcript_when_the_target_wants_one(world):
    message_id = ready_message(world)
    run_jobs(world)
    mailboxes = hand_mailboxes(world["store"], Mwi(world["store"], world["events"]))
    mailboxes.put(PLATFORM, "+1666", PutMailbox(displayName="B"))
    mailboxes.put(PLATFORM, "+1777", PutMailbox(displayName="C", settings=MailboxSettings(transcription=False)))
    wanted = world["messages"].forward(PLATFORM, MAILBOX, message_id, ForwardMessage(to="+1666"))
    unwanted = world["messages"].forward(PLATFORM, MAILBOX, message_id, ForwardMessage(to="+1777"))
    assert wanted["transcript"]["text"] == "please call me back" and unwanted["transcript"] is None
    assert world["jobs"].queued == []  # nothing to transcribe again
