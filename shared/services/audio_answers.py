"""Audio answers: which stored audio a request for a message's audio gets, whole, as one byte range
or as a short-lived read link, from this region or one that holds a copy. Greetings answer the same
way (`read_audio`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from shared.domain.audio import RENDITION_CONTENT_TYPES
from shared.domain.errors import AudioNotFound, MessageProcessing, RangeNotSatisfiable
from shared.domain.model import Message
from shared.ports import AudioStore


@dataclass(frozen=True)
class AudioAnswer:
    """Audio bytes (or a link to them) and what the HTTP layer needs to say about them."""

    content_type: str
    total_size: int
    data: bytes = b""
    range: tuple[int, int] | None = None  # inclusive byte range served, for 206
    redirect_url: str | None = None


def parse_range(header: str, size: int) -> tuple[int, int]:
    """One `bytes=` range (RFC 9110) → inclusive (first, last); RangeNotSatisfiable otherwise."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        raise RangeNotSatisfiable("one bytes= range is supported")
    if not re.fullmatch(r"\s*[0-9]*-[0-9]*\s*", spec):
        raise RangeNotSatisfiable(f"bad range {header!r}")
    first_text, _, last_text = spec.strip().partition("-")
    try:
        if first_text == "":
            suffix = int(last_text)
            if suffix <= 0:
                raise ValueError
            first, last = max(0, size - suffix), size - 1
        else:
            first = int(first_text)
            last = int(last_text) if last_text else size - 1
    except ValueError:
        raise RangeNotSatisfiable(f"bad range {header!r}") from None
    last = min(last, size - 1)
    if first < 0 or first > last or first >= size:
        raise RangeNotSatisfiable(f"range {header!r} is outside the {size} bytes")
    return first, last


def read_audio(audio: AudioStore, path: str, content_type: str, range_header: str | None,
               size: int | None = None) -> AudioAnswer:
    """A stored blob as an answer: whole, or the one range asked for."""
    size = audio.size(path) if size is None else size
    if size is None:
        raise AudioNotFound("the audio is not in this region")
    if range_header:
        first, last = parse_range(range_header, size)
        return AudioAnswer(content_type, size, audio.read(path, first, last - first + 1), (first, last))
    return AudioAnswer(content_type, size, audio.read(path))


def message_audio(message: Message, locate: Callable[[Message, str], tuple[AudioStore, int]],
                  audio_format: str | None, range_header: str | None, redirect: bool,
                  link_ttl: timedelta) -> AudioAnswer:
    """A visible message's audio in the format asked for (None: its first rendition, once processed);
    `locate` finds a store that holds it (Renditions.locate: an MP3 none holds yet is made then)."""
    if audio_format is None:
        if message.status == "processing":
            raise MessageProcessing("the audio is still being processed; ask for format=original meanwhile")
        audio_format = message.formats[0] if message.formats else "original"
    if audio_format != "original" and message.status == "processing":
        raise MessageProcessing("the audio is still being processed")
    path = message.blobs.get(audio_format)
    if path is None or (audio_format != "original" and audio_format not in message.formats):
        raise AudioNotFound(f"format {audio_format} is not available for this message")
    content_type = message.content_type if audio_format == "original" else RENDITION_CONTENT_TYPES[audio_format]
    # This region's copy first; else one of the regions that hold it (replication lags); an MP3
    # that none holds yet is made now, from the original, and kept.
    store, size = locate(message, audio_format)
    if redirect:
        return AudioAnswer(content_type, size,
                           redirect_url=store.read_url(path, link_ttl, content_type=content_type))
    return read_audio(store, path, content_type, range_header, size)
