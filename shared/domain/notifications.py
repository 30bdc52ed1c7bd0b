"""Notifications, the pure part: targets, the outbox event and its delivery schedule, what an
e-mail and an SMS say, and which webhook addresses are safe to call.

An event is recorded (by the write that causes it) as a document of the mailbox's partition; its id
is derived from what it is about, so a repeated trigger or two regions finishing one message give
the same id, and that id is the webhook's `webhook-id` on every attempt.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import random
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import ParseResult, urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from shared.domain import tenancy
from shared.domain.model import iso

EVENT_TYPES = ("message.ready", "message.failed", "mwi.changed")
ATTACH_FORMATS = ("mp3", "wav", "opus", "none")
SMS_TEXT = 140
MAX_TARGETS = 10
ON_TIME_S = 60  # the notification-delay SLO's bound (docs/slo.md): delivered within it of being due

# -- targets ------------------------------------------------------------------------------------

# What a GET shows may be PUT back: `verified` is read-only (the service sets it), ignored when given.
_VERIFIED = Field(default=None, exclude=True, json_schema_extra={
    "readOnly": True, "description": "false until the code sent to it is confirmed (shared/domain/verification.py)"})


class WebhookTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["webhook"]
    url: str = Field(min_length=8, max_length=2048)


class EmailTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["email"]
    address: str = Field(pattern=r"^[^@\s<>\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$", max_length=254)
    attach: Literal["mp3", "wav", "opus", "none"] = "mp3"
    verified: bool | None = _VERIFIED


class SmsTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["sms"]
    number: str = Field(pattern=r"^\+[1-9][0-9]{6,14}$")
    verified: bool | None = _VERIFIED


Target = Annotated[WebhookTarget | EmailTarget | SmsTarget, Field(discriminator="kind")]


class PutNotifications(BaseModel):
    """The body of `PUT /mailboxes/{id}/notifications`."""

    model_config = ConfigDict(extra="forbid")
    targets: list[Target] = Field(default_factory=list, max_length=MAX_TARGETS)
    deleteAfterEmail: bool = False


def target_key(target: dict[str, str]) -> str:
    """A target's stable name: delivery state is kept per target under it."""
    kind = target["kind"]
    value = {"webhook": "url", "email": "address", "sms": "number"}[kind]
    return f"{kind}-{hashlib.sha256(target[value].encode()).hexdigest()[:16]}"


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class NotificationConfig:
    """A mailbox's targets (webhook ones with their secret) and `deleteAfterEmail`."""

    mailbox_id: str
    targets: tuple[dict[str, str], ...] = ()
    delete_after_email: bool = False
    etag: str | None = None
    verifications: dict[str, dict[str, Any]] = field(default_factory=dict)  # target key -> its codes' record

    def as_api(self, reveal: frozenset[str] = frozenset()) -> dict[str, object]:
        """Without secrets, except those of the targets named in reveal (just created); e-mail and
        SMS targets say whether they are verified (stored before verification existed: they are)."""
        shown = [{k: v for k, v in t.items() if k != "secret" or target_key(t) in reveal}
                 | ({} if t["kind"] == "webhook" else {"verified": t.get("verified", True)}) for t in self.targets]
        return {"targets": shown, "deleteAfterEmail": self.delete_after_email}

    def of_kind(self, kind: str) -> list[dict[str, str]]:
        return [t for t in self.targets if t["kind"] == kind]


def configure(current: NotificationConfig, command: PutNotifications, platform: bool
              ) -> tuple[NotificationConfig, frozenset[str]]:
    """The new configuration and the keys of webhook targets created by it (their secrets are shown
    once). A webhook already configured keeps its secret. A subscriber manages e-mail and SMS only:
    the platform's webhooks are kept as they were."""
    old_secrets = {target_key(t): t["secret"] for t in current.of_kind("webhook")}
    wanted = [t.model_dump() for t in command.targets]
    if not platform:
        wanted = current.of_kind("webhook") + [t for t in wanted if t["kind"] != "webhook"]
    targets, created, seen = [], set(), set()
    for target in wanted:
        key = target_key(target)
        if key in seen:
            continue  # the same target twice is one target
        seen.add(key)
        if target["kind"] == "webhook":
            if key not in old_secrets:
                created.add(key)
            targets.append({**target, "secret": old_secrets.get(key) or new_webhook_secret()})
        else:
            targets.append(target)
    return replace(current, targets=tuple(targets), delete_after_email=command.deleteAfterEmail), frozenset(created)


# -- events -------------------------------------------------------------------------------------


