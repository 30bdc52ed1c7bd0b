"""A voice message as Internet mail (RFC 3458 voice message, RFC 3803 duration).

    From: "Alice" <+15551234567@voicemail.invalid>     the caller (or "Unknown caller")
    Date: receipt, in the mailbox's time zone
    Subject: Voice message from Alice (+15551234567), 12 s
    Message-Context: voice-message                     RFC 3458
    Content-Duration: 12                               RFC 3803, seconds (also on the audio part)
    multipart/mixed: text/plain transcript (when there is one), then audio/wav as an attachment

The same message always renders to the same bytes (the boundary comes from the message id), so
the headers a client fetched first match the body it fetches later.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import quopri
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timezone
from email.header import Header
from email.utils import format_datetime, formataddr
from zoneinfo import ZoneInfo

DOMAIN = "voicemail.invalid"
CRLF = b"\r\n"
BASE64_LINE = 76  # characters a line of base64.encodebytes


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _clean(text: str | None) -> str:
    """Names as headers may carry them: no control, format (bidi) or line-separator characters."""
    if not text:
        return ""
    if text.isascii() and text.isprintable():  # the usual case, quickly
        return " ".join(text.split())[:128]
    kept = "".join(ch for ch in text if unicodedata.category(ch)[0] not in ("C", "Z") or ch == " ")
    return re.sub(r"\s+", " ", kept).strip()[:128]


@functools.cache
def _zone(name: str) -> ZoneInfo | timezone:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return UTC


def _header_text(text: str) -> str:
    """Non-ASCII as RFC 2047 encoded words, folded with CRLF as RFC 5322 folds."""
    return text if text.isascii() else Header(text, "utf-8").encode(linesep="\r\n")


def local_part(text: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9+._-]", "", text or "") or "unknown"


@dataclass(frozen=True)
class VoiceMail:
    """What one message looks like as mail: its headers now, its body once the audio is fetched."""

    message: dict
    mailbox_id: str
    time_zone: str = "UTC"

    @functools.cached_property
    def received_at(self) -> datetime:
        return parse_time(self.message["receivedAt"])

    @property
    def seconds(self) -> int:
        return max(1, round((self.message.get("durationMs") or 0) / 1000))

    @property
    def boundary(self) -> str:
        return "vm-" + hashlib.sha256(self.message["id"].encode()).hexdigest()[:24]

    @property
    def transcript(self) -> str | None:
        transcript = self.message.get("transcript") or {}
        return transcript.get("text") if transcript.get("status") == "ready" else None

    @functools.cached_property
    def sender(self) -> tuple[str, str]:
        """The caller's (number, name), cleaned."""
        sender = self.message.get("from") or {}
        return _clean(sender.get("number")), _clean(sender.get("name"))

    def caller(self) -> tuple[str, str]:
        """(display name, address's local part) of the From address."""
        number, name = self.sender
        return name or number or "Unknown caller", local_part(number)

    @functools.cached_property
    def date(self) -> str:
        """The Date header: receipt, in the mailbox's time zone."""
        return format_datetime(self.received_at.astimezone(_zone(self.time_zone)))

    @functools.cached_property
    def subject(self) -> str:
        number, name = self.sender
        who = f"{name} ({number})" if name and number else (name or number or "Unknown caller")
        urgent = "Urgent voice" if self.message.get("urgent") else "Voice"
        return _header_text(self.message.get("subject") or f"{urgent} message from {who}, {self.seconds} s")

    @property
    def message_id(self) -> str:
        return f"<{self.message['id']}@{DOMAIN}>"

    def headers(self) -> list[tuple[str, str]]:
        display, local = self.caller()
        headers = [
            ("From", formataddr((display, f"{local}@{DOMAIN}"), charset="utf-8")),
            ("To", f"<{local_part(self.mailbox_id)}@{DOMAIN}>"),
            ("Date", self.date),
            ("Subject", self.subject),
            ("Message-ID", self.message_id),
            ("MIME-Version", "1.0"),
            ("Message-Context", "voice-message"),
            ("Content-Duration", str(self.seconds)),
        ]
        if self.message.get("urgent"):
            headers.append(("Importance", "high"))
        headers.append(("Content-Type", f'multipart/mixed; boundary="{self.boundary}"'))
        return headers

    def header_bytes(self) -> bytes:
        return b"".join(f"{name}: {value}".encode().replace(b"\r\n", b"\n").replace(b"\n", CRLF) + CRLF
                        for name, value in self.headers()) + CRLF

    def _around_audio(self) -> tuple[bytes, bytes]:
        """The message's bytes before and after the base64 of its audio."""
        marker = f"--{self.boundary}".encode()
        before = self.header_bytes()
        if self.transcript:
            text = quopri.encodestring(self.transcript.replace("\r\n", "\n").encode("utf-8"))
            before += (marker + CRLF + b"Content-Type: text/plain; charset=utf-8" + CRLF
                       + b"Content-Transfer-Encoding: quoted-printable" + CRLF + CRLF
                       + text.replace(b"\r\n", b"\n").replace(b"\n", CRLF) + CRLF)
        before += (marker + CRLF + b"Content-Type: audio/wav" + CRLF + b"Content-Transfer-Encoding: base64" + CRLF
                   + f"Content-Disposition: attachment; filename=voice-message-{self.message['id']}.wav".encode()
                   + CRLF + f"Content-Duration: {self.seconds}".encode() + CRLF + CRLF)
        return before, CRLF + marker + b"--" + CRLF

    def render(self, wav: bytes) -> bytes:
        """The whole message, CRLF line ends, with the audio attached."""
        before, after = self._around_audio()
        return before + base64.encodebytes(wav).replace(b"\n", CRLF).rstrip(CRLF) + after

    def rendered_size(self, wav_size: int) -> int:
        """len(render(wav)) for a wav of that many bytes, without the wav: RFC822.SIZE for a listing."""
        before, after = self._around_audio()
        encoded = 4 * math.ceil(wav_size / 3)
        lines = math.ceil(encoded / BASE64_LINE)
        return len(before) + encoded + max(0, lines - 1) * len(CRLF) + len(after)
