"""Tenants through the real host and emulators, as a wholesale operator uses them: the operator makes
two tenants and their keys; each tenant, and tenant `default`, provisions the same mailbox id; nothing
one does reaches another (every mailbox route, generated from the table, answers another tenant's key
as an unknown mailbox); a token is its tenant's; a revoked key answers 401 within 5 s."""

from __future__ import annotations

import time
import uuid
from urllib.parse import quote

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from devstack import localstack
from functions.catalog import ROUTES
from functions.table import IN_TENANT
from tests.integration.api_support import PLATFORM, new_mailbox_id, tone_wav
from tests.support import OPERATOR_KEY

pytestmark = pytest.mark.integration
OPERATOR = {"x-api-key": OPERATOR_KEY}
FILLERS = {"messageId": "m" * 16, "kind": "busy", "exportId": "0" * 32}


def new_tenant(api) -> tuple[str, dict[str, str]]:
    tenant = f"t{uuid.uuid4().hex[:10]}"
    made = api.http.put(f"/tenants/{tenant}", json={"displayName": f"Tenant {tenant}"}, headers=OPERATOR)
    assert made.status_code == 201, made.text
    issued = api.http.post(f"/tenants/{tenant}/keys", headers=OPERATOR)
    assert issued.status_code == 201, issued.text
    return tenant, {"x-api-key": issued.json()["key"]}


def under(tenant: str | None, mailbox: str) -> str:
    path = f"/mailboxes/{quote(mailbox, safe='')}"
    return path if tenant is None else f"/tenants/{tenant}{path}"


@pytest.fixture(scope="module")
def world(api):
    (acme, acme_key), (beta, beta_key) = new_tenant(api), new_tenant(api)
    mailbox = new_mailbox_id()
    for tenant, key, pin in ((None, PLATFORM, "2468"), (acme, acme_key, "1357"), (beta, beta_key, "9753")):
        made = api.http.put(under(tenant, mailbox), json={"displayName": f"{tenant or 'default'}'s", "pin": pin},
                            headers=key)
        assert made.status_code == 201, made.text
        assert made.json()["id"] == mailbox and made.headers["Location"] == f"/api{under(tenant, mailbox)}"
    return {"mailbox": mailbox, "acme": acme, "acme_key": acme_key, "beta": beta, "beta_key": beta_key}


def test_the_same_mailbox_id_in_three_tenants_shares_nothing(product, world):
    host, api = product
    mailbox, acme, key = world["mailbox"], world["acme"], world["acme_key"]
    deposited = api.http.post(f"{under(acme, mailbox)}/messages", content=tone_wav(0.3),
                              headers={**key, "content-type": "audio/wav"})
    assert deposited.status_code == 202, deposited.text
    message = deposited.json()
    assert message["mailboxId"] == mailbox
    assert deposited.headers["Location"] == f"/api{under(acme, mailbox)}/messages/{message['id']}"
    counts = {name: api.http.get(under(tenant, mailbox), headers=k).json()["counts"]["new"]
              for name, tenant, k in (("default", None, PLATFORM), ("acme", acme, key),
                                      ("beta", world["beta"], world["beta_key"]))}
    assert counts == {"default": 0, "acme": 1, "beta": 0}
    assert api.http.get(f"{under(None, mailbox)}/messages/{message['id']}", headers=PLATFORM).status_code == 404
    names = {n for n in api.http.get(under(acme, mailbox), headers=key).json()["displayName"].split()}
    assert names == {f"{acme}'s"}
    # Its audio lies under acme's key, apart from tenant default's mailbox of the same id.
    blobs = BlobServiceClient.from_connection_string(localstack.storage_connection_string())
    container = blobs.get_container_client(host.env["INCOMING_CONTAINER"])
    assert [b.name for b in container.list_blobs(name_starts_with=f"{acme}~{mailbox}/")] == [
        f"{acme}~{mailbox}/{message['id']}"]
    assert not list(container.list_blobs(name_starts_with=f"{mailbox}/"))


def test_a_token_is_its_tenants_and_a_pin_is_per_tenant(api, world):
    mailbox, acme = world["mailbox"], world["acme"]
    assert api.http.post(f"{under(acme, mailbox)}/sessions", json={"pin": "2468"}).status_code == 401  # default's PIN
    login = api.http.post(f"{under(acme, mailbox)}/sessions", json={"pin": "1357"})
    assert login.status_code == 201, login.text
    token = {"authorization": f"Bearer {login.json()['token']}"}
    assert api.http.get(under(acme, mailbox), headers=token).json()["id"] == mailbox
    for elsewhere in (under(None, mailbox), under(world["beta"], mailbox)):
        answer = api.http.get(elsewhere, headers=token)
        assert (answer.status_code, answer.json()["type"]) == (404, "mailbox-not-found")