def event_id(mailbox_id: str, event_type: str, subject: str, version: str) -> str:
    """One id per change: (mailbox, type, what changed, its version). Stable across retries,
    re-fired triggers and regions."""
    digest = hashlib.sha256(f"{mailbox_id}\n{event_type}\n{subject}\n{version}".encode()).hexdigest()
    return f"evt_{digest[:32]}"


@dataclass(frozen=True)
class Delivery:
    """One target's delivery of one event."""

    attempts: int = 0
    next_at: datetime | None = None
    last_error: str | None = None
    done: bool = False
    done_at: datetime | None = None  # when it was done: the day its usage is billed on (kept by a replay)


@dataclass(frozen=True)
class Event:
    id: str
    mailbox_id: str
    type: str
    created_at: datetime
    due_at: datetime  # when dispatch may start (message.ready waits for the transcript, at most a while)
    owner: str  # the region that dispatches it
    message_id: str | None = None
    data: dict[str, object] | None = None  # mwi.changed: the counts; messages are read when sent
    status: Literal["pending", "done", "dead"] = "pending"
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    dead_at: datetime | None = None
    etag: str | None = None


def message_event(mailbox_id: str, message_id: str, status: str, owner: str, now: datetime,
                  wait: timedelta = timedelta(0)) -> Event:
    """The event a message's final status causes: `message.ready` (due after `wait`, the time its
    transcript may take) or `message.failed` (due now)."""
    kind = "message.ready" if status == "ready" else "message.failed"
    return Event(event_id(mailbox_id, kind, message_id, status), mailbox_id, kind, now,
                 now + (wait if kind == "message.ready" else timedelta(0)), owner, message_id)


def mwi_event(mailbox_id: str, region: str, seq: int, counts: dict[str, int], owner: str, now: datetime) -> Event:
    """The event a change of counts causes; (region, seq) is the tally version that changed."""
    return Event(event_id(mailbox_id, "mwi.changed", region, str(seq)), mailbox_id, "mwi.changed", now, now, owner,
                 data={**tenancy.public(mailbox_id), **{k: counts[k] for k in ("new", "saved", "urgentNew")}})


@dataclass(frozen=True)
class Schedule:
    """Retries: exponential from `first_s`, capped at `cap_s`, full jitter on the upper half, until
    `horizon_s` after the event was recorded; then the event is dead-lettered."""

    first_s: float = 30.0
    cap_s: float = 3600.0
    horizon_s: float = 26 * 3600.0

    def retry_in(self, attempts: int, rng: random.Random | None = None) -> float:
        step = min(self.cap_s, self.first_s * 2 ** max(0, attempts - 1))
        return (rng or random).uniform(step / 2, step)

    def after_failure(self, event: Event, delivery: Delivery, error: str, now: datetime,
                      rng: random.Random | None = None) -> Delivery:
        attempts = delivery.attempts + 1
        return Delivery(attempts, now + timedelta(seconds=self.retry_in(attempts, rng)), error[:300])

    def exhausted(self, event: Event, delivery: Delivery) -> bool:
        return delivery.next_at is not None and delivery.next_at > event.created_at + timedelta(seconds=self.horizon_s)


def settle(event: Event, deliveries: dict[str, Delivery], schedule: Schedule, now: datetime) -> Event:
    """The event after one round of deliveries: done when every target has it, dead once a target
    has used up the retry horizon, else pending until the earliest retry."""
    if all(d.done for d in deliveries.values()):
        return replace(event, deliveries=deliveries, status="done")
    if any(not d.done and schedule.exhausted(event, d) for d in deliveries.values()):
        return replace(event, deliveries=deliveries, status="dead", dead_at=now)
    due = min(d.next_at for d in deliveries.values() if not d.done and d.next_at is not None)
    return replace(event, deliveries=deliveries, due_at=due)


def replayed(event: Event, now: datetime) -> Event:
    """A dead event sent again: the targets that did not get it start over, with the same id."""
    deliveries = {k: d if d.done else Delivery() for k, d in event.deliveries.items()}
    return replace(event, status="pending", dead_at=None, due_at=now, created_at=now, deliveries=deliveries)


def envelope(event: Event, data: dict[str, object], at: datetime) -> dict[str, object]:
    """The Standard Webhooks body."""
    return {"type": event.type, "timestamp": at.isoformat().replace("+00:00", "Z"), "data": data}


# -- what a person reads ------------------------------------------------------------------------


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo("UTC")


def caller(message: dict[str, object]) -> str:
    sender = message.get("from") or {}
    number, name = sender.get("number"), sender.get("name")  # type: ignore[union-attr]
    if name and number:
        return f"{name} ({number})"
    return str(name or number or "an unknown caller")


