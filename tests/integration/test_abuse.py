"""Abuse a hostile caller could try, through HTTP on the local host: forwards into other
mailboxes, guessing which mailboxes exist, login floods, oversized uploads, leftovers of
deprovisioned mailboxes."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.integration.api_support import PLATFORM, tone_wav
from tests.support import wait_until

pytestmark = pytest.mark.integration
FRONT_DOOR_ID = str(uuid.uuid4())
# Each test below logs in as its own client address, named as our Front Door names it.
PRODUCT_SETTINGS = {"CLIENT_LOGINS_PER_MINUTE": "30", "FRONT_DOOR_ID": FRONT_DOOR_ID}


def _client() -> dict[str, str]:
    # A /64 of its own (an IPv6 client counts by its /64): no two tests share a budget.
    prefix = uuid.uuid4().int
    address = f"2001:db8:{prefix >> 16 & 0xffff:x}:{prefix & 0xffff:x}::1"
    return {"x-azure-fdid": FRONT_DOOR_ID, "x-azure-clientip": address, "x-forwarded-for": f"{address}, 10.0.0.1"}


def _ready(api, mailbox: str) -> str:
    message_id = api.deposit(mailbox, tone_wav(1.2)).json()["id"]
    url = f"{api.mailbox_path(mailbox)}/messages/{message_id}"
    wait_until(lambda: api.http.get(url, headers=PLATFORM).json()["status"] == "ready", 60, interval=0.3,
               message="the message ready")
    return message_id


def test_forward_refusals_look_the_same_and_keep_the_callers_reserve(api):
    source, target = api.provision(), api.provision(maxMessages=2)
    token = {**api.login(source), **_client()}
    first, second = _ready(api, source), _ready(api, source)
    path = api.mailbox_path(source)
    ok = api.http.post(f"{path}/messages/{first}/forward", json={"to": target}, headers=token)
    assert ok.status_code == 202, ok.text  # 1 of 2: outside the last 20 %
    full = api.http.post(f"{path}/messages/{second}/forward", json={"to": target}, headers=token)
    unknown = api.http.post(f"{path}/messages/{second}/forward", json={"to": "+19990000000"}, headers=token)
    assert full.status_code == unknown.status_code == 409
    assert full.json() == unknown.json() and full.json()["type"] == "forward-refused"
    assert "2" not in full.json()["detail"] and "1" not in full.json()["detail"]  # no counts of the other mailbox
    assert api.deposit(target, tone_wav(0.5)).status_code == 202  # callers still have the last place


def test_an_unknown_mailbox_answers_wrong_pins_exactly_as_a_known_one(api):
    known, unknown = api.provision(), "+1999" + uuid.uuid4().hex[:8].translate(str.maketrans("abcdef", "123456"))
    answers = {}
    for mailbox in (known, unknown):
        client = _client()
        replies = [api.http.post(f"{api.mailbox_path(mailbox)}/sessions", json={"pin": "9999"}, headers=client)
                   for _ in range(6)]
        answers[mailbox] = [(r.status_code, r.json()) for r in replies]
        assert [status for status, _ in answers[mailbox]] == [401] * 5 + [423]
    for (_, known_body), (_, unknown_body) in zip(answers[known], answers[unknown], strict=True):
        assert known_body == unknown_body


def test_one_client_flooding_logins_gets_429_before_any_hashing(api):
    urls = [f"{api.mailbox_path(api.provision())}/sessions" for _ in range(8)]  # under each mailbox's own rate
    client = _client()
    statuses = [api.http.post(urls[i % 8], json={"pin": "1234"}, headers=client).status_code for i in range(30)]
    assert statuses == [201] * 30, statuses  # under 30 a minute: never refused
    url = urls[0]
    refused = api.http.post(url, json={"pin": "1234"}, headers=client)
    assert refused.status_code == 429 and refused.json()["type"] == "too-many-requests"
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert api.http.post(url, json={"pin": "1234"}, headers=_client()).status_code in (201, 423)  # others go on


def test_an_upload_larger_than_promised_ends_failed_too_large(api):
    mailbox = api.provision()
    audio = tone_wav(2.0)
    answer = api.http.post(f"{api.mailbox_path(mailbox)}/messages", headers=PLATFORM,
                           json={"contentType": "audio/wav", "sizeBytes": len(audio) // 2})
    assert answer.status_code == 201, answer.text
    upload = answer.json()["upload"]
    assert httpx.put(upload["url"], content=audio, headers=upload["headers"]).status_code == 201
    url = f"{api.mailbox_path(mailbox)}/messages/{answer.json()['message']['id']}"

    def finished() -> dict | None:
        message = api.http.get(url, headers=PLATFORM)
        return message.json() if message.status_code == 200 and message.json()["status"] != "processing" else None

    message = wait_until(finished, 60, interval=0.3, message="the upload processed")
    assert (message["status"], message["error"]) == ("failed", "too-large")
    counts = api.http.get(api.mailbox_path(mailbox), headers=PLATFORM).json()["counts"]
    assert counts["total"] == 0


def test_a_deprovisioned_mailbox_greetings_are_gone_with_it(api):
    mailbox = api.provision()
    path = api.mailbox_path(mailbox)
    put = api.http.put(f"{path}/greetings/busy", content=tone_wav(1.5),
                       headers={**PLATFORM, "content-type": "audio/wav"})
    assert put.status_code == 202
    assert api.http.get(f"{path}/greetings/busy/audio", params={"format": "original"},
                        headers=PLATFORM).status_code == 200
    assert api.http.delete(path, headers=PLATFORM).status_code == 202
    time.sleep(0.1)
    for method, url in (("GET", f"{path}/greetings/busy/audio?format=original"), ("DELETE", f"{path}/greetings/busy"),
                        ("GET", f"{path}/greeting?reason=busy")):
        answer = api.http.request(method, url, headers=PLATFORM)
        assert answer.status_code == 404, (method, url, answer.text)


def test_forged_client_addresses_without_our_front_door_id_count_as_the_peer(api):
    # Last in the module: it spends the local peer's (127.0.0.1) budget for a minute.
    urls = [f"{api.mailbox_path(api.provision())}/sessions" for _ in range(8)]
    statuses = []
    for i in range(31):
        forged = f"198.51.100.{i + 1}"
        headers = {"x-forwarded-for": forged, "x-azure-clientip": forged,
                   "x-azure-fdid": str(uuid.uuid4()) if i % 2 else ""}  # no id, or another Front Door's
        statuses.append(api.http.post(urls[i % 8], json={"pin": "1234"}, headers=headers).status_code)
    assert statuses[-1] == 429, statuses  # 31 logins from one peer, whatever they claimed
    assert api.http.post(urls[0], json={"pin": "1234"}, headers=_client()).status_code in (201, 423)


def test_a_subscriber_makes_at_most_60_writes_a_minute_the_platform_is_not_budgeted(api):
    mailbox = api.provision()
    message = _ready(api, mailbox)
    client = _client()  # its own address: the login flood above spent the shared one's logins
    session = api.http.post(f"{api.mailbox_path(mailbox)}/sessions", json={"pin": "1234"}, headers=client)
    assert session.status_code == 201, session.text
    token = {"authorization": f"Bearer {session.json()['token']}", **client}
    url = f"{api.mailbox_path(mailbox)}/messages/{message}"
    started = time.monotonic()
    statuses = [api.http.patch(url, json={"heard": n % 2 == 0}, headers=token).status_code for n in range(60)]
    assert statuses == [200] * 60, statuses
    if time.monotonic() - started > 55:  # the first ones are leaving the minute: nothing to refuse
        pytest.skip("60 writes took most of a minute on this machine")
    refused = api.http.patch(url, json={"heard": True}, headers=token)
    assert refused.status_code == 429 and refused.json()["type"] == "too-many-requests", refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert api.http.patch(url, json={"heard": False}, headers=PLATFORM).status_code == 200
    assert api.http.get(url, headers=token).status_code == 200  # reads are not writes
