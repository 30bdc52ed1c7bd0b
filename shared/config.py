"""Settings, read once per process into a frozen, validated object.

The names are the app settings the Bicep stamp outputs (and `local.settings.json` sets locally).
A missing or malformed setting raises `ConfigError` naming it, so the host stops at start-up
instead of failing on the first request.
"""

from __future__ import annotations

import base64
import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
_QUEUE = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$")
_SCHEDULE = re.compile(r"^\S+( \S+){5}$")  # six NCRONTAB fields, as the timer trigger reads them
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class StorageSettings:
    """The region's storage account: a connection string (emulator) or service URIs (identity)."""

    connection_string: str | None
    blob_uri: str | None
    queue_uri: str | None
    table_uri: str | None

    @property
    def uses_identity(self) -> bool:
        return self.connection_string is None


@dataclass(frozen=True)
class NotificationSettings:
    """Notifications (shared/services/notifications.py): the dispatcher's schedule and retries, and
    where e-mail and SMS go: Azure Communication Services in Azure, local sinks otherwise."""

    first_retry_s: float = 30.0
    max_retry_s: float = 3600.0
    retry_horizon_s: float = 26 * 3600.0  # retried at least this long, then dead-lettered
    transcript_wait_s: float = 60.0  # message.ready waits at most this long for the transcript
    takeover_after_s: float = 600.0  # another region dispatches what the owner left undelivered this long
    allow_loopback: bool = False  # http://127.0.0.1 webhooks: local runs only
    acs_email_endpoint: str | None = None
    acs_email_sender: str | None = None
    acs_sms_endpoint: str | None = None
    acs_sms_from: str | None = None
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    mail_from: str = "voicemail@localhost"
    sms_sink_dir: str = ".localstack/sms"


@dataclass(frozen=True)
class Settings:
    region: str
    regions: tuple[str, ...]  # every region of the deployment, this one first
    version: str
    cosmos_endpoint: str
    cosmos_key: str | None  # only against the emulator; in Azure, identity (local auth is off)
    cosmos_database: str
    cosmos_container: str
    storage: StorageSettings
    managed_identity_client_id: str | None
    durable_task_hub: str
    health_check_timeout_s: float
    health_cache_s: float
    drained: bool
    sdk_timeout_s: float
    platform_key_hashes: tuple[str, ...]  # SHA-256 (hex) of each accepted x-api-key
    token_signing_keys: tuple[bytes, ...]  # the current key first; then the previous one, if rotating
    token_ttl_s: int
    client_logins_per_minute: int  # per client address and instance, before any PIN hashing
    mwi_queue: str
    normalize_audio: bool
    incoming_container: str
    audio_container: str
    retention_schedule: str
    replication_schedule: str
    replica_count: int
    orphan_min_age_hours: float
    deprovision_grace_minutes: float
    replication_queue: str
    takeover_after_s: float  # a message still processing this long after another region acknowledged it is taken over
    # Other regions' storage accounts, by region: a connection string (emulators) or a blob
    # service URL reached with this app's identity (it holds Storage Blob Data Contributor there).
    peer_storage: dict[str, str]
    notifications: NotificationSettings = NotificationSettings()

    @property
    def is_emulated(self) -> bool:
        return self.cosmos_key is not None


class _Reader:
    def __init__(self, env: Mapping[str, str]):
        self._env = env

    def raw(self, name: str) -> str | None:
        value = self._env.get(name)
        return value.strip() if value is not None and value.strip() else None

    def required(self, name: str) -> str:
        value = self.raw(name)
        if value is None:
            raise ConfigError(f"setting {name} is missing")
        return value

    def matching(self, name: str, pattern: re.Pattern[str], default: str | None = None) -> str:
        value = self.raw(name) or default
        if value is None:
            raise ConfigError(f"setting {name} is missing")
        if not pattern.fullmatch(value):
            raise ConfigError(f"setting {name} is malformed: {value!r} does not match {pattern.pattern}")
        return value

    def url(self, name: str, required: bool = True) -> str | None:
        value = self.required(name) if required else self.raw(name)
        if value is None:
            return None
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"setting {name} is malformed: {value!r} is not an http(s) URL")
        return value

    def number(self, name: str, default: float, low: float, high: float) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"setting {name} is malformed: {value!r} is not a number") from None
        if not low <= number <= high:
            raise ConfigError(f"setting {name} is malformed: {value} is outside [{low}, {high}]")
        return number

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigError(f"setting {name} is malformed: {value!r} is not true or false")