def _duration(message: dict[str, object]) -> str:
    ms = message.get("durationMs") or 0
    seconds = round(int(ms) / 1000)  # type: ignore[call-overload]
    return f"{seconds // 60}:{seconds % 60:02d}"


def _when(message: dict[str, object], time_zone: str | None) -> str:
    received = datetime.fromisoformat(str(message["receivedAt"]).replace("Z", "+00:00"))
    return received.astimezone(zone(time_zone)).strftime("%Y-%m-%d %H:%M %Z")


def transcript_text(message: dict[str, object]) -> str | None:
    transcript = message.get("transcript")
    if isinstance(transcript, dict) and transcript.get("status") == "ready" and transcript.get("text"):
        return str(transcript["text"])
    return None


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    attachment: tuple[str, str, bytes] | None = None  # (file name, content type, bytes)


def email_for(message: dict[str, object], display_name: str, time_zone: str | None) -> tuple[str, str]:
    """Subject and plain text of the e-mail about a new message."""
    urgent = "Urgent voicemail" if message.get("urgent") else "New voicemail"
    lines = [f"{urgent} for {display_name}", "",
             f"From: {caller(message)}", f"Received: {_when(message, time_zone)}",
             f"Duration: {_duration(message)}"]
    text = transcript_text(message)
    if text:
        lines += ["", "Transcript:", text]
    return f"{urgent} from {caller(message)}", "\n".join(lines) + "\n"


def sms_for(message: dict[str, object], time_zone: str | None) -> str:
    text = transcript_text(message)
    head = f"Voicemail from {caller(message)}, {_when(message, time_zone)}"
    return f"{head}: {text[:SMS_TEXT]}" if text else head


# -- safe webhook targets -----------------------------------------------------------------------


def _parsed(url: str) -> ParseResult | str:
    """The URL split up, or why its shape is wrong: urlparse raises on some (an unclosed IPv6
    bracket), and `port` on a port that is no number up to 65535 (0 it returns)."""
    try:
        parsed = urlparse(url)
    except ValueError:
        return "the URL is not valid"
    try:
        port = parsed.port
    except ValueError:
        port = 0
    if port == 0:
        return "the port must be a number from 1 to 65535"
    if parsed.username or parsed.password:
        return "credentials in the URL are not allowed"
    return parsed if parsed.hostname else "the URL has no host"


def url_problem(url: str, allow_loopback_http: bool) -> str | None:
    """Why a webhook URL may not be used (None: it may, subject to where its name resolves)."""
    parsed = _parsed(url)
    if isinstance(parsed, str):
        return parsed
    try:  # an address written in the URL is checked now; a name, each time it is resolved
        literal = address_problem(parsed.hostname, allow_loopback_http)
    except ValueError:
        literal = None
    if literal:
        return literal
    if parsed.scheme == "https":
        return None
    if parsed.scheme == "http" and allow_loopback_http and parsed.hostname in ("127.0.0.1", "localhost", "::1"):
        return None
    return "webhook URLs must be https" + (" (or http://127.0.0.1 locally)" if allow_loopback_http else "")


# Global by the registries, yet never a webhook's: Azure's host address (the wire server, DNS and
# health probes of every VM) and 6to4, whose relays reach whatever IPv4 address is embedded.
_REFUSED_NETWORKS = (ipaddress.ip_network("168.63.129.16/32"), ipaddress.ip_network("2002::/16"))


def address_problem(address: str, allow_loopback: bool) -> str | None:
    """Why a resolved address may not be called: only public unicast addresses may."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback and allow_loopback:
        return None
    if (not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_private
            or any(ip in network for network in _REFUSED_NETWORKS)):
        return f"{address} is not a public address"
    return None


def awaiting_transcript(mailbox: Any, message: dict[str, object]) -> bool:
    """Whether the message's transcript may still come: pending, or not started yet while the
    mailbox transcribes (`transcript: null` means transcription is off)."""
    if "transcript" in message:
        transcript = message["transcript"]
        return isinstance(transcript, dict) and transcript.get("status") == "pending"
    return bool(getattr(mailbox.settings, "transcription", False)) if mailbox else False


def dead_letter_api(event: Event) -> dict[str, object]:
    return {"id": event.id, **tenancy.public(event.mailbox_id), "type": event.type, "status": event.status,
            "messageId": event.message_id, "createdAt": iso(event.created_at), "deadAt": iso(event.dead_at),
            "deliveries": [{"target": key, "kind": key.split("-", 1)[0], "attempts": d.attempts, "done": d.done,
                            "lastError": d.last_error} for key, d in event.deliveries.items()]}
