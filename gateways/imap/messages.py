"""Messages as Twisted's IMAP server reads them: an announced message (`Item`), the mail it renders
to (`Mail`: headers always, the body once its audio is fetched; the ENVELOPE built from its parts)
and a MIME part of it (`Part`)."""

from __future__ import annotations

import email.header
import email.utils
import io
from dataclasses import dataclass

from twisted.mail import imap4
from zope.interface import implementer

from gateways.imap.api import Session
from gateways.imap.mime import DOMAIN, VoiceMail, local_part


@dataclass
class Item:
    """One announced message: its UID, what the API said of it, and this session's \\Deleted mark."""

    uid: int
    message: dict
    deleted: bool = False

    @property
    def flags(self) -> list[str]:
        return [flag for flag, on in (("\\Seen", self.message.get("heard")), ("\\Flagged", self.message.get("urgent")),
                                      ("\\Deleted", self.deleted)) if on]


@implementer(imap4.IMessage, imap4.IMessageFile)
class Mail:
    """A message for Twisted's FETCH: headers always; the body only after `load` fetched the audio."""

    def __init__(self, item: Item, mail: VoiceMail, session: Session | None = None):
        self.item, self.mail, self._session = item, mail, session
        self.data: bytes | None = None
        self.audio_size: int | None = None  # enough for RFC822.SIZE without the audio itself
        self._headers: list[tuple[str, str]] | None = None  # built once: an ENVELOPE reads them 8 times

    def load(self) -> None:
        if self.data is None and self._session is not None:
            self.data = self.mail.render(self._session.audio(self.item.message))

    def load_size(self) -> None:
        if self.data is None and self.audio_size is None and self._session is not None:
            self.audio_size = self._session.audio_size(self.item.message)

    def _whole(self) -> bytes:
        if self.data is None:
            raise imap4.IllegalOperation("the message body was not loaded")
        return self.data

    # IMessage
    def getUID(self) -> int:
        return self.item.uid

    def getFlags(self) -> list[str]:
        return self.item.flags

    def getInternalDate(self) -> str:
        return email.utils.format_datetime(self.mail.received_at)

    def getHeaders(self, negate: bool, *names: bytes | str) -> dict[str, str]:
        if self._headers is None:
            self._headers = self.mail.headers()
        return _pick_headers(self._headers, negate, names)

    def envelope(self) -> bytes:
        """The ENVELOPE structure (RFC 3501 7.4.2), from the parts the headers are made of: Twisted's
        getEnvelope parses each address header back, four times a message."""
        display, local = self.mail.caller()
        display = email.header.Header(display, "utf-8").encode() if not display.isascii() else display
        sender = b"((%s NIL %s %s))" % (_string(display), _string(local), _string(DOMAIN))
        to = b"((NIL NIL %s %s))" % (_string(local_part(self.mail.mailbox_id)), _string(DOMAIN))
        return b"(%s %s %s %s %s %s NIL NIL NIL %s)" % (
            _string(self.mail.date), _string(self.mail.subject), sender, sender, sender, to,
            _string(self.mail.message_id))

    def getBodyFile(self) -> io.BytesIO:
        if self.data is None:  # SEARCH TEXT/BODY without the audio: the words are the transcript
            return io.BytesIO((self.mail.transcript or "").encode())
        return io.BytesIO(self._whole().split(b"\r\n\r\n", 1)[1])

    def getSize(self) -> int:
        if self.data is None and self.audio_size is not None:
            return self.mail.rendered_size(self.audio_size)
        return len(self._whole())

    def isMultipart(self) -> bool:
        return True

    def getSubPart(self, part: int) -> Part:
        return Part(_split_parts(self._whole(), self.mail.boundary)[part])

    # IMessageFile
    def open(self) -> io.BytesIO:
        return io.BytesIO(self._whole())


@implementer(imap4.IMessagePart)
class Part:
    def __init__(self, raw: bytes):
        head, _, self.body = raw.partition(b"\r\n\r\n")
        self.headers = [tuple(line.decode().split(": ", 1)) for line in head.split(b"\r\n") if b": " in line]

    def getHeaders(self, negate: bool, *names: bytes | str) -> dict[str, str]:
        return _pick_headers(self.headers, negate, names)

    def getBodyFile(self) -> io.BytesIO:
        return io.BytesIO(self.body)

    def getSize(self) -> int:
        return len(self.body)

    def isMultipart(self) -> bool:
        return False

    def getSubPart(self, part: int) -> Part:
        raise TypeError("not a multipart part")


def _string(text: str) -> bytes:
    """An IMAP quoted string (headers are 7-bit here; folding is undone)."""
    unfolded = text.replace("\r\n", "").replace("\n", "")
    return b'"' + unfolded.encode("ascii", "replace").replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _pick_headers(headers: list[tuple[str, str]], negate: bool, names: tuple[bytes | str, ...]) -> dict[str, str]:
    wanted = {(name.decode() if isinstance(name, bytes) else name).lower() for name in names}
    return {name.lower(): value for name, value in headers
            if not wanted or ((name.lower() in wanted) != negate)}


def _split_parts(whole: bytes, boundary: str) -> list[bytes]:
    body = whole.split(b"\r\n\r\n", 1)[1]
    marker = f"--{boundary}".encode()
    return [chunk.strip(b"\r\n") for chunk in body.split(marker)[1:-1]]
