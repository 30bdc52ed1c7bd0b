"""Documents as the container stores them: each domain object to its JSON document and back.

One container, partitioned by mailbox: the mailbox document, each region's tally, PIN and recent-event
records, messages and greetings. `shared/adapters/cosmos.py` reads and writes them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.holds import LEGACY_INCARNATION, LegalHold
from shared.domain.model import (
    Greeting,
    Mailbox,
    MailboxSettings,
    Message,
    iso,
    parse_time,
)
from shared.domain.replicated import Clock, PinRecord, RecentEvents, RegionTally, Share, Tally
from shared.domain.transcripts import Transcript

MAILBOX_DOC_ID = "mailbox"
# Records of recent events (wrong PINs, forwards) outlive what they limit, then expire: Cosmos DB
# deletes them by `ttl` (so guessing unknown mailbox ids stores nothing for long), and the retention
# sweep by `expiresAt` where there is no TTL (the emulator).
RECORD_TTL = timedelta(days=1)


def mailbox_to_doc(mailbox: Mailbox) -> dict[str, Any]:
    return {
        "id": MAILBOX_DOC_ID, "mailboxId": mailbox.id, "type": "mailbox", "displayName": mailbox.display_name,
        "settings": mailbox.settings.model_dump(), "pinHash": mailbox.pin_hash,
        "status": mailbox.status, "greeting": mailbox.greeting,
        "expiresAt": iso(mailbox.expires_at), "sessionEpoch": mailbox.session_epoch,
        "createdAt": iso(mailbox.created_at), "updatedAt": iso(mailbox.updated_at),
        "clocks": _clocks_to_doc(mailbox.clocks), "incarnation": mailbox.incarnation,
        "hold": mailbox.hold.to_doc() if mailbox.hold is not None else None,
        "classOfService": mailbox.class_of_service,
        "settingsSet": list(mailbox.settings_set) if mailbox.settings_set is not None else None,
    }


def _clocks_to_doc(clocks: dict[str, Clock]) -> dict[str, list[str]]:
    return {name: list(value) for name, value in clocks.items()}


def _clocks_from_doc(doc: dict[str, Any]) -> dict[str, Clock]:
    clocks = doc.get("clocks")
    return {name: (value[0], value[1]) for name, value in clocks.items()} if clocks else {}


def _tally_to_doc(tally: Tally) -> list[int]:
    return list(tally.as_tuple())


def _tally_from_doc(values: list[int]) -> Tally:
    return Tally(*values)


def _settings_from_doc(stored: dict[str, Any]) -> MailboxSettings:
    """Settings as stored, read by what this version knows: a setting a newer version wrote (a rolling
    release, another region ahead) is skipped rather than failing every read of the mailbox."""
    return MailboxSettings(**{name: value for name, value in stored.items() if name in MailboxSettings.model_fields})


def mailbox_from_doc(doc: dict[str, Any]) -> Mailbox:
    return Mailbox(
        id=doc["mailboxId"], display_name=doc["displayName"], settings=_settings_from_doc(doc["settings"]),
        pin_hash=doc.get("pinHash"), status=doc.get("status", "active"),
        greeting=doc.get("greeting", "personal"), expires_at=parse_time(doc.get("expiresAt")),
        created_at=parse_time(doc["createdAt"]), session_epoch=doc.get("sessionEpoch", 0),
        updated_at=parse_time(doc["updatedAt"]), clocks=_clocks_from_doc(doc), etag=doc.get("_etag"),
        incarnation=doc.get("incarnation", LEGACY_INCARNATION), hold=LegalHold.from_doc(doc.get("hold")),
        class_of_service=doc.get("classOfService") or "standard",
        settings_set=tuple(doc["settingsSet"]) if doc.get("settingsSet") is not None else None,
    )


def message_to_doc(message: Message) -> dict[str, Any]:
    return {
        "id": message.id, "mailboxId": message.mailbox_id, "type": "message", "folder": message.folder,
        "heard": message.heard, "urgent": message.urgent,
        "from": {"number": message.from_number, "name": message.from_name},
        "receivedAt": iso(message.received_at), "sortKey": message.sort_key, "durationMs": message.duration_ms,
        "status": message.status, "error": message.error, "formats": list(message.formats),
        "depositRegion": message.deposit_region, "expiresAt": iso(message.expires_at),
        "trashedAt": iso(message.trashed_at), "blobs": message.blobs, "contentType": message.content_type,
        "sizeBytes": message.size_bytes, "requestHash": message.request_hash,
        "uploadPending": message.upload_pending, "replicaRegions": list(message.replica_regions),
        "replicaTotal": len(message.replica_regions),  # a scalar the replication sweep's query can index
        "truncated": message.truncated, "clocks": _clocks_to_doc(message.clocks),
        "shares": {region: {"t": _tally_to_doc(share.tally), "q": share.seq}
                   for region, share in message.shares.items()},
        "transcript": message.transcript.as_api() if message.transcript is not None else None,
        "incarnation": message.incarnation,
    }


def _shares_from_doc(shares: dict[str, Any] | None) -> dict[str, Share]:
    # Most messages have none: a list answer reads 51 documents, so no comprehension for an empty dict.
    return {region: Share(_tally_from_doc(v["t"]), v["q"]) for region, v in shares.items()} if shares else {}


def message_from_doc(doc: dict[str, Any]) -> Message:
    sender = doc.get("from") or {}
    return Message(
        id=doc["id"], mailbox_id=doc["mailboxId"], received_at=parse_time(doc["receivedAt"]),
        deposit_region=doc["depositRegion"], folder=doc["folder"], heard=doc["heard"], urgent=doc["urgent"],
        from_number=sender.get("number"), from_name=sender.get("name"), duration_ms=doc.get("durationMs"),
        status=doc["status"], error=doc.get("error"), formats=tuple(doc.get("formats", ())),
        expires_at=parse_time(doc.get("expiresAt")), trashed_at=parse_time(doc.get("trashedAt")),
        blobs=dict(doc.get("blobs", {})), content_type=doc.get("contentType", "application/octet-stream"),
        size_bytes=doc.get("sizeBytes"), request_hash=doc.get("requestHash", ""),
        upload_pending=doc.get("uploadPending", False), replica_regions=tuple(doc.get("replicaRegions", ())),
        truncated=doc.get("truncated", False), clocks=_clocks_from_doc(doc),
        shares=_shares_from_doc(doc.get("shares")),
        transcript=Transcript.from_api(doc.get("transcript")), etag=doc.get("_etag"),
        incarnation=doc.get("incarnation", LEGACY_INCARNATION),
    )


def tally_doc_id(region: str) -> str:
    return f"tally-{region}"


def tally_to_doc(tally: RegionTally) -> dict[str, Any]:
    return {"id": tally_doc_id(tally.region), "mailboxId": tally.mailbox_id, "type": "tally", "region": tally.region,
            "tally": _tally_to_doc(tally.tally), "seq": tally.seq}


def tally_from_doc(doc: dict[str, Any]) -> RegionTally:
    return RegionTally(doc["mailboxId"], doc["region"], _tally_from_doc(doc["tally"]), doc["seq"], doc.get("_etag"))


def pin_doc_id(region: str) -> str:
    return f"pins-{region}"


def _expiring(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "ttl": int(RECORD_TTL.total_seconds()), "expiresAt": iso(datetime.now(UTC) + RECORD_TTL)}


def pin_to_doc(record: PinRecord) -> dict[str, Any]:
    return _expiring({"id": pin_doc_id(record.region), "mailboxId": record.mailbox_id, "type": "pins",
                      "region": record.region, "failures": [iso(t) for t in record.failures],
                      "succeededAt": iso(record.succeeded_at), "attempts": [iso(t) for t in record.attempts],
                      "incarnation": record.incarnation})


def pin_from_doc(doc: dict[str, Any]) -> PinRecord:
    return PinRecord(doc["mailboxId"], doc["region"], tuple(parse_time(t) for t in doc.get("failures", ())),
                     parse_time(doc.get("succeededAt")), tuple(parse_time(t) for t in doc.get("attempts", ())),
                     doc.get("_etag"), doc.get("incarnation", LEGACY_INCARNATION))


RECENT_KINDS = ("forwards", "write")


def recent_to_doc(record: RecentEvents) -> dict[str, Any]:
    return _expiring({"id": f"{record.kind}-{record.region}", "mailboxId": record.mailbox_id, "type": record.kind,
                      "region": record.region, "times": [iso(t) for t in record.times]})


def recent_from_doc(doc: dict[str, Any]) -> RecentEvents:
    return RecentEvents(doc["mailboxId"], doc["region"], doc["type"], tuple(parse_time(t) for t in doc["times"]),
                        doc.get("_etag"))


def document_from_doc(doc: dict[str, Any]) -> Message | Mailbox | Greeting | RegionTally | PinRecord | None:
    """Any of the app's documents as its domain object (None: not one of ours)."""
    readers = {"message": message_from_doc, "mailbox": mailbox_from_doc, "greeting": greeting_from_doc,
               "tally": tally_from_doc, "pins": pin_from_doc, **dict.fromkeys(RECENT_KINDS, recent_from_doc)}
    reader = readers.get(doc.get("type", ""))
    return reader(doc) if reader else None


def greeting_to_doc(greeting: Greeting) -> dict[str, Any]:
    return {"id": f"greeting-{greeting.kind}", "mailboxId": greeting.mailbox_id, "type": "greeting",
            "kind": greeting.kind, "version": greeting.version, "contentType": greeting.content_type,
            "status": greeting.status, "error": greeting.error, "durationMs": greeting.duration_ms,
            "formats": list(greeting.formats), "blobs": greeting.blobs, "updatedAt": iso(greeting.updated_at),
            "regions": list(greeting.regions),
            "pending": greeting_to_doc(greeting.pending) if greeting.pending else None}


def greeting_from_doc(doc: dict[str, Any]) -> Greeting:
    pending = doc.get("pending")
    return Greeting(mailbox_id=doc["mailboxId"], kind=doc["kind"], version=doc["version"],
                    content_type=doc["contentType"], status=doc["status"], error=doc.get("error"),
                    duration_ms=doc.get("durationMs"), formats=tuple(doc.get("formats", ())),
                    blobs=dict(doc.get("blobs", {})), updated_at=parse_time(doc["updatedAt"]),
                    regions=tuple(doc.get("regions", ())), etag=doc.get("_etag"),
                    pending=greeting_from_doc(pending) if pending else None)
