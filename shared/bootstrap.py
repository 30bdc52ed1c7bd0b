"""The one place that builds dependencies: clients once per process, lazily, then reused."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
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
    QueueTranscriptionJobs,
    make_blob_service,
    make_peer_blob_service,
    make_queue_service,
)
from shared.adapters.cosmos import CosmosConflictFeed, CosmosContainer, CosmosProbe, CosmosStore
from shared.adapters.http_pool import pooled_transport
from shared.config import ConfigError, Settings, settings
from shared.domain.audio import Containers
from shared.domain.errors import NotConfigured
from shared.ports import Transcriber
from shared.services.auth import Authenticator, SessionEpochs
from shared.services.conflicts import ConflictResolver
from shared.services.greetings import GreetingService
from shared.services.health import ReadinessService
from shared.services.mailboxes import MailboxService
from shared.services.messages import MessageService
from shared.services.mwi import Mwi
from shared.services.pipeline import AudioPipeline
from shared.services.rate import SlidingWindow
from shared.services.replication import Regions, ReplicationService
from shared.services.retention import RetentionService
from shared.services.takeover import ProcessingTakeover
from shared.services.transcripts import TranscriptService
from shared.telemetry import Telemetry, configure


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
    transcripts: TranscriptService


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


def _transcriber(config: Settings, credential: object | None) -> Transcriber | None:
    """The engine TRANSCRIPTION_ENGINE names; its module is imported only when chosen."""
    if config.transcription_engine == "azure":
        from shared.adapters.transcribe_azure import AzureSpeechTranscriber

        if credential is None:  # emulators and all: Azure AI Speech still takes only an identity
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        return AzureSpeechTranscriber(config.speech_endpoint or "", credential, config.sdk_timeout_s,
                                      transport=pooled_transport())
    if config.transcription_engine == "local":
        from shared.adapters.transcribe_local import PocketSphinxTranscriber

        return PocketSphinxTranscriber()
    return None


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
    transcripts = TranscriptService(store, regions, _transcriber(config, credential),
                                    QueueTranscriptionJobs(queue_service, config.transcription_queue), telemetry)
    pipeline = AudioPipeline(store, store, store, audio, PyAvTranscoder(), mwi, config.region, config.normalize_audio,
                             containers, QueueReplicationRequests(queue_service, config.replication_queue), telemetry,
                             transcripts)
    greetings = GreetingService(store, audio, mailboxes, containers, regions, config.region)
    retention = RetentionService(store, audio, mwi, containers, regions,
                                 timedelta(hours=config.orphan_min_age_hours))
    replication = ReplicationService(store, regions, config.replica_count, telemetry)
    takeover = ProcessingTakeover(store, regions, timedelta(seconds=config.takeover_after_s))
    conflicts = ConflictResolver(store, CosmosConflictFeed(cosmos, config.sdk_timeout_s), config.region,
                                 tuple(config.regions) or (config.region,))
    return App(config, cosmos, blob_service, queue_service, readiness, auth, mailboxes, messages, pipeline,
               greetings, retention, replication, telemetry, takeover, conflicts, transcripts)


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
