"""Settings, read once per process into a frozen, validated object.

The names are the app settings the Bicep stamp outputs (and `local.settings.json` sets locally).
A missing, malformed or unresolved setting (a Key Vault reference the platform has not resolved
yet is left as its `@Microsoft.KeyVault(...)` literal) raises `ConfigError` naming it. Nothing reads
settings at import time: every function is indexed whatever the settings, `/api/health/ready`
answers 503 naming the bad setting and every other route 503 (`not-configured`), logged once.
"""

from __future__ import annotations

import base64
import functools
import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from shared.config_reader import KEY_VAULT_REFERENCE, ConfigError, Reader, peer_storage

_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
_QUEUE = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$")
_SCHEDULE = re.compile(r"^\S+( \S+){5}$")  # six NCRONTAB fields, as the timer trigger reads them
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ROLE = re.compile(r"^(all|api|management)$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")  # FRONT_DOOR_ID
# Every default, written down once, by section: a section is the `Settings` group of the same name
# (`app` is `Settings`' own fields; `host` the Functions host's, which the app does not keep). Bicep
# (infra/main.bicep), the local settings example and the adapters take them from here or are checked
# against them (tests/infra/test_infra.py, tests/unit/adapters/test_config.py); the groups below have
# no defaults of their own. Settings without an entry are required, or optional without a default.
SECTIONS: dict[str, dict[str, str]] = {
    "app": {"APP_VERSION": "0.1.0", "APP_ROLE": "all", "SDK_TIMEOUT_SECONDS": "10", "JOURNAL_AFTER_SECONDS": "4",
            "TELEMETRY_TRACES_PER_SECOND": "5"},
    "cosmos": {"COSMOS_DATABASE": "voicemail", "COSMOS_CONTAINER": "mailboxes"},
    "storage": {"MWI_QUEUE": "mwi-events", "INCOMING_CONTAINER": "incoming", "AUDIO_CONTAINER": "audio",
                "REPLICATION_QUEUE": "replication-requests", "TRANSCRIPTION_QUEUE": "transcription-requests",
                "JOURNAL_CONTAINER": "journal"},
    "health": {"HEALTH_CHECK_TIMEOUT_SECONDS": "2", "HEALTH_CACHE_SECONDS": "5", "DRAIN": "false"},
    "auth": {"TOKEN_TTL_SECONDS": "900", "CLIENT_LOGINS_PER_MINUTE": "60"},
    "audio": {"AUDIO_NORMALIZE": "true"},
    "transcripts": {"TRANSCRIPTION_ENGINE": "off"},
    "notifications": {"NOTIFY_FIRST_RETRY_SECONDS": "30", "NOTIFY_MAX_RETRY_SECONDS": "3600",
                      "NOTIFY_RETRY_HORIZON_SECONDS": str(26 * 3600), "NOTIFY_TRANSCRIPT_WAIT_SECONDS": "60",
                      "NOTIFY_TAKEOVER_SECONDS": "600", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": "1025",
                      "MAIL_FROM": "voicemail@localhost", "SMS_SINK_DIR": ".localstack/sms"},
    "retention": {"ORPHAN_MIN_AGE_HOURS": "24", "DEPROVISION_GRACE_MINUTES": "0"},
    "replication": {"REPLICA_COUNT": "2", "TAKEOVER_AFTER_SECONDS": "600"},
    # Resolved by the Functions host (%NAME% in a binding, host.json), never read by the app: no
    # default applies at run time, so Bicep and local settings must set them (to these values).
    # Conflicts and the dispatcher's sweep: every 5 s here; slower in Azure, where the change feed dispatches.
    "host": {"DURABLE_TASK_HUB": "voicemail", "RETENTION_SCHEDULE": "0 30 2 * * *",
             "REPLICATION_SCHEDULE": "0 */15 * * * *", "CONFLICTS_SCHEDULE": "*/5 * * * * *",
             "NOTIFICATIONS_SWEEP_SCHEDULE": "*/5 * * * * *", "COSMOS_LEASE_CONTAINER": "leases"},
}
DEFAULTS: dict[str, str] = {name: value for section in SECTIONS.values() for name, value in section.items()}
# Names a binding or host.json resolves (%NAME%): the host needs them set, whatever the app's default.
HOST_RESOLVED = ("DURABLE_TASK_HUB", "RETENTION_SCHEDULE", "REPLICATION_SCHEDULE", "CONFLICTS_SCHEDULE",
                 "NOTIFICATIONS_SWEEP_SCHEDULE", "COSMOS_LEASE_CONTAINER", "COSMOS_DATABASE", "COSMOS_CONTAINER",
                 "INCOMING_CONTAINER", "REPLICATION_QUEUE", "TRANSCRIPTION_QUEUE")
