"""In-memory stand-ins for the ports, for fast tests of the services' rules and ordering."""

from __future__ import annotations

import base64
import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from shared.adapters.outbox import CosmosOutbox
from shared.composition import App, Ports, build
from shared.config import load_settings
from shared.domain.audio import AudioLimits, AudioRejected, Containers, Transcoded
from shared.domain.audit import AuditRecord, day
from shared.domain.erasure import Erasure, ErasureRequest, RegionErasure
from shared.domain.errors import AudioNotFound, DatabaseUnavailable, EtagMismatch, NotFound
from shared.domain.model import Greeting, ListQuery, Mailbox, Message, iso
from shared.domain.notifications import Event, Mail, NotificationConfig
from shared.domain.replicated import PinRecord, RecentEvents, RegionTally
from shared.domain.tenancy import tenant_of
from shared.domain.transcripts import TranscriptionJob
from shared.domain.usage import UsageFact, delivery_facts
from shared.ports import AlreadyExists, Conflict, DeliveryFailed, Snapshot, TallyMoved, Transcriber
from shared.services.auth import Authenticator
from shared.services.classes import ClassedStore, ClassService
from shared.services.ledger import Ledger
from shared.services.mailboxes import MailboxService
from shared.services.mwi import Mwi
from shared.services.rate import CLIENT_LOGINS_PER_MINUTE, SlidingWindow
from shared.services.writes import WriteBudget
from shared.telemetry import Telemetry
from tests.unit.fakes_exports import FakeExports, FakeStreams
from tests.unit.fakes_tenants import FakeTenants
from tests.unit.fakes_usage import FakeUsage

_etags = itertools.count(1)
_LINKS: dict[str, bytes] = {}  # read links minted by fake stores: what a copy from them gets


