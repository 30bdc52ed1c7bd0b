"""The one place that builds dependencies: clients once per process, lazily, then reused."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from shared.adapters.blob import (
    BlobAudioStore,
    BlobProbe,
    QueueEvents,
    QueueReplicationRequests,
    QueueTranscriptionJobs,
    make_blob_service,
    make_peer_blob_service,
    make_queue_service,
)
from shared.adapters.cosmos import CosmosStore
from shared.adapters.cosmos_client import CosmosContainer, CosmosProbe
from shared.adapters.cosmos_conflicts import CosmosConflictFeed
from shared.adapters.email_acs import AcsMailer, SmtpMailer
from shared.adapters.http_pool import pooled_transport
from shared.adapters.outbox import CosmosOutbox
from shared.adapters.sms_acs import AcsSms, FileSms
from shared.adapters.transcode_pool import PyAvTranscoder
from shared.adapters.webhook import SafeWebhookSender
from shared.config import ConfigError, Settings, settings
from shared.domain.audio import Containers
from shared.domain.errors import NotConfigured
from shared.domain.notifications import Schedule
from shared.domain.principal import PLATFORM
from shared.ports import (
    AudioStore,
    ConflictFeed,
    DependencyProbe,
    EventPublisher,
    Outbox,
    ReplicationRequests,
    SweepRepository,
    Transcoder,
    Transcriber,
    TranscriptionQueue,
)
from shared.services.admission import Admission
from shared.services.auth import Authenticator, SessionEpochs
from shared.services.conflicts import ConflictResolver
from shared.services.events import MWI_QUEUE, Announcer
from shared.services.forwards import ForwardQuota
from shared.services.greetings import GreetingService
from shared.services.health import ReadinessService
from shared.services.journal import DepositJournal, JournalReplay
from shared.services.ledger import Ledger
from shared.services.mailboxes import MailboxService
from shared.services.messages import (
    Change,
    Deposit,
    Forward,
    MessageQueries,
    Messages,
    Trash,
    UploadLink,
)
from shared.services.mwi import Mwi
from shared.services.notifications import NotificationService
from shared.services.pipeline import AudioPipeline
from shared.services.rate import SlidingWindow
from shared.services.renditions import Renditions
from shared.services.replication import Regions, ReplicationService
from shared.services.retention import RetentionService
from shared.services.takeover import ProcessingTakeover
from shared.services.transcripts import TranscriptService
from shared.telemetry import Telemetry, configure


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


def _credential(config: Settings, env: Mapping[str, str] | None = None) -> object | None:
    """None for the emulators (keys). In Azure, the app's managed identity and nothing else
    (`ManagedIdentityCredential`, the user-assigned one when AZURE_CLIENT_ID is set): deterministic,
    no chain to fall through. Elsewhere (a developer's machine against real Azure resources),
    `DefaultAzureCredential`: the Azure CLI's or the IDE's login."""
    if config.is_emulated and not config.storage.uses_identity:
        return None
    if in_azure(env):
        from azure.identity import ManagedIdentityCredential

        if config.managed_identity_client_id:
            return ManagedIdentityCredential(client_id=config.managed_identity_client_id)
        return ManagedIdentityCredential()
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def in_azure(env: Mapping[str, str] | None = None) -> bool:
    """Running on App Service / Functions in Azure: the platform sets WEBSITE_INSTANCE_ID (and the
    identity endpoint); a local `func start` or the local host sets neither."""
    env = os.environ if env is None else env
    return bool(env.get("WEBSITE_INSTANCE_ID") or env.get("IDENTITY_ENDPOINT"))


def _transcriber(config: Settings, make_credential: Callable[[], object | None]) -> Transcriber | None:
    """The engine TRANSCRIPTION_ENGINE names; its module is imported only when chosen."""
    if config.transcripts.engine == "azure":
        from shared.adapters.transcribe_azure import AzureSpeechTranscriber

        credential = make_credential()
        if credential is None:  # emulators and all: Azure AI Speech still takes only an identity
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        return AzureSpeechTranscriber(config.transcripts.speech_endpoint or "", credential, config.sdk_timeout_s,
                                      transport=pooled_transport())
    if config.transcripts.engine == "local":
        from shared.adapters.transcribe_local import PocketSphinxTranscriber

        return PocketSphinxTranscriber()
    return None


class _Sdk:
    """The real clients, each made on first use: a port given to `build` never makes its client."""

    def __init__(self, config: Settings):
        self._config = config

    @functools.cached_property
    def credential(self) -> object | None:
        return _credential(self._config)

    @functools.cached_property
    def cosmos(self) -> CosmosContainer:
        return CosmosContainer(self._config, self.credential)

    @functools.cached_property
    def blobs(self) -> BlobServiceClient:
        return make_blob_service(self._config, self.credential)

    @functools.cached_property
    def queues(self) -> QueueServiceClient:
        return make_queue_service(self._config, self.credential)


def build(config: Settings, *, store: SweepRepository | None = None, audio: AudioStore | None = None,
          peers: Mapping[str, AudioStore] | None = None, events: EventPublisher | None = None,
          replication_requests: ReplicationRequests | None = None, transcoder: Transcoder | None = None,
          conflict_feed: ConflictFeed | None = None, probes: Sequence[DependencyProbe] | None = None,
          telemetry: Telemetry | None = None, transcriber: Transcriber | None = None,
          transcription_jobs: TranscriptionQueue | None = None, outbox: Outbox | None = None) -> App:
    """The services on the given ports (tests pass fakes); each port not given is the real adapter."""
    sdk = _Sdk(config)
    if store is None:
        store = CosmosStore(sdk.cosmos, timeout_s=config.sdk_timeout_s)
    if audio is None:
        audio = BlobAudioStore(sdk.blobs)
    if peers is None:
        peers = {peer: BlobAudioStore(make_peer_blob_service(config, value, sdk.credential))
                 for peer, value in config.replication.peer_storage.items()}
    if probes is None:
        probes = [CosmosProbe(sdk.cosmos, config.region), BlobProbe(sdk.blobs, config.region)]
    events = events or QueueEvents(sdk.queues, config.storage.mwi_queue)
    replication_requests = replication_requests or QueueReplicationRequests(sdk.queues,
                                                                            config.storage.replication_queue)
    transcoder = transcoder or PyAvTranscoder()
    conflict_feed = conflict_feed or CosmosConflictFeed(sdk.cosmos, config.sdk_timeout_s)
    telemetry = telemetry or Telemetry(config.region)  # no-op instruments unless telemetry.configure() ran
    readiness = ReadinessService(config.region, probes, timeout_s=config.health.check_timeout_s,
                                 cache_s=config.health.cache_s, drained=lambda: config.health.drained)

    def session_epoch(mailbox_id: str) -> int | None:
        mailbox = store.get_mailbox(mailbox_id)
        return mailbox.session_epoch if mailbox is not None and mailbox.active else None

    auth = Authenticator(config.auth.platform_key_hashes, config.auth.token_signing_keys, config.auth.token_ttl_s,
                         pin_pepper=config.auth.pin_pepper,
                         epochs=SessionEpochs(session_epoch))
    mwi = Mwi(store, events)
    announcer = Announcer({MWI_QUEUE: mwi.post})  # runs right after a batch commits: shared/services/events.py
    ledger = Ledger(store, config.region, announcer)
    mailboxes = MailboxService(store, mwi, auth, timedelta(minutes=config.retention.deprovision_grace_minutes),
                               config.region, SlidingWindow(config.auth.client_logins_per_minute, 60.0),
                               conflicts_pending=conflict_feed.pending)
    containers = Containers(config.storage.incoming_container, config.storage.audio_container)
    regions = Regions(config.region, audio, dict(peers))
    renditions = Renditions(regions, transcoder, config.audio.normalize, store, telemetry)
    journal = DepositJournal(audio, config.storage.journal_container, config.region, telemetry)
    admission = Admission(store, ledger)
    messages = Messages(
        Deposit(store, audio, mailboxes, admission, config.region, containers, telemetry, journal,
                config.journal_after_s),
        UploadLink(store, audio, mailboxes, admission, config.region, containers, telemetry),
        Change(store, mailboxes, ledger), Trash(store, mailboxes, ledger, regions),
        Forward(store, audio, mailboxes, admission, ForwardQuota(store, config.region), regions, containers),
        MessageQueries(store, mailboxes, renditions, telemetry))
    jobs = transcription_jobs or QueueTranscriptionJobs(sdk.queues, config.storage.transcription_queue)
    engine = transcriber if transcriber is not None else _transcriber(config, lambda: sdk.credential)
    transcripts = TranscriptService(store, regions, engine, jobs, telemetry)
    pipeline = AudioPipeline(store, store, store, audio, transcoder, ledger, config.region, config.audio.normalize,
                             containers, replication_requests, telemetry, transcripts, journal)
    replay = JournalReplay(journal, store, audio, mailboxes, ledger, config.region, containers, pipeline.process,
                           telemetry)
    greetings = GreetingService(store, audio, mailboxes, containers, regions, config.region)
    retention = RetentionService(store, audio, announcer, containers, regions,
                                 timedelta(hours=config.retention.orphan_min_age_hours))
    replication = ReplicationService(store, regions, config.replication.replica_count, telemetry)
    takeover = ProcessingTakeover(store, regions, timedelta(seconds=config.replication.takeover_after_s))
    conflicts = ConflictResolver(store, conflict_feed, config.region, tuple(config.regions) or (config.region,))
    outbox = outbox or CosmosOutbox(sdk.cosmos, config.sdk_timeout_s)
    notifications = _notifications(config, lambda: sdk.credential, outbox, store, regions,
                                   lambda mailbox_id, message_id: messages.delete(PLATFORM, mailbox_id, message_id,
                                                                                  purge=False), renditions, telemetry)
    # A message's `message.ready` waits for its transcript: the moment it settles, the event is due.
    transcripts.listen(lambda message: notifications.message_settled(message.mailbox_id, message.id))
    return App(config, readiness, auth, mailboxes, messages, pipeline, greetings, retention, replication, telemetry,
               takeover, conflicts, transcripts, notifications, replay)


def _notifications(config: Settings, make_credential: Callable[[], object | None], outbox: Outbox,
                   store: SweepRepository, regions: Regions, trash, renditions: Renditions,
                   telemetry: Telemetry) -> NotificationService:
    """ACS e-mail and SMS in Azure (identity); the local SMTP sink and SMS folder against emulators."""
    notify = config.notifications
    if config.is_emulated and not notify.acs_email_endpoint:
        mailer: AcsMailer | SmtpMailer = SmtpMailer(notify.smtp_host, notify.smtp_port, notify.mail_from)
        sms: AcsSms | FileSms = FileSms(notify.sms_sink_dir)
    else:
        credential = make_credential()
        mailer = AcsMailer(notify.acs_email_endpoint, notify.acs_email_sender, credential)
        sms = AcsSms(notify.acs_sms_endpoint, notify.acs_sms_from, credential)
    return NotificationService(
        outbox, store, regions, SafeWebhookSender(notify.allow_loopback), mailer, sms, config.region,
        Schedule(notify.first_retry_s, notify.max_retry_s, notify.retry_horizon_s),
        transcript_wait=timedelta(seconds=notify.transcript_wait_s),
        takeover_after=timedelta(seconds=notify.takeover_after_s), allow_loopback=notify.allow_loopback, trash=trash,
        renditions=renditions, telemetry=telemetry)


_lock = threading.Lock()
_app: App | None = None


def bootstrap() -> App:
    """The process's dependencies, built on first use (never at import time) and then shared."""
    global _app
    if _app is None:
        with _lock:
            if _app is None:
                try:
                    config = settings()  # logs a bad setting once
                except ConfigError as error:
                    raise NotConfigured(f"this instance cannot serve: {error.public}") from None
                configure(config)  # once per process: a no-op if function_app already did it
                _app = build(config)
    return _app
