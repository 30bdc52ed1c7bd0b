"""Sizes before reading (issue 23): an inline body larger than the mailbox's maxMessageSeconds can
need is refused before it is stored; an upload larger than its `sizeBytes` ends `failed`
`too-large` by its size, its blob never read and deleted."""

from __future__ import annotations

import pytest

from shared.domain.audio import MAX_BYTES_PER_SECOND, largest_needed
from shared.domain.commands import PutMailbox, RequestUpload
from shared.domain.errors import PayloadTooLarge
from shared.domain.model import MailboxSettings
from shared.domain.principal import PLATFORM
from shared.services.messages import Sender
from tests.unit.fakes import fake_app

SENDER = Sender("+15550001111", "Bob", urgent=False)


@pytest.fixture
def region():
    region = fake_app()
    region.app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="A",
                                                          settings=MailboxSettings(maxMessageSeconds=1)))
    return region


def test_the_bound_is_a_second_of_16_bit_pcm_at_the_highest_rate_and_channels_per_second_kept():
    assert MAX_BYTES_PER_SECOND == 384_000 * 16 * 2
    assert largest_needed(2) - largest_needed(1) == MAX_BYTES_PER_SECOND


def test_an_inline_body_over_what_max_message_seconds_can_need_is_refused_before_it_is_stored(region):
    too_big = b"R" * (largest_needed(1) + 1)
    with pytest.raises(PayloadTooLarge):
        region.app.messages.deposit(PLATFORM, "+1555", too_big, "audio/wav", SENDER, None)
    assert not [p for p in region.audio.blobs if p.startswith("incoming/+1555/")]
    assert region.transcoder.calls == 0


def test_an_inline_body_within_the_bound_is_taken(region):
    message, _ = region.app.messages.deposit(PLATFORM, "+1555", b"hello audio", "audio/wav", SENDER, None)
    assert message["status"] == "processing"


def _upload(region, size_bytes: int) -> str:
    answer = region.app.messages.request_upload(
        PLATFORM, "+1555", RequestUpload(contentType="audio/wav", sizeBytes=size_bytes), None)
    return answer["message"]["id"]


def test_an_upload_larger_than_promised_is_never_read_ends_too_large_and_is_deleted(region):
    message_id = _upload(region, 1000)
    path = f"incoming/+1555/{message_id}"
    region.audio.blobs[path] = b"x" * 5_000_000  # what landed: far more than promised

    def never_read() -> bytes:
        raise AssertionError("an oversized upload was read")

    assert region.app.pipeline.process(path, never_read, size=5_000_000) == "failed"
    message = region.app.messages.get(PLATFORM, "+1555", message_id)
    assert (message["status"], message["error"]) == ("failed", "too-large")
    assert path not in region.audio.blobs and region.transcoder.calls == 0
    assert region.app.pipeline.process(path, never_read, size=5_000_000) == "already failed"


def test_without_a_size_the_store_is_asked_before_reading(region):
    message_id = _upload(region, 1000)
    path = f"incoming/+1555/{message_id}"
    region.audio.blobs[path] = b"x" * 1001

    def never_read() -> bytes:
        raise AssertionError("an oversized upload was read")

    assert region.app.pipeline.process(path, never_read) == "failed"
    assert region.app.messages.get(PLATFORM, "+1555", message_id)["error"] == "too-large"


def test_an_upload_within_its_size_is_read_once_and_processed(region):
    message_id = _upload(region, 1000)
    path = f"incoming/+1555/{message_id}"
    region.audio.blobs[path] = b"hello audio"
    reads = []

    def read() -> bytes:
        reads.append(path)
        return b"hello audio"

    assert region.app.pipeline.process(path, read, size=len(b"hello audio")) == "ready"
    assert reads == [path] and path in region.audio.blobs