class FakeStore:
    def __init__(self) -> None:
        self.mailboxes: dict[str, Mailbox] = {}
        self.messages: dict[tuple[str, str], Message] = {}
        self.tallies: dict[tuple[str, str], RegionTally] = {}  # (mailbox, region)
        self.pins: dict[tuple[str, str], PinRecord] = {}
        self.recent: dict[tuple[str, str, str], RecentEvents] = {}  # (mailbox, kind, region)
        self.journal: list[str] = []  # what was done, in order
        self.events: dict[tuple[str, str], Event] = {}  # the outbox: (mailbox, event id), written with messages
        self.usage: dict[tuple[str, str], UsageFact] = {}  # usage facts: (mailbox, fact id), kept by an erasure
        self.erasure_requests: dict[str, ErasureRequest] = {}
        self.erasure_parts: dict[tuple[str, str], RegionErasure] = {}  # (mailbox, region)
        self.fail_next: dict[str, Exception] = {}
        self.down = False  # True: every call answers as a database that does not answer

    def _answering(self) -> None:
        if self.down:
            raise DatabaseUnavailable("the fake database is down")

    def _maybe_fail(self, operation: str) -> None:
        error = self.fail_next.pop(operation, None)
        if error is not None:
            raise error

    def get_mailbox(self, mailbox_id: str) -> Mailbox | None:
        self._answering()
        return self.mailboxes.get(mailbox_id)

    def create_mailbox(self, mailbox: Mailbox) -> Mailbox:
        if mailbox.id in self.mailboxes:
            raise AlreadyExists(mailbox.id)
        self.mailboxes[mailbox.id] = stored = replace(mailbox, etag=str(next(_etags)))
        return stored

    def replace_mailbox(self, mailbox: Mailbox) -> Mailbox:
        if self.mailboxes[mailbox.id].etag != mailbox.etag:
            raise EtagMismatch()
        self.mailboxes[mailbox.id] = stored = replace(mailbox, etag=str(next(_etags)))
        return stored

    def get_message(self, mailbox_id: str, message_id: str) -> Message | None:
        self._answering()
        return self.messages.get((mailbox_id, message_id))

    def snapshot(self, mailbox_id: str, message_id: str | None = None) -> Snapshot:
        self._answering()
        return Snapshot(self.mailboxes.get(mailbox_id),
                        {r: t for (mb, r), t in self.tallies.items() if mb == mailbox_id},
                        {r: p for (mb, r), p in self.pins.items() if mb == mailbox_id},
                        self.messages.get((mailbox_id, message_id)) if message_id else None,
                        {(k, r): e for (mb, k, r), e in self.recent.items() if mb == mailbox_id})

    def write_message(self, message: Message, tally: RegionTally | None, events: Sequence[Event] = (),
                      usage: Sequence[UsageFact] = ()) -> Message:
        """All or nothing, as a transactional batch: both ETags are checked before anything changes."""
        self._answering()
        key = (message.mailbox_id, message.id)
        if message.etag is None:
            self._maybe_fail("create_message")
            if key in self.messages:
                raise AlreadyExists(message.id)
        elif key not in self.messages or self.messages[key].etag != message.etag:
            raise EtagMismatch()
        if tally is not None:
            current = self.tallies.get((tally.mailbox_id, tally.region))
            if (current.etag if current else None) != tally.etag:
                raise TallyMoved(tally.region)
            self.tallies[(tally.mailbox_id, tally.region)] = replace(tally, etag=str(next(_etags)))
        self.messages[key] = stored = replace(message, etag=str(next(_etags)))
        for event in events:  # upserted, as the batch does
            self.events[(event.mailbox_id, event.id)] = replace(event, etag=str(next(_etags)))
        self.usage.update({(fact.mailbox_id, fact.id): fact for fact in usage})
        self.journal.append(f"{'create' if message.etag is None else 'replace'} {message.id}")
        return stored

    def create_messages(self, messages: Sequence[Message], tally: RegionTally | None,
                        events: Sequence[Event] = (), usage: Sequence[UsageFact] = ()) -> list[Message]:
        """All or nothing, as the transactional batch."""
        self._answering()
        self._maybe_fail("create_messages")
        if any((m.mailbox_id, m.id) in self.messages for m in messages):
            raise AlreadyExists(messages[0].id)
        if tally is not None:
            current = self.tallies.get((tally.mailbox_id, tally.region))
            if (current.etag if current else None) != tally.etag:
                raise TallyMoved(tally.region)
            self.tallies[(tally.mailbox_id, tally.region)] = replace(tally, etag=str(next(_etags)))
        stored = []
        for message in messages:
            self.messages[(message.mailbox_id, message.id)] = one = replace(message, etag=str(next(_etags)))
            stored.append(one)
            self.journal.append(f"create {message.id}")
        for event in events:
            self.events[(event.mailbox_id, event.id)] = replace(event, etag=str(next(_etags)))
        self.usage.update({(fact.mailbox_id, fact.id): fact for fact in usage})
        return stored

    def save_tally(self, tally: RegionTally) -> RegionTally:
        current = self.tallies.get((tally.mailbox_id, tally.region))
        if (current.etag if current else None) != tally.etag:
            raise TallyMoved(tally.region)
        self.tallies[(tally.mailbox_id, tally.region)] = stored = replace(tally, etag=str(next(_etags)))
        return stored

    def save_pin_record(self, record: PinRecord) -> PinRecord:
        current = self.pins.get((record.mailbox_id, record.region))
        if (current.etag if current else None) != record.etag:
            raise EtagMismatch()
        self.pins[(record.mailbox_id, record.region)] = stored = replace(record, etag=str(next(_etags)))
        return stored

    def save_recent(self, record: RecentEvents) -> RecentEvents:
        key = (record.mailbox_id, record.kind, record.region)
        current = self.recent.get(key)
        if (current.etag if current else None) != record.etag:
            raise EtagMismatch()
        self.recent[key] = stored = replace(record, etag=str(next(_etags)))
        return stored

    # -- erasure (ErasureRepository) --

    def get_erasure(self, mailbox_id: str) -> Erasure | None:
        self._answering()
        request = self.erasure_requests.get(mailbox_id)
        if request is None:
            return None
        return Erasure(request, tuple(part for (mb, _), part in self.erasure_parts.items()
                                      if mb == mailbox_id and part.requested_at == request.requested_at))

    def save_erasure_request(self, request: ErasureRequest) -> None:
        self._answering()
        self.erasure_requests[request.mailbox_id] = request

    def save_region_erasure(self, part: RegionErasure) -> None:
        self.erasure_parts[(part.mailbox_id, part.region)] = part

    def running_erasures(self, limit: int, region: str | None = None) -> list[str]:
        return [mb for mb, request in self.erasure_requests.items()
                if request.status == "running" and (region is None or request.for_region(region))][:limit]

    def erase_documents(self, mailbox_id: str, limit: int) -> int:
        """Every kind of document the fakes hold, but the mailbox and the erasure's records."""
        self._maybe_fail("erase_documents")
        deleted = 0
        for documents in (self.messages, self.tallies, self.pins, self.recent, self.events,
                          getattr(self, "items", {})):
            for key in [k for k in documents if k[0] == mailbox_id]:
                if deleted == limit:
                    return deleted
                documents.pop(key)
                deleted += 1
        return deleted

    def expired_promises(self, mailbox_id: str, now) -> list[Message]:
        return [m for (mb, _), m in self.messages.items() if mb == mailbox_id and m.upload_pending
                and m.status == "processing" and m.expires_at is not None and m.expires_at < now]

    def all_messages(self, mailbox_id: str) -> list[Message]:
        return [m for (mb, _), m in self.messages.items() if mb == mailbox_id]

    def mailboxes_of_class(self, tenant: str, name: str) -> list[str]:
        return sorted(key for key, mailbox in self.mailboxes.items()
                      if tenant_of(key) == tenant and mailbox.class_of_service == name and mailbox.active)

    def delete_message(self, mailbox_id: str, message_id: str) -> None:
        self._maybe_fail("delete_message")
        self.messages.pop((mailbox_id, message_id), None)
        for documents in (self.tallies, self.pins):  # tally-{region} and pins-{region} go by id too
            for key in [k for k in documents if k[0] == mailbox_id and f"-{k[1]}" == message_id[message_id.find("-"):]]:
                documents.pop(key)
        self.journal.append(f"delete {message_id}")

    def list_messages(self, mailbox_id: str, query: ListQuery) -> list[Message]:
        def wanted(m: Message) -> bool:  # the folder and the page, as the Cosmos query asks
            in_folder = m.folder != "trash" if query.folder is None else m.folder == query.folder
            after = query.after_key is None or (m.sort_key < query.after_key if query.descending
                                                else m.sort_key > query.after_key)
            return in_folder and after

        found = sorted((m for (mb, _), m in self.messages.items() if mb == mailbox_id and m.visible and wanted(m)),
                       key=lambda m: m.sort_key, reverse=query.descending)
        return found[:query.limit + 1]


    def under_replicated(self, count: int, limit: int, exclude: list[str],
                         regions: list[str]) -> list[dict[str, str]]:
        return [{"id": m.id, "mailboxId": mb} for (mb, _), m in self.messages.items()
                if m.status == "ready" and len(m.replica_regions) < count and m.id not in exclude
                and m.deposit_region in regions][:limit]

    def stalled_processing(self, after: str, before: str, region: str, limit: int,
                           exclude: list[str]) -> list[dict[str, str]]:
        found = sorted((m for m in self.messages.values() if m.status == "processing"
                        and after < iso(m.received_at) < before and m.deposit_region != region
                        and m.id not in exclude), key=lambda m: m.received_at)
        return [{"id": m.id, "mailboxId": m.mailbox_id, "receivedAt": iso(m.received_at)} for m in found][:limit]