@pytest.mark.parametrize("name", [op.name for op in ROUTES if op.name.endswith(IN_TENANT) and op.principals])
def test_every_mailbox_route_answers_another_tenants_key_as_an_unknown_mailbox(api, world, name):
    op = ROUTES[name]
    values = {**FILLERS, "tenantId": world["beta"], "mailboxId": quote(world["mailbox"], safe="")}
    path = "/" + op.path.format(**values)
    for key in (world["acme_key"], PLATFORM):  # acme's key and tenant default's, on beta's mailbox
        answer = api.http.request(op.method, path, headers={**key, "content-type": "application/json"},
                                  content=b"{}")
        assert (answer.status_code, answer.json()["type"]) == (404, "mailbox-not-found"), (path, answer.text)
    operator = api.http.request(op.method, path, headers=OPERATOR)
    assert operator.status_code == 403  # the operator never reaches a mailbox


def test_the_operator_lists_and_revokes_keys_and_a_revoked_key_answers_401_within_5_s(api, world):
    tenant = world["acme"]
    spare = api.http.post(f"/tenants/{tenant}/keys", headers=OPERATOR).json()
    listed = api.http.get(f"/tenants/{tenant}/keys", headers=OPERATOR).json()["items"]
    assert spare["keyId"] in {k["keyId"] for k in listed} and all("key" not in k for k in listed)
    spare_key = {"x-api-key": spare["key"]}
    assert api.http.get(under(tenant, world["mailbox"]), headers=spare_key).status_code == 200
    assert api.http.delete(f"/tenants/{tenant}/keys/{spare['keyId']}", headers=OPERATOR).status_code == 204
    revoked_at = time.monotonic()
    while api.http.get(under(tenant, world["mailbox"]), headers=spare_key).status_code != 401:
        assert time.monotonic() - revoked_at < 5, "the revoked key still works after 5 s"
        time.sleep(0.2)
    assert api.http.get(under(tenant, world["mailbox"]), headers=world["acme_key"]).status_code == 200  # the other
    again = api.http.delete(f"/tenants/{tenant}/keys/{spare['keyId']}", headers=OPERATOR)
    assert again.status_code == 404 and again.json()["type"] == "not-found"


def test_bad_tenant_input_is_a_clear_error(api, world):
    cases = [("GET", "/tenants/Not_Valid", OPERATOR, 400, "validation-failed"),
             ("GET", f"/tenants/{world['acme']}x", OPERATOR, 404, "tenant-not-found"),
             ("POST", "/tenants/nobody-here/keys", OPERATOR, 404, "tenant-not-found"),
             ("PUT", f"/tenants/{world['acme']}", PLATFORM, 403, "forbidden"),
             ("GET", f"/tenants/{world['acme']}/keys", world["acme_key"], 403, "forbidden"),
             ("GET", "/tenants/nobody-here/mailboxes/%2B1555", {"x-api-key": "vm.acme.0123456789ab.x"}, 401,
              "unauthorized")]
    for method, path, key, status, slug in cases:
        answer = api.http.request(method, path, headers=key)
        assert (answer.status_code, answer.json()["type"]) == (status, slug), (method, path, answer.text)
    bad = api.http.put("/tenants/okay-name", json={"displayName": ""}, headers=OPERATOR)
    assert bad.status_code in (400, 422) and bad.headers["content-type"].startswith("application/problem+json")
    assert httpx.codes.is_success(api.http.get(f"/tenants/{world['acme']}", headers=OPERATOR).status_code)


def test_a_tenant_over_its_requests_a_second_gets_429_and_the_others_do_not(api, world):
    tenant = f"t{uuid.uuid4().hex[:10]}"
    made = api.http.put(f"/tenants/{tenant}", json={"displayName": "Small", "budgets": {"requestsPerSecond": 2}},
                        headers=OPERATOR)
    assert made.status_code == 201 and made.json()["budgets"] == {"requestsPerSecond": 2}
    key = {"x-api-key": api.http.post(f"/tenants/{tenant}/keys", headers=OPERATOR).json()["key"]}
    answers = [api.http.get(under(tenant, world["mailbox"]), headers=key) for _ in range(12)]
    refused = [a for a in answers if a.status_code == 429]
    assert refused and all(a.json()["type"] == "too-many-requests" and int(a.headers["Retry-After"]) >= 1
                           for a in refused)
    assert {a.status_code for a in answers} <= {404, 429}  # no such mailbox in it; never a 5xx
    acme = [api.http.get(under(world["acme"], world["mailbox"]), headers=world["acme_key"]) for _ in range(12)]
    assert {a.status_code for a in acme} == {200}  # another tenant's budget is its own
