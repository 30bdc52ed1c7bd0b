"""What the audio pipeline promises: limits in, renditions or a reason out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

REJECTION_REASONS = ("invalid-audio", "too-short", "silent")
RENDITION_CONTENT_TYPES = {"opus": "audio/ogg", "wav": "audio/wav", "mp3": "audio/mpeg"}
# Made on a message's first request for them, not at deposit (`shared/services/renditions.py`): the
# message lists them and names their blob from the start, but the blob may not exist yet.
LAZY_RENDITIONS = ("mp3",)
# What the decoder opens (shared/adapters/audio_codec.py refuses anything beyond these).
MIN_SOURCE_RATE, MAX_SOURCE_RATE, MAX_CHANNELS = 4_000, 384_000, 16
# The most bytes a second of accepted audio takes: WAV PCM 16-bit at the highest rate and channels.
MAX_BYTES_PER_SECOND = MAX_SOURCE_RATE * MAX_CHANNELS * 2
HEADER_SLACK_BYTES = 64 * 1024  # a WAV's header and chunks (LIST, fact) around its samples


def largest_needed(max_seconds: int) -> int:
    """The most bytes audio of max_seconds can need: a generous bound (a bigger body is refused
    before it is decoded or stored; anything real is far smaller)."""
    return max_seconds * MAX_BYTES_PER_SECOND + HEADER_SLACK_BYTES


@dataclass(frozen=True)
class Containers:
    """Where a region keeps audio: originals (watched by the pipeline) and renditions. The names are
    settings (INCOMING_CONTAINER, AUDIO_CONTAINER in `shared.config.SECTIONS`, their one default)."""

    incoming: str
    audio: str


@dataclass(frozen=True)
class AudioLimits:
    min_seconds: float
    max_seconds: float
    normalize: bool = True


class AudioRejected(Exception):
    """The audio can never become a message (deterministic: retrying changes nothing)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[AudioRejected], tuple[str, str]]:
        """Pickled whole: the transcoder's worker processes send it back to the caller."""
        return type(self), (self.reason, self.detail)


@dataclass(frozen=True)
class Transcoded:
    duration_ms: int
    truncated: bool
    files: dict[str, Path] = field(default_factory=dict)  # rendition name -> local file
    gain_db: float = 0.0
