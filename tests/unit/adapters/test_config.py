import pytest
from pydantic import ValidationError

from shared.config import DEFAULTS, ConfigError, load_settings

EMULATOR = {
    "REGION": "local1",
    "COSMOS_ENDPOINT": "http://127.0.0.1:8081/",
    "COSMOS_KEY": "emulator-key",
    "AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;",
    "PLATFORM_KEY_HASHES": "a" * 64,
    "TOKEN_SIGNING_KEY": "A" * 44,
    "PIN_PEPPER": "P" * 44,
}


def test_emulator_settings_load_with_defaults():
    settings = load_settings(EMULATOR)
    assert settings.region == "local1"
    assert settings.is_emulated
    assert settings.cosmos.database == "voicemail"
    assert settings.health.check_timeout_s == 2.0
    assert settings.health.cache_s <= 10


@pytest.mark.parametrize("missing", ["REGION", "COSMOS_ENDPOINT", "AzureWebJobsStorage", "PLATFORM_KEY_HASHES",
                                     "TOKEN_SIGNING_KEY", "PIN_PEPPER"])
def test_a_missing_setting_is_named(missing):
    env = {key: value for key, value in EMULATOR.items() if key != missing}
    with pytest.raises(ConfigError, match=missing):
        load_settings(env)


@pytest.mark.parametrize(("name", "value"), [
    ("REGION", "West Europe"),
    ("COSMOS_ENDPOINT", "not-a-url"),
    ("HEALTH_CHECK_TIMEOUT_SECONDS", "5"),
    ("HEALTH_CACHE_SECONDS", "ten"),
    ("HEALTH_CACHE_SECONDS", "30"),
    ("DRAIN", "maybe"),
    ("AzureWebJobsStorage", "hello"),
    ("REGIONS", "westeurope,North Europe"),
    ("PLATFORM_KEY_HASHES", "local-dev-key"),
    ("TOKEN_SIGNING_KEY", "c2hvcnQ="),
    ("TOKEN_SIGNING_KEY", "not base64!"),
    ("PIN_PEPPER", "c2hvcnQ="),
    ("PIN_PEPPER", "not base64!"),
    ("TOKEN_TTL_SECONDS", "3600"),
])
def test_a_malformed_setting_is_named(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({**EMULATOR, name: value})


def test_identity_settings_in_azure_put_the_own_region_first():
    settings = load_settings({
        "REGION": "northeurope",
        "REGIONS": "westeurope,northeurope,swedencentral",
        "COSMOS_ENDPOINT": "https://acct.documents.azure.com:443/",
        "AzureWebJobsStorage__blobServiceUri": "https://st.blob.core.windows.net",
        "AzureWebJobsStorage__queueServiceUri": "https://st.queue.core.windows.net",
        "AzureWebJobsStorage__tableServiceUri": "https://st.table.core.windows.net",
        "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
        "PLATFORM_KEY_HASHES": "a" * 64,
        "TOKEN_SIGNING_KEY": "A" * 44,
        "PIN_PEPPER": "P" * 44,
    })
    assert not settings.is_emulated
    assert settings.storage.uses_identity
    assert settings.regions == ("northeurope", "westeurope", "swedencentral")
    assert settings.managed_identity_client_id.endswith("1")


def test_identity_storage_needs_every_service_uri():
    with pytest.raises(ConfigError, match="AzureWebJobsStorage__queueServiceUri"):
        load_settings({"REGION": "westeurope", "COSMOS_ENDPOINT": "https://acct.documents.azure.com/",
                       "AzureWebJobsStorage__blobServiceUri": "https://st.blob.core.windows.net"})


def test_settings_are_frozen():
    settings = load_settings(EMULATOR)
    with pytest.raises(ValidationError, match="frozen"):
        settings.region = "elsewhere"
    with pytest.raises(ValidationError, match="frozen"):
        settings.auth.token_ttl_s = 60


def test_an_unresolved_key_vault_reference_is_named_without_its_value():
    reference = "@Microsoft.KeyVault(SecretUri=https://kv-x.vault.azure.net/secrets/platform-key-hashes)"
    with pytest.raises(ConfigError, match="PLATFORM_KEY_HASHES is unresolved") as raised:
        load_settings({**EMULATOR, "PLATFORM_KEY_HASHES": reference})
    assert raised.value.public == "setting PLATFORM_KEY_HASHES is unresolved"
    assert "vault" not in raised.value.public


def test_a_malformed_value_is_not_echoed_to_callers():
    with pytest.raises(ConfigError) as raised:
        load_settings({**EMULATOR, "COSMOS_ENDPOINT": "secret-looking-value"})
    assert raised.value.public == "setting COSMOS_ENDPOINT is malformed"


def test_function_app_indexes_every_function_with_no_settings_at_all():
    """What the platform does first: import function_app and index its functions. A missing setting
    (here: every one) never stops that; health and readiness are among the functions."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    script = ("import function_app; names = sorted(f.get_function_name() for f in function_app.app.get_functions()); "
              "print(len(names)); print(','.join(names))")
    bare = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", script], cwd=root, env=bare, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    count, names = done.stdout.split("\n")[:2]
    assert int(count) > 30
    assert {"health", "health_ready"} <= set(names.split(","))
    assert done.stderr.count("setting REGION is missing") == 1  # logged once


def test_the_generated_local_settings_are_complete(tmp_path, monkeypatch):
    """`func start` reads local.settings.json alone (no `make run` injecting PLATFORM_KEY_HASHES)."""
    import json
    import shutil
    from pathlib import Path

    from devstack.local_settings import ensure, key_hash

    monkeypatch.delenv("VOICEMAIL_PLATFORM_KEY", raising=False)
    shutil.copy(Path(__file__).resolve().parents[3] / "local.settings.example.json", tmp_path)
    values = json.loads(ensure(tmp_path).read_text())["Values"]
    from shared.config import HOST_RESOLVED

    assert {name: values[name] for name in HOST_RESOLVED if name != "DURABLE_TASK_HUB"} == {
        name: DEFAULTS[name] for name in HOST_RESOLVED if name != "DURABLE_TASK_HUB"}  # what `func start` binds
    settings = load_settings(values)
    assert settings.auth.platform_key_hashes == (key_hash("local-dev-key"),)
    assert settings.is_emulated


IDENTITY = {
    "REGION": "westeurope",
    "COSMOS_ENDPOINT": "https://acct.documents.azure.com:443/",
    "AzureWebJobsStorage__blobServiceUri": "https://st.blob.core.windows.net",
    "AzureWebJobsStorage__queueServiceUri": "https://st.queue.core.windows.net",
    "AzureWebJobsStorage__tableServiceUri": "https://st.table.core.windows.net",
    "PLATFORM_KEY_HASHES": "a" * 64,
    "TOKEN_SIGNING_KEY": "A" * 44,
    "PIN_PEPPER": "P" * 44,
}


def test_in_azure_the_credential_is_the_apps_managed_identity_only():
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    from shared.bootstrap import _credential

    azure = {"WEBSITE_INSTANCE_ID": "abc"}
    user_assigned = _credential(load_settings({**IDENTITY, "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001"}),
                                azure)
    assert isinstance(user_assigned, ManagedIdentityCredential)
    assert isinstance(_credential(load_settings(IDENTITY), azure), ManagedIdentityCredential)
    # On a developer's machine against Azure resources: the CLI's or the IDE's login.
    assert isinstance(_credential(load_settings(IDENTITY), {}), DefaultAzureCredential)
    # Against the emulators: keys, no credential.
    assert _credential(load_settings(EMULATOR), azure) is None


def test_every_default_is_written_down_once():
    """config.DEFAULTS is the one source: the example does not restate a default, what the host
    resolves itself comes into the generated settings from it; the adapters have none of their own."""
    import json
    from pathlib import Path

    from shared.config import HOST_RESOLVED, SECTIONS

    root = Path(__file__).resolve().parents[3]
    example = json.loads((root / "local.settings.example.json").read_text())["Values"]
    restated = {name for name, value in example.items() if DEFAULTS.get(name) == value}
    assert not restated, f"local.settings.example.json restates config.py's defaults: {sorted(restated)}"
    assert set(HOST_RESOLVED) <= set(DEFAULTS)
    assert sum(len(section) for section in SECTIONS.values()) == len(DEFAULTS)  # no name in two sections
    settings = load_settings(EMULATOR)  # every default is valid
    assert (settings.cosmos.database, settings.replication.replica_count, settings.auth.token_ttl_s) == (
        DEFAULTS["COSMOS_DATABASE"], int(DEFAULTS["REPLICA_COUNT"]), int(DEFAULTS["TOKEN_TTL_SECONDS"]))


def test_the_hosts_own_settings_are_checked_but_not_kept():
    with pytest.raises(ConfigError, match="RETENTION_SCHEDULE is malformed"):
        load_settings({**EMULATOR, "RETENTION_SCHEDULE": "every night"})
    assert not hasattr(load_settings(EMULATOR), "retention_schedule")  # the host reads it, not the app


def test_each_section_of_defaults_is_a_group_of_settings_whose_fields_hold_them():
    """SECTIONS is derived from the settings' models: `settings.<section>` is the group whose fields
    hold the section's defaults (`app`: Settings' own fields; `host`: the host's, checked, not read)."""
    from shared.config import SECTIONS, Settings

    groups = {name for name, field in Settings.model_fields.items() if field.alias is None}
    assert set(SECTIONS) - {"app"} == groups
    assert all(SECTIONS[name] for name in groups)  # each group has defaults, so a lost one shows
    # Setting every default explicitly changes nothing: the defaults are what the models apply.
    assert load_settings({**EMULATOR, **DEFAULTS}) == load_settings(EMULATOR)


def _bad(env):
    with pytest.raises(ConfigError) as raised:
        load_settings(env)
    return raised.value


def test_every_bad_setting_is_named_at_once():
    error = _bad({**EMULATOR, "COSMOS_ENDPOINT": "", "SDK_TIMEOUT_SECONDS": "ten", "DRAIN": "maybe"})
    assert error.names == ("SDK_TIMEOUT_SECONDS", "COSMOS_ENDPOINT", "DRAIN")
    assert error.public == ("setting SDK_TIMEOUT_SECONDS is malformed; setting COSMOS_ENDPOINT is missing; "
                            "setting DRAIN is malformed")
    assert "not a number" in str(error) or "valid number" in str(error)  # the log says why


def test_with_nothing_set_every_required_setting_is_named():
    assert set(_bad({}).names) == {"REGION", "COSMOS_ENDPOINT", "AzureWebJobsStorage", "PLATFORM_KEY_HASHES",
                                   "TOKEN_SIGNING_KEY", "PIN_PEPPER"}
    with_identity = _bad({"AzureWebJobsStorage__blobServiceUri": "https://st.blob.core.windows.net"})
    assert {"AzureWebJobsStorage__queueServiceUri", "AzureWebJobsStorage__tableServiceUri"} <= set(with_identity.names)
    assert "AzureWebJobsStorage" not in with_identity.names


def test_a_setting_is_named_once_for_what_is_wrong_with_it_not_for_what_follows():
    """An unusable connection string is named as such, not again as missing storage; an unresolved
    required secret is unresolved, not missing; settings another one needs are not named for it."""
    reference = "@Microsoft.KeyVault(SecretUri=https://kv-x.vault.azure.net/secrets/pin-pepper)"
    error = _bad({**EMULATOR, "AzureWebJobsStorage": "hello", "PIN_PEPPER": reference, "REGION": "West Europe",
                  "REGIONS": "westeurope,North Europe", "PEER_STORAGE__westeurope": "nonsense"})
    assert [(p.setting, p.problem) for p in error.problems] == [
        ("REGION", "malformed"), ("REGIONS", "malformed"), ("AzureWebJobsStorage", "malformed"),
        ("PIN_PEPPER", "unresolved"), ("PEER_STORAGE__westeurope", "malformed")]


def test_any_setting_left_an_unresolved_reference_is_named_unresolved_and_nothing_else():
    """Whichever setting a Key Vault reference stays in, only that one is named, as unresolved."""
    from shared.config import Settings

    reference = "@Microsoft.KeyVault(SecretUri=https://kv-x.vault.azure.net/secrets/s)"
    names = {f.alias for group in [Settings, *(f.annotation for f in Settings.model_fields.values() if not f.alias)]
             for f in group.model_fields.values() if f.alias} - {"PEER_STORAGE__"} | {"PEER_STORAGE__local2"}
    assert len(names) > 50
    for name in sorted(names):
        error = _bad({**EMULATOR, "REGIONS": "local1,local2", name: reference})
        assert [(p.setting, p.problem) for p in error.problems] == [(name, "unresolved")], name
        assert "vault" not in str(error)


def test_what_only_azure_refuses_is_named_with_the_rest():
    error = _bad({**IDENTITY, "WEBHOOK_ALLOW_LOOPBACK": "true", "NOTIFY_RETRY_HORIZON_SECONDS": "60",
                  "TRANSCRIPTION_ENGINE": "azure", "TOKEN_TTL_SECONDS": "3600"})
    assert set(error.names) == {"WEBHOOK_ALLOW_LOOPBACK", "NOTIFY_RETRY_HORIZON_SECONDS", "SPEECH_ENDPOINT",
                                "TOKEN_TTL_SECONDS"}
    local = load_settings({**EMULATOR, "NOTIFY_RETRY_HORIZON_SECONDS": "60"})
    assert local.notifications.allow_loopback and local.notifications.retry_horizon_s == 60


def test_no_value_of_a_bad_or_secret_setting_is_ever_echoed():
    secrets = {"COSMOS_ENDPOINT": "cosmos-secret-value", "PLATFORM_KEY_HASHES": "hash-secret-value",
               "TOKEN_SIGNING_KEY": "c2lnbmluZy1zZWNyZXQ=", "PIN_PEPPER": "pepper secret!",
               "AzureWebJobsStorage": "conn-secret-value", "SDK_TIMEOUT_SECONDS": "timeout-secret-value",
               "TOKEN_SIGNING_KEY_PREVIOUS": "@Microsoft.KeyVault(SecretUri=https://kv-secret.vault.azure.net/x)"}
    error = _bad({**EMULATOR, **secrets})
    assert len(error.problems) == len(secrets)
    for text in (str(error), error.public, repr(error)):
        assert "secret" not in text and "c2lnbm" not in text
    shown = repr(load_settings({**EMULATOR, "COSMOS_KEY": "cosmos-key-secret"}))
    assert "secret" not in shown and EMULATOR["TOKEN_SIGNING_KEY"] not in shown and "AccountKey" not in shown


def test_readiness_names_every_bad_setting(monkeypatch):
    """What /api/health/ready answers while two settings are bad: 503 naming both, neither value."""
    import json

    import azure.functions as func

    from functions.health import health_ready
    from shared import config

    monkeypatch.setattr("os.environ", {**EMULATOR, "HEALTH_CACHE_SECONDS": "60", "PIN_PEPPER": "c2hvcnQ="})
    config.settings.cache_clear()
    try:
        answer = health_ready(func.HttpRequest("GET", "http://localhost/api/health/ready", body=b""))
    finally:
        config.settings.cache_clear()
    body = json.loads(answer.get_body())
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert body["checks"]["config"]["error"] == (
        "setting HEALTH_CACHE_SECONDS is malformed; setting PIN_PEPPER is malformed")
    assert "HEALTH_CACHE_SECONDS" in body["detail"] and "PIN_PEPPER" in body["detail"]
    assert "c2hvcnQ" not in answer.get_body().decode()

