"""The maintenance sweeps end to end: admin routes, the local durable runtime, the emulators."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from azure.cosmos import CosmosClient
from azure.storage.blob import BlobServiceClient

from devstack import localstack
from tests.integration.api_support import PLATFORM, Api, tone_wav
from tests.support import HostProcess, product_env, random_name, taking_turns, wait_until

# Sweeps over the whole shared store, and with no grace for a deprovisioned mailbox: this module and
# test_holds take turns (each would purge what the other is looking at).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
TURNS = "sweeps-without-grace"
# Sweeps run on request here, and see orphans at once; the transcoder stays off (messages are
# made `ready` by the test where it matters).
SETTINGS = {"ORPHAN_MIN_AGE_HOURS": "0", "DEPROVISION_GRACE_MINUTES": "0",
            "AzureWebJobs.incoming_audio.Disabled": "true"}


def cosmos_container():
    return CosmosClient(localstack.cosmos_endpoint(), credential=localstack.COSMOS_KEY,
                        enable_endpoint_discovery=False).get_database_client("voicemail") \
        .get_container_client("mailboxes")


def expire(mailbox: str, message_id: str) -> None:
    container = cosmos_container()
    doc = container.read_item(message_id, partition_key=mailbox)
    past = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    container.replace_item(message_id, {**doc, "expiresAt": past})


def run_sweep(host: HostProcess, kind: str, timeout: float = 60) -> dict:
    started = httpx.post(f"{host.base_url}/api/admin/sweeps/{kind}", headers=PLATFORM, timeout=10)
    assert started.status_code == 202, started.text
    status_url = f"{host.base_url}{started.json()['statusUrl']}"
    return wait_until(lambda: (s := httpx.get(status_url, headers=PLATFORM, timeout=10).json())["runtimeStatus"]
                      in ("Completed", "Failed") and s, timeout, interval=0.3, message=f"{kind} sweep")


@pytest.fixture(scope="module", autouse=True)
def sweeps_in_turn():  # test_holds imports it: the two take turns
    with taking_turns(TURNS):
        yield


@pytest.fixture
def region(stack, tmp_path):
    env = product_env(random_name("r"), **SETTINGS)
    with HostProcess(env, tmp=tmp_path) as host:
        yield host, Api(host.base_url, "unused")


def test_retention_deletes_expired_trashed_and_orphans_and_keeps_fresh_ones(region):
    host, api = region
    mailbox = api.provision()
    expired, trashed, fresh = (api.deposit(mailbox, tone_wav(0.2)).json()["id"] for _ in range(3))
    expire(mailbox, expired)
    api.http.delete(f"{api.mailbox_path(mailbox)}/messages/{trashed}", headers=PLATFORM)
    expire(mailbox, trashed)  # as if its trash retention had passed
    gone_mailbox = api.provision()
    api.deposit(gone_mailbox, tone_wav(0.2))
    assert api.http.delete(api.mailbox_path(gone_mailbox), headers=PLATFORM).status_code == 202
    # The gone mailbox is its erasure's (functions/erasure.py, every 10 s), which says what it removed;
    # the sweep leaves it alone until that is done, then deletes its tombstone.
    wait_until(lambda: api.http.get(f"{api.mailbox_path(gone_mailbox)}/erasure", headers=PLATFORM).json().get(
        "status") == "done", 60, interval=0.5, message="the gone mailbox's erasure done")
    erased = api.http.get(f"{api.mailbox_path(gone_mailbox)}/erasure", headers=PLATFORM).json()["removed"]
    assert erased["documents"] >= 1 and erased["blobs"] >= 1  # its message, not the sweep's
    blobs = BlobServiceClient.from_connection_string(localstack.storage_connection_string())
    incoming = blobs.get_container_client(host.env["INCOMING_CONTAINER"])
    incoming.upload_blob(f"{mailbox}/orphan0000", b"no document names me")
    status = run_sweep(host, "retention")
    assert status["runtimeStatus"] == "Completed", status
    output = status["output"]
    # The gone mailbox's tombstone (only this region's sweep purges without a grace period); the
    # expired and trashed messages too, unless a sweep of a test running beside this one (the metadata
    # store is shared) took them first: what is left is checked below, whoever deleted it.
    assert output["deleted"] >= 1
    # orphan0000, and any blob whose document another deployment sharing this metadata store erased
    assert output["orphansDeleted"] >= 1 and output["failed"] == 0
    assert {m["id"] for m in api.list_all(mailbox, folder="inbox")} == {fresh}
    assert api.http.get(f"{api.mailbox_path(mailbox)}/messages/{expired}", headers=PLATFORM).status_code == 404
    names = {blob.name for blob in incoming.list_blobs()}
    assert names == {f"{mailbox}/{fresh}"}
    assert api.http.get(api.mailbox_path(gone_mailbox), headers=PLATFORM).status_code == 404
    left = set(cosmos_container().query_items("SELECT VALUE c.type FROM c", partition_key=gone_mailbox))
    assert left <= {"erasure", "usage"} and "erasure" in left  # the erasure's and billing's records stay
    again = api.http.put(api.mailbox_path(gone_mailbox), json={"displayName": "back"}, headers=PLATFORM)
    assert again.status_code == 201


def test_a_second_start_while_one_runs_is_refused_and_only_sweeps_may_start(region):
    host, _ = region
    first = httpx.post(f"{host.base_url}/api/admin/sweeps/replication", headers=PLATFORM, timeout=10)
    second = httpx.post(f"{host.base_url}/api/admin/sweeps/replication", headers=PLATFORM, timeout=10)
    assert first.status_code == 202
    assert second.status_code in (202, 409)  # 202 only if the first had already finished
    if second.status_code == 409:
        assert second.json()["type"] == "sweep-running"
    assert httpx.post(f"{host.base_url}/api/admin/sweeps/anything", headers=PLATFORM).status_code == 404
    assert httpx.get(f"{host.base_url}/api/admin/sweeps/other-thing", headers=PLATFORM).status_code == 404
    assert httpx.post(f"{host.base_url}/api/admin/sweeps/retention").status_code == 401


def test_a_sweep_killed_mid_way_finishes_after_a_restart_deleting_each_thing_once(stack, tmp_path):
    env = product_env(random_name("r"), **SETTINGS)
    host = HostProcess(env, tmp=tmp_path).start()
    api = Api(host.base_url, "unused")
    mailbox = api.provision(maxMessages=1000)
    ids = [api.deposit(mailbox, b"RIFF" + i.to_bytes(4, "big"), headers={"content-type": "audio/basic"}).json()["id"]
           for i in range(150)]  # more than one page of 100: the sweep continues as new in between
    for message_id in ids:
        expire(mailbox, message_id)
    started = httpx.post(f"{host.base_url}/api/admin/sweeps/retention", headers=PLATFORM, timeout=10)
    assert started.status_code == 202
    time.sleep(0.5)
    host.stop(signal.SIGKILL)
    host = HostProcess(env, port=host.port, tmp=tmp_path).start()
    try:
        status_url = f"{host.base_url}{started.json()['statusUrl']}"
        # A liveness bound, not a speed check: about 30 s alone here; CI's slower machine took over 120
        status = wait_until(lambda: (s := httpx.get(status_url, headers=PLATFORM, timeout=10).json())
                            ["runtimeStatus"] in ("Completed", "Failed") and s, 300, interval=0.5,
                            message="the sweep to finish after the restart")
        assert status["runtimeStatus"] == "Completed", status
        assert status["output"]["failed"] == 0
        assert status["output"]["deleted"] <= 150  # nothing counted twice
        assert Api(host.base_url, "unused").list_all(mailbox) == []  # nothing left behind
        blobs = BlobServiceClient.from_connection_string(localstack.storage_connection_string())
        assert not list(blobs.get_container_client(env["INCOMING_CONTAINER"]).list_blobs())
    finally:
        host.stop()


def test_a_class_retention_change_reaches_stored_messages_at_the_next_retention_sweep(region):
    """The mailbox reads the class's new retention at once; the sweep's first step derives its stored
    messages' expiry again, before it looks for what expired."""
    host, api = region
    name = random_name("keep")[:30].lower()
    path = f"/tenants/default/classes/{name}"
    assert api.http.put(path, json={"defaults": {"retentionDays": 30}}, headers=PLATFORM).status_code == 200
    mailbox = api.provision()
    assert api.http.patch(api.mailbox_path(mailbox), json={"classOfService": name},
                          headers=PLATFORM).status_code == 200
    message_id = api.deposit(mailbox, tone_wav(0.2)).json()["id"]

    def kept_days() -> int:
        message = api.http.get(f"{api.mailbox_path(mailbox)}/messages/{message_id}", headers=PLATFORM).json()
        received, expires = (datetime.fromisoformat(message[k].replace("Z", "+00:00"))
                             for k in ("receivedAt", "expiresAt"))
        return round((expires - received) / timedelta(days=1))

    assert kept_days() == 30
    assert api.http.put(path, json={"defaults": {"retentionDays": 2}}, headers=PLATFORM).status_code == 200
    status = run_sweep(host, "retention")
    assert status["runtimeStatus"] == "Completed", status
    # (`classMailboxes` counts this sweep's share: a sweep of another test, on the shared store, may
    # have applied the change first.)
    assert kept_days() == 2
