"""Classes of service through the real host (API.md, "Tenants and classes of service"): a tenant's key
puts a class, its mailboxes name it, and the class's defaults, limits, features and PIN rules hold."""

from __future__ import annotations

import pytest

from tests.integration.api_support import PLATFORM, new_mailbox_id
from tests.support import OPERATOR_KEY, random_name

OPERATOR = {"x-api-key": OPERATOR_KEY}
BASIC = {"defaults": {"maxMessages": 20, "language": "fr"}, "limits": {"maxMessages": 50, "retentionDays": 60},
         "allow": {"transcription": False, "sms": False}, "pin": {"minLength": 6, "refuseWeak": True}}


@pytest.fixture(scope="module")
def tenant(api) -> tuple[str, dict[str, str]]:
    """A tenant of its own and one of its platform keys."""
    tenant_id = random_name("cls")[:24].lower()
    created = api.http.put(f"/tenants/{tenant_id}", json={"displayName": "Classes"}, headers=OPERATOR)
    assert created.status_code == 201, created.text
    issued = api.http.post(f"/tenants/{tenant_id}/keys", headers=OPERATOR)
    assert issued.status_code == 201, issued.text
    return tenant_id, {"x-api-key": issued.json()["key"]}


def problem(response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return response.json()["type"]


def test_a_tenants_key_puts_and_reads_its_class_and_no_one_else_does(api, tenant):
    tenant_id, key = tenant
    path = f"/tenants/{tenant_id}/classes/basic"
    put = api.http.put(path, json=BASIC, headers=key)
    assert put.status_code == 200, put.text
    read = api.http.get(path, headers=key)
    assert read.status_code == 200 and read.json() == put.json()
    assert read.json()["allow"] == {"transcription": False, "email": True, "sms": False, "webhook": True,
                                    "forward": True}
    assert api.http.get(f"/tenants/{tenant_id}/classes/standard", headers=key).json()["limits"] == {}
    assert api.http.get(f"/tenants/{tenant_id}/classes/gold", headers=key).status_code == 404
    assert api.http.get(path, headers=PLATFORM).status_code == 404  # another tenant's key: as if none
    by_operator = api.http.put(path, json={**BASIC, "defaults": {"maxMessages": 25}}, headers=OPERATOR)
    assert by_operator.status_code == 200, by_operator.text  # the operator runs its customer's classes too
    assert api.http.get(path, headers=key).json()["defaults"]["maxMessages"] == 25
    assert problem(api.http.get("/tenants/no-such-tenant/classes/basic", headers=OPERATOR)) == "tenant-not-found"
    assert problem(api.http.put(path, json={**BASIC, "allow": {"fax": True}}, headers=key)) == "validation-failed"
    assert problem(api.http.put(f"/tenants/{tenant_id}/classes/Bad_Name", json=BASIC, headers=key)) \
        == "validation-failed"


def test_mailboxes_of_the_class_take_its_defaults_and_keep_to_it(api, tenant):
    tenant_id, key = tenant
    name = random_name("basic")[:20].lower()
    classes = f"/tenants/{tenant_id}/classes/{name}"
    assert api.http.put(classes, json=BASIC, headers=key).status_code == 200
    mailbox = f"/tenants/{tenant_id}/mailboxes/{new_mailbox_id()}"
    elsewhere = api.http.put(api.mailbox_path(new_mailbox_id()), json={"displayName": "Bo", "classOfService": name},
                             headers=PLATFORM)
    assert (elsewhere.status_code, problem(elsewhere)) == (422, "class-not-found")  # the class is its tenant's
    for body, slug in (({"classOfService": "gold-nothing"}, "class-not-found"),
                       ({"classOfService": name, "settings": {"maxMessages": 51}}, "beyond-class"),
                       ({"classOfService": name, "settings": {"retentionDays": 0}}, "beyond-class"),
                       ({"classOfService": name, "settings": {"transcription": True}}, "not-allowed"),
                       ({"classOfService": name, "pin": "123456"}, "weak-pin"),
                       ({"classOfService": name, "pin": "2580"}, "weak-pin")):
        refused = api.http.put(mailbox, json={"displayName": "Ann", **body}, headers=key)
        assert (refused.status_code, problem(refused)) == (422, slug), body
    created = api.http.put(mailbox, json={"displayName": "Ann", "classOfService": name, "pin": "258013",
                                          "settings": {"retentionDays": 45}}, headers=key)
    assert created.status_code == 201, created.text
    shown = created.json()
    assert shown["classOfService"] == name
    assert (shown["settings"]["maxMessages"], shown["settings"]["language"]) == (20, "fr")  # the class's
    assert (shown["settings"]["retentionDays"], shown["settings"]["transcription"]) == (45, False)
    weak = api.http.put(f"{mailbox}/pin", json={"newPin": "999999"}, headers=key)
    assert (weak.status_code, problem(weak)) == (422, "weak-pin")
    assert api.http.put(f"{mailbox}/pin", json={"newPin": "731904"}, headers=key).status_code == 204
    sms = api.http.put(f"{mailbox}/notifications", json={"targets": [{"kind": "sms", "number": "+15550002222"}]},
                       headers=key)
    assert (sms.status_code, problem(sms)) == (422, "not-allowed")
    patched = api.http.patch(mailbox, json={"settings": {"maxMessages": 60}}, headers=key)
    assert (patched.status_code, problem(patched)) == (422, "beyond-class")

    # A class change reaches the mailbox without the mailbox being written.
    before = api.http.get(mailbox, headers=key).json()
    changed = {**BASIC, "defaults": {"maxMessages": 40, "language": "de"}}
    assert api.http.put(classes, json=changed, headers=key).status_code == 200
    after = api.http.get(mailbox, headers=key).json()
    assert (after["settings"]["maxMessages"], after["settings"]["language"]) == (40, "de")
    assert after["settings"]["retentionDays"] == 45  # its own stays
    assert (after["etag"], after["updatedAt"]) == (before["etag"], before["updatedAt"])


def test_tenant_defaults_mailboxes_are_standard(api):
    mailbox_id = api.provision(pin="1111")  # standard refuses no PIN of 4-12 digits
    shown = api.http.get(api.mailbox_path(mailbox_id), headers=PLATFORM).json()
    assert (shown["classOfService"], shown["settings"]["maxMessages"], shown["settings"]["transcription"]) == (
        "standard", 100, True)
