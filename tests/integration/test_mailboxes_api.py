"""Mailboxes, sessions and PINs through HTTP on the local host."""

from __future__ import annotations

import concurrent.futures

import pytest

from tests.integration.api_support import PLATFORM, new_mailbox_id

pytestmark = pytest.mark.integration


def test_provision_replace_read_and_patch(api):
    mailbox = new_mailbox_id()
    path = api.mailbox_path(mailbox)
    created = api.http.put(path, json={"displayName": "Alice", "pin": "4321", "settings": {"maxMessages": 5}},
                           headers=PLATFORM)
    assert created.status_code == 201
    assert created.json()["settings"]["maxMessages"] == 5
    assert created.json()["pinSet"] is True
    assert "pin" not in created.text.lower().replace("pinset", "")
    replaced = api.http.put(path, json={"displayName": "Alice B"}, headers=PLATFORM)
    assert replaced.status_code == 200
    assert replaced.json()["settings"]["maxMessages"] == 100  # PUT replaces: defaults again
    assert replaced.json()["pinSet"] is True  # the PIN is kept when none is given
    read = api.http.get(path, headers=PLATFORM)
    assert read.status_code == 200
    assert read.json()["counts"] == {"new": 0, "saved": 0, "urgentNew": 0, "total": 0}
    assert read.headers["etag"] == read.json()["etag"]
    patched = api.http.patch(path, json={"settings": {"retentionDays": 0}}, headers=PLATFORM)
    assert patched.status_code == 200
    assert patched.json()["settings"]["retentionDays"] == 0
    assert patched.json()["displayName"] == "Alice B"
    stale = api.http.patch(path, json={"displayName": "X"}, headers={**PLATFORM, "If-Match": read.headers["etag"]})
    assert stale.status_code == 412
    assert stale.json()["type"] == "etag-mismatch"


def test_subscriber_may_change_only_display_name_and_greeting(api):
    mailbox = api.provision()
    token = api.login(mailbox)
    path = api.mailbox_path(mailbox)
    assert api.http.get(path, headers=token).status_code == 200
    ok = api.http.patch(path, json={"displayName": "Me", "greeting": "name"}, headers=token)
    assert ok.status_code == 200 and ok.json()["greeting"] == "name"
    refused = api.http.patch(path, json={"settings": {"maxMessages": 1000}}, headers=token)
    assert refused.status_code == 403
    assert api.http.put(path, json={"displayName": "Me"}, headers=token).status_code == 403
    assert api.http.delete(path, headers=token).status_code == 403


@pytest.mark.parametrize(("body", "field"), [
    ({"displayName": "A", "pin": "12"}, "pin"),
    ({"displayName": "A", "pin": "12ab"}, "pin"),
    ({"displayName": ""}, "displayName"),
    ({"displayName": "A", "colour": "red"}, "colour"),
    ({"displayName": "A", "settings": {"maxMessages": 0}}, "maxMessages"),
    ({"displayName": "A", "settings": {"unknown": 1}}, "unknown"),
    ({}, "displayName"),
])
def test_invalid_mailbox_bodies_are_rejected(api, body, field):
    response = api.http.put(api.mailbox_path(new_mailbox_id()), json=body, headers=PLATFORM)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "validation-failed" and problem["status"] == 400
    assert field in problem["detail"]


def test_bad_ids_and_bodies(api):
    assert api.http.get("/mailboxes/bad%20id", headers=PLATFORM).json()["type"] == "validation-failed"
    assert api.http.get("/mailboxes/-leading-dash", headers=PLATFORM).status_code == 400
    not_json = api.http.put(api.mailbox_path(new_mailbox_id()), content=b"{nope", headers=PLATFORM)
    assert not_json.status_code == 400
    missing = api.http.get(api.mailbox_path(new_mailbox_id()), headers=PLATFORM)
    assert missing.status_code == 404 and missing.json()["type"] == "mailbox-not-found"


def test_plus_sign_spellings_name_the_same_mailbox(api):
    mailbox = api.provision()
    assert mailbox.startswith("+")
    encoded = api.http.get(f"/mailboxes/%2B{mailbox[1:]}", headers=PLATFORM)
    literal = api.http.get(f"/mailboxes/+{mailbox[1:]}", headers=PLATFORM)
    assert encoded.status_code == literal.status_code == 200
    assert encoded.json()["id"] == literal.json()["id"] == mailbox


