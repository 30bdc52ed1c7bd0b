"""Settings, read once per process into a frozen, validated object.

The names are the app settings the Bicep stamp outputs (and `local.settings.json` sets locally). Each
setting is written once, as a field of its group: its name (the alias), its default and its checks.
Every setting missing, malformed or unresolved (a Key Vault reference the platform has not resolved yet
is left as its `@Microsoft.KeyVault(...)` literal) is named, all at once, by one `ConfigError`. Nothing
reads settings at import time: every function is indexed whatever the settings, `/api/health/ready`
answers 503 naming the bad settings and every other route 503 (`not-configured`), logged once.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.networks import IPvAnyNetwork
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shared.config_reader import (
    KEY_VAULT_REFERENCE,
    ConfigError,
    Environment,
    Key,
    Listed,
    Url,
    comma_list,
    malformed,
    missing,
    problems,
)

_REGION = r"^[a-z0-9][a-z0-9-]{0,39}$"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$"
_QUEUE = r"^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$"
_SCHEDULE = r"^\S+( \S+){5}$"  # six NCRONTAB fields, as the timer trigger reads them
_SHA256 = r"^[0-9a-f]{64}$"
_GUID = r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$"  # FRONT_DOOR_ID
# Names a binding or host.json resolves (%NAME%): the host needs them set, whatever the app's default.
_HOST: dict[str, Any] = {"host_resolved": True}
_CONFIG = {"frozen": True, "validate_default": True, "regex_engine": "python-re", "extra": "ignore"}
Role = Literal["all", "api", "management"]
_Hashes = Annotated[tuple[Annotated[str, Field(pattern=_SHA256)], ...], Listed]

logger = logging.getLogger(__name__)


class _Group(BaseModel):
    model_config = ConfigDict(**_CONFIG)  # type: ignore[typeddict-item]


class CosmosSettings(_Group):
    """The Cosmos DB account (multi-region writes) and the one container."""

    endpoint: Url = Field(alias="COSMOS_ENDPOINT")
    key: str | None = Field(None, alias="COSMOS_KEY", repr=False)  # the emulator's; in Azure, identity
    database: str = Field("voicemail", alias="COSMOS_DATABASE", pattern=_NAME, json_schema_extra=_HOST)
    container: str = Field("mailboxes", alias="COSMOS_CONTAINER", pattern=_NAME, json_schema_extra=_HOST)


class StorageSettings(_Group):
    """The region's storage account, a connection string (emulator) or service URIs (identity; the
    Functions host's own names), and the containers and queues in it."""

    connection_string: str | None = Field(None, alias="AzureWebJobsStorage", repr=False)
    blob_uri: Url | None = Field(None, alias="AzureWebJobsStorage__blobServiceUri")
    queue_uri: Url | None = Field(None, alias="AzureWebJobsStorage__queueServiceUri")
    table_uri: Url | None = Field(None, alias="AzureWebJobsStorage__tableServiceUri")  # the host's durable state
    # originals as deposited; the audio pipeline's blob trigger watches it
    incoming_container: str = Field("incoming", alias="INCOMING_CONTAINER", pattern=_QUEUE, json_schema_extra=_HOST)
    audio_container: str = Field("audio", alias="AUDIO_CONTAINER", pattern=_QUEUE)  # renditions and greetings
    # deposits the database did not take in time, until they are replayed
    journal_container: str = Field("journal", alias="JOURNAL_CONTAINER", pattern=_QUEUE)
    mwi_queue: str = Field("mwi-events", alias="MWI_QUEUE", pattern=_QUEUE)
    replication_queue: str = Field("replication-requests", alias="REPLICATION_QUEUE", pattern=_QUEUE,
                                   json_schema_extra=_HOST)
    transcription_queue: str = Field("transcription-requests", alias="TRANSCRIPTION_QUEUE", pattern=_QUEUE,
                                     json_schema_extra=_HOST)

    @field_validator("connection_string")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and "AccountName=" not in value and "UseDevelopmentStorage=true" not in value:
            raise malformed("not a storage connection string")
        return value

    @field_validator("blob_uri", "queue_uri", "table_uri")
    @classmethod
    def _identity(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Without a connection string, identity: every service URI (an unusable connection string,
        already named, needs none)."""
        if value is not None or "connection_string" not in info.data or info.data["connection_string"]:
            return value
        if info.field_name == "blob_uri":
            raise missing("AzureWebJobsStorage", "or, with identity, AzureWebJobsStorage__blobServiceUri")
        if info.data.get("blob_uri"):
            raise missing(cls.model_fields[info.field_name or ""].alias or "")
        return value

    @property
    def uses_identity(self) -> bool:
        return self.connection_string is None


class HealthSettings(_Group):
    """Readiness (shared/services/health.py) and the drain switch."""

    check_timeout_s: float = Field(2, alias="HEALTH_CHECK_TIMEOUT_SECONDS", ge=0.1, le=2)
    cache_s: float = Field(5, alias="HEALTH_CACHE_SECONDS", ge=0, le=10)
    drained: bool = Field(False, alias="DRAIN")


class AuthSettings(_Group):
    """Platform keys and subscriber session tokens (shared/services/auth.py)."""

    # SHA-256 (hex) of each accepted x-api-key: tenant `default`'s platform keys; the operator's (tenants, keys)
    platform_key_hashes: _Hashes = Field(alias="PLATFORM_KEY_HASHES", min_length=1)
    operator_key_hashes: _Hashes = Field((), alias="OPERATOR_KEY_HASHES")
    token_signing_key: Key = Field(alias="TOKEN_SIGNING_KEY", repr=False)  # the current key
    token_signing_key_previous: Key | None = Field(None, alias="TOKEN_SIGNING_KEY_PREVIOUS", repr=False)  # rotating
    token_ttl_s: int = Field(900, alias="TOKEN_TTL_SECONDS", ge=60, le=900)
    pin_pepper: Key = Field(alias="PIN_PEPPER", repr=False)  # every PIN's HMAC key before scrypt (domain/security.py)
    # per client address and instance, before any PIN hashing
    client_logins_per_minute: int = Field(60, alias="CLIENT_LOGINS_PER_MINUTE", ge=30, le=1_000_000)
    front_door_id: str | None = Field(None, alias="FRONT_DOOR_ID", pattern=_GUID)  # X-Azure-FDID (domain/client.py)
    trusted_proxies: Annotated[tuple[IPvAnyNetwork, ...], Listed] = Field((), alias="TRUSTED_PROXY_RANGES")  # CIDRs

    @field_validator("platform_key_hashes", "operator_key_hashes", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @property
    def token_signing_keys(self) -> tuple[bytes, ...]:
        """The current key first; then the previous one, if rotating (each once)."""
        return tuple(dict.fromkeys(k for k in (self.token_signing_key, self.token_signing_key_previous) if k))


class AudioSettings(_Group):
    """The audio pipeline (shared/services/pipeline.py)."""

    normalize: bool = Field(True, alias="AUDIO_NORMALIZE")  # bring quiet messages up to speech level


class TranscriptSettings(_Group):
    """Transcripts (issue 14): `azure` (Azure AI Speech at speech_endpoint, with identity), `local`
    (the offline engine of requirements-dev.txt) or `off` (messages carry `transcript: null`)."""

    engine: Literal["azure", "local", "off"] = Field("off", alias="TRANSCRIPTION_ENGINE")
    speech_endpoint: Url | None = Field(None, alias="SPEECH_ENDPOINT")

    @field_validator("speech_endpoint")
    @classmethod
    def _azure_needs_it(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("engine") == "azure":
            raise missing("SPEECH_ENDPOINT")
        return value


class NotificationSettings(_Group):
    """Notifications (shared/services/notifications.py): the dispatcher's schedule and retries, and
    where e-mail and SMS go: Azure Communication Services in Azure, local sinks otherwise."""

    emulated: bool = Field(False, exclude=True, repr=False)  # not a setting: COSMOS_KEY's, from Settings
    first_retry_s: float = Field(30, alias="NOTIFY_FIRST_RETRY_SECONDS", ge=0.1, le=3600)
    max_retry_s: float = Field(3600, alias="NOTIFY_MAX_RETRY_SECONDS", ge=1, le=24 * 3600)
    # retried at least this long (a day in Azure, as the contract says), then dead-lettered
    retry_horizon_s: float = Field(26 * 3600, alias="NOTIFY_RETRY_HORIZON_SECONDS", ge=1, le=7 * 24 * 3600)
    # message.ready waits at most this long for the transcript
    transcript_wait_s: float = Field(60, alias="NOTIFY_TRANSCRIPT_WAIT_SECONDS", ge=0, le=60)
    # another region dispatches what the owner left undelivered this long
    takeover_after_s: float = Field(600, alias="NOTIFY_TAKEOVER_SECONDS", ge=1, le=7 * 24 * 3600)
    allow_loopback: bool = Field(None, alias="WEBHOOK_ALLOW_LOOPBACK")  # type: ignore[assignment]  # unset: emulated
    acs_email_endpoint: Url | None = Field(None, alias="ACS_EMAIL_ENDPOINT")
    acs_email_sender: str | None = Field(None, alias="ACS_EMAIL_SENDER")
    acs_sms_endpoint: Url | None = Field(None, alias="ACS_SMS_ENDPOINT")
    acs_sms_from: str | None = Field(None, alias="ACS_SMS_FROM")
    smtp_host: str = Field("127.0.0.1", alias="SMTP_HOST")
    smtp_port: int = Field(1025, alias="SMTP_PORT", ge=1, le=65535)
    mail_from: str = Field("voicemail@localhost", alias="MAIL_FROM")
    sms_sink_dir: str = Field(".localstack/sms", alias="SMS_SINK_DIR")

    @field_validator("retry_horizon_s")
    @classmethod
    def _a_day_in_azure(cls, value: float, info: ValidationInfo) -> float:
        if value < 24 * 3600 and not info.data.get("emulated"):
            raise malformed("below a day (86400), the least outside local runs")
        return value

    @field_validator("allow_loopback", mode="before")
    @classmethod
    def _local_only(cls, value: Any, info: ValidationInfo) -> Any:
        """http://127.0.0.1 webhooks: local runs only (on there by default)."""
        return info.data.get("emulated", False) if value is None else value

    @field_validator("allow_loopback")
    @classmethod
    def _not_in_azure(cls, value: bool, info: ValidationInfo) -> bool:
        if value and not info.data.get("emulated"):
            raise malformed("loopback webhooks are for local runs only")
        return value


class RetentionSettings(_Group):
    """The retention sweep (shared/services/retention.py) and mailbox deprovisioning."""

    # blobs younger than this are never taken for orphans
    orphan_min_age_hours: float = Field(24, alias="ORPHAN_MIN_AGE_HOURS", ge=0, le=24 * 30)
    deprovision_grace_minutes: float = Field(0, alias="DEPROVISION_GRACE_MINUTES", ge=0, le=60 * 24 * 30)


class ReplicationSettings(_Group):
    """Audio replication between regions (shared/services/replication.py, takeover.py)."""

    replica_count: int = Field(2, alias="REPLICA_COUNT", ge=1, le=5)
    # a message still processing this long after another region acknowledged it is taken over
    takeover_after_s: float = Field(600, alias="TAKEOVER_AFTER_SECONDS", ge=1, le=7 * 24 * 3600)
    # Other regions' storage accounts, by region (PEER_STORAGE__<region>, each other region of REGIONS
    # that has one): a connection string (emulators) or a blob service URL reached with this app's
    # identity (it holds Storage Blob Data Contributor there).
    peer_storage: dict[str, str] = Field(default_factory=dict, alias="PEER_STORAGE__")

    @field_validator("peer_storage")
    @classmethod
    def _account_or_url(cls, peers: dict[str, str]) -> dict[str, str]:
        for peer, value in peers.items():
            if not (value.startswith(("https://", "http://")) or "AccountName=" in value):
                raise malformed("a connection string or blob service URL", f"PEER_STORAGE__{peer}")
        return peers


class HostSettings(_Group):
    """The Functions host's own (%NAME% in a binding, host.json): never read by the app, so no
    default applies at run time; Bicep and local settings set them (to these). Checked all the same.
    Conflicts and the dispatcher's sweep: every 5 s here; slower in Azure, where the change feed dispatches."""

    durable_task_hub: str = Field("voicemail", alias="DURABLE_TASK_HUB", pattern=_NAME, json_schema_extra=_HOST)
    retention_schedule: str = Field("0 30 2 * * *", alias="RETENTION_SCHEDULE", pattern=_SCHEDULE,
                                    json_schema_extra=_HOST)
    replication_schedule: str = Field("0 */15 * * * *", alias="REPLICATION_SCHEDULE", pattern=_SCHEDULE,
                                      json_schema_extra=_HOST)
    conflicts_schedule: str = Field("*/5 * * * * *", alias="CONFLICTS_SCHEDULE", pattern=_SCHEDULE,
                                    json_schema_extra=_HOST)
    notifications_sweep_schedule: str = Field("*/5 * * * * *", alias="NOTIFICATIONS_SWEEP_SCHEDULE",
                                              pattern=_SCHEDULE, json_schema_extra=_HOST)
    lease_container: str = Field("leases", alias="COSMOS_LEASE_CONTAINER", pattern=_NAME, json_schema_extra=_HOST)


class Settings(BaseSettings):
    """Every setting the app reads, by group; its own fields are the section `app` of SECTIONS."""

    model_config = SettingsConfigDict(**_CONFIG)  # type: ignore[typeddict-item]

    region: str = Field(alias="REGION", pattern=_REGION)
    # every region of the deployment, this one first
    regions: Annotated[tuple[Annotated[str, Field(pattern=_REGION)], ...], Listed] = Field((), alias="REGIONS")
    version: str = Field("0.1.0", alias="APP_VERSION")
    role: Role = Field("all", alias="APP_ROLE")  # function_app.py reads it with app_role(), whatever the rest
    sdk_timeout_s: float = Field(10, alias="SDK_TIMEOUT_SECONDS", ge=1, le=120)
    # a deposit's time for the database; then it is journaled (services/journal.py)
    journal_after_s: float = Field(4, alias="JOURNAL_AFTER_SECONDS", ge=0.5, le=8)
    # traces kept per second and instance (a rate-limited sampler; metrics are all kept)
    traces_per_second: float = Field(5, alias="TELEMETRY_TRACES_PER_SECOND", ge=0.1, le=1000)
    managed_identity_client_id: str | None = Field(None, alias="AZURE_CLIENT_ID")
    cosmos: CosmosSettings
    storage: StorageSettings
    health: HealthSettings
    auth: AuthSettings
    audio: AudioSettings
    transcripts: TranscriptSettings
    notifications: NotificationSettings
    retention: RetentionSettings
    replication: ReplicationSettings
    host: HostSettings = Field(repr=False)  # checked, not read: the host reads these itself

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], *args: Any,
                                   **kwargs: Any) -> tuple[PydanticBaseSettingsSource, ...]:
        return (Environment(settings_cls),)  # the process environment, by each field's name

    @model_validator(mode="before")
    @classmethod
    def _across_groups(cls, data: dict[str, Any]) -> dict[str, Any]:
        """What a group takes from another: notifications, whether this is the emulators (COSMOS_KEY);
        replication, the peers of REGIONS but this one."""
        emulated = isinstance(data.get("cosmos", {}).get("COSMOS_KEY"), str)
        listed = data.get("REGIONS")
        others = set(comma_list(listed) if isinstance(listed, str) else ()) - {data.get("REGION")}
        replication = data.get("replication", {})
        peers = {r: v for r, v in replication.get("PEER_STORAGE__", {}).items() if r in others}
        return {**data, "notifications": {**data.get("notifications", {}), "emulated": emulated},
                "replication": {**replication, "PEER_STORAGE__": peers}}

    @field_validator("regions")
    @classmethod
    def _this_one_first(cls, regions: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        here = info.data.get("region")
        return tuple(dict.fromkeys(r for r in (here, *regions) if r))

    @property
    def is_emulated(self) -> bool:
        return self.cosmos.key is not None


_GROUPS = {name: field.annotation for name, field in Settings.model_fields.items()
           if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)}


