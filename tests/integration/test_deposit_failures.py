"""A deposit whose dependency fails answers 503 + Retry-After in bounded time and leaves nothing visible."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.integration.api_support import PLATFORM, Api, tone_wav
from tests.support import HostProcess, free_port, product_env, random_name
from tools import localstack

pytestmark = pytest.mark.integration


def test_blob_store_down_means_503_and_no_message(stack, tmp_path, api):
    mailbox = api.provision()  # through the healthy region
    dead = free_port()  # nothing listens here: a storage account that is down
    broken = localstack.storage_connection_string().replace(f":{localstack.BLOB_PORT}/", f":{dead}/")
    env = product_env(random_name("r"), AzureWebJobsStorage=broken, SDK_TIMEOUT_SECONDS="2")
    with HostProcess(env, tmp=tmp_path) as host:
        region = Api(host.base_url, "unused")
        started = time.monotonic()
        response = region.deposit(mailbox, tone_wav(0.3), headers={"Idempotency-Key": "k1"})
        assert time.monotonic() - started < 20
    assert response.status_code == 503, response.text
    assert response.json()["type"] == "service-unavailable"
    assert int(response.headers["retry-after"]) >= 1
    assert api.list_all(mailbox) == []
    assert api.http.get(api.mailbox_path(mailbox), headers=PLATFORM).json()["counts"]["total"] == 0
    # The client's retry with the same key in a healthy region lands exactly one message.
    assert api.deposit(mailbox, tone_wav(0.3), headers={"Idempotency-Key": "k1"}).status_code == 202
    assert len(api.list_all(mailbox)) == 1


def test_metadata_store_stalled_means_503_within_the_timeout(stack, tmp_path):
    port = free_port()
    cosmos = localstack.cosmos(port, name=f"cosmos-{port}")
    localstack.start(cosmos)
    env = product_env(random_name("r"), COSMOS_ENDPOINT=localstack.cosmos_endpoint(port), SDK_TIMEOUT_SECONDS="2")
    try:
        with HostProcess(env, tmp=tmp_path) as host:
            region = Api(host.base_url, "unused")
            mailbox = region.provision()
            assert region.deposit(mailbox).status_code == 202
            os.kill(cosmos.process.pid, signal.SIGSTOP)
            started = time.monotonic()
            stalled = region.deposit(mailbox)
            elapsed = time.monotonic() - started
            listing = region.http.get(region.mailbox_path(mailbox) + "/messages", headers=PLATFORM)
            os.kill(cosmos.process.pid, signal.SIGCONT)
            assert stalled.status_code == 503, stalled.text
            assert "retry-after" in stalled.headers
            assert elapsed < 15, f"the deposit took {elapsed:.1f} s"
            assert listing.status_code == 503
            assert len(region.list_all(mailbox)) == 1  # the stalled deposit left nothing behind
    finally:
        localstack.stop(cosmos)