def test_deprovisioned_mailbox_is_gone_for_deposits_and_logins(api):
    mailbox = api.provision()
    token = api.login(mailbox)
    message = api.deposit(mailbox).json()
    url = f"{api.mailbox_path(mailbox)}/messages/{message['id']}"
    assert api.http.get(url, headers=token).status_code == 200
    assert api.http.delete(api.mailbox_path(mailbox), headers=PLATFORM).status_code == 202
    # Its messages are gone at once too, not only at the purge; the subscriber's session is over.
    for headers, status in ((PLATFORM, 404), (token, 401)):
        assert api.http.get(url, headers=headers).status_code == status
        assert api.http.get(f"{url}/audio", params={"format": "original"}, headers=headers).status_code == status
        assert api.http.patch(url, json={"heard": True}, headers=headers).status_code == status
        assert api.http.delete(url, headers=headers).status_code == status
        assert api.http.delete(url, params={"purge": "true"}, headers=headers).status_code == status
    assert api.http.get(api.mailbox_path(mailbox), headers=PLATFORM).status_code == 404
    deposit = api.deposit(mailbox)
    assert deposit.status_code == 404 and deposit.json()["type"] == "mailbox-not-found"
    login = api.http.post(f"{api.mailbox_path(mailbox)}/sessions", json={"pin": "1234"})
    assert login.status_code == 401
    again = api.http.put(api.mailbox_path(mailbox), json={"displayName": "back"}, headers=PLATFORM)
    assert again.status_code == 409 and again.json()["type"] == "mailbox-deprovisioning"


def test_login_gives_a_short_lived_token(api):
    mailbox = api.provision()
    response = api.http.post(f"{api.mailbox_path(mailbox)}/sessions", json={"pin": "1234"})
    assert response.status_code == 201
    from datetime import UTC, datetime

    expires = datetime.fromisoformat(response.json()["expiresAt"].replace("Z", "+00:00"))
    assert 0 < (expires - datetime.now(UTC)).total_seconds() <= 15 * 60


def test_wrong_pin_and_unknown_mailbox_look_alike(api):
    mailbox = api.provision()
    wrong = api.http.post(f"{api.mailbox_path(mailbox)}/sessions", json={"pin": "9999"})
    unknown = api.http.post(f"{api.mailbox_path(new_mailbox_id())}/sessions", json={"pin": "9999"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_five_wrong_pins_in_a_row_lock_logins_even_when_guessed_concurrently(api):
    mailbox = api.provision()
    url = f"{api.mailbox_path(mailbox)}/sessions"
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda pin: api.http.post(url, json={"pin": pin}).status_code,
                                 [f"{9000 + i}" for i in range(8)]))
    assert set(statuses) <= {401, 423}
    locked = api.http.post(url, json={"pin": "1234"})  # even the right PIN
    assert locked.status_code == 423
    assert locked.json()["type"] == "pin-locked"
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60


def test_a_right_pin_resets_the_count(api):
    mailbox = api.provision()
    url = f"{api.mailbox_path(mailbox)}/sessions"
    for _ in range(4):
        assert api.http.post(url, json={"pin": "0000"}).status_code == 401
    assert api.http.post(url, json={"pin": "1234"}).status_code == 201
    for _ in range(4):
        assert api.http.post(url, json={"pin": "0000"}).status_code == 401
    assert api.http.post(url, json={"pin": "1234"}).status_code == 201


def test_pin_change_by_subscriber_and_platform(api):
    mailbox = api.provision()
    token = api.login(mailbox)
    url = f"{api.mailbox_path(mailbox)}/pin"
    assert api.http.put(url, json={"newPin": "5678"}, headers=token).status_code == 400  # currentPin required
    wrong = api.http.put(url, json={"currentPin": "0000", "newPin": "5678"}, headers=token)
    assert wrong.status_code == 403 and wrong.json()["type"] == "pin-mismatch"
    assert api.http.put(url, json={"currentPin": "1234", "newPin": "5678"}, headers=token).status_code == 204
    assert api.http.post(f"{api.mailbox_path(mailbox)}/sessions", json={"pin": "1234"}).status_code == 401
    api.login(mailbox, "5678")
    assert api.http.put(url, json={"newPin": "24680"}, headers=PLATFORM).status_code == 204
    api.login(mailbox, "24680")
    assert api.http.put(url, json={"newPin": "12"}, headers=PLATFORM).status_code == 400
