"""The local host's durable runtime against Azurite: the SDK's own replay, the client binding and its HTTP API."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import httpx
import pytest

from devstack import localstack
from tests.support import ROOT, HostProcess, random_name, wait_until

pytestmark = pytest.mark.integration
DURABLEAPP = ROOT / "tests" / "durableapp"


def durable_env(prefix: str, tmp: Path) -> dict[str, str]:
    return {"AzureWebJobsStorage": localstack.storage_connection_string(), "DURABLE_TASK_HUB": random_name("hub"),
            "AzureFunctionsWebHost__hostid": prefix, "REGION": "test", "TEST_PREFIX": prefix, "TEST_DIR": str(tmp)}


def start(host: HostProcess, name: str, instance_id: str, payload=None) -> httpx.Response:
    return httpx.post(f"{host.base_url}/api/start/{name}/{instance_id}", json=payload, timeout=10)


def status(host: HostProcess, instance_id: str) -> dict | None:
    """The instance's status; None while it does not exist yet (a timer run by the admin API
    answers 202 before its function has started the orchestration)."""
    answer = httpx.get(f"{host.base_url}/api/status/{instance_id}", timeout=10)
    return None if answer.status_code == 404 else answer.json()


def finished(host: HostProcess, instance_id: str, timeout: float = 15) -> dict:
    def done():
        current = status(host, instance_id)
        return current if current and current["runtimeStatus"] in ("Completed", "Failed", "Terminated") else None
    return wait_until(done, timeout, 0.1, f"{instance_id} to finish:\n{host.log()[-3000:]}")


def runs(tmp: Path) -> Counter:
    log = tmp / "activities.log"
    return Counter(log.read_text().splitlines() if log.exists() else [])


@pytest.fixture(scope="module")
def durable_host(stack, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("durable")
    prefix = random_name()
    with HostProcess(durable_env(prefix, tmp), script_root=DURABLEAPP, tmp=tmp) as host:
        yield prefix, host, tmp


def test_http_starter_check_status_and_fan_out(durable_host):
    prefix, host, tmp = durable_host
    response = start(host, "fan_out", f"{prefix}-fan", 5)
    assert response.status_code == 202
    links = response.json()
    assert links["id"] == f"{prefix}-fan"
    assert response.headers["location"] == links["statusQueryGetUri"]
    assert links["statusQueryGetUri"].startswith(f"{host.base_url}/runtime/webhooks/durabletask/instances/{prefix}-fan")
    assert finished(host, f"{prefix}-fan")["output"] == 20
    public = httpx.get(links["statusQueryGetUri"], timeout=10)
    assert public.status_code == 200
    assert public.json()["runtimeStatus"] == "Completed"
    assert public.json()["input"] == 5
    assert sorted(line for line in runs(tmp) if line.startswith("double:"))[:5] == [f"double:{i}" for i in range(5)]


def test_retry_timer_any_continue_as_new_and_sub_orchestration(durable_host):
    prefix, host, _ = durable_host
    cases = {"retrying": None, "sleeper": None, "racing": None, "looping": {"i": 0, "n": 4, "total": 0},
             "parent": None}
    for name, payload in cases.items():
        assert start(host, name, f"{prefix}-{name}", payload).status_code == 202
    assert finished(host, f"{prefix}-retrying")["output"] == "ok after 3"
    assert finished(host, f"{prefix}-sleeper")["output"] == "woke"
    assert finished(host, f"{prefix}-racing")["output"] == ["timer", 42]
    assert finished(host, f"{prefix}-looping")["output"] == 0 + 2 + 4 + 6
    assert finished(host, f"{prefix}-parent")["output"] == {"child": 12, "plus": 13}
    assert finished(host, f"{prefix}-parent-child")["output"] == 12


def test_custom_status_raise_event_terminate_and_duplicate_start(durable_host):
    prefix, host, _ = durable_host
    assert start(host, "approval", f"{prefix}-ok").status_code == 202
    waiting = wait_until(lambda: (status(host, f"{prefix}-ok") or {}).get("customStatus"), 10, message="custom status")
    assert waiting == {"stage": "waiting"}
    assert status(host, f"{prefix}-ok")["runtimeStatus"] == "Running"
    again = start(host, "approval", f"{prefix}-ok")
    assert again.status_code == 409
    assert "An Orchestration instance with the status Running already exists" in again.text
    assert httpx.post(f"{host.base_url}/api/raise/{prefix}-ok/approve", json={"by": "me"}).status_code == 202
    done = finished(host, f"{prefix}-ok")
    assert done["output"] == {"answer": {"by": "me"}}
    assert done["customStatus"] == {"stage": "done"}

    assert start(host, "approval", f"{prefix}-stop").status_code == 202
    wait_until(lambda: (status(host, f"{prefix}-stop") or {}).get("runtimeStatus") == "Running", 10, message="running")
    assert httpx.post(f"{host.base_url}/api/terminate/{prefix}-stop").status_code == 202
    assert finished(host, f"{prefix}-stop")["runtimeStatus"] == "Terminated"
    assert start(host, "approval", f"{prefix}-stop").status_code == 202  # a finished id may be reused
    unknown = httpx.get(f"{host.base_url}/runtime/webhooks/durabletask/instances/{prefix}-none", timeout=10)
    assert unknown.status_code == 404


def test_timer_with_durable_client_by_admin(durable_host):
    prefix, host, _ = durable_host
    assert httpx.post(f"{host.base_url}/admin/functions/timer_start", json={"input": ""}).status_code == 202
    assert finished(host, f"{prefix}-from-timer")["output"] == 6


def test_orchestration_survives_sigkill(stack, tmp_path):
    prefix = random_name()
    env = durable_env(prefix, tmp_path)
    host = HostProcess(env, script_root=DURABLEAPP, tmp=tmp_path).start()
    try:
        assert start(host, "durable_steps", f"{prefix}-k").status_code == 202
        wait_until(lambda: (status(host, f"{prefix}-k") or {}).get("customStatus") == "sleeping", 15,
                   message="the timer")
        host.stop(signal.SIGKILL)
        assert runs(tmp_path) == Counter({f"record:{prefix}-k:{i}": 1 for i in range(3)})
        host = HostProcess(env, script_root=DURABLEAPP, tmp=tmp_path).start()
        assert finished(host, f"{prefix}-k")["output"] == "finished"
    finally:
        host.stop()
    assert runs(tmp_path) == Counter({**{f"record:{prefix}-k:{i}": 1 for i in range(3)}, f"record:{prefix}-k:after": 1})
