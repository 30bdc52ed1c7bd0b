"""Greetings: upload (through the same pipeline and limits as messages), fetch, delete, and the
one the platform should play now."""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import replace

from shared.domain import blobpaths
from shared.domain.audio import RENDITION_CONTENT_TYPES, Containers
from shared.domain.errors import (
    AudioNotFound,
    EtagMismatch,
    InvalidAudio,
    MessageProcessing,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    ValidationFailed,
)
from shared.domain.model import GREETING_KINDS, MAX_INLINE_AUDIO_BYTES, Greeting, choose_greeting
from shared.domain.principal import Principal, require_mailbox, require_platform
from shared.ports import AudioStore, GreetingRepository
from shared.services.audio_answers import AudioAnswer, read_audio
from shared.services.mailboxes import MailboxService
from shared.services.replication import Regions

logger = logging.getLogger(__name__)
_CONFLICT_RETRIES = 5


class GreetingService:
    def __init__(self, greetings: GreetingRepository, audio: AudioStore, mailboxes: MailboxService,
                 containers: Containers, regions: Regions, region: str):
        self._containers = containers
        self._region = region
        self._regions = regions
        self._greetings = greetings
        self._audio = audio
        self._mailboxes = mailboxes

    @staticmethod
    def _kind(kind: str) -> str:
        if kind not in GREETING_KINDS:
            raise ValidationFailed(f"kind must be one of {', '.join(GREETING_KINDS)}")
        return kind

    def put(self, principal: Principal, mailbox_id: str, kind: str, audio: bytes, content_type: str) -> dict:
        require_mailbox(principal, mailbox_id)
        self._kind(kind)
        if not audio:
            raise InvalidAudio("the body is empty")
        if len(audio) > MAX_INLINE_AUDIO_BYTES:
            raise PayloadTooLarge(f"greetings are limited to {MAX_INLINE_AUDIO_BYTES} bytes")
        self._mailboxes.writes.take(principal, mailbox_id)
        self._mailboxes.active(mailbox_id)
        version = uuid.uuid4().hex
        original = blobpaths.greeting_original(self._containers, mailbox_id, kind, version)
        upload = Greeting(mailbox_id, kind, version, content_type, blobs={"original": original},
                          regions=(self._region,))
        # The document names the new version first, so the pipeline finishes only this upload. A
        # ready greeting keeps playing meanwhile: the upload waits beside it as `pending`.
        replaced = self._name_upload(upload)
        if replaced is not None:  # an upload not playing yet (processing or failed) that no document names now
            self._delete_audio(replaced)
        try:
            self._audio.put(original, audio, content_type, {"mailboxId": mailbox_id, "kind": kind})
        except Exception:
            # Nothing half-visible: without its audio the new version must not stand.
            self._forget_upload(mailbox_id, kind, version)
            raise
        return upload.as_api()

    def _name_upload(self, upload: Greeting) -> Greeting | None:
        """Names upload in the greeting's document; answers the upload it displaced, if any."""
        for _ in range(_CONFLICT_RETRIES):  # two uploads at once: the last one named wins
            current = self._greetings.get_greeting(upload.mailbox_id, upload.kind)
            try:
                if current is not None and current.status == "ready":
                    self._greetings.save_greeting(replace(current, pending=upload))
                    return current.pending
                self._greetings.save_greeting(upload if current is None else replace(upload, etag=current.etag))
                return current
            except EtagMismatch:
                continue
        raise Unavailable("the greeting kept changing; send it again")

    def _delete_audio(self, greeting: Greeting) -> None:
        for path in greeting.blobs.values():
            try:
                self._audio.delete(path)
            except Exception:  # the orphan pass of the retention sweep gets it later
                logger.exception("could not delete %s of a replaced greeting upload", path)

    def _forget_upload(self, mailbox_id: str, kind: str, version: str) -> None:
        greeting = self._greetings.get_greeting(mailbox_id, kind)
        if greeting is None:
            return
        if greeting.version == version:
            self._greetings.delete_greeting(mailbox_id, kind)
        elif greeting.pending is not None and greeting.pending.version == version:
            with contextlib.suppress(EtagMismatch):  # replaced again meanwhile: nothing of ours stands
                self._greetings.save_greeting(replace(greeting, pending=None))

    def audio(self, principal: Principal, mailbox_id: str, kind: str, audio_format: str | None,
              range_header: str | None) -> AudioAnswer:
        require_mailbox(principal, mailbox_id)
        self._mailboxes.active(mailbox_id)  # a deprovisioned mailbox's greetings are gone with it
        greeting = self._greetings.get_greeting(mailbox_id, self._kind(kind))
        if greeting is None:
            raise NotFound(f"no {kind} greeting")
        return self._serve(greeting, audio_format, range_header)

    def _serve(self, greeting: Greeting, audio_format: str | None, range_header: str | None) -> AudioAnswer:
        if greeting.status == "processing" and audio_format != "original":
            raise MessageProcessing("the greeting is still being processed")
        chosen = audio_format or (greeting.formats[0] if greeting.formats else "original")
        path = greeting.blobs.get(chosen)
        if path is None:
            raise AudioNotFound(f"format {chosen} is not available for this greeting")
        content_type = greeting.content_type if chosen == "original" else RENDITION_CONTENT_TYPES[chosen]
        # Played in whichever region the call lands: this region's copy, else the uploading region's.
        store, size = self._regions.read_anywhere(path, greeting.regions)
        return read_audio(store, path, content_type, range_header, size)

    def delete(self, principal: Principal, mailbox_id: str, kind: str) -> None:
        require_mailbox(principal, mailbox_id)
        self._mailboxes.writes.take(principal, mailbox_id)
        self._mailboxes.active(mailbox_id)  # the retention sweep purges a deprovisioned mailbox's
        greeting = self._greetings.get_greeting(mailbox_id, self._kind(kind))
        if greeting is None:
            return
        pending = greeting.pending.blobs.values() if greeting.pending else ()
        for path in [*greeting.blobs.values(), *pending]:  # audio before metadata
            self._audio.delete(path)
        self._greetings.delete_greeting(mailbox_id, kind)

    def active(self, principal: Principal, mailbox_id: str, reason: str, audio_format: str | None) -> AudioAnswer:
        """The greeting to play now (platform): temporary > the reason's > name > 404."""
        require_platform(principal)
        mailbox = self._mailboxes.active(mailbox_id)
        chosen = choose_greeting(self._greetings.greetings(mailbox_id), reason, mailbox.greeting)
        if chosen is None:
            raise NotFound("no greeting to play: use the platform's default")
        return self._serve(chosen, audio_format, None)