def _defaults(model: type[BaseModel]) -> dict[str, str]:
    """Each setting's default as its app setting is written (`false`, `900`), by name."""
    return {field.alias: str(field.default).lower() if isinstance(field.default, bool) else str(field.default)
            for name, field in model.model_fields.items()
            if field.alias and name not in _GROUPS and field.default not in (PydanticUndefined, None, ())}


# Every default, by section: a section is the `Settings` group of the same name (`app` is `Settings`'
# own fields; `host` the Functions host's, which the app does not read). Bicep (infra/main.bicep), the
# local settings example and the adapters take them from here or are checked against them
# (tests/infra/test_infra.py, tests/unit/adapters/test_config.py). Settings without one are required,
# or optional without a default.
SECTIONS: dict[str, dict[str, str]] = {"app": _defaults(Settings), **{n: _defaults(g) for n, g in _GROUPS.items()}}
DEFAULTS: dict[str, str] = {name: value for section in SECTIONS.values() for name, value in section.items()}
HOST_RESOLVED = tuple(field.alias for group in _GROUPS.values() for field in group.model_fields.values()
                      if field.alias and field.json_schema_extra == _HOST)
# Which functions a process serves (function_app.py; docs/architecture.md, "Two planes").
APP_ROLES: tuple[str, ...] = get_args(Role)
DEFAULT_VERSION = DEFAULTS["APP_VERSION"]


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting from env (default: the process environment); a ConfigError
    names every bad one."""
    try:
        return Settings(_build_sources=((Environment(Settings, env),), {}))
    except ValidationError as error:
        raise ConfigError(problems(error, tuple(_GROUPS))) from None


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
