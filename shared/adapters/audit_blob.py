"""The audit trail in blob storage: append blobs in the `audit` container, one a stream a day a
region, `{stream}/{yyyy-mm-dd}/{region}.jsonl`, a record a line.

Append blocks are atomic, so every instance of a region appends to the same blob safely. In Azure the
container has a time-based retention policy with protected append writes (infra/modules/stamp.bicep):
blocks can be appended, nothing can be overwritten or deleted until the policy's days have passed,
whoever asks. Nothing here ever deletes (the erasure does not look in this container)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContentSettings

from shared.adapters.errors import translated
from shared.domain.audit import AuditRecord, day

AUDIT_CONTAINER = "audit"
MAX_BLOCK_BYTES = 4 * 1024 * 1024  # an append block's limit: larger batches go in several


class BlobAuditTrail:
    def __init__(self, service: BlobServiceClient, region: str):
        self._container = service.get_container_client(AUDIT_CONTAINER)
        self._region = region
        self._created: set[str] = set()  # blobs this process knows exist

    def _blob_name(self, stream: str, on_day: str) -> str:
        return f"{stream}/{on_day}/{self._region}.jsonl"

    def append(self, records: Sequence[AuditRecord]) -> None:
        by_blob: dict[str, list[str]] = {}
        for record in records:
            by_blob.setdefault(self._blob_name(record.mailbox_id, day(record.at)), []).append(record.to_line() + "\n")
        with translated(f"audit trail in {self._region}"):
            for name, lines in by_blob.items():
                blob = self._container.get_blob_client(name)
                if name not in self._created:
                    with contextlib.suppress(ResourceExistsError, ResourceModifiedError):  # another instance made it
                        blob.create_append_blob(content_settings=ContentSettings(content_type="application/x-ndjson"),
                                                if_none_match="*")
                    self._created.add(name)
                for chunk in _chunks(lines):
                    blob.append_block(chunk)

    def read(self, stream: str, since_day: str) -> list[AuditRecord]:
        records: list[AuditRecord] = []
        try:
            with translated(f"audit trail in {self._region}"):
                for item in self._container.list_blobs(name_starts_with=f"{stream}/"):
                    parts = item.name.split("/")
                    # This region's blobs only: local regions share one Azurite account (and container).
                    if len(parts) != 3 or parts[1] < since_day or parts[2] != f"{self._region}.jsonl":
                        continue
                    text = self._container.get_blob_client(item.name).download_blob().readall().decode("utf-8")
                    records += [r for r in map(AuditRecord.from_line, text.splitlines()) if r is not None]
        except ResourceNotFoundError:  # no trail yet in this region (or a blob listed, then gone: never here)
            return records
        return records


def _chunks(lines: list[str]) -> list[bytes]:
    """The lines in blocks under the append-block limit, whole lines only."""
    chunks, current, size = [], [], 0
    for line in lines:
        data = line.encode("utf-8")
        if current and size + len(data) > MAX_BLOCK_BYTES:
            chunks.append(b"".join(current))
            current, size = [], 0
        current.append(data)
        size += len(data)
    if current:
        chunks.append(b"".join(current))
    return chunks
