"""Mailboxes and messages: the data, the rules on it, and the message-waiting counts."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.domain.holds import LEGACY_INCARNATION, LegalHold
from shared.domain.replicated import ZERO, Clock, Share, Tally
from shared.domain.tenancy import local_id
from shared.domain.transcripts import Transcript

MAILBOX_ID = re.compile(r"^\+?[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
FOLDERS = ("inbox", "saved", "trash")
RENDITIONS = ("opus", "wav", "mp3")
AUDIO_FORMATS = (*RENDITIONS, "original")
MAX_INLINE_AUDIO_BYTES = 20 * 1024 * 1024
TOMBSTONE_KEPT = timedelta(days=1)  # a purged message's tombstone outlives any replication lag, then goes
FAILED_KEPT_FOR = timedelta(days=1)  # failed messages stay a day for diagnosis, then retention takes them

Folder = Literal["inbox", "saved", "trash"]
GreetingChoice = Literal["personal", "name", "default"]


def quoted_etag(etag: str | None) -> str | None:
    """ETags as HTTP carries them: a quoted string (the Cosmos emulator hands them out bare)."""
    if etag is None or etag.startswith('"'):
        return etag
    return f'"{etag}"'


def same_etag(presented: str, current: str | None) -> bool:
    """If-Match against the stored ETag, ignoring quoting and weakness markers."""
    def bare(etag: str) -> str:
        return etag.removeprefix("W/").strip('"')

    return current is not None and bare(presented) == bare(current)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 UTC with microseconds, so stored times also sort as text."""
    if moment is None:
        return None
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    if moment.year < 1000:  # strftime pads no year below 1000, isoformat does: keep strftime's text
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # From year 1000 on, the same text as strftime at a third less CPU: a list answer makes 100 of these.
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _known_zone(value: str) -> str:
    # A set lookup: ZoneInfo() itself raises OSError for names that are folders ('America').
    if value not in _zone_names():
        raise ValueError(f"{value!r} is not an IANA time zone name")
    return value


TimeZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_known_zone)]


class MailboxSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    maxMessages: int = Field(100, ge=1, le=10_000)
    maxMessageSeconds: int = Field(180, ge=1, le=3_600)
    minMessageSeconds: int = Field(1, ge=0, le=60)
    retentionDays: int = Field(30, ge=0, le=3_650)
    trashRetentionDays: int = Field(7, ge=0, le=365)
    language: str = Field("en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    transcription: bool = True  # messages get a transcript, in `language` (false: `transcript` is null)
    timeZone: TimeZoneName = "UTC"  # the times in notifications


Counts = Tally  # a mailbox's counts (MWI and the quota) are the sum of its regions' tallies


@dataclass(frozen=True)
class Mailbox:
    id: str
    display_name: str
    settings: MailboxSettings
    pin_hash: str | None = None
    status: Literal["active", "deprovisioned"] = "active"
    greeting: GreetingChoice = "personal"
    expires_at: datetime | None = None  # set when deprovisioned: the retention sweep purges it all
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    # Sessions opened before the current epoch are over (a PIN change, a PIN reset, deprovisioning).
    session_epoch: int = 0
    incarnation: str = LEGACY_INCARNATION  # new at each creation under this id (shared/domain/holds.py)
    hold: LegalHold | None = None  # a legal hold: nothing of the mailbox is removed while it is set
    clocks: dict[str, Clock] = field(default_factory=dict)  # per field group: the last change's (time, region)
    etag: str | None = None
    # Its class of service, and the settings it set itself (None: stored before classes, see
    # shared/domain/classes.py `own_names`); `settings` as read are the effective ones.
    class_of_service: str = "standard"
    settings_set: tuple[str, ...] | None = None
    # The features its class allows, as resolved when read (None: not resolved, everything); never stored.
    allowed: frozenset[str] | None = field(default=None, compare=False)
    # As read through its class: (the settings stored, the settings resolved, its own settings' names),
    # so a write puts back what it did not change (shared/domain/classes.py `as_stored`); never stored.
    read_as: tuple[MailboxSettings, MailboxSettings, frozenset[str]] | None = field(
        default=None, compare=False, repr=False)

    @property
    def active(self) -> bool:
        return self.status == "active"

    def allows(self, feature: str) -> bool:
        return self.allowed is None or feature in self.allowed

    def as_api(self, counts: Counts) -> dict[str, object]:
        from shared.domain import views  # views reads this module's rules: imported when first answering

        return views.Mailbox.build(
            id=local_id(self.id), displayName=self.display_name, settings=self.settings, greeting=self.greeting,
            classOfService=self.class_of_service,
            pinSet=self.pin_hash is not None, counts=views.Counts.build(**counts.as_api()),
            createdAt=iso(self.created_at), updatedAt=iso(self.updated_at), etag=quoted_etag(self.etag),
        ).as_json()


@dataclass(frozen=True)
class Message:
    id: str
    mailbox_id: str
    received_at: datetime
    deposit_region: str
    folder: Folder = "inbox"
    heard: bool = False
    urgent: bool = False
    from_number: str | None = None
    from_name: str | None = None
    duration_ms: int | None = None
    status: Literal["processing", "ready", "failed", "purged"] = "processing"
    error: str | None = None
    formats: tuple[str, ...] = ()
    expires_at: datetime | None = None
    trashed_at: datetime | None = None
    # Where each format's audio lives in a region's storage account: format -> "container/blob".
    blobs: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/octet-stream"
    size_bytes: int | None = None
    request_hash: str = ""
    upload_pending: bool = False  # a direct upload was promised and has not landed yet
    truncated: bool = False  # longer than the mailbox's maxMessageSeconds: only the start is kept
    replica_regions: tuple[str, ...] = ()
    clocks: dict[str, Clock] = field(default_factory=dict)  # per field group: the last change's (time, region)
    shares: dict[str, Share] = field(default_factory=dict)  # each region's part of this message's tally
    transcript: Transcript | None = None  # pending from `ready` on, when the mailbox has transcription
    incarnation: str = LEGACY_INCARNATION  # the mailbox's when deposited: an Idempotency-Key binds to it
    etag: str | None = None

    @property
    def visible(self) -> bool:
        return not self.upload_pending and self.status != "purged"

    @property
    def purged(self) -> bool:
        return self.status == "purged"

    def tombstone(self, now: datetime) -> Message:
        """What is left after a purge: shown and counted nowhere, deleted for good after a while. It
        keeps the paths of its audio, so a purge cut short deletes the rest when it is repeated."""
        return replace(self, status="purged", formats=(), upload_pending=False, expires_at=now + TOMBSTONE_KEPT,
                       transcript=None)  # the words go with the audio

    @property
    def tally(self) -> Tally:
        """What this message adds to its mailbox's counts now."""
        if self.status in ("purged", "failed"):
            return ZERO
        if self.upload_pending:
            return Tally(pending=1)
        if self.folder == "trash":
            return ZERO
        if self.folder == "saved":
            return Tally(saved=1)
        if self.heard:
            return Tally(heard=1)
        return Tally(new=1, urgent_new=int(self.urgent))

    @property
    def counted(self) -> bool:
        """Counts towards MWI and `maxMessages`: shown, not failed, not in the trash."""
        return self.tally.total > 0

    @property
    def sort_key(self) -> str:
        return f"{iso(self.received_at)}|{self.id}"

    def as_api(self) -> dict[str, object]:
        from shared.domain import views  # views reads this module's rules: imported when first answering

        return views.Message.build(
            id=self.id, mailboxId=local_id(self.mailbox_id), folder=self.folder, heard=self.heard, urgent=self.urgent,
            sender=views.Sender.build(number=self.from_number, name=self.from_name),
            receivedAt=iso(self.received_at), durationMs=self.duration_ms, status=self.status, error=self.error,
            formats=list(self.formats), depositRegion=self.deposit_region, expiresAt=iso(self.expires_at),
            truncated=self.truncated, etag=quoted_etag(self.etag),
            transcript=(None if self.transcript is None
                        else views.Transcript.build(**self.transcript.as_api())),
        ).as_json()


def expiry(message: Message, settings: MailboxSettings, now: datetime) -> datetime | None:
    """When retention may delete the message: by its folder's policy (0 days = keep)."""
    if message.folder == "trash":
        return (message.trashed_at or now) + timedelta(days=settings.trashRetentionDays)
    if settings.retentionDays == 0:
        return None
    return message.received_at + timedelta(days=settings.retentionDays)


def count(messages: Iterable[Message]) -> Counts:
    """Counts by reading messages: only for reconciling, never on a request's path."""
    result = ZERO
    for message in messages:
        result = result + message.tally
    return result


def message_id_for(mailbox_id: str, idempotency_key: str | None, incarnation: str = LEGACY_INCARNATION) -> str:
    """Deterministic for (mailbox, key), so a retry in any region meets the same message. A key that
    an earlier incarnation of the mailbox used is taken again under the incarnation's own id."""
    if idempotency_key is None:
        return uuid.uuid4().hex
    scope = mailbox_id if incarnation == LEGACY_INCARNATION else f"{mailbox_id}\n{incarnation}"
    return hashlib.sha256(f"deposit\n{scope}\n{idempotency_key}".encode()).hexdigest()[:32]


def forwarded_message_id(source: Message, target_mailbox: str) -> str:
    """Deterministic, so forwarding the same message twice to a mailbox makes one copy."""
    return hashlib.sha256(f"forward\n{source.mailbox_id}\n{source.id}\n{target_mailbox}".encode()).hexdigest()[:32]


def request_fingerprint(*parts: object) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else json.dumps(part, sort_keys=True).encode())
        digest.update(b"\x00")
    return digest.hexdigest()