def _storage(read: _Reader) -> StorageSettings:
    # The Functions host's own names: a connection string, or `__serviceUri`s for identity.
    connection_string = read.raw("AzureWebJobsStorage")
    if connection_string is not None:
        if "AccountName=" not in connection_string and "UseDevelopmentStorage=true" not in connection_string:
            raise ConfigError("setting AzureWebJobsStorage is malformed: not a storage connection string")
        return StorageSettings(connection_string, None, None, None)
    blob_uri = read.raw("AzureWebJobsStorage__blobServiceUri")
    if blob_uri is None:
        raise ConfigError(
            "setting AzureWebJobsStorage is missing (or, with identity, AzureWebJobsStorage__blobServiceUri)"
        )
    return StorageSettings(
        None,
        read.url("AzureWebJobsStorage__blobServiceUri"),
        read.url("AzureWebJobsStorage__queueServiceUri"),
        read.url("AzureWebJobsStorage__tableServiceUri"),
    )


def _key_hashes(read: _Reader) -> tuple[str, ...]:
    hashes = tuple(h.strip().lower() for h in read.required("PLATFORM_KEY_HASHES").split(",") if h.strip())
    if not hashes or any(not _SHA256.fullmatch(h) for h in hashes):
        raise ConfigError("setting PLATFORM_KEY_HASHES is malformed: comma-separated SHA-256 hex digests expected")
    return hashes


def _signing_key(read: _Reader, name: str, required: bool) -> bytes | None:
    value = read.required(name) if required else read.raw(name)
    if value is None:
        return None
    try:
        key = base64.b64decode(value, validate=True)
    except ValueError:
        raise ConfigError(f"setting {name} is malformed: not base64") from None
    if len(key) < 32:
        raise ConfigError(f"setting {name} is malformed: at least 32 bytes of key are needed")
    return key


