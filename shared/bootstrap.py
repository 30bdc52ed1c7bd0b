"""The one place that builds dependencies: clients once per process, lazily, then reused."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta

from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from shared.adapters.audio_codec import PyAvTranscoder
from shared.adapters.blob import (
    BlobAudioStore,
    BlobProbe,
    QueueEvents,
    QueueReplicationRequests,
    make_blob_service,
    make_peer_blob_service,
    make_queue_service,
)
from shared.adapters.cosmos import CosmosConflictFeed, CosmosContainer, CosmosProbe, CosmosStore
from shared.adapters.email_acs import AcsMailer, SmtpMailer
from shared.adapters.outbox import CosmosOutbox
from shared.adapters.sms_acs import AcsSms, FileSms
from shared.adapters.webhook import SafeWebhookSender
from shared.config import Settings, settings
from shared.domain.audio import Containers
from shared.domain.notifications import Schedule
from shared.domain.principal import PLATFORM
from shared.services.auth import Authenticator, SessionEpochs
from shared.services.conflicts import ConflictResolver
from shared.services.greetings import GreetingService
from shared.services.health import ReadinessService
from shared.services.mailboxes import MailboxService
from shared.services.messages import MessageService
from shared.services.mwi import Mwi
from shared.services.notifications import NotificationService
from shared.services.pipeline import AudioPipeline
from shared.services.rate import SlidingWindow
from shared.services.replication import Regions, ReplicationService
from shared.services.retention import RetentionService
from shared.services.takeover import ProcessingTakeover
from shared.telemetry import Telemetry


@dataclass(frozen=True)
class App:
    settings: Settings
    cosmos: CosmosContainer
    blob_service: BlobServiceClient
    queue_service: QueueServiceClient
    readiness: ReadinessService
    auth: Authenticator
    mailboxes: MailboxService
    messages: MessageService
    pipeline: AudioPipeline
    greetings: GreetingService
    retention: RetentionService
    replication: ReplicationService
    telemetry: Telemetry
    takeover: ProcessingTakeover
    conflicts: ConflictResolver
    notifications: NotificationService


def _credential(config: Settings) -> object | None:
    """Identity in Azure (the user-assigned identity when its client id is set); none for emulators."""
    if config.is_emulated and not config.storage.uses_identity:
        return None
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=config.managed_identity_client_id)


def build(config: Settings) -> App:
    credential = _credential(config)
    cosmos = CosmosContainer(config, credential)
    blob_service = make_blob_service(config, credential)
    queue_service = make_queue_service(config, credential)
    readiness = ReadinessService(
        config.region, [CosmosProbe(cosmos, config.region), BlobProbe(blob_service, config.region)],
        timeout_s=config.health_check_timeout_s, cache_s=config.health_cache_s, drained=lambda: config.drained,
    )
    store = CosmosStore(cosmos, timeout_s=config.sdk_timeout_s)
    def session_epoch(mailbox_id: str) -> int | None:
        mailbox = store.get_mailbox(mailbox_id)
        return mailbox.session_epoch if mailbox is not None and mailbox.active else None

    auth = Authenticator(config.platform_key_hashes, config.token_signing_keys, config.token_ttl_s,
                         epochs=SessionEpochs(session_epoch))
    mwi = Mwi(store, QueueEvents(queue_service, config.mwi_queue))
    mailboxes = MailboxService(store, mwi, auth, timedelta(minutes=config.deprovision_grace_minutes), config.region,
                               SlidingWindow(config.client_logins_per_minute, 60.0))
    audio = BlobAudioStore(blob_service)
    containers = Containers(config.incoming_container, config.audio_container)
    regions = Regions(config.region, audio, {
        peer: BlobAudioStore(make_peer_blob_service(config, value, credential))
        for peer, value in config.peer_storage.items()})
    telemetry = Telemetry(config.region)  # no-op instruments unless telemetry.configure() turned them on
    messages = MessageService(store, audio, mailboxes, mwi, config.region, containers, regions, telemetry)
    pipeline = AudioPipeline(store, store, store, audio, PyAvTranscoder(), mwi, config.region, config.normalize_audio,
                             containers, QueueReplicationRequests(queue_service, config.replication_queue), telemetry)
    greetings = GreetingService(store, audio, mailboxes, containers, regions, config.region)
    retention = RetentionService(store, audio, mwi, containers, regions,
                                 timedelta(hours=config.orphan_min_age_hours))
    replication = ReplicationService(store, regions, config.replica_count, telemetry)
    takeover = ProcessingTakeover(store, regions, timedelta(seconds=config.takeover_after_s))
    conflicts = ConflictResolver(store, CosmosConflictFeed(cosmos, config.sdk_timeout_s), config.region,
                                 tuple(config.regions) or (config.region,))
    notifications = _notifications(config, credential, CosmosOutbox(cosmos, config.sdk_timeout_s), store, regions,
                                   lambda mailbox_id, message_id: messages.delete(PLATFORM, mailbox_id, message_id,
                                                                                  purge=False))
    return App(config, cosmos, blob_service, queue_service, readiness, auth, mailboxes, messages, pipeline,
               greetings, retention, replication, telemetry, takeover, conflicts, notifications)


def _notifications(config: Settings, credential: object | None, outbox: CosmosOutbox, store: CosmosStore,
                   regions: Regions, trash) -> NotificationService:
    """ACS e-mail and SMS in Azure (identity); the local SMTP sink and SMS folder against emulators."""
    notify = config.notifications
    if config.is_emulated and not notify.acs_email_endpoint:
        mailer: AcsMailer | SmtpMailer = SmtpMailer(notify.smtp_host, notify.smtp_port, notify.mail_from)
        sms: AcsSms | FileSms = FileSms(notify.sms_sink_dir)
    else:
        mailer = AcsMailer(notify.acs_email_endpoint, notify.acs_email_sender, credential)
        sms = AcsSms(notify.acs_sms_endpoint, notify.acs_sms_from, credential)
    return NotificationService(
        outbox, store, regions, SafeWebhookSender(notify.allow_loopback), mailer, sms, config.region,
        Schedule(notify.first_retry_s, notify.max_retry_s, notify.retry_horizon_s),
        transcript_wait=timedelta(seconds=notify.transcript_wait_s),
        takeover_after=timedelta(seconds=notify.takeover_after_s), allow_loopback=notify.allow_loopback, trash=trash)


_lock = threading.Lock()
_app: App | None = None


def bootstrap() -> App:
    """The process's dependencies, built on first use (never at import time) and then shared."""
    global _app
    if _app is None:
        with _lock:
            if _app is None:
                _app = build(settings())
    return _app
