"""One region's emulator as the replicator sees it: whether it answers (with a back-off when it does
not), its databases and containers, its documents, and the writes the replicator makes there,
conflicts included."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey
from azure.cosmos.exceptions import CosmosHttpResponseError

from devstack.replicator.documents import (
    ContainerKey,
    ContainerState,
    DocKey,
    doc_key,
    partition_key_paths,
    partition_key_value,
)

logger = logging.getLogger("devstack.replicator")


class RegionDown(Exception):
    """The emulator did not answer (connection refused, timed out): skip it for a while."""


def client_for(endpoint: str, key: str) -> CosmosClient:
    # retry_total=0: a region that does not answer is retried next cycle, not inside one.
    return CosmosClient(endpoint, credential=key, enable_endpoint_discovery=False,
                        connection_timeout=2, read_timeout=3, retry_total=0)


class Region:
    def __init__(self, index: int, endpoint: str, key: str):
        self.index, self.endpoint, self.key = index, endpoint, key
        self.name = f"region {index + 1} ({endpoint})"
        self.up = False
        self.instance: str | None = None
        self.topology: dict[str, dict[str, dict]] | None = None  # database -> container -> properties
        self._client: CosmosClient | None = None
        self._containers: dict[ContainerKey, ContainerProxy] = {}
        self._retry_at = 0.0
        self._backoff = 0.5
        self._reported: str | None = None

    # availability
    def available(self, now: float) -> bool:
        return self.up or now >= self._retry_at

    def failed(self, error: BaseException) -> None:
        message = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        if self.up or self._reported != message:
            logger.warning("%s does not answer (%s); retrying", self.name, message)
        self._reported = message
        self.up = False
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, 5.0)

    def answered(self) -> None:
        if not self.up:
            logger.info("%s answers", self.name)
        self.up, self._backoff, self._reported = True, 0.5, None

    def forget_client(self) -> None:
        self._client, self._containers = None, {}

    # reads
    def client(self) -> CosmosClient:
        if self._client is None:
            self._client = client_for(self.endpoint, self.key)
        return self._client

    def container(self, database: str, container: str) -> ContainerProxy:
        proxy = self._containers.get((database, container))
        if proxy is None:
            proxy = self.client().get_database_client(database).get_container_client(container)
            self._containers[(database, container)] = proxy
        return proxy

    def read_instance(self) -> str:
        """The emulator's instance id (new at every start: a restart empties it)."""
        try:
            with urllib.request.urlopen(self.endpoint, timeout=2) as response:  # noqa: S310 - loopback
                return str(json.loads(response.read()).get("localInstanceId", ""))
        except (OSError, ValueError) as error:
            raise RegionDown(str(error)) from error

    def read_topology(self) -> dict[str, dict[str, dict]]:
        client = self.client()
        topology: dict[str, dict[str, dict]] = {}
        for database in client.list_databases():
            db = client.get_database_client(database["id"])
            topology[database["id"]] = {properties["id"]: properties for properties in db.list_containers()}
        return topology

    def read_all(self, state: ContainerState) -> dict[DocKey, dict]:
        paths = state.paths
        return {doc_key(doc, paths): doc
                for doc in self.container(state.database, state.container).read_all_items()}

    # writes
    def write(self, state: ContainerState, body: dict, current: dict | None) -> dict:
        container = self.container(state.database, state.container)
        if current is None:
            return container.create_item(body)
        return container.replace_item(current["id"], body, etag=current["_etag"],
                                      match_condition=MatchConditions.IfNotModified)

    def delete(self, state: ContainerState, current: dict) -> None:
        self.container(state.database, state.container).delete_item(
            current["id"], partition_key=partition_key_value(current, state.paths),
            etag=current["_etag"], match_condition=MatchConditions.IfNotModified)

    def record_conflict(self, state: ContainerState, conflict: dict) -> None:
        """The emulator's non-standard POST .../conflicts (patches/@vercel+cosmosdb-server+1.0.1.patch)."""
        database, container = (urllib.parse.quote(part, safe="") for part in (state.database, state.container))
        url = urllib.parse.urljoin(self.endpoint, f"dbs/{database}/colls/{container}/conflicts")
        request = urllib.request.Request(  # noqa: S310 - the configured emulator, http only
            url, data=json.dumps(conflict).encode(), method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=3):  # noqa: S310 - loopback only
                return
        except urllib.error.HTTPError as error:
            raise CosmosHttpResponseError(status_code=error.code, message=error.read().decode(errors="replace")) \
                from None
        except OSError as error:
            raise RegionDown(str(error)) from error

    def create_container(self, database: str, properties: dict) -> None:
        db = self.client().create_database_if_not_exists(database)
        paths = partition_key_paths(properties)
        kind = (properties.get("partitionKey") or {}).get("kind", "Hash")
        options: dict[str, Any] = {"conflict_resolution_policy": properties.get("conflictResolutionPolicy")}
        for name, option in (("indexingPolicy", "indexing_policy"), ("uniqueKeyPolicy", "unique_key_policy"),
                             ("defaultTtl", "default_ttl")):
            if properties.get(name) is not None:
                options[option] = properties[name]
        db.create_container(properties["id"], partition_key=PartitionKey(
            path=paths if len(paths) > 1 else paths[0], kind=kind), **options)


def is_down(error: BaseException) -> bool:
    return isinstance(error, RegionDown | ServiceRequestError | ServiceResponseError)
