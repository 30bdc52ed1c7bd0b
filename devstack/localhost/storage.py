"""Storage clients for binding `connection` settings (connection strings, as emulators use)."""

from __future__ import annotations

import base64
import contextlib
import os
import threading

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient, QueueServiceClient

DEFAULT_CONNECTION = "AzureWebJobsStorage"


class StorageAccounts:
    """One client per connection setting and service, built on first use and reused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blob: dict[str, BlobServiceClient] = {}
        self._queue: dict[str, QueueServiceClient] = {}
        self._queues_made: set[tuple[str, str]] = set()

    @staticmethod
    def connection_string(connection: str | None) -> str:
        name = connection or DEFAULT_CONNECTION
        value = os.environ.get(name) or os.environ.get(f"{name}__connectionString")
        if not value:
            raise LookupError(f"storage connection setting {name} is missing (locally: a connection string)")
        return value

    def blob(self, connection: str | None = None) -> BlobServiceClient:
        key = connection or DEFAULT_CONNECTION
        with self._lock:
            if key not in self._blob:
                self._blob[key] = BlobServiceClient.from_connection_string(
                    self.connection_string(key), connection_timeout=10, read_timeout=60, retry_total=2)
            return self._blob[key]

    def queue_service(self, connection: str | None = None) -> QueueServiceClient:
        key = connection or DEFAULT_CONNECTION
        with self._lock:
            if key not in self._queue:
                self._queue[key] = QueueServiceClient.from_connection_string(
                    self.connection_string(key), connection_timeout=10, read_timeout=30, retry_total=2)
            return self._queue[key]

    def queue(self, name: str, connection: str | None = None) -> QueueClient:
        """A queue client; the queue is created the first time it is asked for, as the host does."""
        client = self.queue_service(connection).get_queue_client(name)
        key = (connection or DEFAULT_CONNECTION, name)
        if key not in self._queues_made:
            with contextlib.suppress(ResourceExistsError):
                client.create_queue()
            self._queues_made.add(key)
        return client


def encode_queue_message(content: str | bytes) -> str:
    """Queue messages are base64 on the wire, as the Functions queue extension writes them."""
    data = content.encode() if isinstance(content, str) else content
    return base64.b64encode(data).decode()


def decode_queue_message(content: str) -> bytes:
    """Base64 (the extension's default encoding); plain text from other writers passes as it is."""
    try:
        return base64.b64decode(content, validate=True)
    except ValueError:
        return content.encode()
