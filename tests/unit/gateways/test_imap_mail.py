"""A voice message as mail: RFC 3458/3803 headers, the transcript part, the wav attachment, and the
same bytes every time (a client's cached headers must match the body it fetches later)."""

from __future__ import annotations

import email
import email.policy
import email.utils
import io
import wave

import pytest

from gateways.imap.api import User
from gateways.imap.mime import VoiceMail


def wav(seconds: float = 1.0) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x01\x00" * int(8000 * seconds))
    return buffer.getvalue()


def message(**fields: object) -> dict:
    return {"id": "0f3c2a", "receivedAt": "2026-12-06T21:15:02.250000Z", "durationMs": 12_400, "urgent": False,
            "from": {"number": "+15557654321", "name": "Alice"}, "transcript": None, **fields}


def parse(data: bytes) -> email.message.Message:
    return email.message_from_bytes(data, policy=email.policy.default)


def test_headers_say_who_called_when_and_how_long():
    mail = parse(VoiceMail(message(), "+15550001", "Europe/Paris").render(wav()))
    assert mail["Message-Context"] == "voice-message"
    assert mail["Content-Duration"] == "12"
    assert mail["From"].addresses[0].display_name == "Alice"
    assert mail["From"].addresses[0].username == "+15557654321"
    assert mail["Subject"] == "Voice message from Alice (+15557654321), 12 s"
    assert mail["Date"].datetime.utcoffset().total_seconds() == 3600  # the mailbox's time zone
    assert mail["Date"].datetime.timestamp() == pytest.approx(email.utils.parsedate_to_datetime(
        "Sun, 06 Dec 2026 21:15:02 +0000").timestamp())
    assert "Importance" not in mail


def test_the_audio_is_attached_as_wav_with_its_duration():
    audio = wav(0.5)
    mail = parse(VoiceMail(message(), "+15550001").render(audio))
    [part] = [p for p in mail.walk() if p.get_content_type() == "audio/wav"]
    assert part.get_payload(decode=True) == audio
    assert part.get_content_disposition() == "attachment" and part["Content-Duration"] == "12"
    assert [p.get_content_type() for p in mail.walk()] == ["multipart/mixed", "audio/wav"]  # no transcript yet


def test_a_ready_transcript_is_the_text_part():
    text = "Hi, it's Alice — call me back about Friday.\nThanks"
    mail = parse(VoiceMail(message(transcript={"status": "ready", "text": text}), "+15550001").render(wav()))
    [part] = [p for p in mail.walk() if p.get_content_type() == "text/plain"]
    assert part.get_content().replace("\r\n", "\n").strip() == text
    pending = parse(VoiceMail(message(transcript={"status": "pending", "text": None}), "+1").render(wav()))
    assert not [p for p in pending.walk() if p.get_content_type() == "text/plain"]


def test_unknown_and_hostile_callers_make_clean_headers():
    hostile = message(**{"from": {"number": None, "name": "Eve\r\nBcc: x@example.com\u202e"}}, urgent=True)
    data = VoiceMail(hostile, "+15550001").render(wav())
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head and "\u202e".encode() not in data
    mail = parse(data)
    assert mail["Importance"] == "high" and mail["Subject"].startswith("Urgent voice message from Eve")
    nobody = parse(VoiceMail(message(**{"from": {"number": None, "name": None}}), "+1").render(wav()))
    assert "Unknown caller" in nobody["Subject"]


def test_non_ascii_names_are_encoded_and_lines_end_in_crlf():
    data = VoiceMail(message(**{"from": {"number": "+33123", "name": "Zoë Ångström"}}), "+1").render(wav())
    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert parse(data)["From"].addresses[0].display_name == "Zoë Ångström"


def test_the_same_message_renders_to_the_same_bytes_and_its_headers_match():
    mail = VoiceMail(message(), "+15550001")
    assert mail.render(wav()) == mail.render(wav())
    assert mail.render(wav()).startswith(mail.header_bytes())


@pytest.mark.parametrize(("name", "tenant", "path"), [
    ("+15550001", "default", "mailboxes/%2B15550001"),
    ("acme/+15550001", "acme", "tenants/acme/mailboxes/%2B15550001"),
    ("default/+15550001", "default", "mailboxes/%2B15550001"),
])
def test_a_user_name_is_a_mailbox_id_optionally_after_its_tenant(name, tenant, path):
    user = User.parse(name)
    assert (user.tenant, user.path) == (tenant, path)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 56, 57, 58, 113, 114, 115, 8_044, 64_044])
@pytest.mark.parametrize("transcript", [None, {"status": "ready", "text": "call me\nback"}])
def test_the_size_is_known_from_the_audio_length_alone(size, transcript):
    """RFC822.SIZE in a listing must be what FETCH BODY[] later sends, without fetching the audio."""
    mail = VoiceMail(message(transcript=transcript), "+15550001")
    assert mail.rendered_size(size) == len(mail.render(bytes(range(256)) * (size // 256) + bytes(size % 256)))
