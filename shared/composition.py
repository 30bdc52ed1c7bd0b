"""The composition root: `build(config, ports)` is the one place services are made.

It imports no adapter and no SDK: the ports come in (`shared.bootstrap.azure_ports` in the app, the
fakes' `fake_ports` in the tests), and every service is handed each collaborator it uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from shared import backups
from shared.config import Settings
from shared.domain.audio import Containers
from shared.domain.model import utcnow
from shared.domain.notifications import Schedule
from shared.domain.principal import PLATFORM
from shared.ports import (
    AudioStore,
    AuditTrail,
    BlobStreams,
    ConflictFeed,
    DependencyProbe,
    EventPublisher,
    ExportRecords,
    Mailer,
    Outbox,
    ReplicationRequests,
    SmsSender,
    SweepRepository,
    TenantRepository,
    Transcoder,
    Transcriber,
    TranscriptionQueue,
    WebhookSender,
)
from shared.services.admission import Admission
from shared.services.audit import AuditLog
from shared.services.auth import Authenticator, SessionEpochs
from shared.services.budgets import TenantBudgets
from shared.services.classes import ClassedStore, ClassService
from shared.services.conflicts import ConflictResolver
from shared.services.erasure import ErasureService
from shared.services.events import MWI_QUEUE, Announcer
from shared.services.exports import ExportService
from shared.services.forwards import ForwardQuota
from shared.services.greetings import GreetingService
from shared.services.health import ReadinessService
from shared.services.holds import HoldService
from shared.services.journal import DepositJournal, JournalReplay
from shared.services.ledger import Ledger
from shared.services.mailboxes import MailboxService
from shared.services.messages import Change, Deposit, Forward, MessageQueries, Messages, Trash, UploadLink
from shared.services.mwi import Mwi
from shared.services.notifications import NotificationService
from shared.services.pipeline import AudioPipeline
from shared.services.rate import SlidingWindow
from shared.services.renditions import Renditions
from shared.services.replication import Regions, ReplicationService
from shared.services.retention import RetentionService
from shared.services.takeover import ProcessingTakeover
from shared.services.tenants import TenantKeys, TenantService
from shared.services.transcripts import TranscriptService
from shared.services.usage import UsageRecords, UsageService
from shared.services.writes import WriteBudget
from shared.telemetry import Telemetry


@dataclass(frozen=True)
class Ports:
    """Every port the services use (what `azure_ports` makes real and `fake_ports` fakes), one field each."""

    store: SweepRepository  # the metadata store: mailboxes, messages, greetings, the sweeps' queries
    audio: AudioStore  # this region's audio
    peers: Mapping[str, AudioStore]  # the other regions' audio, by region
    events: EventPublisher  # the lamp's (MWI) queue
    replication_requests: ReplicationRequests
    transcoder: Transcoder
    conflict_feed: ConflictFeed  # the store's multi-region write conflicts
    probes: Sequence[DependencyProbe]  # what readiness checks
    telemetry: Telemetry
    transcriber: Transcriber | None  # None: transcription is not configured
    transcription_jobs: TranscriptionQueue
    outbox: Outbox  # notification targets and events
    mailer: Mailer
    sms: SmsSender
    webhooks: WebhookSender
    audit_trails: Mapping[str, AuditTrail]  # every region's audit trail, this region's included
    exports: ExportRecords  # data requests' exports (issue 24)
    streams: BlobStreams  # write streams into this region's account (the exports' ZIPs)
    tenants: TenantRepository  # tenants and their keys (issue 22)
    usage: UsageRecords  # usage facts: what a tenant is billed from (shared/domain/usage.py)


@dataclass(frozen=True)
class App:
    """The services a function calls (and the settings and telemetry they share); no SDK client."""

    settings: Settings
    readiness: ReadinessService
    auth: Authenticator
    mailboxes: MailboxService
    messages: Messages
    pipeline: AudioPipeline
    greetings: GreetingService
    retention: RetentionService
    replication: ReplicationService
    telemetry: Telemetry
    takeover: ProcessingTakeover
    conflicts: ConflictResolver
    transcripts: TranscriptService
    notifications: NotificationService
    journal: JournalReplay
    audit: AuditLog
    erasure: ErasureService
    holds: HoldService
    exports: ExportService
    tenants: TenantService
    budgets: TenantBudgets
    classes: ClassService
    usage: UsageService


def build(config: Settings, ports: Ports) -> App:
    """The services on the given ports, each handed what it uses; nothing here reaches a network."""
    region, raw, audio, telemetry = config.region, ports.store, ports.audio, ports.telemetry
    classes = ClassService(ports.tenants)
    # The use cases read each mailbox as its class of service makes it (shared/services/classes.py);
    # the sweeps, merges and the session check read the documents as stored.
    store = ClassedStore(raw, classes)
    readiness = ReadinessService(region, ports.probes, timeout_s=config.health.check_timeout_s,
                                 cache_s=config.health.cache_s, drained=lambda: config.health.drained)

    def session_epoch(mailbox_id: str) -> tuple[str, int] | None:
        mailbox = raw.get_mailbox(mailbox_id)
        return (mailbox.incarnation, mailbox.session_epoch) if mailbox is not None and mailbox.active else None

    tenant_keys = TenantKeys(ports.tenants.get_key_hash)
    auth = Authenticator(config.auth.platform_key_hashes, config.auth.token_signing_keys, config.auth.token_ttl_s,
                         epochs=SessionEpochs(session_epoch), pin_pepper=config.auth.pin_pepper,
                         operator_key_hashes=config.auth.operator_key_hashes, tenant_keys=tenant_keys)
    mwi = Mwi(store, ports.events)
    announcer = Announcer({MWI_QUEUE: mwi.post})  # runs right after a batch commits: shared/services/events.py
    ledger = Ledger(store, region, announcer)  # the use cases' and the pipeline's: their batches light the lamp
    # Batches that announce nothing: a sweep lights each lamp once a page (RetentionService.publish_counts);
    # the others change no counts a caller sees (expiries, replicas, conflict merges, reconciling).
    quiet = Ledger(store, region, None)
    writes = WriteBudget(store, region)  # a subscriber's writes a minute, whichever service takes them
    # Logins per client address in this instance; Front Door's WAF rule limits them globally.
    logins = SlidingWindow(config.auth.client_logins_per_minute, 60.0)
    deployment = tuple(config.regions) or (region,)  # every region of the deployment
    mailboxes = MailboxService(store, mwi, auth, timedelta(minutes=config.retention.deprovision_grace_minutes),
                               region, logins, ports.conflict_feed.pending, writes, quiet, classes, deployment)
    containers = Containers(config.storage.incoming_container, config.storage.audio_container)
    regions = Regions(region, audio, dict(ports.peers))
    renditions = Renditions(regions, ports.transcoder, config.audio.normalize, store, telemetry)
    journal = DepositJournal(audio, config.storage.journal_container, region, telemetry)
    admission = Admission(store, ledger)
    messages = Messages(
        Deposit(store, audio, mailboxes, admission, region, containers, telemetry, journal, config.journal_after_s),
        UploadLink(store, audio, mailboxes, admission, region, containers, telemetry),
        Change(store, mailboxes, ledger), Trash(store, mailboxes, ledger, regions, containers),
        Forward(store, audio, mailboxes, admission, ForwardQuota(store, region), regions, containers),
        MessageQueries(store, mailboxes, renditions, telemetry))
    transcripts = TranscriptService(store, regions, ports.transcriber, ports.transcription_jobs, telemetry)
    # The one store plays the pipeline's three repositories.
    pipeline = AudioPipeline(mailboxes=store, messages=store, greetings=store, audio=audio, transcoder=ports.transcoder,
                             ledger=ledger, region=region, normalize=config.audio.normalize,
                             containers=containers, replication=ports.replication_requests, telemetry=telemetry,
                             transcripts=transcripts, journal=journal)
    replay = JournalReplay(journal, store, audio, mailboxes, ledger, region, containers, pipeline.process, telemetry)
    greetings = GreetingService(store, audio, mailboxes, containers, regions, region)
    retention = RetentionService(raw, quiet, audio, announcer, containers, regions,
                                 timedelta(hours=config.retention.orphan_min_age_hours))
    replication = ReplicationService(raw, regions, config.replication.replica_count, telemetry, quiet)
    takeover = ProcessingTakeover(raw, regions, timedelta(seconds=config.replication.takeover_after_s))
    holds = HoldService(store, region)
    conflicts = ConflictResolver(raw, ports.conflict_feed, region, tuple(config.regions) or (region,), quiet)
    notify = config.notifications
    budgets = TenantBudgets(ports.tenants)  # tenants' requestsPerSecond and notificationsPerHour

    def trash(mailbox_id: str, message_id: str) -> None:  # `deleteAfterEmail`
        messages.delete(PLATFORM, mailbox_id, message_id, purge=False)

    notifications = NotificationService(
        ports.outbox, store, regions, ports.webhooks, ports.mailer, ports.sms, region,
        Schedule(notify.first_retry_s, notify.max_retry_s, notify.retry_horizon_s),
        transcript_wait=timedelta(seconds=notify.transcript_wait_s),
        takeover_after=timedelta(seconds=notify.takeover_after_s), allow_loopback=notify.allow_loopback,
        trash=trash, renditions=renditions, telemetry=telemetry, writes=writes, budgets=budgets)
    # A message's `message.ready` waits for its transcript: the moment it settles, the event is due.
    transcripts.listen(lambda message: notifications.message_settled(message.mailbox_id, message.id))
    exports = ExportService(ports.exports, mailboxes, store, store, regions, ports.streams, utcnow)
    erasure = ErasureService(raw, regions, containers, config.storage.journal_container, deployment,
                             backups.load())
    tenants = TenantService(ports.tenants, tenant_keys)
    return App(config, readiness, auth, mailboxes, messages, pipeline, greetings, retention, replication, telemetry,
               takeover, conflicts, transcripts, notifications, replay, AuditLog(ports.audit_trails, region),
               erasure, holds, exports, tenants, budgets, classes, UsageService(ports.usage, tenants))
