"""In-memory export records and write streams (the `exports` and `streams` ports)."""

from __future__ import annotations

import contextlib
import io
import itertools
from collections.abc import Iterator
from dataclasses import replace
from typing import BinaryIO

from shared.domain.errors import EtagMismatch
from shared.domain.exports import Export


class FakeExports:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], Export] = {}
        self._etags = itertools.count(1)

    def get_export(self, mailbox_id: str, export_id: str) -> Export | None:
        return self.records.get((mailbox_id, export_id))

    def save_export(self, export: Export) -> Export:
        key = (export.mailbox_id, export.id)
        current = self.records.get(key)
        if (current.etag if current else None) != export.etag:
            raise EtagMismatch("the export changed")
        saved = replace(export, etag=f"e{next(self._etags)}")
        self.records[key] = saved
        return saved

    def exports_with(self, status: str, region: str, limit: int) -> list[Export]:
        found = sorted((e for e in self.records.values() if e.status == status and e.region == region),
                       key=lambda e: e.requested_at)
        return found[:limit]


class FakeStreams:
    """Streams into a FakeAudio's blobs: what is written lands there when the stream is committed.
"""

    def __init__(self, audio) -> None:
        self.audio = audio
        self.committed: list[str] = []

    @contextlib.contextmanager
    def open_write(self, path: str, content_type: str) -> Iterator[BinaryIO]:
        buffer = io.BytesIO()
        yield buffer
        self.audio.blobs[path] = buffer.getvalue()
        self.committed.append(path)
