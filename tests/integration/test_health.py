"""Health probes of the product through the local host, against the real emulators."""

from __future__ import annotations

import contextlib
import os
import signal
import time

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from devstack import localstack
from shared import build_info
from tests.support import BACKGROUND_FUNCTIONS, HostProcess, disabled, free_port, product_env, random_name, wait_until

pytestmark = pytest.mark.integration


def test_liveness_and_readiness_with_the_stack_up(stack, tmp_path):
    region = random_name("r")
    with HostProcess(product_env(region), tmp=tmp_path) as host:
        live = httpx.get(f"{host.base_url}/api/health")
        assert live.status_code == 200
        assert live.json() == {"status": "ok", "region": region, "version": "0.1.0", "build": build_info.current()}
        ready = httpx.get(f"{host.base_url}/api/health/ready", timeout=5)
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ready" and body["region"] == region
        assert {name: check["status"] for name, check in body["checks"].items()} == {"cosmos": "ok", "blob": "ok"}


def test_readiness_follows_a_paused_cosmos_emulator(stack, tmp_path):
    """SIGSTOP the metadata store: 503 within one cache period, no request hangs; SIGCONT: 200."""
    port = free_port()
    cosmos = localstack.cosmos(port, name=f"cosmos-{port}")
    localstack.start(cosmos)
    # The checks' timeout far below the SDK's: an answer within the first is one that did not wait
    # for the second. The margin (`slack`) is for a busy machine, not for the product.
    cache_s, timeout_s, slack = 2.0, 2.0, 2.0
    env = product_env(random_name("r"), COSMOS_ENDPOINT=localstack.cosmos_endpoint(port),
                      HEALTH_CACHE_SECONDS=str(cache_s), HEALTH_CHECK_TIMEOUT_SECONDS=str(timeout_s),
                      SDK_TIMEOUT_SECONDS="10")
    try:
        with HostProcess(env, tmp=tmp_path) as host:
            url = f"{host.base_url}/api/health/ready"
            wait_until(lambda: httpx.get(url, timeout=5).status_code == 200, 10, message="ready")
            os.kill(cosmos.process.pid, signal.SIGSTOP)
            paused_at = time.monotonic()
            slowest = 0.0
            while True:
                started = time.monotonic()
                response = httpx.get(url, timeout=10)
                slowest = max(slowest, time.monotonic() - started)
                if response.status_code == 503:
                    break
                assert time.monotonic() - paused_at < cache_s + timeout_s + slack, "still 200 after a cache period"
                time.sleep(0.1)
            assert time.monotonic() - paused_at <= cache_s + timeout_s + slack
            body = response.json()
            assert body["status"] == "unavailable"
            assert body["type"] == "not-ready"
            assert body["checks"]["cosmos"]["status"] == "failed"
            assert body["checks"]["blob"]["status"] == "ok"
            assert "cosmos" in body["detail"]
            assert int(response.headers["Retry-After"]) >= 1
            for _ in range(5):  # while paused, every answer still comes within the timeout
                started = time.monotonic()
                assert httpx.get(url, timeout=10).status_code == 503
                slowest = max(slowest, time.monotonic() - started)
                time.sleep(0.3)
            assert slowest < timeout_s + slack, f"a readiness request took {slowest:.2f} s"
            os.kill(cosmos.process.pid, signal.SIGCONT)
            wait_until(lambda: httpx.get(url, timeout=5).status_code == 200, cache_s + 10, message="ready again")
    finally:
        localstack.stop(cosmos)


def test_drain_switch_takes_the_region_out_and_back(stack, tmp_path):
    region = random_name("r")
    container = BlobServiceClient.from_connection_string(localstack.storage_connection_string()) \
        .get_container_client("ops")
    if not container.exists():
        with contextlib.suppress(Exception):
            container.create_container()
    with HostProcess(product_env(region, HEALTH_CACHE_SECONDS="1"), tmp=tmp_path) as host:
        url = f"{host.base_url}/api/health/ready"
        assert httpx.get(url, timeout=5).status_code == 200
        container.upload_blob(f"drain/{region}", b"maintenance", overwrite=True)
        drained = wait_until(lambda: (r := httpx.get(url, timeout=5)).status_code == 503 and r, 5, message="drain")
        assert drained.json()["drained"] is True
        assert "drained" in drained.json()["detail"]
        assert httpx.get(f"{host.base_url}/api/health").status_code == 200  # alive all the same
        container.delete_blob(f"drain/{region}")
        wait_until(lambda: httpx.get(url, timeout=5).status_code == 200, 5, message="undrain")


