"""The interfaces services depend on; adapters in `shared/adapters/` implement them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from shared.domain.audio import AudioLimits, Transcoded
from shared.domain.audit import AuditRecord
from shared.domain.classes import ClassRecord
from shared.domain.erasure import Erasure, ErasureRequest, RegionErasure
from shared.domain.exports import Export
from shared.domain.model import Greeting, ListQuery, Mailbox, Message
from shared.domain.notifications import Event, Mail, NotificationConfig
from shared.domain.replicated import PinRecord, RecentEvents, RegionTally
from shared.domain.tenants import Tenant, TenantKey
from shared.domain.transcripts import Recognized, TranscriptionJob
from shared.domain.usage import UsageFact


class AlreadyExists(Exception):
    """A create met an existing document with the same id."""


class TallyMoved(Exception):
    """The region's tally document changed since it was read (another write of this region won)."""


@dataclass(frozen=True)
class Snapshot:
    """What one single-partition query gives a request about a mailbox: the mailbox, every region's
    tally and PIN record, and (when asked for) one message, tombstones included."""

    mailbox: Mailbox | None
    tallies: dict[str, RegionTally] = field(default_factory=dict)
    pins: dict[str, PinRecord] = field(default_factory=dict)
    message: Message | None = None
    recent: dict[tuple[str, str], RecentEvents] = field(default_factory=dict)  # (kind, region)


@dataclass(frozen=True)
class Conflict:
    """A version that lost a write conflict between regions (Cosmos DB's conflicts feed). `loser` is
    the losing version, or None when the losing write was a delete."""

    id: str
    mailbox_id: str
    document_id: str
    loser: Message | Mailbox | Greeting | RegionTally | PinRecord | RecentEvents | None
    recorded_at: float | None = None  # when the feed took it (epoch seconds), when it says


class DependencyProbe(Protocol):
    """One readiness check of a dependency (metadata store, blob store)."""

    name: str

    def check(self) -> dict[str, object]:
        """Exercise the dependency once; raise on failure. Returns extra facts (e.g. drained)."""
        ...


class MailboxRepository(Protocol):
    def get_mailbox(self, mailbox_id: str) -> Mailbox | None: ...

    def create_mailbox(self, mailbox: Mailbox) -> Mailbox: ...  # Raises AlreadyExists.

    def replace_mailbox(self, mailbox: Mailbox) -> Mailbox:
        """Only if mailbox.etag is still current; raises EtagMismatch."""
        ...


class MessageRepository(Protocol):
    def get_message(self, mailbox_id: str, message_id: str) -> Message | None:
        """The message, or its tombstone (status `purged`) for a while after a purge."""
        ...

    def snapshot(self, mailbox_id: str, message_id: str | None = None) -> Snapshot:
        """The mailbox, its tallies and PIN records (and that message): one query of the partition."""
        ...

    def write_message(self, message: Message, tally: RegionTally | None, events: Sequence[Event] = (),
                      usage: Sequence[UsageFact] = ()) -> Message:
        """Create the message (etag None) or replace it while message.etag is current, and with it,
        atomically (one transactional batch), the region's tally: created (etag None) or replaced
        while tally.etag is current, the outbox events and the usage facts the change causes (upserted:
        their ids are deterministic). Raises AlreadyExists, EtagMismatch (the message) or TallyMoved."""
        ...

    def create_messages(self, messages: Sequence[Message], tally: RegionTally | None,
                        events: Sequence[Event] = (), usage: Sequence[UsageFact] = ()) -> list[Message]:
        """Create several messages of one mailbox with the region's tally, events and usage facts in
        one transactional batch (≤100 operations). Raises AlreadyExists (nothing written) or TallyMoved."""
        ...

    def delete_message(self, mailbox_id: str, message_id: str) -> None:
        """Delete for good (a tombstone whose time is up). Idempotent."""
        ...

    def list_messages(self, mailbox_id: str, query: ListQuery) -> list[Message]:
        """Up to query.limit + 1 messages in sort-key order, so the caller knows if more follow."""
        ...

    def under_replicated(self, count: int, limit: int, exclude: list[str],
                         regions: list[str]) -> list[dict[str, str]]:
        """Up to limit {id, mailboxId} of ready messages held by fewer than count regions and
        deposited in one of regions."""
        ...

    def stalled_processing(self, after: str, before: str, region: str, limit: int,
                           exclude: list[str]) -> list[dict[str, str]]:
        """Up to limit {id, mailboxId, receivedAt} of messages still processing, received between
        `after` and `before` in another region than `region`, oldest first."""
        ...

    def all_messages(self, mailbox_id: str) -> list[Message]:
        """Every message document of the mailbox, tombstones included: for reconciling counts and
        re-deriving expiry after a settings change, never on a request's path."""
        ...

    def mailboxes_of_class(self, tenant: str, name: str) -> list[str]: ...  # active ones' keys, cross-partition

    def save_tally(self, tally: RegionTally) -> RegionTally:
        """Create (etag None) or replace while tally.etag is current; raises TallyMoved."""
        ...

    def save_pin_record(self, record: PinRecord) -> PinRecord:
        """Create (etag None) or replace while record.etag is current; raises EtagMismatch."""
        ...

    def save_recent(self, record: RecentEvents) -> RecentEvents:
        """Create (etag None) or replace while record.etag is current; raises EtagMismatch."""
        ...

    def expired_promises(self, mailbox_id: str, now: datetime) -> list[Message]:
        """The mailbox's hidden messages whose upload link expired before the audio landed."""
        ...


