"""The outage journal's records: what a deposit needs to become a message later.

While the metadata store answers in no region, a deposit is written to the region's own blob
storage (the `journal` container) as one blob: its audio, with this envelope (JSON, base64url) in
the blob's metadata, so the record is written, read and removed in one call each, and is never half
there. The replay makes the message once the store answers. Names in the container:

    pending/{mailboxId}/{messageId}             a deposit: its audio, the envelope in its metadata
    pending/{mailboxId}/{messageId}.landing     an upload that landed: run the pipeline again (no body)
    aside/{the pending name}                    a record that could not be replayed, and why (`reason`)

A deposit sorts before the landing of the same message, so a replay that goes in name order makes
a message before it re-runs the pipeline for it. Envelopes are versioned (`v`); a record this code
cannot read is moved aside, never retried forever.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shared.domain.model import MESSAGE_ID, Message, iso, parse_time
from shared.domain.tenancy import MAILBOX_KEY

PENDING = "pending/"
ASIDE = "aside/"
LANDING = ".landing"
VERSION = 1
ENVELOPE = "envelope"  # the metadata name that holds it


class JournalRecordInvalid(ValueError):
    """A record that does not parse, or names something that is not a mailbox or message id."""


@dataclass(frozen=True)
class JournalEntry:
    """One journaled deposit (`deposit`: the message as it was acknowledged) or landed upload (`landing`)."""

    kind: Literal["deposit", "landing"]
    mailbox_id: str
    message_id: str
    region: str  # the region that journaled it (its storage holds the audio)
    journaled_at: datetime
    received_at: datetime | None = None
    from_number: str | None = None
    from_name: str | None = None
    urgent: bool = False
    content_type: str = "application/octet-stream"
    size_bytes: int = 0
    request_hash: str = ""

    @classmethod
    def of_deposit(cls, message: Message, journaled_at: datetime) -> JournalEntry:
        return cls("deposit", message.mailbox_id, message.id, message.deposit_region, journaled_at,
                   message.received_at, message.from_number, message.from_name, message.urgent,
                   message.content_type, message.size_bytes or 0, message.request_hash)

    def message(self, original: str) -> Message:
        """The deposit as it was received (the inverse of `of_deposit`), its audio at `original`."""
        return Message(id=self.message_id, mailbox_id=self.mailbox_id,
                       received_at=self.received_at or self.journaled_at, deposit_region=self.region,
                       urgent=self.urgent, from_number=self.from_number,
                       from_name=self.from_name, blobs={"original": original}, content_type=self.content_type,
                       size_bytes=self.size_bytes, request_hash=self.request_hash, replica_regions=(self.region,))

    @property
    def name(self) -> str:
        """The record's blob name in the journal container."""
        return f"{PENDING}{self.mailbox_id}/{self.message_id}{'' if self.kind == 'deposit' else LANDING}"

    def to_metadata(self) -> dict[str, str]:
        """The envelope as blob metadata (ASCII only there: JSON in base64url)."""
        return {ENVELOPE: base64.urlsafe_b64encode(self.to_json()).decode()}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> JournalEntry:
        try:
            data = base64.urlsafe_b64decode(metadata[ENVELOPE].encode())
        except (KeyError, binascii.Error, ValueError, AttributeError):
            raise JournalRecordInvalid("the record carries no envelope") from None
        return cls.from_json(data)

    def to_json(self) -> bytes:
        return json.dumps({
            "v": VERSION, "kind": self.kind, "mailboxId": self.mailbox_id, "messageId": self.message_id,
            "region": self.region, "journaledAt": iso(self.journaled_at), "receivedAt": iso(self.received_at),
            "from": self.from_number, "fromName": self.from_name, "urgent": self.urgent,
            "contentType": self.content_type, "sizeBytes": self.size_bytes, "requestHash": self.request_hash,
        }, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> JournalEntry:
        try:
            doc = json.loads(data)
            if not isinstance(doc, dict) or doc.get("v") != VERSION or doc.get("kind") not in ("deposit", "landing"):
                raise JournalRecordInvalid("not a journal record of version 1")
            mailbox_id, message_id = str(doc["mailboxId"]), str(doc["messageId"])
            if not MAILBOX_KEY.fullmatch(mailbox_id) or not MESSAGE_ID.fullmatch(message_id):
                raise JournalRecordInvalid("the record names no valid mailbox or message id")
            journaled_at = parse_time(doc["journaledAt"])
            if journaled_at is None:
                raise JournalRecordInvalid("the record has no journaledAt")
            entry = cls(doc["kind"], mailbox_id, message_id, str(doc["region"]), journaled_at,
                        parse_time(doc.get("receivedAt")), doc.get("from"), doc.get("fromName"),
                        bool(doc.get("urgent")), str(doc.get("contentType") or "application/octet-stream"),
                        int(doc.get("sizeBytes") or 0), str(doc.get("requestHash") or ""))
        except JournalRecordInvalid:
            raise
        except (ValueError, KeyError, TypeError, OverflowError) as error:
            raise JournalRecordInvalid(f"unreadable record: {type(error).__name__}") from None
        if entry.kind == "deposit" and entry.received_at is None:
            raise JournalRecordInvalid("a deposit record has no receivedAt")
        return entry


def aside_name(name: str) -> str:
    return ASIDE + name.removeprefix(PENDING)
