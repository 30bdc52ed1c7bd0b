"""Cosmos DB triggers, served by polling: the emulator has no change feed.

Every `LOCALHOST_COSMOS_POLL_SECONDS` (1) the container's documents changed since the last poll are
read by `_ts` (one-second resolution: those of the last second already handed over are told apart
by their ETag) and handed to the function in `_ts` order, `maxItemsPerInvocation` (100) at a time,
as a `DocumentList`: the latest version of each, as the change feed's latest-version mode gives.
It starts from now unless `startFromBeginning`. There are no leases: every host of a region reads
the whole feed, which the functions tolerate as they tolerate a lease moving between instances.
A failed invocation is logged and not retried (nor is it by the Azure trigger without a retry
policy): the app's own sweep is the net.

The connection is the setting the binding names, as a connection string
(`AccountEndpoint=...;AccountKey=...;`); without one, the app's own COSMOS_ENDPOINT and COSMOS_KEY
(in Azure the trigger connects with the identity-based `<connection>__accountEndpoint`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any

import azure.functions as func
from azure.cosmos import CosmosClient

from devstack.localhost.invoker import Invoker
from devstack.localhost.loader import FunctionSpec, resolve

logger = logging.getLogger("localhost.cosmos")
_QUERY = "SELECT * FROM c WHERE c._ts >= @since"


def connection(name: str, env: dict[str, str] | os._Environ[str] = os.environ) -> tuple[str, str]:
    """(endpoint, key) of a binding's connection setting."""
    value = env.get(name, "")
    parts = dict(part.split("=", 1) for part in value.split(";") if "=" in part)
    if "AccountEndpoint" in parts and "AccountKey" in parts:
        return parts["AccountEndpoint"], parts["AccountKey"]
    if env.get("COSMOS_ENDPOINT") and env.get("COSMOS_KEY"):
        return env["COSMOS_ENDPOINT"], env["COSMOS_KEY"]
    raise LookupError(f"connection {name}: no connection string, and no COSMOS_ENDPOINT and COSMOS_KEY")


class ChangeFeed:
    """The documents of one container changed since the last read: `_ts`, then ETags at the edge."""

    def __init__(self, container: Any, since: int):
        self._container = container
        self._since = since
        self._edge: set[str] = set()  # ETags handed over at second `_since`

    def read(self) -> list[dict[str, Any]]:
        found = list(self._container.query_items(_QUERY, parameters=[{"name": "@since", "value": self._since}],
                                                 enable_cross_partition_query=True))
        fresh = sorted((d for d in found if not (d["_ts"] == self._since and d["_etag"] in self._edge)),
                       key=lambda d: d["_ts"])
        if fresh:
            last = fresh[-1]["_ts"]
            edge = {d["_etag"] for d in fresh if d["_ts"] == last}
            self._edge = edge | (self._edge if last == self._since else set())
            self._since = last
        return fresh


class CosmosTrigger:
    def __init__(self, spec: FunctionSpec, invoker: Invoker, poll_s: float | None = None):
        self.spec = spec
        self._invoker = invoker
        self._poll_s = poll_s if poll_s is not None else float(os.environ.get("LOCALHOST_COSMOS_POLL_SECONDS", "1"))
        self._batch = int(spec.trigger.get("maxItemsPerInvocation") or 100)
        self._feed: ChangeFeed | None = None

    def _open(self) -> ChangeFeed:
        endpoint, key = connection(self.spec.trigger["connection"])
        # The emulator advertises https endpoints it does not serve: stay on the configured one.
        client = CosmosClient(endpoint, credential=key, enable_endpoint_discovery=False, connection_timeout=5,
                              read_timeout=10, retry_total=0)
        database = client.get_database_client(resolve(self.spec.trigger["databaseName"]))
        container = database.get_container_client(resolve(self.spec.trigger["containerName"]))
        return ChangeFeed(container, 0 if self.spec.trigger.get("startFromBeginning") else int(time.time()))

    async def _poll(self) -> None:
        if self._feed is None:
            self._feed = await asyncio.to_thread(self._open)
        documents = await asyncio.to_thread(self._feed.read)
        for start in range(0, len(documents), self._batch):
            batch = func.DocumentList([func.Document.from_dict(d) for d in documents[start:start + self._batch]])
            with contextlib.suppress(Exception):  # logged by the invoker; the feed moves on
                await self._invoker.invoke(self.spec, batch)

    async def run(self) -> None:
        while True:
            try:
                await self._poll()
            except Exception as error:  # noqa: BLE001 - the emulator down: the next poll tries again
                logger.warning("'%s': the change feed could not be read: %s", self.spec.name, error)
            await asyncio.sleep(self._poll_s)

    async def invoke_now(self, _input: str) -> None:
        """`POST /admin/functions/{name}`: poll once now."""
        await self._poll()