class ConflictFeed(Protocol):
    def conflicts(self, limit: int) -> list[Conflict]: ...

    def pending(self, mailbox_id: str) -> bool: ...  # Whether the feed holds a conflict of this mailbox not merged yet.

    def resolved(self, conflict: Conflict) -> None: ...  # Remove it from the feed (idempotent).


class GreetingRepository(Protocol):
    def get_greeting(self, mailbox_id: str, kind: str) -> Greeting | None: ...

    def greetings(self, mailbox_id: str) -> dict[str, Greeting]: ...

    def save_greeting(self, greeting: Greeting) -> Greeting:
        """Create (etag None) or replace while greeting.etag is current; raises EtagMismatch."""
        ...

    def delete_greeting(self, mailbox_id: str, kind: str) -> None: ...


class Transcoder(Protocol):
    def transcode(self, source: Path, out_dir: Path, limits: AudioLimits, content_type: str | None = None,
                  renditions: tuple[str, ...] | None = None) -> Transcoded:
        """Renditions in out_dir; raises AudioRejected when the audio can never make a message.
        content_type: what the depositor declared (it names the format of headerless audio).
        renditions: which to make (default: every one); each is the same made alone or together."""
        ...


class AudioStore(Protocol):
    def put(self, path: str, data: bytes, content_type: str, metadata: dict[str, str]) -> None: ...

    def put_file(self, path: str, local: Path, content_type: str) -> None: ...

    def copy_from_url(self, source_url: str, target: str) -> None:
        """Server-side copy into this store from a link another store minted."""
        ...

    def list_page(self, container: str, marker: str | None, page_size: int,
                  prefix: str = "") -> tuple[list[tuple[str, str]], str | None]:
        """One page of (path, last-modified ISO time) of the names starting with prefix, and the
        next marker (None: no more)."""
        ...

    def size(self, path: str) -> int | None: ...  # Bytes at path, or None when there is no blob.

    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes: ...

    def read_with_metadata(self, path: str) -> tuple[bytes, dict[str, str]]:
        """The whole blob and its metadata, in one read (AudioNotFound when there is none)."""
        ...

    def delete(self, path: str) -> None:
        """Idempotent."""
        ...

    def copy(self, source: str, target: str) -> None:
        """Server-side copy within the region's account; returns when the copy is complete."""
        ...

    def read_url(self, path: str, ttl: timedelta, *, content_type: str | None = None) -> str:
        """A read-only link to that one blob, served as an attachment of content_type (default:
        the blob's own)."""
        ...

    def upload_url(self, path: str, ttl: timedelta) -> str:
        """A create/write-only link to that one blob."""
        ...


class EventPublisher(Protocol):
    def publish_mwi(self, event: dict[str, object]) -> None: ...


class ReplicationRequests(Protocol):
    def request_replication(self, mailbox_id: str, message_id: str) -> None: ...


class ErasureRepository(Protocol):
    """An erasure's records (shared/domain/erasure.py) and the documents it deletes."""

    def get_erasure(self, mailbox_id: str) -> Erasure | None:
        """The request, and what each region recorded for that same request; None: never requested."""
        ...

    def save_erasure_request(self, request: ErasureRequest) -> None: ...

    def save_region_erasure(self, part: RegionErasure) -> None: ...

    def running_erasures(self, limit: int, region: str | None = None) -> list[str]:
        """The mailboxes whose erasure request is `running` (one indexed cross-partition query); with
        `region`, only those that region takes up (`ErasureRequest.for_region`)."""
        ...

    def erase_documents(self, mailbox_id: str, limit: int) -> int:
        """Delete up to limit documents of the mailbox, every one but its tombstone and the erasure's
        records: how many were there to delete (a repeat finds none)."""
        ...


class SweepRepository(MailboxRepository, MessageRepository, GreetingRepository, ErasureRepository, Protocol):
    """What the retention sweep needs beyond the per-mailbox repositories."""

    def expired(self, before: str, limit: int, exclude: list[str],
                spared: list[str] | None = None) -> list[dict[str, str]]:
        """Up to limit {id, mailboxId, type} whose expiresAt is before `before`, oldest first; none
        of the mailboxes in `spared`."""
        ...

    def held_mailboxes(self) -> list[str]:
        """The ids of the mailboxes under a legal hold."""
        ...

    def partition_documents(self, mailbox_id: str) -> list[dict[str, str]]:
        """{id, type} of every document of the mailbox."""
        ...

    def delete_mailbox(self, mailbox_id: str) -> None:
        """Delete the mailbox document itself (idempotent)."""
        ...


