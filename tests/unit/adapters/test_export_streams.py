"""The export's write stream: blocks of at most BLOCK bytes staged as they fill, the blob committed
only when the writing ends well, and a ZIP written through it opens; export records both ways."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

import pytest

from shared.adapters import exports as adapter
from shared.adapters.exports import BlockBlobStreams, export_from_doc, export_to_doc
from shared.domain.exports import Export


class Blob:
    def __init__(self) -> None:
        self.staged: dict[str, bytes] = {}
        self.committed: bytes | None = None
        self.content_type: str | None = None

    def stage_block(self, block_id, data):
        self.staged[block_id] = bytes(data)

    def commit_block_list(self, blocks, content_settings):
        self.committed = b"".join(self.staged[b] for b in blocks)
        self.content_type = content_settings.content_type


class Service:
    def __init__(self) -> None:
        self.blobs: dict[tuple[str, str], Blob] = {}

    def get_blob_client(self, container, name):
        return self.blobs.setdefault((container, name), Blob())


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(adapter, "BLOCK", 1024)


def test_a_zip_written_through_the_stream_is_staged_in_blocks_and_committed(small_blocks):
    service = Service()
    with BlockBlobStreams(service).open_write("exports/+1555/e1.zip", "application/zip") as sink, \
            zipfile.ZipFile(sink, "w") as archive:
        archive.writestr("a.bin", b"x" * 5000)
    blob = service.blobs[("exports", "+1555/e1.zip")]
    assert len(blob.staged) >= 5 and all(len(b) <= 1024 for b in blob.staged.values())
    assert blob.content_type == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(blob.committed)).read("a.bin") == b"x" * 5000


def test_nothing_is_committed_when_the_writing_fails(small_blocks):
    service = Service()
    with pytest.raises(RuntimeError), BlockBlobStreams(service).open_write("exports/+1555/e2.zip", "x") as sink:
        sink.write(b"y" * 3000)
        raise RuntimeError("the mailbox went away")
    assert service.blobs[("exports", "+1555/e2.zip")].committed is None


def test_an_empty_stream_still_makes_a_blob():
    service = Service()
    with BlockBlobStreams(service).open_write("exports/+1555/e3.zip", "application/zip"):
        pass
    assert service.blobs[("exports", "+1555/e3.zip")].committed == b""


def test_records_round_trip_and_never_carry_expires_at():
    export = Export("a" * 32, "+1555", "ready", datetime(2026, 12, 7, tzinfo=UTC), region="r1",
                    finished_at=datetime(2026, 12, 7, 0, 1, tzinfo=UTC),
                    keep_until=datetime(2026, 12, 8, tzinfo=UTC), size_bytes=10, entries=3)
    doc = export_to_doc(export)
    assert "expiresAt" not in doc  # the retention sweep purges whatever document carries one
    assert doc["id"] == "export-" + "a" * 32 and doc["type"] == "export" and "ttl" not in doc
    assert export_from_doc(doc) == export
    assert export_to_doc(Export("b" * 32, "+1555", "failed", export.requested_at, reason="x"))["ttl"] > 0