def _peer_storage(read: _Reader, region: str, regions: list[str]) -> dict[str, str]:
    peers = {}
    for peer in regions:
        if peer == region:
            continue
        value = read.raw(f"PEER_STORAGE__{peer}")
        if value is None:
            continue  # a region without a reachable account is simply not replicated to
        if not (value.startswith("https://") or value.startswith("http://") or "AccountName=" in value):
            raise ConfigError(f"setting PEER_STORAGE__{peer} is malformed: a connection string or blob service URL")
        peers[peer] = value
    return peers


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting from env (default: the process environment)."""
    read = _Reader(os.environ if env is None else env)
    region = read.matching("REGION", _REGION)
    others = [r.strip() for r in (read.raw("REGIONS") or "").split(",") if r.strip()]
    for other in others:
        if not _REGION.fullmatch(other):
            raise ConfigError(f"setting REGIONS is malformed: {other!r} is not a region name")
    return Settings(
        region=region,
        regions=(region, *[r for r in dict.fromkeys(others) if r != region]),
        version=read.raw("APP_VERSION") or "0.1.0",
        cosmos_endpoint=read.url("COSMOS_ENDPOINT"),
        cosmos_key=read.raw("COSMOS_KEY"),
        cosmos_database=read.matching("COSMOS_DATABASE", _NAME, "voicemail"),
        cosmos_container=read.matching("COSMOS_CONTAINER", _NAME, "mailboxes"),
        storage=_storage(read),
        managed_identity_client_id=read.raw("AZURE_CLIENT_ID"),
        durable_task_hub=read.matching("DURABLE_TASK_HUB", _NAME, "voicemail"),
        health_check_timeout_s=read.number("HEALTH_CHECK_TIMEOUT_SECONDS", 2.0, 0.1, 2.0),
        health_cache_s=read.number("HEALTH_CACHE_SECONDS", 5.0, 0.0, 10.0),
        drained=read.flag("DRAIN"),
        sdk_timeout_s=read.number("SDK_TIMEOUT_SECONDS", 10.0, 1.0, 120.0),
        platform_key_hashes=_key_hashes(read),
        token_signing_keys=tuple(k for k in (_signing_key(read, "TOKEN_SIGNING_KEY", True),
                                             _signing_key(read, "TOKEN_SIGNING_KEY_PREVIOUS", False)) if k),
        token_ttl_s=int(read.number("TOKEN_TTL_SECONDS", 900, 60, 900)),
        client_logins_per_minute=int(read.number("CLIENT_LOGINS_PER_MINUTE", 60, 30, 1_000_000)),
        mwi_queue=read.matching("MWI_QUEUE", _QUEUE, "mwi-events"),
        normalize_audio=read.flag("AUDIO_NORMALIZE", default=True),
        incoming_container=read.matching("INCOMING_CONTAINER", _QUEUE, "incoming"),
        audio_container=read.matching("AUDIO_CONTAINER", _QUEUE, "audio"),
        retention_schedule=read.matching("RETENTION_SCHEDULE", _SCHEDULE, "0 30 2 * * *"),
        replication_schedule=read.matching("REPLICATION_SCHEDULE", _SCHEDULE, "0 */15 * * * *"),
        replica_count=int(read.number("REPLICA_COUNT", 2, 1, 5)),
        orphan_min_age_hours=read.number("ORPHAN_MIN_AGE_HOURS", 24, 0, 24 * 30),
        deprovision_grace_minutes=read.number("DEPROVISION_GRACE_MINUTES", 0, 0, 60 * 24 * 30),
        replication_queue=read.matching("REPLICATION_QUEUE", _QUEUE, "replication-requests"),
        takeover_after_s=read.number("TAKEOVER_AFTER_SECONDS", 600, 1, 7 * 24 * 3600),
        peer_storage=_peer_storage(read, region, others),
        notifications=_notifications(read, emulated=read.raw("COSMOS_KEY") is not None),
    )


def _notifications(read: _Reader, emulated: bool) -> NotificationSettings:
    acs = {name: read.url(name, required=False) for name in ("ACS_EMAIL_ENDPOINT", "ACS_SMS_ENDPOINT")}
    loopback = read.flag("WEBHOOK_ALLOW_LOOPBACK", default=emulated)
    if loopback and not emulated:
        raise ConfigError("setting WEBHOOK_ALLOW_LOOPBACK is for local runs only")
    return NotificationSettings(
        first_retry_s=read.number("NOTIFY_FIRST_RETRY_SECONDS", 30, 0.1, 3600),
        max_retry_s=read.number("NOTIFY_MAX_RETRY_SECONDS", 3600, 1, 24 * 3600),
        # Azure keeps retrying for at least a day, as the contract says; local runs may give up sooner.
        retry_horizon_s=read.number("NOTIFY_RETRY_HORIZON_SECONDS", 26 * 3600, 1 if emulated else 24 * 3600,
                                    7 * 24 * 3600),
        transcript_wait_s=read.number("NOTIFY_TRANSCRIPT_WAIT_SECONDS", 60, 0, 60),
        takeover_after_s=read.number("NOTIFY_TAKEOVER_SECONDS", 600, 1, 7 * 24 * 3600),
        allow_loopback=loopback,
        acs_email_endpoint=acs["ACS_EMAIL_ENDPOINT"],
        acs_email_sender=read.raw("ACS_EMAIL_SENDER"),
        acs_sms_endpoint=acs["ACS_SMS_ENDPOINT"],
        acs_sms_from=read.raw("ACS_SMS_FROM"),
        smtp_host=read.raw("SMTP_HOST") or "127.0.0.1",
        smtp_port=int(read.number("SMTP_PORT", 1025, 1, 65535)),
        mail_from=read.raw("MAIL_FROM") or "voicemail@localhost",
        sms_sink_dir=read.raw("SMS_SINK_DIR") or ".localstack/sms",
    )


@functools.cache
def settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()
