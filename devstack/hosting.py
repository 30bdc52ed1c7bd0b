"""The local host in a process of its own, and what starting one needs: free ports, fresh names,
one region's settings against the local emulators, the platform and signing keys they accept.

Shared by the test rings (`tests/support.py` re-exports all of it) and the benchmarks (`bench/`),
so neither imports the other.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Self

import httpx

from devstack import localstack
from shared.config import DEFAULTS, HOST_RESOLVED

ROOT = Path(__file__).resolve().parents[1]

# The platform key every local host started here accepts (its hash is in product_env), and a
# token signing key made fresh for this process.
PLATFORM_KEY = "test-platform-key"
OPERATOR_KEY = "test-operator-key"
SIGNING_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
PIN_PEPPER = base64.b64encode(secrets.token_bytes(32)).decode()
# Every function started by a timer, a queue, a blob or the change feed (not by a request, not by an
# orchestration):
# a host that must leave shared emulators alone, or count only its requests' calls, disables them.
BACKGROUND_FUNCTIONS = ("incoming_audio", "resolve_conflicts", "retention_timer", "replication_timer",
                        "replication_requested", "dispatch_notifications", "notifications_changed",
                        "transcription_requested", "replay_journal", "erasure_timer",
                        "export_timer")


def disabled(*names: str) -> dict[str, str]:
    """The settings that switch the named functions off, as the Functions host reads them."""
    return {f"AzureWebJobs.{name}.Disabled": "true" for name in names}


def random_name(prefix: str = "t") -> str:
    """A name valid for containers, queues and regions alike: lowercase letters and digits."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def product_env(region: str, **overrides: str) -> dict[str, str]:
    """The settings of one local region of the product, against the shared emulators."""
    return {
        **{name: DEFAULTS[name] for name in HOST_RESOLVED},  # what the host resolves (%NAME%) must be set
        "REGION": region,
        "PLATFORM_KEY_HASHES": hashlib.sha256(PLATFORM_KEY.encode()).hexdigest(),
        "OPERATOR_KEY_HASHES": hashlib.sha256(OPERATOR_KEY.encode()).hexdigest(),
        "TOKEN_SIGNING_KEY": SIGNING_KEY,
        "PIN_PEPPER": PIN_PEPPER,
        # Each region its own host id and containers, as two regions' function apps and storage
        # accounts have: receipts, subscriptions and blobs apart, though they share Azurite's account.
        "AzureFunctionsWebHost__hostid": region,
        "INCOMING_CONTAINER": f"in-{region}",
        "AUDIO_CONTAINER": f"au-{region}",
        "JOURNAL_CONTAINER": f"jr-{region}",
        "REPLICATION_QUEUE": f"rep-{region}",
        "TRANSCRIPTION_QUEUE": f"tx-{region}",
        "TRANSCRIPTION_ENGINE": "off",  # the transcript tests turn the local engine on
        "RETENTION_SCHEDULE": "0 0 0 1 1 *",  # sweeps run when a test asks for them
        # A sweep is global (the metadata store is shared): it must not purge, while another test
        # looks at it, a mailbox that test just deprovisioned. The sweep tests set 0.
        "DEPROVISION_GRACE_MINUTES": "60",
        "REPLICATION_SCHEDULE": "0 0 0 1 1 *",
        "AzureWebJobsStorage": localstack.storage_connection_string(),
        "COSMOS_ENDPOINT": localstack.cosmos_endpoint(),
        "COSMOS_KEY": localstack.COSMOS_KEY,
        "DURABLE_TASK_HUB": region,
        # Every test logs in from 127.0.0.1: the per-client login rate is tested on its own.
        "CLIENT_LOGINS_PER_MINUTE": "1000000",
        **overrides,
    }


def wait_until(predicate, timeout: float, interval: float = 0.1, message: str = "condition"):
    """Poll predicate until it returns something truthy (returned), or fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def stop_process(process: subprocess.Popen, sig: int, grace_s: float = 15.0) -> None:
    """Stop a child with a signal; kill it if it has not stopped after grace_s."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class ChildProcess:
    """A process of ours with its own log file: `with` starts it, and stops it with a signal (killed
    if it does not stop in 15 s)."""

    process: subprocess.Popen | None = None
    log_path: Path
    stop_signal: int = signal.SIGTERM

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self, sig: int | None = None) -> None:
        if self.process is not None:
            stop_process(self.process, self.stop_signal if sig is None else sig)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class HostProcess(ChildProcess):
    """`python -m devstack.localhost` in its own process, as `make run` starts it."""

    def __init__(self, env: dict[str, str], script_root: Path = ROOT, port: int | None = None, tmp: Path | None = None):
        self.env = env
        self.script_root = script_root
        self.port = port or free_port()
        self.log_path = (tmp or Path("/tmp")) / f"host-{self.port}-{uuid.uuid4().hex[:6]}.log"  # noqa: S108
        self.process = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        # A settings file that does not exist: the caller gives every setting itself.
        provision = ["--provision"] if self.script_root == ROOT else []  # the product's: as `make run` does
        return [sys.executable, "-m", "devstack.localhost", "--script-root", str(self.script_root),
                "--port", str(self.port), "--settings", str(self.log_path.with_suffix(".none.json")), *provision]

    def start(self, timeout: float = 30.0) -> HostProcess:
        env = {key: value for key, value in os.environ.items() if key not in {"REGION", "AzureWebJobsStorage"}}
        env.update({"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **self.env})
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.command(), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"host exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/admin/host/status", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"host did not answer within {timeout} s:\n{self.log()}")



class GatewayProcess(ChildProcess):
    """The IMAP gateway (`python -m gateways.imap`) in its own process, in front of one local host."""

    stop_signal = signal.SIGTERM  # Twisted's reactor stops cleanly on it (SIGINT is ignored in background jobs)

    def __init__(self, api_url: str, tmp: Path | None = None, **settings: str):
        self.api_url, self.port = api_url, free_port()
        self.settings = settings
        self.log_path = (tmp or Path("/tmp")) / f"imap-{self.port}-{uuid.uuid4().hex[:6]}.log"  # noqa: S108
        self.process = None

    def start(self, timeout: float = 20.0) -> GatewayProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **self.settings}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateways.imap", "--api", self.api_url, "--port", str(self.port)],
            cwd=ROOT, env=env, stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.process.returncode}:\n{self.log()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gateway did not listen within {timeout} s:\n{self.log()}")