# Which functions a process serves (function_app.py; docs/architecture.md, "Two planes").
APP_ROLES = ("all", "api", "management")
DEFAULT_VERSION = DEFAULTS["APP_VERSION"]


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CosmosSettings:
    """The Cosmos DB account (multi-region writes) and the one container."""

    endpoint: str
    key: str | None  # only against the emulator; in Azure, identity (local auth is off)
    database: str
    container: str


@dataclass(frozen=True)
class StorageSettings:
    """The region's storage account, a connection string (emulator) or service URIs (identity), and
    the containers and queues in it."""

    connection_string: str | None
    blob_uri: str | None
    queue_uri: str | None
    incoming_container: str  # originals as deposited; the audio pipeline's blob trigger watches it
    audio_container: str  # renditions and greetings
    journal_container: str  # deposits the database did not take in time, until they are replayed
    mwi_queue: str
    replication_queue: str
    transcription_queue: str

    @property
    def uses_identity(self) -> bool:
        return self.connection_string is None


@dataclass(frozen=True)
class HealthSettings:
    """Readiness (shared/services/health.py) and the drain switch."""

    check_timeout_s: float
    cache_s: float
    drained: bool


@dataclass(frozen=True)
class AuthSettings:
    """Platform keys and subscriber session tokens (shared/services/auth.py)."""

    platform_key_hashes: tuple[str, ...]  # SHA-256 (hex) of each accepted x-api-key
    token_signing_keys: tuple[bytes, ...]  # the current key first; then the previous one, if rotating (each once)
    token_ttl_s: int
    pin_pepper: bytes  # PIN_PEPPER: the HMAC key every PIN goes through before scrypt (domain/security.py)
    client_logins_per_minute: int  # per client address and instance, before any PIN hashing
    front_door_id: str | None  # the Front Door profile's id: X-Azure-FDID (shared/domain/client.py)


@dataclass(frozen=True)
class AudioSettings:
    """The audio pipeline (shared/services/pipeline.py)."""

    normalize: bool  # bring quiet messages up to speech level


@dataclass(frozen=True)
class TranscriptSettings:
    """Transcripts (issue 14): `azure` (Azure AI Speech at speech_endpoint, with identity), `local`
    (the offline engine of requirements-dev.txt) or `off` (messages carry `transcript: null`)."""

    engine: str
    speech_endpoint: str | None


@dataclass(frozen=True)
class NotificationSettings:
    """Notifications (shared/services/notifications.py): the dispatcher's schedule and retries, and
    where e-mail and SMS go: Azure Communication Services in Azure, local sinks otherwise."""

    first_retry_s: float
    max_retry_s: float
    retry_horizon_s: float  # retried at least this long, then dead-lettered
    transcript_wait_s: float  # message.ready waits at most this long for the transcript
    takeover_after_s: float  # another region dispatches what the owner left undelivered this long
    allow_loopback: bool  # http://127.0.0.1 webhooks: local runs only
    acs_email_endpoint: str | None
    acs_email_sender: str | None
    acs_sms_endpoint: str | None
    acs_sms_from: str | None
    smtp_host: str
    smtp_port: int
    mail_from: str
    sms_sink_dir: str


