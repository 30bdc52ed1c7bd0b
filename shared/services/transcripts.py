"""Transcripts: a message turning `ready` gets `transcript: pending` in that same write (when this
deployment transcribes and its mailbox wants it), and a job on the region's transcription queue;
the job settles the transcript once, `ready` with the text or `failed` with a reason.

- Idempotent: a job whose transcript is no longer pending (settled, purged, gone) does nothing,
  so a repeated or duplicated job changes nothing and announces nothing twice.
- Retried with back-off: an engine that does not answer is tried again MAX_ATTEMPTS times in all,
  each attempt a new queue message hidden for retry_delay(attempt); after the last, `failed`
  (`engine-unavailable`). What the engine can never do (`unsupported-language`, unreadable audio)
  fails at once. Storage failures raise, so the queue itself retries the job and poisons it at
  last (on its last delivery the transcript is first marked `failed`, so none stays pending).
- Never touches the message otherwise: only the `transcript` register is written (ETag-guarded,
  re-read on a conflict), so a concurrent `heard` or move survives, counts do not change, and a
  failure leaves the message and its audio as they were.

`settled()` is the one place a transcript settles: listeners given at construction (e.g. the
notifications' `message.ready`) hear about every message whose transcript became ready or failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from shared.domain.errors import AudioNotFound, EtagMismatch, NotFound
from shared.domain.model import MailboxSettings, Message, utcnow
from shared.domain.replicated import clock
from shared.domain.transcripts import (
    AUDIO_UNAVAILABLE,
    ENGINE_UNAVAILABLE,
    MAX_ATTEMPTS,
    NO_SPEECH,
    NOT_ALLOWED,
    TranscriberUnavailable,
    Transcript,
    TranscriptionJob,
    TranscriptionRejected,
    retry_delay,
)
from shared.domain.usage import message_facts
from shared.ports import MessageRepository, Transcriber, TranscriptionQueue
from shared.services.replication import Regions
from shared.telemetry import Telemetry

logger = logging.getLogger(__name__)
_CONFLICT_RETRIES = 5
# The audio transcribed: what the subscriber hears (the Opus rendition keeps the source's band and
# stops where a too-long message was cut), else the telephony WAV, else the original.
_SOURCES = ("opus", "wav", "original")

SettledListener = Callable[[Message], None]


class TranscriptService:
    def __init__(self, messages: MessageRepository, regions: Regions, transcriber: Transcriber | None,
                 queue: TranscriptionQueue, telemetry: Telemetry,
                 on_settled: Sequence[SettledListener] = ()):
        self._messages = messages
        self._regions = regions
        self._transcriber = transcriber
        self._queue = queue
        self._telemetry = telemetry
        self._listeners = list(on_settled)

    # -- when a message turns ready (called by the audio pipeline) ------------------------------

    def pending_for(self, settings: MailboxSettings) -> Transcript | None:
        """What a message turning ready carries: `pending` in its mailbox's language when this
        deployment transcribes and the mailbox wants it, else None (`transcript: null`)."""
        if self._transcriber is None or not settings.transcription:
            return None
        return Transcript.pending(settings.language)

    def request(self, message: Message) -> None:
        """Queue the transcription of a message just stored `ready` with a pending transcript."""
        if message.status == "ready" and message.transcript is not None and not message.transcript.settled:
            self._queue.submit(TranscriptionJob(message.mailbox_id, message.id))

    # -- the job ----------------------------------------------------------------------------------

    def transcribe(self, job: TranscriptionJob, last_delivery: bool = False) -> str:
        """Run one attempt of a job; what happened (for the log). last_delivery: the queue will not
        deliver this message again, so an unexpected failure marks the transcript failed first."""
        try:
            return self._transcribe(job)
        except Exception:
            if last_delivery:
                self._give_up(job)
            raise

    def _transcribe(self, job: TranscriptionJob) -> str:
        message = self._messages.get_message(job.mailbox_id, job.message_id)
        if message is None or message.purged:
            return "gone"
        transcript = message.transcript
        if transcript is None or transcript.settled:
            return "nothing to do"
        if self._transcriber is None:  # transcription was turned off since the job was queued
            return self._settle(message, transcript.failed(ENGINE_UNAVAILABLE))
        mailbox = self._messages.snapshot(job.mailbox_id).mailbox  # as its class of service makes it now
        if mailbox is not None and not mailbox.allows("transcription"):  # the class stopped allowing it
            return self._settle(message, transcript.failed(NOT_ALLOWED))
        return self._attempt(job, message, transcript, self._transcriber)

    def _attempt(self, job: TranscriptionJob, message: Message, transcript: Transcript,
                 transcriber: Transcriber) -> str:
        try:
            audio = self._audio(message)
        except AudioNotFound:  # replication or a takeover may still bring it
            return self._later(job, message, transcript, AUDIO_UNAVAILABLE)
        try:
            with self._telemetry.span("transcribe", job.trace) as span:
                span.set_attribute("voicemail.transcriber", transcriber.name)
                heard = transcriber.transcribe(audio, transcript.language)
        except TranscriptionRejected as rejected:
            logger.info("transcript of %s/%s failed: %s", message.mailbox_id, message.id, rejected)
            return self._settle(message, transcript.failed(rejected.reason))
        except TranscriberUnavailable as error:
            logger.warning("transcription of %s/%s, attempt %d: %s", message.mailbox_id, message.id,
                           job.attempt, error)
            return self._later(job, message, transcript, ENGINE_UNAVAILABLE)
        if not heard.text:
            return self._settle(message, transcript.failed(NO_SPEECH))
        return self._settle(message, transcript.ready(heard.text, heard.confidence))

    def _audio(self, message: Message) -> bytes:
        for name in _SOURCES:
            path = message.blobs.get(name)
            if path is None or (name == "original" and message.truncated):
                continue
            try:
                store, _ = self._regions.read_anywhere(path, (message.deposit_region, *message.replica_regions))
            except AudioNotFound:
                continue
            return store.read(path)
        raise AudioNotFound("no audio of this message is reachable from here")

    def _later(self, job: TranscriptionJob, message: Message, transcript: Transcript, reason: str) -> str:
        """Another attempt after a back-off, or `failed` once the attempts are used up."""
        if job.attempt >= MAX_ATTEMPTS:
            return self._settle(message, transcript.failed(reason))
        delay = retry_delay(job.attempt)
        self._queue.submit(job.next_attempt(), delay)
        return f"attempt {job.attempt} failed ({reason}); next in {delay:g} s"

    def _give_up(self, job: TranscriptionJob) -> None:
        try:
            message = self._messages.get_message(job.mailbox_id, job.message_id)
            if message is not None and not message.purged and message.transcript is not None \
                    and not message.transcript.settled:
                self._settle(message, message.transcript.failed(ENGINE_UNAVAILABLE))
        except Exception:  # the store itself is failing: the poison queue keeps the job for an operator
            logger.exception("could not mark the transcript of %s/%s failed", job.mailbox_id, job.message_id)

    def _settle(self, message: Message, transcript: Transcript) -> str:
        """Write the settled transcript (its register only, ETag-guarded); then `settled()`."""
        for _ in range(_CONFLICT_RETRIES):
            stamped = replace(message, transcript=transcript,
                              clocks={**message.clocks, "transcript": clock(utcnow(), self._regions.region)})
            try:
                # A ready transcript's seconds are counted by the same write (shared/domain/usage.py).
                stored = self._messages.write_message(
                    stamped, None, usage=message_facts(stamped, created=False, changed=("transcript",)))
            except (EtagMismatch, NotFound):
                message = self._messages.get_message(message.mailbox_id, message.id)
                if message is None or message.purged or message.transcript is None or message.transcript.settled:
                    return "settled elsewhere"
                continue
            self.settled(stored)
            return transcript.status
        raise EtagMismatch("the message kept changing")

    def listen(self, listener: SettledListener) -> None:
        """Hear every transcript that settles from now on (bootstrap wires e.g. notifications here)."""
        self._listeners.append(listener)

    def settled(self, message: Message) -> None:
        """The transcript of `message` (as stored) just became ready or failed: tell the listeners.
        A listener's failure is logged, never undoes the transcript."""
        for listener in self._listeners:
            try:
                listener(message)
            except Exception:
                logger.exception("a transcript listener failed for %s/%s", message.mailbox_id, message.id)
