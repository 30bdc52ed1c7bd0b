"""Transcripts: what a message's `transcript` holds, the locale it is asked in, the job that makes
it (its one wire format) and how long a failed attempt waits. Pure: no I/O, no SDK.

A transcript is `pending` from the moment its message turns `ready`, then settles once: `ready`
with the text, or `failed` with a reason. It never changes the message's status or audio.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

TranscriptStatus = Literal["pending", "ready", "failed"]
ENGINES = ("azure", "local", "off")

# Why a transcript failed: stable slugs, shown as `transcript.error`.
NO_SPEECH = "no-speech"  # the engine heard no words
UNSUPPORTED_LANGUAGE = "unsupported-language"  # the engine cannot transcribe the mailbox's language
AUDIO_UNAVAILABLE = "audio-unavailable"  # the message's audio could not be read in this region
ENGINE_UNAVAILABLE = "engine-unavailable"  # the engine kept failing through every attempt
AUDIO_UNREADABLE = "audio-unreadable"  # the engine (or its decoder) could not use the audio
NOT_ALLOWED = "not-allowed"  # the mailbox's class of service stopped allowing transcription meanwhile

MAX_ATTEMPTS = 5
FIRST_RETRY_S = 15.0
LONGEST_WAIT_S = 15 * 60.0

# The region a bare language most often means in a voicemail (a full locale is used as given).
_DEFAULT_REGION = {
    "en": "US", "fr": "FR", "de": "DE", "es": "ES", "it": "IT", "pt": "BR", "nl": "NL", "sv": "SE", "da": "DK",
    "nb": "NO", "fi": "FI", "pl": "PL", "cs": "CZ", "el": "GR", "tr": "TR", "ru": "RU", "uk": "UA", "ja": "JP",
    "ko": "KR", "zh": "CN", "ar": "SA", "he": "IL", "hi": "IN", "id": "ID", "th": "TH", "vi": "VN", "ro": "RO",
    "hu": "HU", "ca": "ES", "ga": "IE", "cy": "GB", "ms": "MY",
}


def speech_locale(language: str) -> str:
    """The BCP 47 locale a speech engine is asked for, from a mailbox's `language` setting:
    `en` -> `en-US`, `en-gb` -> `en-GB`, `zh-Hans-CN` kept as given but for case."""
    parts = language.split("-")
    base = parts[0].lower()
    if len(parts) == 1:
        region = _DEFAULT_REGION.get(base)
        return f"{base}-{region}" if region else base
    rest = [p.upper() if len(p) == 2 and p.isalpha() else p.title() if len(p) == 4 else p for p in parts[1:]]
    return "-".join([base, *rest])


@dataclass(frozen=True)
class Transcript:
    status: TranscriptStatus
    language: str  # the locale transcribed (or to be): `en-US`
    text: str | None = None
    confidence: float | None = None  # 0.0-1.0, as the engine reports it
    error: str | None = None  # why it failed

    @staticmethod
    def pending(language: str) -> Transcript:
        return Transcript("pending", speech_locale(language))

    @property
    def settled(self) -> bool:
        return self.status != "pending"

    def ready(self, text: str, confidence: float | None) -> Transcript:
        bounded = None if confidence is None else round(min(1.0, max(0.0, confidence)), 3)
        return Transcript("ready", self.language, text, bounded)

    def failed(self, reason: str) -> Transcript:
        return Transcript("failed", self.language, error=reason)

    def as_api(self) -> dict[str, object]:
        return {"status": self.status, "text": self.text, "language": self.language,
                "confidence": self.confidence, "error": self.error}

    @staticmethod
    def from_api(doc: dict[str, object] | None) -> Transcript | None:
        """The inverse of as_api (documents store that same shape); None stays None."""
        if not doc:
            return None
        return Transcript(status=doc["status"], language=doc["language"], text=doc.get("text"),  # type: ignore[arg-type]
                          confidence=doc.get("confidence"), error=doc.get("error"))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Recognized:
    """What an engine heard."""

    text: str
    confidence: float | None = None


class TranscriptionRejected(Exception):
    """The engine can never transcribe this audio as asked (language, audio): ends `failed`, no retry."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class TranscriberUnavailable(Exception):
    """The engine did not answer, or answered that it is busy: worth another attempt later."""


def clean_text(text: str) -> str:
    """One line, single spaces: what the engines return, as a reader sees it."""
    return re.sub(r"\s+", " ", text).strip()


def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): doubling from FIRST_RETRY_S, capped."""
    return min(FIRST_RETRY_S * 2 ** (attempt - 1), LONGEST_WAIT_S)


@dataclass(frozen=True)
class TranscriptionJob:
    """One queue message: transcribe this message (attempt n of MAX_ATTEMPTS)."""

    mailbox_id: str
    message_id: str
    attempt: int = 1
    trace: dict[str, str] | None = None

    def to_payload(self) -> dict[str, object]:
        return {"mailboxId": self.mailbox_id, "messageId": self.message_id, "attempt": self.attempt,
                "trace": self.trace or {}}

    @staticmethod
    def from_payload(body: object) -> TranscriptionJob:
        """ValueError for anything that is not one of ours."""
        if not isinstance(body, dict):
            raise ValueError("not a transcription job")
        mailbox_id, message_id, attempt = body.get("mailboxId"), body.get("messageId"), body.get("attempt", 1)
        trace = body.get("trace") or {}
        if (not isinstance(mailbox_id, str) or not isinstance(message_id, str) or not isinstance(attempt, int)
                or isinstance(attempt, bool) or attempt < 1 or not isinstance(trace, dict)):
            raise ValueError("not a transcription job")
        return TranscriptionJob(mailbox_id, message_id, attempt, {str(k): str(v) for k, v in trace.items()})

    def next_attempt(self) -> TranscriptionJob:
        return TranscriptionJob(self.mailbox_id, self.message_id, self.attempt + 1, self.trace)
