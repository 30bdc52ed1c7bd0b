"""Blob triggers fired from Azurite: each new or changed blob fires its function once.

As the Azure host does, a blob counts as processed when a receipt for its ETag exists in
`azure-webjobs-hosts/blobreceipts/{hostId}/{function}/{etag}/{container}/{blob}`, so a restart of
the host fires nothing twice. A failing invocation is retried (5 tries in all, with back-off); then
a message naming the blob goes to the `webjobs-blobtrigger-poison` queue and the blob gets a
receipt, so it is never looped. In Azure, `source="EventGrid"` delivers the same blobs by event,
within a second of the write: for those triggers the scan is repeated every `event_grid_s` (0.1 s),
less often where the container is large (PAUSE_PER_BLOB_S for each blob listed, about five times
what Azurite takes to list it, so listing takes at most a sixth of the time), never less often
than `poll_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.functions.blob import InputStream

from devstack.localhost.invoker import Invoker
from devstack.localhost.loader import FunctionSpec, resolve
from devstack.localhost.storage import StorageAccounts, encode_queue_message

logger = logging.getLogger("localhost.blobs")
HOSTS_CONTAINER = "azure-webjobs-hosts"
POISON_QUEUE = "webjobs-blobtrigger-poison"
MAX_TRIES = 5
# Azurite lists 1000 blobs in 0.4-0.6 s: an Event Grid trigger waits 2.5 ms per blob listed, so its
# scans take about a sixth of the time however large the container (by count, not by the time a
# scan took, which a busy machine stretches: that would slow the trigger exactly when work arrives).
PAUSE_PER_BLOB_S = 0.0025


def path_pattern(pattern: str) -> tuple[str, str, re.Pattern[str]]:
    """`container/prefix/{name}.wav` → container, the literal listing prefix, a regex for the rest."""
    container, _, rest = pattern.partition("/")
    prefix = re.split(r"\{", rest, maxsplit=1)[0]
    regex, position = "", 0
    for param in re.finditer(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", rest):
        regex += re.escape(rest[position:param.start()]) + f"(?P<{param.group(1)}>.+)"
        position = param.end()
    regex += re.escape(rest[position:])
    return container, prefix, re.compile(regex or ".+")


class BlobTrigger:
    def __init__(self, spec: FunctionSpec, invoker: Invoker, storage: StorageAccounts, host_id: str,
                 parallelism: int, poll_s: float, retry_delay_s: float, event_grid_s: float | None = None):
        self.spec = spec
        self._invoker = invoker
        self._storage = storage
        self._connection = spec.trigger.get("connection")
        self.container, self._prefix, self._pattern = path_pattern(resolve(spec.trigger["path"]))
        self._receipts_prefix = f"blobreceipts/{host_id}/{spec.name}/"
        self._receipts: set[tuple[str, str]] = set()  # (etag, blob name)
        self._in_flight: set[tuple[str, str]] = set()
        self._limit = asyncio.Semaphore(parallelism)
        self._poll_s = poll_s
        self._retry_delay_s = retry_delay_s
        self._tasks: set[asyncio.Task[None]] = set()
        # `source="EventGrid"`: only blobs written since the subscription; else every blob, as polling does.
        self._event_grid = spec.trigger.get("source") == "EventGrid"
        self._event_grid_s = poll_s if event_grid_s is None else event_grid_s  # _pause bounds it by poll_s
        self._listed = 0  # blobs the last scan listed
        self._since: datetime | None = None

    @property
    def _blob_service(self) -> Any:
        return self._storage.blob(self._connection)

    @property
    def _hosts(self) -> Any:
        return self._storage.blob().get_container_client(HOSTS_CONTAINER)

    def _receipt_name(self, etag: str, name: str) -> str:
        return f"{self._receipts_prefix}{etag.strip(chr(34))}/{self.container}/{name}"

    def _load_receipts(self) -> None:
        try:
            for blob in self._hosts.list_blobs(name_starts_with=self._receipts_prefix):
                etag, _, rest = blob.name[len(self._receipts_prefix):].partition("/")
                _, _, name = rest.partition("/")
                self._receipts.add((etag, name))
        except ResourceNotFoundError:
            pass

    def _write_receipt(self, etag: str, name: str, outcome: str) -> None:
        receipt = self._hosts.get_blob_client(self._receipt_name(etag, name))
        try:
            receipt.upload_blob(b"", overwrite=True, metadata={"outcome": outcome})
        except ResourceNotFoundError:
            with contextlib.suppress(ResourceExistsError):
                self._hosts.create_container()
            receipt.upload_blob(b"", overwrite=True, metadata={"outcome": outcome})
        self._receipts.add((etag.strip('"'), name))

    def _subscribe(self) -> None:
        """Event Grid delivers only blobs written after the subscription exists: remember when this
        host's subscription began (kept in storage, so blobs written while the host is down still fire)."""
        marker = self._hosts.get_blob_client(f"blobtriggers/{self._receipts_prefix.split('/', 1)[1]}subscribed")
        try:
            self._since = datetime.fromisoformat(marker.download_blob().readall().decode())
        except ResourceNotFoundError:
            # Blob times have whole seconds: start the subscription at the second it began.
            self._since = datetime.now(UTC).replace(microsecond=0)
            try:
                marker.upload_blob(self._since.isoformat().encode(), overwrite=False)
            except ResourceNotFoundError:
                with contextlib.suppress(ResourceExistsError):
                    self._hosts.create_container()
                marker.upload_blob(self._since.isoformat().encode(), overwrite=False)

    def _new_blobs(self) -> list[tuple[str, str]]:
        container = self._blob_service.get_container_client(self.container)
        try:
            listed = list(container.list_blobs(name_starts_with=self._prefix))
        except ResourceNotFoundError:
            self._listed = 0
            return []
        self._listed = len(listed)
        found = [(blob.name, blob.etag.strip('"')) for blob in listed
                 if self._since is None or blob.last_modified >= self._since]
        return [(name, etag) for name, etag in found
                if self._pattern.fullmatch(name)
                and (etag, name) not in self._receipts and (etag, name) not in self._in_flight]

    def _read(self, name: str, etag: str) -> InputStream | None:
        blob = self._blob_service.get_blob_client(self.container, name)
        try:
            downloader = blob.download_blob(etag=f'"{etag}"', match_condition=MatchConditions.IfNotModified)
            data = downloader.readall()
        except ResourceNotFoundError:
            return None  # deleted since it was listed
        except Exception as error:
            if getattr(error, "status_code", None) == 412:
                return None  # changed since it was listed: the new version fires on its own
            raise
        return InputStream(data=data, name=f"{self.container}/{name}", uri=blob.url, length=len(data),
                           metadata=downloader.properties.metadata, blob_properties=dict(downloader.properties))

    def _trigger_value(self, stream: InputStream) -> Any:
        annotation = self.spec.annotations.get(self.spec.trigger["name"])
        if annotation is bytes:
            return stream.read()
        if annotation is str:
            return stream.read().decode()
        return stream

    async def _process(self, name: str, etag: str) -> None:
        key = (etag, name)
        try:
            for attempt in range(1, MAX_TRIES + 1):
                try:
                    async with self._limit:  # held while trying, not while backing off
                        stream = await asyncio.to_thread(self._read, name, etag)
                        if stream is None:
                            return
                        await self._invoker.invoke(self.spec, self._trigger_value(stream))
                        await asyncio.to_thread(self._write_receipt, etag, name, "succeeded")
                        return
                except Exception:  # noqa: BLE001 - retried, then poisoned
                    logger.warning("'%s' failed on %s/%s (try %d of %d)", self.spec.name, self.container,
                                   name, attempt, MAX_TRIES)
                    if attempt < MAX_TRIES:
                        await asyncio.sleep(self._retry_delay_s * 2 ** (attempt - 1))
            await asyncio.to_thread(self._poison, name, etag)
        finally:
            self._in_flight.discard(key)

    def _poison(self, name: str, etag: str) -> None:
        logger.error("'%s': %s/%s failed %d times; sent to %s", self.spec.name, self.container, name, MAX_TRIES,
                     POISON_QUEUE)
        message = {"Type": "BlobTrigger", "FunctionId": self.spec.name, "BlobType": "BlockBlob",
                   "ContainerName": self.container, "BlobName": name, "ETag": f'"{etag}"'}
        self._storage.queue(POISON_QUEUE).send_message(encode_queue_message(json.dumps(message)))
        self._write_receipt(etag, name, "poison")

    async def run(self) -> None:
        if self._event_grid:
            await asyncio.to_thread(self._subscribe)
        await asyncio.to_thread(self._load_receipts)
        while True:
            try:
                for name, etag in await asyncio.to_thread(self._new_blobs):
                    logger.info("'%s': found %s/%s", self.spec.name, self.container, name)
                    self._in_flight.add((etag, name))
                    task = asyncio.create_task(self._process(name, etag))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except Exception:
                logger.exception("scanning %s for '%s' failed", self.container, self.spec.name)
            await asyncio.sleep(self._pause())

    def _pause(self) -> float:
        """Until the next scan: polling triggers poll_s; Event Grid ones its latency, longer for a
        large container (PAUSE_PER_BLOB_S a blob listed), at most poll_s."""
        if not self._event_grid:
            return self._poll_s
        return min(self._poll_s, max(self._event_grid_s, self._listed * PAUSE_PER_BLOB_S))

    async def invoke_now(self, blob_path: str) -> None:
        """`POST /admin/functions/{name}` with `{"input": "container/blob"}`: run once on that blob."""
        container, _, name = blob_path.partition("/")
        blob = self._storage.blob(self._connection).get_blob_client(container or self.container, name)
        data = await asyncio.to_thread(lambda: blob.download_blob().readall())
        stream = InputStream(data=data, name=f"{container}/{name}", uri=blob.url, length=len(data))
        await self._invoker.invoke(self.spec, self._trigger_value(stream))