class FakeAudio:
    def __init__(self, store: FakeStore):
        self.blobs: dict[str, bytes] = {}
        self.modified: dict[str, str] = {}  # path -> ISO time; unset: long ago
        self.metadata: dict[str, dict[str, str]] = {}  # path -> the blob's metadata, as put
        self._store = store

    def put(self, path: str, data: bytes, content_type: str, metadata: dict[str, str]) -> None:
        self._store._maybe_fail("put_audio")
        self.blobs[path] = data
        self.metadata[path] = dict(metadata)
        self._store.journal.append(f"put {path}")

    def put_file(self, path: str, local: Path, content_type: str) -> None:
        self._store._maybe_fail("put_audio")
        self.blobs[path] = local.read_bytes()
        self._store.journal.append(f"put {path}")

    def size(self, path: str) -> int | None:
        return len(self.blobs[path]) if path in self.blobs else None

    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        if path not in self.blobs:
            raise AudioNotFound()
        data = self.blobs[path]
        return data[offset:offset + length if length is not None else None]

    def read_with_metadata(self, path: str) -> tuple[bytes, dict[str, str]]:
        return self.read(path), dict(self.metadata.get(path, {}))

    def list_page(self, container: str, marker: str | None, page_size: int,
                  prefix: str = "") -> tuple[list[tuple[str, str]], str | None]:
        # Name-based markers, as Blob storage's: deleting listed blobs does not shift the next page.
        names = sorted(p for p in self.blobs
                       if p.startswith(f"{container}/{prefix}") and (marker is None or p > marker))
        page = [(p, self.modified.get(p, "2026-01-01T00:00:00+00:00")) for p in names[:page_size]]
        return page, page[-1][0] if len(names) > page_size else None

    def delete(self, path: str) -> None:
        self._store._maybe_fail("delete_audio")
        self.blobs.pop(path, None)
        self._store.journal.append(f"delete {path}")

    def copy(self, source: str, target: str) -> None:
        self.blobs[target] = self.blobs[source]

    def read_url(self, path: str, ttl: timedelta, *, content_type: str | None = None) -> str:
        _LINKS[f"fake://{id(self)}/{path}"] = self.blobs[path]
        return f"fake://{id(self)}/{path}"

    def copy_from_url(self, source_url: str, target: str) -> None:
        self.blobs[target] = _LINKS[source_url]

    def upload_url(self, path: str, ttl: timedelta) -> str:
        return f"https://example.invalid/{path}?write&ttl={int(ttl.total_seconds())}"