@dataclass(frozen=True)
class RetentionSettings:
    """The retention sweep (shared/services/retention.py) and mailbox deprovisioning."""

    orphan_min_age_hours: float  # blobs younger than this are never taken for orphans
    deprovision_grace_minutes: float


@dataclass(frozen=True)
class ReplicationSettings:
    """Audio replication between regions (shared/services/replication.py, takeover.py)."""

    replica_count: int
    takeover_after_s: float  # a message still processing this long after another region acknowledged it is taken over
    # Other regions' storage accounts, by region: a connection string (emulators) or a blob
    # service URL reached with this app's identity (it holds Storage Blob Data Contributor there).
    peer_storage: dict[str, str]


@dataclass(frozen=True)
class Settings:
    """Every setting the app reads, by group; the group of a setting is its section in SECTIONS."""

    region: str
    regions: tuple[str, ...]  # every region of the deployment, this one first
    version: str
    sdk_timeout_s: float
    journal_after_s: float  # a deposit's time for the database; then it is journaled (services/journal.py)
    traces_per_second: float  # traces kept per second and instance (a rate-limited sampler; metrics are all kept)
    managed_identity_client_id: str | None
    cosmos: CosmosSettings
    storage: StorageSettings
    health: HealthSettings
    auth: AuthSettings
    audio: AudioSettings
    transcripts: TranscriptSettings
    notifications: NotificationSettings
    retention: RetentionSettings
    replication: ReplicationSettings

    @property
    def is_emulated(self) -> bool:
        return self.cosmos.key is not None


def _storage(read: Reader) -> StorageSettings:
    # The Functions host's own names: a connection string, or `__serviceUri`s for identity.
    connection_string = read.raw("AzureWebJobsStorage")
    if connection_string is not None:
        if "AccountName=" not in connection_string and "UseDevelopmentStorage=true" not in connection_string:
            raise ConfigError("AzureWebJobsStorage", "malformed", "not a storage connection string")
        account = (connection_string, None, None)
    elif read.raw("AzureWebJobsStorage__blobServiceUri") is None:
        raise ConfigError("AzureWebJobsStorage", "missing", "or, with identity, AzureWebJobsStorage__blobServiceUri")
    else:
        account = (None, read.url("AzureWebJobsStorage__blobServiceUri"),
                   read.url("AzureWebJobsStorage__queueServiceUri"))
        read.url("AzureWebJobsStorage__tableServiceUri")  # the host's (durable state): checked, not kept
    return StorageSettings(
        *account,
        incoming_container=read.matching("INCOMING_CONTAINER", _QUEUE),
        audio_container=read.matching("AUDIO_CONTAINER", _QUEUE),
        journal_container=read.matching("JOURNAL_CONTAINER", _QUEUE),
        mwi_queue=read.matching("MWI_QUEUE", _QUEUE),
        replication_queue=read.matching("REPLICATION_QUEUE", _QUEUE),
        transcription_queue=read.matching("TRANSCRIPTION_QUEUE", _QUEUE),
    )


def _key_hashes(read: Reader) -> tuple[str, ...]:
    hashes = tuple(h.strip().lower() for h in read.required("PLATFORM_KEY_HASHES").split(",") if h.strip())
    if not hashes or any(not _SHA256.fullmatch(h) for h in hashes):
        raise ConfigError("PLATFORM_KEY_HASHES", "malformed", "comma-separated SHA-256 hex digests expected")
    return hashes


