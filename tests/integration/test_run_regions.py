"""What `make run REGIONS=2 PLANES=2` runs (`python -m devstack.regions --regions 2 --planes 2`), end to
end: two regions, each with its own storage and its own Cosmos emulator (kept in step by
devstack/replicator/, as Cosmos DB multi-region writes keep regions in step), each as Azure runs a
stamp (an API host, and a management host that replicates the audio), replicating audio to each
other, with nothing in front of them but the client's endpoint list; Ctrl-C stops them all."""

from __future__ import annotations

import contextlib
import hashlib
import imaplib
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient
from voicemail_client import ApiError, VoicemailClient

from devstack import localstack
from devstack.local_settings import ensure
from devstack.regions import MANAGEMENT_OFFSET
from tests.integration.api_support import new_mailbox_id
from tests.support import OPERATOR_KEY, PLATFORM_KEY, ROOT, free_port, taking_turns, wait_until

# The modules that use the fixture below take turns (tests.support.taking_turns).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
SAMPLE = ROOT / "samples" / "hello.wav"


def free_ports(*offsets: int) -> int:
    """A port P such that P + each offset is free too (devstack.regions listens on several)."""
    for _ in range(50):
        port = free_port()
        try:
            with contextlib.ExitStack() as probes:
                for offset in offsets:
                    probes.enter_context(socket.socket()).bind(("127.0.0.1", port + offset))
            return port
        except OSError:
            continue
    raise RuntimeError(f"no free ports at offsets {offsets}")


@pytest.fixture(scope="module")
def two_local_regions(stack, tmp_path_factory):
    # Region 2's emulators have fixed ports, and `devstack.regions` fixed region names and task hubs:
    # the modules using them (this one, test_erasure, test_tenants_regions) take turns, instead of
    # sharing them and stopping them under each other.
    with taking_turns("region-two"):
        yield from _two_local_regions(tmp_path_factory)


def _two_local_regions(tmp_path_factory):
    ensure()  # local.settings.json, as `make run` makes it
    services = [localstack.region_azurite(2), localstack.region_cosmos(2),
                localstack.replicator([localstack.cosmos_endpoint(), localstack.cosmos_endpoint(
                    localstack.region_cosmos_port(2))], tmp_path_factory.mktemp("replicator"))]
    started = [service for service in services if localstack.start(service)]
    # Each region's API host at port + n, its management host at port + 100 + n; IMAP at imap_port + n.
    port, imap_port = free_ports(0, 1, MANAGEMENT_OFFSET, MANAGEMENT_OFFSET + 1), free_ports(0, 1)
    log = (tmp_path_factory.mktemp("regions") / "regions.log").open("wb")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
           "PLATFORM_KEY_HASHES": hashlib.sha256(PLATFORM_KEY.encode()).hexdigest(),
           "OPERATOR_KEY_HASHES": hashlib.sha256(OPERATOR_KEY.encode()).hexdigest()}
    process = subprocess.Popen([sys.executable, "-m", "devstack.regions", "--regions", "2", "--planes", "2",
                                "--port", str(port), "--imap-port", str(imap_port)],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    endpoints = [f"http://127.0.0.1:{port}/api", f"http://127.0.0.1:{port + 1}/api"]
    management = [f"http://127.0.0.1:{port + MANAGEMENT_OFFSET + n}/api" for n in range(2)]
    try:
        for endpoint in endpoints + management:
            wait_until(lambda e=endpoint: _ready(e), 60, interval=0.3, message=f"{endpoint} ready")
        yield process, endpoints, [imap_port, imap_port + 1], management
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for service in reversed(started):
            localstack.stop(service)


def _ready(endpoint: str) -> bool:
    try:
        return httpx.get(f"{endpoint}/health/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_two_regions_replicate_metadata_keep_their_own_storage_and_replicate_audio(two_local_regions):
    _, (one, two), _, _ = two_local_regions
    regions = [httpx.get(f"{endpoint}/health", timeout=5).json()["region"] for endpoint in (one, two)]
    assert regions == ["local1", "local2"]
    mailbox = new_mailbox_id()
    in_two = VoicemailClient([two], api_key=PLATFORM_KEY)
    in_two.provision(mailbox, "Two regions", "1234")
    message = in_two.deposit(mailbox, SAMPLE)
    assert message["depositRegion"] == "local2"
    in_one = VoicemailClient([one], api_key=PLATFORM_KEY)

    def ready_in_one() -> bool:
        try:
            return in_one.get_message(mailbox, message["id"])["status"] == "ready"
        except ApiError as error:  # not replicated to local1's Cosmos emulator yet
            if error.status != 404:
                raise
            return False

    wait_until(ready_in_one, 60, interval=0.3, message="the message, deposited in local2, ready as seen from local1")
    # local1 serves the audio from its own storage once replication has copied it there
    account1 = localstack.storage_connection_string()
    audio1 = BlobServiceClient.from_connection_string(account1).get_container_client("audio")

    def copied_to_local1() -> bool:
        try:  # the container itself appears with the first copy
            return any(True for _ in audio1.list_blobs(name_starts_with=f"{mailbox}/{message['id']}/"))
        except ResourceNotFoundError:
            return False

    wait_until(copied_to_local1, 60, interval=0.3, message="the renditions copied into local1's own storage account")
    data, content_type = in_one.download(mailbox, message["id"], "wav")
    assert content_type == "audio/wav" and data[:4] == b"RIFF"


def test_each_region_has_its_imap_gateway(two_local_regions):
    _, (one, _two), imap_ports, _ = two_local_regions
    mailbox = new_mailbox_id()
    VoicemailClient([one], api_key=PLATFORM_KEY).provision(mailbox, "IMAP in both", "4826")

    def logs_in(port: int) -> bool:
        client = imaplib.IMAP4("127.0.0.1", port)
        try:
            client.login(mailbox, "4826")
        except imaplib.IMAP4.error:  # not replicated to that region's Cosmos emulator yet
            return False
        ok = client.select("INBOX")[0] == "OK"
        client.logout()
        return ok

    for port in imap_ports:
        wait_until(lambda p=port: logs_in(p), 30, interval=0.5, message=f"an IMAP login on {port}")


def test_the_admin_routes_are_the_management_planes(two_local_regions):
    _, endpoints, _, management = two_local_regions
    key = {"x-api-key": PLATFORM_KEY}
    for api, admin in zip(endpoints, management, strict=True):
        assert httpx.get(f"{admin}/admin/notifications/dead-letters", headers=key, timeout=10).status_code == 200
        assert httpx.get(f"{api}/admin/notifications/dead-letters", headers=key, timeout=10).status_code == 404


def test_ctrl_c_stops_both_regions(two_local_regions):
    process, endpoints, imap_ports, management = two_local_regions
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0  # a clean stop, as Ctrl-C on `make run` should be
    time.sleep(0.5)
    assert not any(_ready(endpoint) for endpoint in endpoints + management)
    for port in imap_ports:  # the gateways stopped with them
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