KEY_VAULT_REFERENCE = "@Microsoft.KeyVault(SecretUri=https://kv-x.vault.azure.net/secrets/token-signing-key)"


@pytest.mark.parametrize(("setting", "change", "problem"), [
    ("REGION", None, "missing"),
    ("COSMOS_ENDPOINT", None, "missing"),
    ("PLATFORM_KEY_HASHES", None, "missing"),
    ("HEALTH_CACHE_SECONDS", "60", "malformed"),
    # What Azure leaves while the identity cannot read the vault yet (role propagation takes minutes).
    ("TOKEN_SIGNING_KEY", KEY_VAULT_REFERENCE, "unresolved"),
    ("PIN_PEPPER", "c2hvcnQ=", "malformed"),  # base64, but 5 bytes: a pepper needs 32 or more
])
def test_a_bad_setting_keeps_the_host_up_and_readiness_names_it(stack, tmp_path, setting, change, problem):
    """Every function is indexed whatever the settings: alive, not ready (503 naming the setting),
    every other route 503 `not-configured` with Retry-After; the error is logged once."""
    env = product_env(random_name("r"))
    env = {**env, setting: change} if change is not None else {k: v for k, v in env.items() if k != setting}
    host = HostProcess(env, tmp=tmp_path)
    outside = {k: v for k, v in os.environ.items() if k == setting}
    for name in outside:  # the test runner's own environment must not fill the gap
        os.environ.pop(name)
    try:
        host.start()
    finally:
        os.environ.update(outside)
    try:
        assert httpx.get(f"{host.base_url}/api/health").status_code == 200
        for _ in range(3):
            ready = httpx.get(f"{host.base_url}/api/health/ready", timeout=5)
            assert ready.status_code == 503 and ready.headers["Retry-After"]
            body = ready.json()
            assert body["status"] == "unavailable"
            assert body["checks"]["config"]["error"] == f"setting {setting} is {problem}"
            assert setting in body["detail"]
            if change and problem == "unresolved":
                assert "vault.azure.net" not in ready.text  # names the setting, never its value
            route = httpx.get(f"{host.base_url}/api/mailboxes/m1", headers={"x-api-key": "k"}, timeout=5)
            assert route.status_code == 503 and route.headers["content-type"].startswith("application/problem+json")
            assert route.json()["type"] == "not-configured" and setting in route.json()["detail"]
            assert route.headers["Retry-After"]
        assert host.log().count(f"configuration: setting {setting} is {problem}") == 1, host.log()[-3000:]
    finally:
        host.stop()  # started above, outside the runner's environment: `with host` would start a second one


class _FromSettingsFile(HostProcess):
    """The local host reading one local.settings.json, as `func start` does, and nothing else."""

    def __init__(self, settings_file, tmp):
        super().__init__({}, tmp=tmp)
        self.settings_file = settings_file

    def command(self) -> list[str]:
        command = super().command()
        command[command.index("--settings") + 1] = str(self.settings_file)
        return command


def test_the_generated_local_settings_alone_start_a_ready_host(stack, tmp_path):
    """`func start` after `make install`: local.settings.json as devstack/local_settings.py generates it
    is complete (the platform key's hash, the host's own %NAME% settings, the signing key)."""
    import json
    import shutil

    from devstack.local_settings import ensure, key_hash
    from tests.support import ROOT

    shutil.copy(ROOT / "local.settings.example.json", tmp_path)
    generated = ensure(tmp_path)
    values = json.loads(generated.read_text())["Values"]
    # Only the functions that work on their own clock or on shared containers are switched off, so
    # this host leaves the emulators others use alone; every setting still comes from the file.
    values.update(disabled(*BACKGROUND_FUNCTIONS))
    generated.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    names = set(values) | {"PLATFORM_KEY_HASHES", "TOKEN_SIGNING_KEY", "PIN_PEPPER", "VOICEMAIL_API_KEY"}
    outside = {k: os.environ.pop(k) for k in list(os.environ) if k in names}
    try:
        with _FromSettingsFile(generated, tmp_path) as host:
            assert httpx.get(f"{host.base_url}/api/health/ready", timeout=10).status_code == 200
            mailbox = httpx.get(f"{host.base_url}/api/mailboxes/%2B15550000000", timeout=10,
                                headers={"x-api-key": "local-dev-key"})
            assert mailbox.status_code == 404 and mailbox.json()["type"] == "mailbox-not-found"
            assert values["PLATFORM_KEY_HASHES"] == key_hash("local-dev-key")
    finally:
        os.environ.update(outside)
