"""A subscriber's data request: an export of one mailbox as a ZIP in blob storage (pure: no I/O).

The API records the request (an `Export`, status `running`); the management plane builds the ZIP
(functions/sweeps/exports.py) and marks it `ready`, or `failed` with a reason; once `keepUntil` has
passed the ZIP is deleted and the record says `expired`, and the record itself goes a week later
(Cosmos TTL). The ZIP holds

    mailbox.json                 the mailbox as GET /api/mailboxes/{id} answers it
    messages.json                every message as GET .../messages/{id} answers it (transcript included)
    messages/{id}.{ext}          each message's original audio, as deposited
    greetings/{kind}.{ext}       each greeting's original audio, as uploaded
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from shared.domain import tenancy
from shared.domain.blobpaths import EXPORTS_CONTAINER, export_archive
from shared.domain.model import iso

__all__ = ["EXPORTS_CONTAINER", "Export"]

KEPT = timedelta(hours=23)  # a ready ZIP is deleted this long after it was made (the lifecycle rule: the backstop)
LINK_TTL = timedelta(minutes=15)  # a read link is minted per status read and never outlives this
BUILD_DEADLINE = timedelta(hours=1)  # a build still running after this is ended `failed`: nothing loops forever
RECORD_KEPT_AFTER = timedelta(days=7)  # an expired or failed record answers this long, then is gone (404)
CHUNK = 1 << 20  # audio is copied into the ZIP this many bytes at a time
ZIP_CONTENT_TYPE = "application/zip"
REASON_CHARS = 300
EXPORT_ID = re.compile(r"^[0-9a-f]{32}$")

Status = Literal["running", "ready", "failed", "expired"]

_EXTENSIONS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/vnd.wave": "wav",
               "audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/ogg": "ogg", "audio/opus": "opus",
               "audio/amr": "amr", "audio/amr-wb": "awb", "audio/basic": "au", "audio/webm": "webm",
               "audio/mp4": "m4a", "audio/aac": "aac", "audio/flac": "flac", "audio/x-flac": "flac"}


def new_export_id() -> str:
    return uuid.uuid4().hex


def record_id(export_id: str) -> str:
    """The record's document id in the mailbox's partition (never a message's: those are bare ids)."""
    return f"export-{export_id}"


def extension(content_type: str | None) -> str:
    """A file name extension for audio of this content type (`bin` when unknown)."""
    base = (content_type or "").split(";")[0].strip().lower()
    return _EXTENSIONS.get(base, "bin")


def message_entry(message_id: str, content_type: str | None) -> str:
    return f"messages/{message_id}.{extension(content_type)}"


def greeting_entry(kind: str, content_type: str | None) -> str:
    return f"greetings/{kind}.{extension(content_type)}"


def short_reason(reason: str) -> str:
    text = " ".join(reason.split()) or "the export could not be built"
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS - 1] + "…"


@dataclass(frozen=True)
class Export:
    id: str
    mailbox_id: str
    status: Status
    requested_at: datetime
    region: str = ""  # where it was asked for: that region's management plane builds it, in its account
    requested_by: str = "platform"
    finished_at: datetime | None = None
    keep_until: datetime | None = None  # ready: when the ZIP is deleted
    size_bytes: int | None = None
    entries: int | None = None
    reason: str | None = None  # failed: why
    etag: str | None = None

    @property
    def path(self) -> str:
        return export_archive(self.mailbox_id, self.id)

    def overdue(self, now: datetime) -> bool:
        return self.status == "running" and now - self.requested_at > BUILD_DEADLINE

    def link_expiry(self, now: datetime) -> datetime:
        assert self.keep_until is not None
        return min(now + LINK_TTL, self.keep_until)

    def as_api(self, url: str | None = None, link_expires_at: datetime | None = None) -> dict[str, object]:
        """The status answer: `url` and `expiresAt` (the link's) once ready; `reason` once failed."""
        answer: dict[str, object] = {"exportId": self.id, "mailboxId": tenancy.local_id(self.mailbox_id),
                                     "status": self.status, "requestedAt": iso(self.requested_at), "url": url,
                                     "expiresAt": iso(link_expires_at) if link_expires_at else None}
        if self.status == "ready":
            answer.update(availableUntil=iso(self.keep_until), sizeBytes=self.size_bytes)
        if self.status == "failed":
            answer["reason"] = self.reason
        return answer