class FakeEvents:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def publish_mwi(self, event: dict[str, object]) -> None:
        self.events.append(event)


class FakeGreetings:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Greeting] = {}

    def get_greeting(self, mailbox_id: str, kind: str) -> Greeting | None:
        return self.items.get((mailbox_id, kind))

    def greetings(self, mailbox_id: str) -> dict[str, Greeting]:
        return {kind: g for (mb, kind), g in self.items.items() if mb == mailbox_id}

    def save_greeting(self, greeting: Greeting) -> Greeting:
        key = (greeting.mailbox_id, greeting.kind)
        if greeting.etag is not None and (key not in self.items or self.items[key].etag != greeting.etag):
            raise EtagMismatch()
        self.items[key] = stored = replace(greeting, etag=str(next(_etags)))
        return stored

    def delete_greeting(self, mailbox_id: str, kind: str) -> None:
        self.items.pop((mailbox_id, kind), None)


class FakeTranscoder:
    """Renditions are tagged copies of the input; b"silent..." and b"short..." are rejected."""

    def __init__(self) -> None:
        self.calls = 0
        self.last: dict[str, object] = {}

    def transcode(self, source: Path, out_dir: Path, limits: AudioLimits, content_type: str | None = None,
                  renditions: tuple[str, ...] | None = None) -> Transcoded:
        self.calls += 1
        self.last = {"limits": limits, "content_type": content_type, "renditions": renditions,
                     "source": source.read_bytes()}
        data = source.read_bytes()
        for prefix, reason in ((b"silent", "silent"), (b"short", "too-short"), (b"junk", "invalid-audio")):
            if data.startswith(prefix):
                raise AudioRejected(reason, "fake")
        files = {}
        for name in renditions or ("opus", "wav", "mp3"):
            files[name] = out_dir / name
            files[name].write_bytes(name.encode() + data)
        return Transcoded(duration_ms=len(data), truncated=len(data) > limits.max_seconds * 1000, files=files)


class FakeSweepStore(FakeStore, FakeGreetings):
    """Everything the retention sweep reads and deletes, in memory."""

    def __init__(self) -> None:
        FakeStore.__init__(self)
        FakeGreetings.__init__(self)

    def held_mailboxes(self) -> list[str]:
        return sorted(mb.id for mb in self.mailboxes.values() if mb.hold is not None)

    def expired(self, before: str, limit: int, exclude: list[str],
                spared: list[str] | None = None) -> list[dict[str, str]]:
        found = [(m.expires_at, {"id": m.id, "mailboxId": mb, "type": "message"})
                 for (mb, _), m in self.messages.items() if m.expires_at and iso(m.expires_at) < before]
        found += [(mb.expires_at, {"id": "mailbox", "mailboxId": mb.id, "type": "mailbox"})
                  for mb in self.mailboxes.values() if mb.expires_at and iso(mb.expires_at) < before]
        return [item for _, item in sorted(found, key=lambda pair: pair[0])
                if item["id"] not in exclude and item["mailboxId"] not in (spared or ())][:limit]

    def partition_documents(self, mailbox_id: str) -> list[dict[str, str]]:
        return ([{"id": m, "type": "message"} for (mb, m) in self.messages if mb == mailbox_id]
                + [{"id": f"greeting-{k}", "type": "greeting"} for (mb, k) in self.items if mb == mailbox_id]
                + [{"id": f"tally-{r}", "type": "tally"} for (mb, r) in self.tallies if mb == mailbox_id]
                + [{"id": f"pins-{r}", "type": "pins"} for (mb, r) in self.pins if mb == mailbox_id])

    def delete_mailbox(self, mailbox_id: str) -> None:
        self.mailboxes.pop(mailbox_id, None)


