import pytest

from shared.config import ConfigError, load_settings

EMULATOR = {
    "REGION": "local1",
    "COSMOS_ENDPOINT": "http://127.0.0.1:8081/",
    "COSMOS_KEY": "emulator-key",
    "AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;",
    "PLATFORM_KEY_HASHES": "a" * 64,
    "TOKEN_SIGNING_KEY": "A" * 44,
}


def test_emulator_settings_load_with_defaults():
    settings = load_settings(EMULATOR)
    assert settings.region == "local1"
    assert settings.is_emulated
    assert settings.cosmos_database == "voicemail"
    assert settings.health_check_timeout_s == 2.0
    assert settings.health_cache_s <= 10


@pytest.mark.parametrize("missing", ["REGION", "COSMOS_ENDPOINT", "AzureWebJobsStorage", "PLATFORM_KEY_HASHES",
                                     "TOKEN_SIGNING_KEY"])
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