def _signing_key(read: Reader, name: str, required: bool) -> bytes | None:
    value = read.required(name) if required else read.raw(name)
    if value is None:
        return None
    try:
        key = base64.b64decode(value, validate=True)
    except ValueError:
        raise ConfigError(name, "malformed", "not base64") from None
    if len(key) < 32:
        raise ConfigError(name, "malformed", "at least 32 bytes of key are needed")
    return key


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting from env (default: the process environment)."""
    read = Reader(os.environ if env is None else env, DEFAULTS)
    region = read.matching("REGION", _REGION)
    _check_host_resolved(read)
    others = [r.strip() for r in (read.raw("REGIONS") or "").split(",") if r.strip()]
    for other in others:
        if not _REGION.fullmatch(other):
            raise ConfigError("REGIONS", "malformed", f"{other!r} is not a region name")
    cosmos = CosmosSettings(
        endpoint=read.url("COSMOS_ENDPOINT"),
        key=read.raw("COSMOS_KEY"),
        database=read.matching("COSMOS_DATABASE", _NAME),
        container=read.matching("COSMOS_CONTAINER", _NAME),
    )
    return Settings(
        region=region,
        regions=(region, *[r for r in dict.fromkeys(others) if r != region]),
        version=read.raw("APP_VERSION") or DEFAULTS["APP_VERSION"],
        sdk_timeout_s=read.number("SDK_TIMEOUT_SECONDS", 1.0, 120.0),
        journal_after_s=read.number("JOURNAL_AFTER_SECONDS", 0.5, 8.0),
        traces_per_second=read.number("TELEMETRY_TRACES_PER_SECOND", 0.1, 1000.0),
        managed_identity_client_id=read.raw("AZURE_CLIENT_ID"),
        cosmos=cosmos,
        storage=_storage(read),
        health=HealthSettings(
            check_timeout_s=read.number("HEALTH_CHECK_TIMEOUT_SECONDS", 0.1, 2.0),
            cache_s=read.number("HEALTH_CACHE_SECONDS", 0.0, 10.0),
            drained=read.flag("DRAIN"),
        ),
        auth=AuthSettings(
            platform_key_hashes=_key_hashes(read),
            token_signing_keys=tuple(dict.fromkeys(k for k in (_signing_key(read, "TOKEN_SIGNING_KEY", True),
                                                 _signing_key(read, "TOKEN_SIGNING_KEY_PREVIOUS", False)) if k)),
            token_ttl_s=int(read.number("TOKEN_TTL_SECONDS", 60, 900)),
            pin_pepper=_signing_key(read, "PIN_PEPPER", True) or b"",
            client_logins_per_minute=int(read.number("CLIENT_LOGINS_PER_MINUTE", 30, 1_000_000)),
            front_door_id=read.optional("FRONT_DOOR_ID", _GUID),
        ),
        audio=AudioSettings(normalize=read.flag("AUDIO_NORMALIZE")),
        transcripts=_transcripts(read),
        notifications=_notifications(read, emulated=cosmos.key is not None),
        retention=RetentionSettings(
            orphan_min_age_hours=read.number("ORPHAN_MIN_AGE_HOURS", 0, 24 * 30),
            deprovision_grace_minutes=read.number("DEPROVISION_GRACE_MINUTES", 0, 60 * 24 * 30),
        ),
        replication=ReplicationSettings(
            replica_count=int(read.number("REPLICA_COUNT", 1, 5)),
            takeover_after_s=read.number("TAKEOVER_AFTER_SECONDS", 1, 7 * 24 * 3600),
            peer_storage=peer_storage(read, region, others),
        ),
    )


def _notifications(read: Reader, emulated: bool) -> NotificationSettings:
    acs = {name: read.url(name, required=False) for name in ("ACS_EMAIL_ENDPOINT", "ACS_SMS_ENDPOINT")}
    loopback = read.flag("WEBHOOK_ALLOW_LOOPBACK") if read.raw("WEBHOOK_ALLOW_LOOPBACK") else emulated
    if loopback and not emulated:
        raise ConfigError("WEBHOOK_ALLOW_LOOPBACK", "malformed", "loopback webhooks are for local runs only")
    return NotificationSettings(
        first_retry_s=read.number("NOTIFY_FIRST_RETRY_SECONDS", 0.1, 3600),
        max_retry_s=read.number("NOTIFY_MAX_RETRY_SECONDS", 1, 24 * 3600),
        # Azure keeps retrying for at least a day, as the contract says; local runs may give up sooner.
        retry_horizon_s=read.number("NOTIFY_RETRY_HORIZON_SECONDS", 1 if emulated else 24 * 3600, 7 * 24 * 3600),
        transcript_wait_s=read.number("NOTIFY_TRANSCRIPT_WAIT_SECONDS", 0, 60),
        takeover_after_s=read.number("NOTIFY_TAKEOVER_SECONDS", 1, 7 * 24 * 3600),
        allow_loopback=loopback,
        acs_email_endpoint=acs["ACS_EMAIL_ENDPOINT"],
        acs_email_sender=read.raw("ACS_EMAIL_SENDER"),
        acs_sms_endpoint=acs["ACS_SMS_ENDPOINT"],
        acs_sms_from=read.raw("ACS_SMS_FROM"),
        smtp_host=read.raw("SMTP_HOST") or DEFAULTS["SMTP_HOST"],
        smtp_port=int(read.number("SMTP_PORT", 1, 65535)),
        mail_from=read.raw("MAIL_FROM") or DEFAULTS["MAIL_FROM"],
        sms_sink_dir=read.raw("SMS_SINK_DIR") or DEFAULTS["SMS_SINK_DIR"],
    )


def _transcripts(read: Reader) -> TranscriptSettings:
    engine = read.matching("TRANSCRIPTION_ENGINE", re.compile(r"azure|local|off"))
    return TranscriptSettings(engine=engine, speech_endpoint=read.url("SPEECH_ENDPOINT", required=engine == "azure"))


def _check_host_resolved(read: Reader) -> None:
    """The host's own settings: not read by the app, but a malformed one is named like any other."""
    for name in SECTIONS["host"]:
        if read.raw(name) is not None:
            read.matching(name, _SCHEDULE if name.endswith("_SCHEDULE") else _NAME)
    read.matching("APP_ROLE", _ROLE)


