"""Blob and queue storage: clients built once per process, and the blob store's readiness probe."""

from __future__ import annotations

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from shared.config import Settings

OPS_CONTAINER = "ops"
# An operator drains a region by creating the blob `ops/drain/{region}` in its storage account
# (and undrains by deleting it): no redeploy, no restart, seen within one readiness cache period.
DRAIN_PREFIX = "drain/"


def _client_options(settings: Settings) -> dict[str, object]:
    return {"connection_timeout": settings.sdk_timeout_s, "read_timeout": settings.sdk_timeout_s,
            "retry_total": 3, "retry_connect": 3, "retry_read": 2,
            "user_agent": f"voicemail/{settings.version} {settings.region}"}


def make_blob_service(settings: Settings, credential: object | None) -> BlobServiceClient:
    storage = settings.storage
    if storage.connection_string:
        return BlobServiceClient.from_connection_string(storage.connection_string, **_client_options(settings))
    return BlobServiceClient(storage.blob_uri, credential=credential, **_client_options(settings))


def make_queue_service(settings: Settings, credential: object | None) -> QueueServiceClient:
    storage = settings.storage
    if storage.connection_string:
        return QueueServiceClient.from_connection_string(storage.connection_string, **_client_options(settings))
    return QueueServiceClient(storage.queue_uri, credential=credential, **_client_options(settings))


class BlobProbe:
    """Readiness of the blob store: one metadata read that also reads the drain switch."""

    name = "blob"

    def __init__(self, service: BlobServiceClient, region: str):
        self._drain = service.get_blob_client(OPS_CONTAINER, f"{DRAIN_PREFIX}{region}")

    def check(self) -> dict[str, object]:
        try:
            self._drain.get_blob_properties()
        except ResourceNotFoundError:
            return {"drained": False}  # the store answered: no drain blob (or no ops container)
        return {"drained": True}
