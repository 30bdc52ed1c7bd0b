"""Exports' adapters: their records in Cosmos DB (type `export`, in the mailbox's partition) and the
ZIP's write stream into Blob storage, staged a block at a time.

A record's times are `requestedAt`, `finishedAt` and `keepUntil`, never `expiresAt`: that field is
the retention sweep's (it purges whatever document carries one that has passed)."""

from __future__ import annotations

import base64
import contextlib
import io
from collections.abc import Iterator
from typing import Any, BinaryIO

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContentSettings

from shared.adapters.cosmos_client import Documents
from shared.adapters.errors import db_translated, missing, translated
from shared.domain.blobpaths import split
from shared.domain.exports import RECORD_KEPT_AFTER, Export, record_id
from shared.domain.model import iso, parse_time

BLOCK = 4 << 20  # bytes staged at a time: what a stream holds at most


def export_to_doc(export: Export) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": record_id(export.id), "mailboxId": export.mailbox_id, "type": "export", "exportId": export.id,
        "status": export.status, "region": export.region, "requestedAt": iso(export.requested_at),
        "requestedBy": export.requested_by,
        "finishedAt": iso(export.finished_at), "keepUntil": iso(export.keep_until), "sizeBytes": export.size_bytes,
        "entries": export.entries, "reason": export.reason}
    if export.status in ("failed", "expired"):
        doc["ttl"] = int(RECORD_KEPT_AFTER.total_seconds())  # the record answers a week more, then 404
    return doc


def export_from_doc(doc: dict[str, Any]) -> Export:
    return Export(id=doc["exportId"], mailbox_id=doc["mailboxId"], status=doc["status"], region=doc.get("region", ""),
                  requested_at=parse_time(doc["requestedAt"]), requested_by=doc.get("requestedBy", "platform"),
                  finished_at=parse_time(doc.get("finishedAt")), keep_until=parse_time(doc.get("keepUntil")),
                  size_bytes=doc.get("sizeBytes"), entries=doc.get("entries"), reason=doc.get("reason"),
                  etag=doc.get("_etag"))


class CosmosExports(Documents):
    """Export records over the app's one container."""

    def get_export(self, mailbox_id: str, export_id: str) -> Export | None:
        doc = self._read_doc(mailbox_id, record_id(export_id), "reading an export")
        return export_from_doc(doc) if doc is not None and doc.get("type") == "export" else None

    def save_export(self, export: Export) -> Export:
        return export_from_doc(self._save_doc(export_to_doc(export), export.etag, "storing an export"))

    def exports_with(self, status: str, region: str, limit: int) -> list[Export]:
        sql = (f"SELECT TOP {int(limit)} * FROM c WHERE c.type = 'export' AND c.status = @s "  # noqa: S608 - an int
               "AND c.region = @r ORDER BY c.requestedAt")
        with db_translated("finding exports"):
            return [export_from_doc(d) for d in self._c.query_items(
                sql, parameters=[{"name": "@s", "value": status}, {"name": "@r", "value": region}],
                enable_cross_partition_query=True, timeout=self._timeout_s)]


class _BlockWriter(io.RawIOBase):
    """Bytes written are staged as blocks of BLOCK bytes; `commit` makes them the blob."""

    def __init__(self, blob: Any):
        self._blob = blob
        self._buffer = bytearray()
        self._blocks: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._buffer += view
        while len(self._buffer) >= BLOCK:
            self._stage(bytes(self._buffer[:BLOCK]))
            del self._buffer[:BLOCK]
        return len(view)

    def _stage(self, chunk: bytes) -> None:
        block_id = base64.b64encode(f"{len(self._blocks):08d}".encode()).decode()
        self._blob.stage_block(block_id, chunk)
        self._blocks.append(block_id)

    def commit(self, content_type: str) -> None:
        if self._buffer or not self._blocks:
            self._stage(bytes(self._buffer))
            self._buffer.clear()
        self._blob.commit_block_list(self._blocks, content_settings=ContentSettings(content_type=content_type))


class BlockBlobStreams:
    """Write streams into the region's storage account (the exports container)."""

    def __init__(self, service: BlobServiceClient):
        self._service = service

    @contextlib.contextmanager
    def open_write(self, path: str, content_type: str) -> Iterator[BinaryIO]:
        container, name = split(path)
        with translated("writing an export"):
            writer = _BlockWriter(self._service.get_blob_client(container, name))
            try:
                yield writer  # type: ignore[misc] - a RawIOBase is the binary stream zipfile writes to
                writer.commit(content_type)
            except ResourceNotFoundError:
                raise missing("blob container", container) from None