_logged: set[str] = set()
_log_lock = threading.Lock()


@functools.cache
def _loaded() -> Settings:
    return load_settings()


def settings() -> Settings:
    """The process's settings, read once they are valid. While one is not (an unresolved Key Vault
    reference resolves later without a restart being guaranteed), each call reads them again and
    raises `ConfigError`, logged once per distinct error."""
    try:
        return _loaded()
    except ConfigError as error:
        with _log_lock:
            first = str(error) not in _logged
            _logged.add(str(error))
        if first:
            logger.error("configuration: %s; every route but /api/health answers 503 until it is fixed", error)
        raise


def _cache_clear() -> None:
    _loaded.cache_clear()
    with _log_lock:
        _logged.clear()


settings.cache_clear = _cache_clear  # type: ignore[attr-defined]  # tests switch settings


def settings_error() -> ConfigError | None:
    """The configuration's error, or None when the settings are valid."""
    try:
        settings()
    except ConfigError as error:
        return error
    return None


def app_role(env: Mapping[str, str] | None = None) -> str:
    """APP_ROLE whatever the other settings (function_app.py indexes by it); not a role: `all`, named by readiness."""
    value = (os.environ if env is None else env).get("APP_ROLE", "").strip()
    return value if value in APP_ROLES else DEFAULTS["APP_ROLE"]


def app_version(env: Mapping[str, str] | None = None) -> str:
    """APP_VERSION, readable whatever the other settings (liveness and the OpenAPI document use it)."""
    value = (os.environ if env is None else env).get("APP_VERSION", "").strip()
    return value if value and not value.startswith(KEY_VAULT_REFERENCE) else DEFAULT_VERSION
