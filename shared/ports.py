"""The interfaces services depend on; adapters in `shared/adapters/` implement them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Protocol

from shared.domain.audio import AudioLimits, Transcoded
from shared.domain.model import Greeting, ListQuery, Mailbox, Message, MessageState


class AlreadyExists(Exception):
    """A create met an existing document with the same id."""


class DependencyProbe(Protocol):
    """One readiness check of a dependency (metadata store, blob store)."""

    name: str

    def check(self) -> dict[str, object]:
        """Exercise the dependency once; raise on failure. Returns extra facts (e.g. drained)."""
        ...


class MailboxRepository(Protocol):
    def get_mailbox(self, mailbox_id: str) -> Mailbox | None: ...

    def create_mailbox(self, mailbox: Mailbox) -> Mailbox:
        """Raises AlreadyExists."""
        ...

    def replace_mailbox(self, mailbox: Mailbox) -> Mailbox:
        """Only if mailbox.etag is still current; raises EtagMismatch."""
        ...


class MessageRepository(Protocol):
    def get_message(self, mailbox_id: str, message_id: str) -> Message | None: ...

    def create_message(self, message: Message) -> Message:
        """Raises AlreadyExists."""
        ...

    def replace_message(self, message: Message) -> Message:
        """Only if message.etag is still current; raises EtagMismatch."""
        ...

    def delete_message(self, mailbox_id: str, message_id: str) -> None:
        """Idempotent: a missing message is already deleted."""
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

    def message_states(self, mailbox_id: str) -> list[MessageState]:
        """What the counts need of every message of the mailbox: one single-partition projection."""
        ...


class GreetingRepository(Protocol):
    def get_greeting(self, mailbox_id: str, kind: str) -> Greeting | None: ...

    def greetings(self, mailbox_id: str) -> dict[str, Greeting]: ...

    def save_greeting(self, greeting: Greeting) -> Greeting:
        """Create (etag None) or replace while greeting.etag is current; raises EtagMismatch."""
        ...

    def delete_greeting(self, mailbox_id: str, kind: str) -> None: ...


class Transcoder(Protocol):
    def transcode(self, source: Path, out_dir: Path, limits: AudioLimits) -> Transcoded:
        """Renditions in out_dir; raises AudioRejected when the audio can never make a message."""
        ...


class AudioStore(Protocol):
    def put(self, path: str, data: bytes, content_type: str, metadata: dict[str, str]) -> None: ...

    def put_file(self, path: str, local: Path, content_type: str) -> None: ...

    def copy_from_url(self, source_url: str, target: str) -> None:
        """Server-side copy into this store from a link another store minted."""
        ...

    def list_page(self, container: str, marker: str | None, page_size: int) -> tuple[list[tuple[str, str]], str | None]:
        """One page of (path, last-modified ISO time) and the next marker (None: no more)."""
        ...

    def size(self, path: str) -> int | None:
        """Bytes at path, or None when there is no blob."""
        ...

    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes: ...

    def delete(self, path: str) -> None:
        """Idempotent."""
        ...

    def copy(self, source: str, target: str) -> None:
        """Server-side copy within the region's account; returns when the copy is complete."""
        ...

    def read_url(self, path: str, ttl: timedelta) -> str:
        """A read-only link to that one blob."""
        ...

    def upload_url(self, path: str, ttl: timedelta) -> str:
        """A create/write-only link to that one blob."""
        ...


class EventPublisher(Protocol):
    def publish_mwi(self, event: dict[str, object]) -> None: ...


class ReplicationRequests(Protocol):
    def request_replication(self, mailbox_id: str, message_id: str) -> None: ...


class SweepRepository(MailboxRepository, MessageRepository, GreetingRepository, Protocol):
    """What the retention sweep needs beyond the per-mailbox repositories."""

    def expired(self, before: str, limit: int, exclude: list[str]) -> list[dict[str, str]]:
        """Up to limit {id, mailboxId, type} whose expiresAt is before `before`, oldest first."""
        ...

    def partition_documents(self, mailbox_id: str) -> list[dict[str, str]]:
        """{id, type} of every document of the mailbox."""
        ...

    def delete_mailbox(self, mailbox_id: str) -> None:
        """Delete the mailbox document itself (idempotent)."""
        ...
