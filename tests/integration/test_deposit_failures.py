"""A deposit whose blob storage fails answers 503 + Retry-After in bounded time and leaves nothing
visible; one whose database does not answer is journaled (202) and becomes its message once it does."""

from __future__ import annotations

import os
import signal
import time

import pytest

from devstack import localstack
from tests.integration.api_support import PLATFORM, Api, tone_wav
from tests.support import HostProcess, free_port, product_env, random_name, wait_until

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


def test_metadata_store_stalled_means_the_deposit_is_journaled_and_replayed_once(stack, tmp_path):
    """API.md, "Deposits through a database outage": the deposit answers 202 within 10 s under its
    message id, reads and logins answer 503 meanwhile, and once the database answers the message is
    listed once, counted, and transcoded as any other."""
    port = free_port()
    cosmos = localstack.cosmos(port, name=f"cosmos-{port}")
    localstack.start(cosmos)
    # The deposit's budget for the database (JOURNAL_AFTER_SECONDS, 4 s by default) bounds it, not
    # the SDK's own timeout: that one is longer here, so a deposit waiting on it would take 8 s.
    env = product_env(random_name("r"), COSMOS_ENDPOINT=localstack.cosmos_endpoint(port), SDK_TIMEOUT_SECONDS="8")
    try:
        with HostProcess(env, tmp=tmp_path) as host:
            region = Api(host.base_url, "unused")
            mailbox = region.provision()
            assert region.deposit(mailbox, tone_wav(1.2)).status_code == 202
            os.kill(cosmos.process.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                stalled = region.deposit(mailbox, tone_wav(1.2), headers={"Idempotency-Key": "outage-1"})
                elapsed = time.monotonic() - started
                retried = region.deposit(mailbox, tone_wav(1.2), headers={"Idempotency-Key": "outage-1"})
                others = [region.deposit(mailbox, tone_wav(1.2, hz=300 + i), headers={"Idempotency-Key": f"outage-{i}"})
                          for i in (2, 3)]  # replayed with the first in one batch
                listing = region.http.get(region.mailbox_path(mailbox) + "/messages", headers=PLATFORM)
                login = region.http.post(region.mailbox_path(mailbox) + "/sessions", json={"pin": "1234"})
            finally:
                os.kill(cosmos.process.pid, signal.SIGCONT)
            assert stalled.status_code == 202, stalled.text
            assert elapsed < 7, f"the deposit took {elapsed:.1f} s"  # 4 s for the database, then the journal
            journaled = stalled.json()["id"]
            assert "etag" not in stalled.headers and stalled.json()["status"] == "processing"
            assert stalled.headers["location"].endswith(f"/messages/{journaled}")
            assert retried.status_code == 202 and retried.json()["id"] == journaled
            assert [answer.status_code for answer in others] == [202, 202]
            journaled_ids = {journaled, *(answer.json()["id"] for answer in others)}
            for answer in (listing, login):
                assert answer.status_code == 503 and "retry-after" in answer.headers, answer.text
            # The replay timer (every 10 s) makes it a message: once, counted, then transcoded.
            wait_until(lambda: journaled_ids <= {m["id"] for m in region.list_all(mailbox)}, 40,
                       message="the journaled deposits listed")
            wait_until(lambda: region.http.get(f"{region.mailbox_path(mailbox)}/messages/{journaled}",
                                               headers=PLATFORM).json()["status"] == "ready", 30,
                       message="the journaled deposit transcoded")
            ids = [m["id"] for m in region.list_all(mailbox)]
            assert len(ids) == 4 and ids.count(journaled) == 1
            counts = region.http.get(region.mailbox_path(mailbox), headers=PLATFORM).json()["counts"]
            assert (counts["new"], counts["total"]) == (4, 4)
            # A retry after recovery is the same message, not a third one.
            again = region.deposit(mailbox, tone_wav(1.2), headers={"Idempotency-Key": "outage-1"})
            assert again.status_code == 202 and again.json()["id"] == journaled
            assert len(region.list_all(mailbox)) == 4
    finally:
        localstack.stop(cosmos)
