import pytest

from shared.config import ConfigError, load_settings

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
    with pytest.raises(AttributeError):
        settings.region = "elsewhere"


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
    from shared.config import DEFAULTS, HOST_RESOLVED

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

    from shared.config import DEFAULTS, HOST_RESOLVED, SECTIONS

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


def test_each_section_of_defaults_is_a_group_of_settings_without_defaults_of_its_own():
    """SECTIONS holds every default; `settings.<section>` is the group it fills (`app`: Settings' own
    fields; `host`: the host's, not kept). No group restates a default."""
    from dataclasses import MISSING, fields, is_dataclass

    from shared.config import SECTIONS, Settings

    groups = {field.name: field.type for field in fields(Settings) if field.name in SECTIONS}
    assert set(SECTIONS) - {"app", "host"} == set(groups)
    settings = load_settings(EMULATOR)
    for name in groups:
        group = getattr(settings, name)
        assert is_dataclass(group)
        assert all(f.default is MISSING and f.default_factory is MISSING for f in fields(group)), name
    assert all(f.default is MISSING for f in fields(Settings))
