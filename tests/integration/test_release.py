"""ops/release.py against two local regions (two hosts on the emulators, each its own region and
drain switch): one stamp at a time, drained while deployed, the other serving; a failure stops the
release and leaves the next stamp untouched. The deploy step is injected: a probe that records what
every stamp's readiness answered at that moment."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from devstack import localstack
from shared import build_info
from tests.support import BACKGROUND_FUNCTIONS, ROOT, HostProcess, disabled, product_env, random_name

pytestmark = pytest.mark.integration
QUIET = disabled(*BACKGROUND_FUNCTIONS)


@pytest.fixture(scope="module")
def regions(stack, tmp_path_factory):
    ops = BlobServiceClient.from_connection_string(localstack.storage_connection_string()).get_container_client("ops")
    if not ops.exists():
        with contextlib.suppress(Exception):
            ops.create_container()
    names = [random_name("ra"), random_name("rb")]
    tmp = tmp_path_factory.mktemp("release")
    hosts = [HostProcess(product_env(name, HEALTH_CACHE_SECONDS="0", **QUIET), tmp=tmp) for name in names]
    with contextlib.ExitStack() as stack_of_hosts:
        for host in hosts:
            stack_of_hosts.enter_context(host)
        yield [{"region": name, "endpoint": f"{host.base_url}/api"} for name, host in zip(names, hosts, strict=True)]


def readiness(stamp: dict) -> tuple[int, bool | None]:
    answer = httpx.get(f"{stamp['endpoint']}/health/ready", timeout=10)
    return answer.status_code, answer.json().get("drained")


def release(stamps: list[dict], tmp_path, deploy: str, *extra: str) -> subprocess.CompletedProcess:
    drain = "{python} ops/drain.py drain {region}"
    undrain = "{python} ops/drain.py undrain {region}"
    env = {"PYTHONPATH": str(ROOT), "AzureWebJobsStorage": localstack.storage_connection_string(),
           "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "ops/release.py", "roll", "--stamps", json.dumps(stamps), "--drain-cmd", drain,
               "--undrain-cmd", undrain, "--deploy-cmd", deploy, "--router-wait", "0", "--poll", "0.2",
               "--ready-timeout", "30", *extra]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False)


def probe(stamps: list[dict], log) -> str:
    return "{python} -m tests.integration.release_probe {region} " + f"{log} " + " ".join(
        s["endpoint"] for s in stamps)


def test_a_release_rolls_one_stamp_at_a_time_with_the_others_serving(regions, tmp_path):
    log = tmp_path / "deploys.jsonl"
    done = release(regions, tmp_path, probe(regions, log))
    assert done.returncode == 0, done.stdout + done.stderr
    deploys = [json.loads(line) for line in log.read_text().splitlines()]
    assert [d["deployed"] for d in deploys] == [s["region"] for s in regions]  # in order, each once
    for deploy in deploys:
        for region, state in deploy["states"].items():
            if region == deploy["deployed"]:
                assert state == {"status": 503, "drained": True}, deploy  # out of rotation while deployed
            else:
                assert state["status"] == 200, deploy  # the other region serves meanwhile
    assert all(readiness(stamp) == (200, False) for stamp in regions)  # every stamp back in rotation
    assert f"every stamp runs build {build_info.current()}" in done.stdout


def test_a_failed_deploy_stops_there_and_leaves_the_next_stamp_untouched(regions, tmp_path):
    first, second = regions
    try:
        done = release(regions, tmp_path, "{python} -c 'raise SystemExit(3)'")
        assert done.returncode == 1
        assert f"STOPPED: {first['region']}: deploy failed (exit 3)" in done.stdout
        assert readiness(first) == (503, True)  # stays out of rotation: it may run half a release
        assert readiness(second) == (200, False)
        assert f"{second['region']}: drain" not in done.stdout  # never touched
    finally:
        subprocess.run([sys.executable, "ops/drain.py", "undrain", first["region"]], cwd=ROOT, check=True,
                       env={"PYTHONPATH": str(ROOT), "AzureWebJobsStorage": localstack.storage_connection_string()})


def test_a_stamp_not_running_the_new_build_is_not_put_back(regions, tmp_path):
    """The deploy 'succeeded' but /api/health still reports the old build: never undrained."""
    first, second = regions
    try:
        done = release(regions, tmp_path, "true", "--build", "000000000000", "--ready-timeout", "3")
        assert done.returncode == 1
        assert f"waiting for {first['region']} to run build 000000000000" in done.stdout
        assert readiness(first) == (503, True)
        assert readiness(second) == (200, False)
    finally:
        subprocess.run([sys.executable, "ops/drain.py", "undrain", first["region"]], cwd=ROOT, check=True,
                       env={"PYTHONPATH": str(ROOT), "AzureWebJobsStorage": localstack.storage_connection_string()})