class FakeFeed:
    """The conflicts feed, as told."""

    def __init__(self, conflicts: list[Conflict] | None = None):
        self.items = list(conflicts or [])

    def conflicts(self, limit: int) -> list[Conflict]:
        return self.items[:limit]

    def pending(self, mailbox_id: str) -> bool:
        return any(c.mailbox_id == mailbox_id for c in self.items)

    def resolved(self, conflict: Conflict) -> None:
        self.items = [c for c in self.items if c.id != conflict.id]


class FakeReplicationRequests:
    def __init__(self) -> None:
        self.requested: list[tuple[str, str]] = []

    def request_replication(self, mailbox_id: str, message_id: str) -> None:
        self.requested.append((mailbox_id, message_id))


# The containers a service built by hand keeps audio in (fake_app's come from the settings' defaults).
CONTAINERS = Containers("incoming", "audio")

# What a region needs to start (no real endpoint is ever called: every port is a fake).
FAKE_ENV = {"PLATFORM_KEY_HASHES": "a" * 64, "TOKEN_SIGNING_KEY": base64.b64encode(b"k" * 32).decode(),
            "PIN_PEPPER": base64.b64encode(b"p" * 32).decode(), "COSMOS_ENDPOINT": "https://cosmos.invalid",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true", "CLIENT_LOGINS_PER_MINUTE": "1000000"}


class FakeOutbox:
    """Targets in a dict; events in the store's outbox (where the message writes put them)."""

    def __init__(self, store: FakeStore):
        self.store = store
        self.configs: dict[str, NotificationConfig] = {}
        self._etag = 0

    def _next(self) -> str:
        self._etag += 1
        return f"o{self._etag}"

    def get_config(self, mailbox_id):
        return self.configs.get(mailbox_id, NotificationConfig(mailbox_id))

    def save_config(self, config):
        if self.get_config(config.mailbox_id).etag != config.etag:
            raise EtagMismatch()
        self.configs[config.mailbox_id] = stored = replace(config, etag=self._next())
        return stored

    def get_event(self, mailbox_id, event_id):
        return self.store.events.get((mailbox_id, event_id))

    def save_event(self, event):
        current = self.store.events.get((event.mailbox_id, event.id))
        if (current.etag if current else None) != event.etag:
            raise EtagMismatch()
        self.store.events[(event.mailbox_id, event.id)] = stored = replace(event, etag=self._next())
        self.store.usage.update({(f.mailbox_id, f.id): f for f in delivery_facts(event)})  # the same batch
        return stored

    def due(self, region, now, stale_before, limit, excluding=()):
        due = [e for e in self.store.events.values() if e.status == "pending" and e.due_at <= now
               and (e.owner == region or e.due_at <= stale_before) and e.mailbox_id not in excluding]
        return sorted(due, key=lambda e: e.due_at)[:limit]

    def events_in(self, documents):
        return CosmosOutbox.events_in(self, documents)  # the adapter's decoding of the feed's documents

    def dead_letters(self, limit, mailbox_id=None):
        return [e for e in self.store.events.values() if e.status == "dead"
                and mailbox_id in (None, e.mailbox_id)][:limit]

    def find_event(self, event_id):
        for event in self.store.events.values():
            if event.id == event_id:
                return event
        raise NotFound("no such event")


class FakeWebhooks:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []
        self.failing = False

    def send(self, url: str, secret: str, webhook_id: str, body: bytes) -> None:
        self.sent.append((url, webhook_id, body))
        if self.failing:
            raise DeliveryFailed("answered 500")


class FakeMailer:
    def __init__(self) -> None:
        self.mails: list[Mail] = []

    def send(self, mail: Mail) -> None:
        self.mails.append(mail)


class FakeSms:
    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def send(self, number: str, text: str) -> None:
        self.texts.append((number, text))


class FakeJobs:
    """The transcription queue: jobs kept in order, with their delays."""

    def __init__(self) -> None:
        self.queued: list[tuple[TranscriptionJob, float]] = []
        self.fail_next: Exception | None = None

    def submit(self, job: TranscriptionJob, delay_s: float = 0.0) -> None:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        self.queued.append((job, delay_s))

    def take(self) -> TranscriptionJob:
        return self.queued.pop(0)[0]


def fake_ports(store: FakeSweepStore | None = None, *, audio: FakeAudio | None = None,
               peers: Mapping[str, FakeAudio] | None = None, telemetry: Telemetry | None = None,
               transcriber: Transcriber | None = None, **given: object) -> Ports:
    """Every port in memory (none reaches a network or an SDK); any one replaced by name. Two regions
    share one store (as the Cosmos account is shared) by passing it in."""
    store = store if store is not None else FakeSweepStore()
    made = {"store": store, "audio": audio if audio is not None else FakeAudio(store), "peers": dict(peers or {}),
            "events": FakeEvents(), "replication_requests": FakeReplicationRequests(),
            "transcoder": FakeTranscoder(), "conflict_feed": FakeFeed(), "probes": (),
            "telemetry": telemetry if telemetry is not None else Telemetry(), "transcriber": transcriber,
            "transcription_jobs": FakeJobs(), "outbox": FakeOutbox(store), "mailer": FakeMailer(),
            "sms": FakeSms(), "webhooks": FakeWebhooks(), "exports": FakeExports(), "tenants": FakeTenants(),
            "usage": FakeUsage(store),
            "audit_trails": defaultdict(FakeAuditTrail)}  # a region's trail made when first asked for
    made["streams"] = FakeStreams(made["audio"])
    return Ports(**{**made, **given})


class FakeAuditTrail:
    """One region's trail in memory, append-only as the real one."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []
        self.fails: Exception | None = None

    def append(self, records) -> None:
        if self.fails is not None:
            raise self.fails
        self.records += records

    def read(self, stream: str, since_day: str) -> list[AuditRecord]:
        if self.fails is not None:
            raise self.fails
        return [r for r in self.records if r.mailbox_id == stream and day(r.at) >= since_day]


@dataclass
class FakeRegion:
    """A region's App, as bootstrap builds it, on in-memory ports; and those ports, to look at."""

    app: App
    ports: Ports

    # The fakes by the names the tests know them by.
    store = property(lambda self: self.ports.store)
    audio = property(lambda self: self.ports.audio)
    events = property(lambda self: self.ports.events)
    transcoder = property(lambda self: self.ports.transcoder)
    requests = property(lambda self: self.ports.replication_requests)
    feed = property(lambda self: self.ports.conflict_feed)
    outbox = property(lambda self: self.ports.outbox)


def fake_app(region: str = "r1", *, store: FakeSweepStore | None = None, audio: FakeAudio | None = None,
             peers: dict[str, FakeAudio] | None = None, telemetry: Telemetry | None = None,
             ports: Ports | None = None, **settings: str) -> FakeRegion:
    """The service graph `shared.composition.build` wires, on fakes: the same wiring the app runs.
    Two regions share one store (as the Cosmos account is shared) by passing it in; settings by name."""
    ports = ports if ports is not None else fake_ports(store, audio=audio, peers=peers, telemetry=telemetry)
    return FakeRegion(build(load_settings({**FAKE_ENV, "REGION": region, **settings}), ports), ports)


def hand_mailboxes(store: FakeStore, mwi: Mwi, region: str = "r1") -> MailboxService:
    """A MailboxService made by hand, for a test of another service that needs mailboxes."""
    auth = Authenticator(("a" * 64,), (b"k" * 32,), 900, epochs=None, tenant_keys=None)
    classes = ClassService(FakeTenants())
    return MailboxService(ClassedStore(store, classes), mwi, auth, timedelta(0), region,
                          SlidingWindow(CLIENT_LOGINS_PER_MINUTE, 60.0),
                          lambda _mailbox_id: False, WriteBudget(store, region), Ledger(store, region, None),
                          classes)


class FakeClock:
    """A monotonic clock and its sleep: sleeping moves the clock, takes no time, and is recorded."""

    def __init__(self, now: float = 1000.0):
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