# -- transcripts (issue 14) ----------------------------------------------------------------------

class Transcriber(Protocol):
    """A speech-to-text engine (Azure AI Speech in Azure, an offline one locally)."""

    name: str

    def transcribe(self, audio: bytes, locale: str) -> Recognized:
        """The words in audio (any format the pipeline accepts), spoken in locale (`en-US`).
        Raises TranscriptionRejected (never transcribable as asked: no retry) or
        TranscriberUnavailable (try again later)."""
        ...


class TranscriptionQueue(Protocol):
    def submit(self, job: TranscriptionJob, delay_s: float = 0.0) -> None:
        """Queue the job, visible after delay_s seconds."""
class Outbox(Protocol):
    """Notification targets and outbox events (shared/adapters/outbox.py)."""

    def get_config(self, mailbox_id: str) -> NotificationConfig: ...

    def save_config(self, config: NotificationConfig) -> NotificationConfig:
        """Create (etag None) or replace while config.etag is current; raises EtagMismatch."""
        ...

    def get_event(self, mailbox_id: str, event_id: str) -> Event | None: ...

    def save_event(self, event: Event) -> Event:
        """Replace while event.etag is current (create when None); raises EtagMismatch."""
        ...

    def due(self, region: str, now: datetime, stale_before: datetime, limit: int,
            excluding: Sequence[str] = ()) -> list[Event]: ...

    def events_in(self, documents: Iterable[Mapping[str, Any]]) -> list[Event]:
        """The outbox events among documents the change feed brought (any kind of document)."""
        ...

    def dead_letters(self, limit: int, mailbox_id: str | None = None) -> list[Event]: ...

    def find_event(self, event_id: str) -> Event:
        """Raises NotFound."""
        ...


class DeliveryFailed(Exception):
    """A target did not take a notification (an error answer, a timeout, a refused address)."""


class WebhookSender(Protocol):
    def send(self, url: str, secret: str, webhook_id: str, body: bytes) -> None:
        """Raises DeliveryFailed unless the target answered 2xx."""
        ...


class Mailer(Protocol):
    def send(self, mail: Mail) -> None:
        """Raises DeliveryFailed when the mail was not accepted."""
        ...


class SmsSender(Protocol):
    def send(self, number: str, text: str) -> None:
        """Raises DeliveryFailed when the SMS was not accepted."""
        ...


class AuditTrail(Protocol):
    """One region's audit trail: append-only (immutable storage in Azure), read per mailbox."""

    def append(self, records: Sequence[AuditRecord]) -> None:
        """Add these records; nothing is ever changed or removed. Raises when they were not written."""

    def read(self, stream: str, since_day: str) -> list[AuditRecord]:
        """The records of this stream (a mailbox id, or PLATFORM_STREAM) filed on since_day or later."""


# -- exports (issue 24) ----------------------------------------------------------------------------

class ExportRecords(Protocol):
    """Export records (shared/domain/exports.py), each in its mailbox's partition."""

    def get_export(self, mailbox_id: str, export_id: str) -> Export | None: ...

    def save_export(self, export: Export) -> Export:
        """Create (etag None) or replace while export.etag is current; raises EtagMismatch."""
        ...

    def exports_with(self, status: str, region: str, limit: int) -> list[Export]:
        """Up to limit exports in that status asked for in that region, across mailboxes, oldest
        request first."""
        ...


class BlobStreams(Protocol):
    def open_write(self, path: str, content_type: str) -> AbstractContextManager[BinaryIO]:
        """A write-only stream into that one blob, staged a block at a time (never held whole): the
        blob is committed (replacing any earlier one) when the block ends without an exception."""
        ...


# -- tenants (issue 22) --------------------------------------------------------------------------

class TenantRepository(Protocol):
    """Tenants and their keys (shared/domain/tenants.py), each tenant in a partition of its own."""

    def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    def save_tenant(self, tenant: Tenant) -> Tenant:
        """Create (no ETag) or replace while current; EtagMismatch when it changed meanwhile."""
        ...

    def save_key(self, key: TenantKey) -> None: ...

    def get_key_hash(self, tenant_id: str, key_id: str) -> str | None:
        """The live key's SHA-256; None: no such key, or revoked."""
        ...

    def list_keys(self, tenant_id: str) -> list[TenantKey]: ...

    def delete_key(self, tenant_id: str, key_id: str) -> bool:
        """Revoke: True when the key was live."""
        ...

    def get_class(self, tenant_id: str, name: str) -> ClassRecord | None: ...

    def save_class(self, record: ClassRecord) -> ClassRecord:
        """Create (no ETag) or replace while current; EtagMismatch when it changed meanwhile."""
        ...

    def classes_with_retention_changed(self) -> list[ClassRecord]: ...  # not yet given to their messages
