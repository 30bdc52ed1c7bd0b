"""Cosmos DB: the client (built once per process) and the readiness probe of the metadata store."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey

from shared.config import Settings

# Partition of operational documents; `_` cannot start a mailbox id, so it never meets one.
OPS_PARTITION = "_ops"


def make_cosmos_client(settings: Settings, credential: object | None) -> CosmosClient:
    common = {
        "connection_timeout": settings.sdk_timeout_s,
        "read_timeout": settings.sdk_timeout_s,
        "retry_total": 3,
        "retry_backoff_max": 5,
        "retry_fixed_interval": 200,
        "consistency_level": "Session",
        "user_agent_suffix": f"voicemail/{settings.version} {settings.region}",
    }
    if settings.is_emulated:
        # The emulator advertises https endpoints it does not serve; stay on the configured one.
        return CosmosClient(settings.cosmos_endpoint, credential=settings.cosmos_key,
                            enable_endpoint_discovery=False, **common)
    return CosmosClient(settings.cosmos_endpoint, credential=credential, enable_endpoint_discovery=True,
                        preferred_locations=list(settings.regions), multiple_write_locations=True, **common)


class CosmosContainer:
    """The app's one container, connected on first use (the client's constructor does I/O)."""

    def __init__(self, settings: Settings, credential: object | None):
        self._settings = settings
        self._credential = credential
        self._lock = threading.Lock()
        self._container: ContainerProxy | None = None

    def get(self) -> ContainerProxy:
        with self._lock:
            if self._container is None:
                client = make_cosmos_client(self._settings, self._credential)
                if self._settings.is_emulated:
                    # In Azure the Bicep creates these; the emulator keeps nothing across restarts.
                    database = client.create_database_if_not_exists(self._settings.cosmos_database)
                    self._container = database.create_container_if_not_exists(
                        self._settings.cosmos_container, partition_key=PartitionKey(path="/mailboxId"))
                else:
                    self._container = client.get_database_client(self._settings.cosmos_database) \
                        .get_container_client(self._settings.cosmos_container)
            return self._container


class CosmosProbe:
    """Readiness of the metadata store: a small write (short ttl) and a point read of it."""

    name = "cosmos"

    def __init__(self, container: CosmosContainer, region: str):
        self._container = container
        self._id = f"ready-{region}"

    def check(self) -> dict[str, object]:
        container = self._container.get()
        at = datetime.now(UTC).isoformat()
        container.upsert_item({"id": self._id, "mailboxId": OPS_PARTITION, "kind": "readiness", "at": at, "ttl": 300})
        container.read_item(self._id, partition_key=OPS_PARTITION)
        return {}