@dataclass(frozen=True)
class ListQuery:
    folder: Folder | None = None  # None: inbox and saved (trash only when asked for)
    heard: bool | None = None
    urgent: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    descending: bool = True
    limit: int = 50
    after_key: str | None = None  # keyset paging: the sort key of the last item returned


def encode_continuation(sort_key: str, descending: bool) -> str:
    payload = json.dumps({"k": sort_key, "d": descending}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


def decode_continuation(token: str, descending: bool) -> str:
    """The sort key a continuation token resumes after; ValueError when it is not exactly one of
    ours: unpadded base64url of {"k": `iso(receivedAt)|id`, "d": descending}, under 256 characters.
    Anything longer, nested or otherwise shaped is refused before or while decoding."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", token) or len(token) % 4 == 1:
        raise ValueError("not a continuation token")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw.decode("ascii")) if raw[:1] == b"{" else None
    except (ValueError, RecursionError):  # RecursionError cannot happen in 192 bytes; kept as a guard
        raise ValueError("not a continuation token") from None
    if (not isinstance(data, dict) or data.keys() != {"k", "d"} or data["d"] is not descending
            or not isinstance(data["k"], str)
            or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{6}Z\|[A-Za-z0-9_-]{1,64}", data["k"])):
        raise ValueError("not a continuation token for this order")
    return data["k"]


GREETING_KINDS = ("unavailable", "busy", "name", "temporary")


@dataclass(frozen=True)
class Greeting:
    mailbox_id: str
    kind: str
    version: str  # each upload is a new version; the pipeline only finishes the current one
    content_type: str
    status: Literal["processing", "ready", "failed"] = "processing"
    error: str | None = None
    duration_ms: int | None = None
    formats: tuple[str, ...] = ()
    blobs: dict[str, str] = field(default_factory=dict)
    updated_at: datetime = field(default_factory=utcnow)
    regions: tuple[str, ...] = ()  # where its audio is: the region it was uploaded to
    etag: str | None = None
    # A replacement being transcoded: the greeting above keeps playing until it is ready (then it
    # takes its place), and stays if the replacement fails.
    pending: Greeting | None = None

    def as_api(self) -> dict[str, object]:
        from shared.domain import views  # views reads this module's rules: imported when first answering

        return views.Greeting.build(
            mailboxId=local_id(self.mailbox_id), kind=self.kind, status=self.status, error=self.error,
            durationMs=self.duration_ms, formats=list(self.formats), updatedAt=iso(self.updated_at),
            etag=quoted_etag(self.etag),
        ).as_json()


def choose_greeting(available: dict[str, Greeting], reason: str, choice: str) -> Greeting | None:
    """What a caller hears now: temporary, else the one for the reason, else the name, else none
    (the platform plays its default). The subscriber's choice can narrow it to the name or none."""
    order = {"personal": ["temporary", reason, "name"], "name": ["temporary", "name"], "default": ["temporary"]}
    for kind in order.get(choice, order["personal"]):
        greeting = available.get(kind)
        if greeting is not None and greeting.status == "ready":
            return greeting
    return None
