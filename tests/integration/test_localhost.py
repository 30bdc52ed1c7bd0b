"""The local host against Azurite: HTTP triggers, timers, blob and queue triggers, admin invoke."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from devstack import localstack
from tests.support import HOSTAPP, HostProcess, random_name, wait_until

pytestmark = pytest.mark.integration
CONNECTION = localstack.storage_connection_string()
YEARLY = "0 0 0 1 1 *"


def hostapp_env(prefix: str, **overrides: str) -> dict[str, str]:
    return {"AzureWebJobsStorage": CONNECTION, "TEST_PREFIX": prefix, "TEST_TIMER_SCHEDULE": YEARLY,
            "AzureFunctionsWebHost__hostid": prefix, "LOCALHOST_BLOB_POLL_SECONDS": "0.3",
            "LOCALHOST_BLOB_RETRY_SECONDS": "0.05", "REGION": "test", **overrides}


def queue(name: str) -> QueueClient:
    client = QueueClient.from_connection_string(CONNECTION, name)
    with contextlib.suppress(Exception):
        client.create_queue()
    return client


def drain(name: str) -> list[str]:
    """Take every visible message off a queue, decoded as the Functions extension encodes them."""
    client = queue(name)
    bodies = []
    for message in client.receive_messages(max_messages=32, messages_per_page=32):
        try:
            bodies.append(base64.b64decode(message.content, validate=True).decode())
        except ValueError:
            bodies.append(message.content)
        client.delete_message(message)
    return bodies


def upload(container: str, name: str, data: bytes) -> None:
    client = BlobServiceClient.from_connection_string(CONNECTION).get_container_client(container)
    with contextlib.suppress(Exception):
        client.create_container()
    client.upload_blob(name, data, overwrite=True)


@pytest.fixture(scope="module")
def shared_host(stack, tmp_path_factory):
    prefix = random_name()
    with HostProcess(hostapp_env(prefix), script_root=HOSTAPP, tmp=tmp_path_factory.mktemp("host")) as host:
        yield prefix, host


def test_http_round_trip(shared_host):
    _, host = shared_host
    response = httpx.post(f"{host.base_url}/api/echo/%2B15551234567/more?status=207&a=1&a=2&b=x%20y",
                          content=b"hello body", headers={"X-Custom": "v1", "Content-Type": "text/plain"})
    assert response.status_code == 207
    assert response.headers["x-echo"] == "+15551234567"
    assert response.headers["content-type"].startswith("application/json")
    echoed = response.json()
    assert echoed["method"] == "POST"
    assert echoed["route"] == {"id": "+15551234567", "rest": "more"}
    assert echoed["query"] == {"status": "207", "a": "1", "b": "x y"}
    assert echoed["headers"]["x-custom"] == "v1"
    assert echoed["body"] == "hello body"
    assert echoed["url"].startswith(f"{host.base_url}/api/echo/")


def test_http_routes_methods_and_errors(shared_host):
    _, host = shared_host
    assert httpx.get(f"{host.base_url}/api/echo/fixed/literal").text == "literal route"
    assert httpx.get(f"{host.base_url}/api/echo/only-id").json()["route"] == {"id": "only-id"}
    assert httpx.patch(f"{host.base_url}/api/echo/x").status_code == 404  # method not allowed by the route
    assert httpx.get(f"{host.base_url}/api/nothing/here").status_code == 404
    assert httpx.get(f"{host.base_url}/echo/x").status_code == 404  # the /api prefix is required
    crashed = httpx.get(f"{host.base_url}/api/boom")
    assert crashed.status_code == 500
    assert "internal detail" not in crashed.text


def test_async_function_with_binary_body(shared_host):
    _, host = shared_host
    payload = bytes(range(256))
    response = httpx.post(f"{host.base_url}/api/reverse", content=payload)
    assert response.status_code == 201
    assert response.content == payload[::-1]
    assert response.headers["content-type"] == "application/octet-stream"


def test_blob_trigger_fires_once_per_new_or_changed_blob(shared_host):
    prefix, _ = shared_host
    upload(f"{prefix}-in", "a.txt", b"first")
    upload(f"{prefix}-in", "dir/b.txt", b"second")
    seen: list[str] = []
    wait_until(lambda: seen.extend(drain(f"{prefix}-blobs")) or len(seen) >= 2, 20, message="blob trigger")
    fired = [json.loads(s) for s in seen]
    assert sorted(f["name"] for f in fired) == [f"{prefix}-in/a.txt", f"{prefix}-in/dir/b.txt"]
    assert {f["name"]: f["data"] for f in fired}[f"{prefix}-in/a.txt"] == "first"
    upload(f"{prefix}-in", "a.txt", b"changed")  # a new version fires again
    changed = wait_until(lambda: drain(f"{prefix}-blobs"), 20, message="changed blob")
    assert [json.loads(s)["data"] for s in changed] == ["changed"]
    time.sleep(1.5)  # nothing more fires for blobs already processed
    assert drain(f"{prefix}-blobs") == []


def test_failing_blob_trigger_is_tried_five_times_then_poisoned(shared_host):
    prefix, _ = shared_host
    name = random_name("bad")
    upload(f"{prefix}-bad", name, b"poison me")
    poison = wait_until(lambda: [m for m in drain("webjobs-blobtrigger-poison") if name in m], 30,
                        message="poison message")
    assert json.loads(poison[0])["BlobName"] == name
    attempts = [a for a in drain(f"{prefix}-attempts") if name in a]
    assert len(attempts) == 5
    time.sleep(1.5)  # poisoned blobs are not looped
    assert [a for a in drain(f"{prefix}-attempts") if name in a] == []


def test_queue_trigger_and_output_binding(shared_host):
    prefix, _ = shared_host
    queue(f"{prefix}-work").send_message(base64.b64encode(b"job-1").decode())
    done = wait_until(lambda: drain(f"{prefix}-done"), 20, message="queue output")
    assert json.loads(done[0]) == {"body": "job-1", "dequeueCount": 1}


def test_failing_queue_message_goes_to_poison_after_five_dequeues(shared_host):
    prefix, _ = shared_host
    body = f"fail-{random_name()}"
    queue(f"{prefix}-work").send_message(base64.b64encode(body.encode()).decode())
    poisoned = wait_until(lambda: drain(f"{prefix}-work-poison"), 30, message="queue poison")
    assert poisoned == [body]
    assert [a for a in drain(f"{prefix}-attempts") if a == body] == [body] * 5


def test_admin_invokes_a_non_http_function(shared_host):
    prefix, host = shared_host
    response = httpx.post(f"{host.base_url}/admin/functions/work", json={"input": "by-hand"})
    assert response.status_code == 202
    done = wait_until(lambda: drain(f"{prefix}-done"), 20, message="admin invocation")
    assert json.loads(done[0])["body"] == "by-hand"
    assert httpx.post(f"{host.base_url}/admin/functions/nope", json={}).status_code == 404


def test_timer_fires_on_schedule(stack, tmp_path):
    prefix = random_name()
    with HostProcess(hostapp_env(prefix, TEST_TIMER_SCHEDULE="*/1 * * * * *"), script_root=HOSTAPP, tmp=tmp_path):
        ticks = []
        wait_until(lambda: ticks.extend(drain(f"{prefix}-ticks")) or len(ticks) >= 3, 15, message="three ticks")
    fired = [datetime.fromisoformat(json.loads(t)["at"]) for t in ticks]
    assert all(not json.loads(t)["pastDue"] for t in ticks)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(fired)]
    assert all(0 < gap < 3 for gap in gaps), gaps  # one a second (a tick late on a busy machine shortens the next gap)


def test_missed_timer_fires_past_due_at_start(stack, tmp_path):
    prefix = random_name()
    status = {"Last": None, "Next": (datetime.now(UTC) - timedelta(hours=1)).isoformat(), "LastUpdated": None}
    upload("azure-webjobs-hosts", f"timers/{prefix}/tick/status", json.dumps(status).encode())
    with HostProcess(hostapp_env(prefix), script_root=HOSTAPP, tmp=tmp_path):
        ticks = wait_until(lambda: drain(f"{prefix}-ticks"), 15, message="past-due tick")
    assert json.loads(ticks[0])["pastDue"] is True


def test_blob_receipts_survive_a_host_restart(stack, tmp_path):
    prefix = random_name()
    env = hostapp_env(prefix)
    upload(f"{prefix}-in", "before.txt", b"1")
    with HostProcess(env, script_root=HOSTAPP, tmp=tmp_path):
        first = wait_until(lambda: drain(f"{prefix}-blobs"), 20, message="first firing")
    upload(f"{prefix}-in", "while-down.txt", b"2")
    with HostProcess(env, script_root=HOSTAPP, tmp=tmp_path):
        second = wait_until(lambda: drain(f"{prefix}-blobs"), 20, message="firing after restart")
        time.sleep(1.5)
        second += drain(f"{prefix}-blobs")
    assert [json.loads(m)["name"] for m in first] == [f"{prefix}-in/before.txt"]
    assert [json.loads(m)["name"] for m in second] == [f"{prefix}-in/while-down.txt"]


def test_event_grid_blob_trigger_sees_only_blobs_written_since_it_subscribed(stack, tmp_path):
    prefix = random_name()
    env = hostapp_env(prefix)
    upload(f"{prefix}-eg", "before-subscription.txt", b"0")
    time.sleep(1.1)  # blob times have whole seconds: the subscription starts at the next one
    with HostProcess(env, script_root=HOSTAPP, tmp=tmp_path):
        time.sleep(1.5)
        upload(f"{prefix}-eg", "after.txt", b"1")
        first = wait_until(lambda: drain(f"{prefix}-eg-fired"), 20, message="event grid firing")
    upload(f"{prefix}-eg", "while-down.txt", b"2")
    with HostProcess(env, script_root=HOSTAPP, tmp=tmp_path):
        second = wait_until(lambda: drain(f"{prefix}-eg-fired"), 20, message="delivery after restart")
        time.sleep(1.5)
        second += drain(f"{prefix}-eg-fired")
    assert first == [f"{prefix}-eg/after.txt"]
    assert second == [f"{prefix}-eg/while-down.txt"]
