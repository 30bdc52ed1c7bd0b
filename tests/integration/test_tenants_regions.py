"""Tenants across two local regions (`make run REGIONS=2 PLANES=2`): a tenant and its key made in one
region work in the other once replicated; the same mailbox id in two tenants stays apart in both; a
key revoked in one region answers 401 in both within 5 s."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from functions.catalog import ROUTES
from tests.integration.api_support import new_mailbox_id
from tests.integration.test_run_regions import two_local_regions  # noqa: F401 - the fixture
from tests.support import OPERATOR_KEY, PLATFORM_KEY, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]  # may wait its turn for region 2 (test_run_regions)
OPERATOR = {"x-api-key": OPERATOR_KEY}


def test_a_key_revoked_in_one_region_answers_401_in_both_within_5_s(two_local_regions):  # noqa: F811
    _, (one, two), _, _ = two_local_regions
    tenant, mailbox = f"t{uuid.uuid4().hex[:10]}", new_mailbox_id()
    assert httpx.put(f"{one}/tenants/{tenant}", json={"displayName": "Two regions"}, headers=OPERATOR,
                     timeout=10).status_code == 201
    key = {"x-api-key": httpx.post(f"{one}/tenants/{tenant}/keys", headers=OPERATOR, timeout=10).json()["key"]}
    path = f"/tenants/{tenant}/mailboxes/{mailbox}"
    wait_until(lambda: httpx.put(f"{two}{path}", json={"displayName": "Tenant's"}, headers=key,
                                 timeout=10).status_code == 201, 30, interval=0.5, message="the key known in local2")
    made = httpx.put(f"{two}/mailboxes/{mailbox}", json={"displayName": "Default's"},
                     headers={"x-api-key": PLATFORM_KEY}, timeout=10)
    assert made.status_code == 201  # the same id in tenant default: another mailbox
    wait_until(lambda: httpx.get(f"{one}{path}", headers=key, timeout=10).status_code == 200, 30, interval=0.5,
               message="the tenant's mailbox replicated to local1")
    assert httpx.get(f"{one}{path}", headers=key, timeout=10).json()["displayName"] == "Tenant's"
    # Every mailbox route, in the other region too: this tenant's key on tenant default's mailbox of
    # the same id answers as an unknown mailbox.
    for op in (op for op in ROUTES if op.path.startswith("mailboxes/{mailboxId}") and "platform" in op.principals):
        route = "/" + op.path.format(mailboxId=mailbox, messageId="m" * 16, kind="busy", exportId="0" * 32)
        answer = httpx.request(op.method, f"{two}{route}", headers={**key, "content-type": "application/json"},
                               content=b"{}", timeout=10)
        assert (answer.status_code, answer.json()["type"]) == (404, "mailbox-not-found"), (route, answer.text)
    key_id = key["x-api-key"].split(".")[2]
    assert httpx.delete(f"{one}/tenants/{tenant}/keys/{key_id}", headers=OPERATOR, timeout=10).status_code == 204
    revoked_at, refused = time.monotonic(), set()
    while refused != {one, two}:
        assert time.monotonic() - revoked_at < 5, f"still accepted after 5 s outside {refused}"
        for endpoint in {one, two} - refused:
            if httpx.get(f"{endpoint}{path}", headers=key, timeout=5).status_code == 401:
                refused.add(endpoint)
        time.sleep(0.1)
