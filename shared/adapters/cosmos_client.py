"""Cosmos DB: the client (built once per process), the app's one container, and the readiness probe.
The repositories over the container are `cosmos.py`."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.cosmos import ContainerProxy, CosmosClient
from azure.cosmos.exceptions import CosmosResourceExistsError, CosmosResourceNotFoundError

from shared.adapters.errors import db_translated, missing
from shared.adapters.http_pool import pooled_transport
from shared.config import Settings
from shared.domain.errors import EtagMismatch

# Partition of operational documents; `_` cannot start a mailbox id, so it never meets one.
OPS_PARTITION = "_ops"
# Every region writes, so conflicting versions go to the conflicts feed and the app merges them
# (shared/services/conflicts.py). infra/modules/global.bicep declares the same policy.
CONFLICT_POLICY = {"mode": "Custom"}

def make_cosmos_client(settings: Settings, credential: object | None) -> CosmosClient:
    common = {
        "connection_timeout": settings.sdk_timeout_s,
        "read_timeout": settings.sdk_timeout_s,
        "retry_total": 3,
        "retry_backoff_max": 5,
        "retry_fixed_interval": 200,
        "consistency_level": "Session",
        "user_agent_suffix": f"voicemail/{settings.version} {settings.region}",
        "transport": pooled_transport(),
    }
    if settings.is_emulated:
        # The emulator advertises https endpoints it does not serve; stay on the configured one.
        return CosmosClient(settings.cosmos.endpoint, credential=settings.cosmos.key,
                            enable_endpoint_discovery=False, **common)
    return CosmosClient(settings.cosmos.endpoint, credential=credential, enable_endpoint_discovery=True,
                        preferred_locations=list(settings.regions), multiple_write_locations=True, **common)


class CosmosContainer:
    """The app's one container, connected on first use (the client's constructor does I/O)."""

    def __init__(self, settings: Settings, credential: object | None):
        self._settings = settings
        self._credential = credential
        self._lock = threading.Lock()
        self._container: ContainerProxy | None = None

    def get(self) -> ContainerProxy:
        container = self._container  # every storage call asks: no lock once connected
        if container is not None:
            return container
        with self._lock:
            if self._container is None:
                with db_translated("connecting to Cosmos DB"):
                    self._container = self._connect()
            return self._container

    def _connect(self) -> ContainerProxy:
        client = make_cosmos_client(self._settings, self._credential)
        name = f"{self._settings.cosmos.database}/{self._settings.cosmos.container}"
        container = client.get_database_client(self._settings.cosmos.database) \
            .get_container_client(self._settings.cosmos.container)
        # Created by the Bicep in Azure, by devstack/provision.py locally; never here. Read once, so a
        # missing one is named, not mistaken for a missing mailbox on every read.
        try:
            container.read(timeout=self._settings.sdk_timeout_s)
        except CosmosResourceNotFoundError:
            raise missing("Cosmos DB container", name) from None
        return container


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


class Documents:
    """What a repository of one kind of document in the app's container shares (the outbox, the
    exports): the container on first use, a point read that answers None for a missing document, and
    an optimistic save (create when there is no ETag, else replace while it is current)."""

    def __init__(self, container: CosmosContainer, timeout_s: float):
        self._container = container
        self._timeout_s = timeout_s

    @property
    def _c(self) -> ContainerProxy:
        return self._container.get()

    def _read_doc(self, mailbox_id: str, doc_id: str, what: str) -> dict[str, Any] | None:
        with db_translated(what):
            try:
                return self._c.read_item(doc_id, partition_key=mailbox_id, timeout=self._timeout_s)
            except CosmosResourceNotFoundError:
                return None

    def _save_doc(self, doc: dict[str, Any], etag: str | None, what: str) -> dict[str, Any]:
        """The stored document; EtagMismatch when it was created, changed or deleted meanwhile."""
        with db_translated(what):
            try:
                if etag is None:
                    return self._c.create_item(doc, timeout=self._timeout_s)
                return self._c.replace_item(doc["id"], doc, etag=etag, match_condition=MatchConditions.IfNotModified,
                                            timeout=self._timeout_s)
            except (CosmosResourceExistsError, CosmosResourceNotFoundError):
                raise EtagMismatch(f"{what}: it changed meanwhile") from None
