"""In-memory stand-ins for the ports, for fast tests of the services' rules and ordering."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta

from shared.domain.errors import AudioNotFound, EtagMismatch
from shared.domain.model import ListQuery, Mailbox, Message, MessageState
from shared.ports import AlreadyExists

_etags = itertools.count(1)


class FakeStore:
    def __init__(self) -> None:
        self.mailboxes: dict[str, Mailbox] = {}
        self.messages: dict[tuple[str, str], Message] = {}
        self.journal: list[str] = []  # what was done, in order
        self.fail_next: dict[str, Exception] = {}

    def _maybe_fail(self, operation: str) -> None:
        error = self.fail_next.pop(operation, None)
        if error is not None:
            raise error

    def get_mailbox(self, mailbox_id: str) -> Mailbox | None:
        return self.mailboxes.get(mailbox_id)

    def create_mailbox(self, mailbox: Mailbox) -> Mailbox:
        if mailbox.id in self.mailboxes:
            raise AlreadyExists(mailbox.id)
        self.mailboxes[mailbox.id] = stored = replace(mailbox, etag=str(next(_etags)))
        return stored

    def replace_mailbox(self, mailbox: Mailbox) -> Mailbox:
        if self.mailboxes[mailbox.id].etag != mailbox.etag:
            raise EtagMismatch()
        self.mailboxes[mailbox.id] = stored = replace(mailbox, etag=str(next(_etags)))
        return stored

    def get_message(self, mailbox_id: str, message_id: str) -> Message | None:
        return self.messages.get((mailbox_id, message_id))

    def create_message(self, message: Message) -> Message:
        self._maybe_fail("create_message")
        key = (message.mailbox_id, message.id)
        if key in self.messages:
            raise AlreadyExists(message.id)
        self.messages[key] = stored = replace(message, etag=str(next(_etags)))
        self.journal.append(f"create {message.id}")
        return stored

    def replace_message(self, message: Message) -> Message:
        key = (message.mailbox_id, message.id)
        if self.messages[key].etag != message.etag:
            raise EtagMismatch()
        self.messages[key] = stored = replace(message, etag=str(next(_etags)))
        return stored

    def delete_message(self, mailbox_id: str, message_id: str) -> None:
        self._maybe_fail("delete_message")
        self.messages.pop((mailbox_id, message_id), None)
        self.journal.append(f"delete {message_id}")

    def list_messages(self, mailbox_id: str, query: ListQuery) -> list[Message]:
        found = sorted((m for (mb, _), m in self.messages.items() if mb == mailbox_id and m.visible),
                       key=lambda m: m.sort_key, reverse=query.descending)
        return found[:query.limit + 1]

    def message_states(self, mailbox_id: str) -> list[MessageState]:
        return [m.state for (mb, _), m in self.messages.items() if mb == mailbox_id]


class FakeAudio:
    def __init__(self, store: FakeStore):
        self.blobs: dict[str, bytes] = {}
        self._store = store

    def put(self, path: str, data: bytes, content_type: str, metadata: dict[str, str]) -> None:
        self._store._maybe_fail("put_audio")
        self.blobs[path] = data
        self._store.journal.append(f"put {path}")

    def size(self, path: str) -> int | None:
        return len(self.blobs[path]) if path in self.blobs else None

    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        if path not in self.blobs:
            raise AudioNotFound()
        data = self.blobs[path]
        return data[offset:offset + length if length is not None else None]

    def delete(self, path: str) -> None:
        self._store._maybe_fail("delete_audio")
        self.blobs.pop(path, None)
        self._store.journal.append(f"delete {path}")

    def copy(self, source: str, target: str) -> None:
        self.blobs[target] = self.blobs[source]

    def read_url(self, path: str, ttl: timedelta) -> str:
        return f"https://example.invalid/{path}?read&ttl={int(ttl.total_seconds())}"

    def upload_url(self, path: str, ttl: timedelta) -> str:
        return f"https://example.invalid/{path}?write&ttl={int(ttl.total_seconds())}"


class FakeEvents:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def publish_mwi(self, event: dict[str, object]) -> None:
        self.events.append(event)
