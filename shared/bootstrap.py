"""The app of this process: the real adapters (`azure_ports`) composed by `shared.composition.build`,
once per process, on first use, then reused."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Mapping

from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from shared.adapters.audit_blob import BlobAuditTrail
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
from shared.adapters.exports import BlockBlobStreams, CosmosExports
from shared.adapters.http_pool import pooled_transport
from shared.adapters.outbox import CosmosOutbox
from shared.adapters.sms_acs import AcsSms, FileSms
from shared.adapters.tenants import CosmosTenants
from shared.adapters.transcode_pool import PyAvTranscoder
from shared.adapters.usage import CosmosUsage
from shared.adapters.webhook import SafeWebhookSender
from shared.composition import App, Ports, build
from shared.config import ConfigError, Settings, settings
from shared.domain.errors import NotConfigured
from shared.ports import Mailer, SmsSender, Transcriber
from shared.telemetry import Telemetry, configure

__all__ = ["App", "Ports", "azure_ports", "bootstrap", "build", "in_azure"]


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
    """The real clients, each made on first use and then shared by the adapters that need it."""

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


def azure_ports(config: Settings) -> Ports:
    """The real adapters: Cosmos DB, Blob and Queue storage, ACS (or the local sinks against the
    emulators), the configured transcription engine. Each SDK client is made once, when the first
    adapter needing it is made; `bootstrap` calls this once per process."""
    sdk = _Sdk(config)
    mailer, sms = _messaging(config, lambda: sdk.credential)
    peer_blobs = {peer: make_peer_blob_service(config, value, sdk.credential)
                  for peer, value in config.replication.peer_storage.items()}
    return Ports(
        store=CosmosStore(sdk.cosmos, timeout_s=config.sdk_timeout_s),
        audio=BlobAudioStore(sdk.blobs),
        peers={peer: BlobAudioStore(service) for peer, service in peer_blobs.items()},
        events=QueueEvents(sdk.queues, config.storage.mwi_queue),
        replication_requests=QueueReplicationRequests(sdk.queues, config.storage.replication_queue),
        transcoder=PyAvTranscoder(),
        conflict_feed=CosmosConflictFeed(sdk.cosmos, config.sdk_timeout_s),
        probes=(CosmosProbe(sdk.cosmos, config.region), BlobProbe(sdk.blobs, config.region)),
        telemetry=Telemetry(config.region),  # no-op instruments unless telemetry.configure() ran
        transcriber=_transcriber(config, lambda: sdk.credential),
        transcription_jobs=QueueTranscriptionJobs(sdk.queues, config.storage.transcription_queue),
        outbox=CosmosOutbox(sdk.cosmos, config.sdk_timeout_s),
        mailer=mailer,
        sms=sms,
        webhooks=SafeWebhookSender(config.notifications.allow_loopback),
        audit_trails={config.region: BlobAuditTrail(sdk.blobs, config.region),
                      **{peer: BlobAuditTrail(service, peer) for peer, service in peer_blobs.items()}},
        exports=CosmosExports(sdk.cosmos, config.sdk_timeout_s),
        streams=BlockBlobStreams(sdk.blobs),
        tenants=CosmosTenants(sdk.cosmos, config.sdk_timeout_s),
        usage=CosmosUsage(sdk.cosmos, config.sdk_timeout_s),
    )


def _messaging(config: Settings, make_credential: Callable[[], object | None]) -> tuple[Mailer, SmsSender]:
    """ACS e-mail and SMS in Azure (identity); the local SMTP sink and SMS folder against emulators."""
    notify = config.notifications
    if config.is_emulated and not notify.acs_email_endpoint:
        return SmtpMailer(notify.smtp_host, notify.smtp_port, notify.mail_from), FileSms(notify.sms_sink_dir)
    credential = make_credential()
    return (AcsMailer(notify.acs_email_endpoint, notify.acs_email_sender, credential),
            AcsSms(notify.acs_sms_endpoint, notify.acs_sms_from, credential))


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
                _app = build(config, azure_ports(config))
    return _app
