"""Renditions made on first request, then kept: MP3.

MP3 is the least used rendition and the wheel's LAME the most expensive encoder (a third of a
message's transcoding CPU, docs/benchmarks.md), so the pipeline makes only the Opus and the
telephony WAV at deposit. A ready message lists mp3 among its `formats` and names its blob from
the start; the first read that finds that blob in no region (a `GET .../audio?format=mp3`, an
e-mail attachment) makes it here, in the transcoder's worker processes, and stores it as the
ordinary rendition blob, so every later read, range and link is served from storage.

Made from the original (kept until the message is purged), with the deposit's encoder settings,
the same gain (the same measuring pass on the same samples), the same cut of a truncated message
and the same band: byte for byte the MP3 the deposit would have made (`tests/unit/test_renditions.py`).
Should the original be gone, the best rendition stored stands in (the Opus for wideband audio, the
telephony WAV for narrowband, not normalised again), with a warning in the log.

Concurrent first requests: in one process they wait for one transcode (a lock per blob); in
different processes or regions each makes it and the last write stores the same bytes again. A
message purged while its MP3 was being made has the blob deleted again at once (and, should that
fail, the retention sweep's orphan pass removes it).

Replication and forwarding copy only what exists: a region or mailbox that gets a message before
its MP3 was made makes its own from the original it received, the same bytes again.
"""

from __future__ import annotations

import logging
import struct
import tempfile
import threading
from pathlib import Path

from shared.domain.audio import LAZY_RENDITIONS, RENDITION_CONTENT_TYPES, AudioLimits
from shared.domain.errors import AudioNotFound
from shared.domain.model import RENDITIONS, Message
from shared.ports import AudioStore, MessageRepository, Transcoder
from shared.services.replication import Regions
from shared.telemetry import Telemetry

logger = logging.getLogger(__name__)
AT_DEPOSIT = tuple(name for name in RENDITIONS if name not in LAZY_RENDITIONS)  # what the pipeline makes
SPARE_S = 1.0  # past an untruncated message's duration: the whole original is kept, as at deposit
_EPSILON_S = 1e-6  # so a truncated message's cut (a whole number of samples) survives float rounding
_UNKNOWN_S = 24 * 3600.0
_HEAD_BYTES = 512  # enough of an Ogg Opus file for its OpusHead packet


def is_lazy(name: str) -> bool:
    return name in LAZY_RENDITIONS


def opus_input_rate(head: bytes) -> int | None:
    """The input sample rate an Ogg Opus file's OpusHead records (RFC 7845 §5.1), else None."""
    at = head.find(b"OpusHead")
    if at < 0 or len(head) < at + 16:
        return None
    return struct.unpack_from("<I", head, at + 12)[0] or None


class Renditions:
    """Finds a message's audio in the regions that hold it, making a lazy rendition that none holds."""

    def __init__(self, regions: Regions, transcoder: Transcoder | None, normalize: bool,
                 messages: MessageRepository | None, telemetry: Telemetry):
        self._regions = regions
        self._transcoder = transcoder
        self._normalize = normalize
        self._messages = messages
        self._telemetry = telemetry
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def locate(self, message: Message, name: str) -> tuple[AudioStore, int]:
        """A store that holds the message's `name` audio (this region first, then those recorded as
        holding it) and its size. A lazy rendition that none holds is made and stored here first;
        AudioNotFound when the audio is nowhere (and cannot be made)."""
        path = message.blobs.get(name)
        if path is None:
            raise AudioNotFound(f"format {name} is not available for this message")
        try:
            return self._regions.read_anywhere(path, message.replica_regions)
        except AudioNotFound:
            if not is_lazy(name) or message.status != "ready" or self._transcoder is None:
                raise
        with self._guard:
            lock = self._locks.setdefault(path, threading.Lock())
        with lock:
            try:  # made meanwhile, by the request this one waited for
                return self._regions.read_anywhere(path, message.replica_regions)
            except AudioNotFound:
                pass
            try:
                return self._regions.local, self._make(message, name, path)
            finally:
                with self._guard:
                    self._locks.pop(path, None)

    def _make(self, message: Message, name: str, path: str) -> int:
        with self._telemetry.span("make rendition", attributes={"voicemail.rendition": name}), \
                tempfile.TemporaryDirectory(prefix="rendition-") as work:
            source, content_type, normalize, seconds = self._source(message, name, Path(work) / "source")
            limits = AudioLimits(0, seconds, normalize)
            with self._telemetry.transcode():
                result = self._transcoder.transcode(source, Path(work), limits, content_type, (name,))
            local = result.files[name]
            self._regions.local.put_file(path, local, RENDITION_CONTENT_TYPES[name])
            size = local.stat().st_size
        logger.info("made %s of %s/%s on first request", name, message.mailbox_id, message.id)
        if self._messages is not None:
            current = self._messages.get_message(message.mailbox_id, message.id)
            if current is None or current.purged:  # purged while it was made: leave nothing behind
                self._regions.local.delete(path)
                raise AudioNotFound("the message was purged")
        return size

    def _source(self, message: Message, name: str, local: Path) -> tuple[Path, str, bool, float]:
        """What to make the rendition from, written to local: (local, its content type, whether to
        normalise, the seconds to keep)."""
        # A ready message always has its duration; without one, keep everything (nothing is cut).
        duration_s = message.duration_ms / 1000 if message.duration_ms is not None else _UNKNOWN_S
        original = message.blobs.get("original")
        if original is not None:
            try:
                store, _ = self._regions.read_anywhere(original, message.replica_regions)
                local.write_bytes(store.read(original))
                # A truncated message keeps exactly its cut; otherwise all of the original, as at deposit.
                seconds = duration_s + (_EPSILON_S if message.truncated else SPARE_S)
                return local, message.content_type, self._normalize, seconds
            except AudioNotFound:
                pass
        for fallback in self._fallbacks(message):
            try:
                store, _ = self._regions.read_anywhere(message.blobs[fallback], message.replica_regions)
                local.write_bytes(store.read(message.blobs[fallback]))
            except AudioNotFound:
                continue
            logger.warning("the original of %s/%s is gone: its %s is made from its %s",
                           message.mailbox_id, message.id, name, fallback)
            return local, RENDITION_CONTENT_TYPES[fallback], False, duration_s + SPARE_S
        raise AudioNotFound("the audio is in no region reachable from here")

    def _fallbacks(self, message: Message) -> list[str]:
        """The stored renditions to make another from, best first: the Opus keeps a wideband
        message's band, the 8 kHz WAV is the closer copy of a narrowband one."""
        order = ["opus", "wav"]
        path = message.blobs.get("opus")
        if path is not None:
            try:
                store, size = self._regions.read_anywhere(path, message.replica_regions)
                rate = opus_input_rate(store.read(path, 0, min(size, _HEAD_BYTES)))
            except AudioNotFound:
                rate = None
            if rate is not None and rate <= 8_000:
                order = ["wav", "opus"]
        return [fallback for fallback in order if fallback in message.blobs and fallback in message.formats]
