"""Many writers in one region: quotas and lockouts hold exactly, sessions end, settings reach stored
messages, counts stay exact and a reconcile finds nothing to repair. Through HTTP, on the local host."""

from __future__ import annotations

import concurrent.futures
import time
from datetime import datetime, timedelta

import pytest

from tests.integration.api_support import PLATFORM, tone_wav

pytestmark = pytest.mark.integration
# Counts of `processing` messages are what these tests look at: the transcoder stays off.
PRODUCT_SETTINGS = {"AzureWebJobs.incoming_audio.Disabled": "true"}


def _parallel(count: int, call) -> list:
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: call(), range(count)))


def test_concurrent_deposits_never_exceed_max_messages(api):
    mailbox = api.provision(maxMessages=1)
    audio = tone_wav(0.2)
    answers = _parallel(10, lambda: api.deposit(mailbox, audio))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [202] + [409] * 9, statuses
    assert all(a.json()["type"] == "mailbox-full" for a in answers if a.status_code == 409)
    listed = api.http.get(f"{api.mailbox_path(mailbox)}/messages", headers=PLATFORM).json()["items"]
    assert len(listed) == 1
    counts = api.http.get(api.mailbox_path(mailbox), headers=PLATFORM).json()["counts"]
    assert counts == {"new": 1, "saved": 0, "urgentNew": 0, "total": 1}


def test_concurrent_deposits_and_upload_requests_share_the_room(api):
    mailbox = api.provision(maxMessages=3)
    audio = tone_wav(0.2)

    def one(i: int):
        if i % 2:
            return api.deposit(mailbox, audio)
        return api.http.post(f"{api.mailbox_path(mailbox)}/messages", headers=PLATFORM,
                             json={"contentType": "audio/wav", "sizeBytes": len(audio)})

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(one, range(12)))
    assert sum(a.status_code in (201, 202) for a in answers) == 3
    assert sum(a.status_code == 409 for a in answers) == 9


def test_thirty_parallel_wrong_pins_check_at_most_five(api):
    mailbox = api.provision()
    url = f"{api.mailbox_path(mailbox)}/sessions"
    answers = _parallel(30, lambda: api.http.post(url, json={"pin": "9999"}))
    statuses = [a.status_code for a in answers]
    assert statuses.count(401) <= 5, statuses  # each 401 is a PIN that was checked
    assert statuses.count(401) + statuses.count(423) == 30, statuses
    locked = api.http.post(url, json={"pin": "1234"})
    assert locked.status_code == 423 and locked.json()["type"] == "pin-locked"


@pytest.mark.parametrize("how", ["subscriber changes the PIN", "platform resets the PIN", "deprovisioned"])
def test_sessions_end_within_five_seconds(api, how):
    mailbox = api.provision()
    token = api.login(mailbox)
    other = api.login(mailbox)
    path = api.mailbox_path(mailbox)
    assert api.http.get(path, headers=other).status_code == 200
    if how == "subscriber changes the PIN":
        assert api.http.put(f"{path}/pin", json={"currentPin": "1234", "newPin": "5678"},
                            headers=token).status_code == 204
    elif how == "platform resets the PIN":
        assert api.http.put(path, json={"displayName": "Reset", "pin": "5678"}, headers=PLATFORM).status_code == 200
    else:
        assert api.http.delete(path, headers=PLATFORM).status_code == 202
    deadline = time.monotonic() + 5
    while api.http.get(path, headers=other).status_code != 401:
        assert time.monotonic() < deadline, "a session opened before the change still works after 5 s"
        time.sleep(0.2)
    answer = api.http.get(path, headers=other)
    assert answer.json()["type"] == "invalid-token"
    if how != "deprovisioned":
        fresh = api.login(mailbox, pin="5678")
        assert api.http.get(path, headers=fresh).status_code == 200


def test_a_retention_change_applies_to_stored_messages(api):
    mailbox = api.provision(retentionDays=30)
    path = api.mailbox_path(mailbox)
    message = api.deposit(mailbox, tone_wav(0.2)).json()
    trashed = api.deposit(mailbox, tone_wav(0.2)).json()
    assert api.http.delete(f"{path}/messages/{trashed['id']}", headers=PLATFORM).status_code == 204
    received = datetime.fromisoformat(message["receivedAt"].replace("Z", "+00:00"))
    assert datetime.fromisoformat(message["expiresAt"].replace("Z", "+00:00")) == received + timedelta(days=30)

    def expiry(message_id: str) -> str | None:
        return api.http.get(f"{path}/messages/{message_id}", headers=PLATFORM).json()["expiresAt"]

    assert api.http.patch(path, json={"settings": {"retentionDays": 0}}, headers=PLATFORM).status_code == 200
    assert expiry(message["id"]) is None  # 0 = keep
    assert expiry(trashed["id"]) is not None  # the trash follows trashRetentionDays
    assert api.http.patch(path, json={"settings": {"retentionDays": 2, "trashRetentionDays": 1}},
                          headers=PLATFORM).status_code == 200
    assert datetime.fromisoformat(expiry(message["id"]).replace("Z", "+00:00")) == received + timedelta(days=2)
    trashed_expiry = datetime.fromisoformat(expiry(trashed["id"]).replace("Z", "+00:00"))
    assert trashed_expiry - datetime.fromisoformat(trashed["receivedAt"].replace("Z", "+00:00")) < timedelta(days=1,
                                                                                                          minutes=1)


def test_counts_stay_exact_through_parallel_changes_and_reconcile_finds_no_drift(api):
    mailbox = api.provision(maxMessages=50)
    path = api.mailbox_path(mailbox)
    audio = tone_wav(0.2)
    ids = [a.json()["id"] for a in _parallel(12, lambda: api.deposit(mailbox, audio, urgent="true"))]
    changes = [{"heard": True}, {"folder": "saved"}, {"folder": "trash"}, {"heard": True, "folder": "saved"}]

    def change(i: int):
        message_id = ids[i]
        if i == 11:
            return api.http.delete(f"{path}/messages/{message_id}", params={"purge": "true"}, headers=PLATFORM)
        return api.http.patch(f"{path}/messages/{message_id}", json=changes[i % 4], headers=PLATFORM)

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        assert all(a.status_code in (200, 204) for a in pool.map(change, range(12)))
    listed = api.http.get(f"{path}/messages", params={"limit": 200}, headers=PLATFORM).json()["items"]
    saved = [m for m in listed if m["folder"] == "saved"]
    new = [m for m in listed if m["folder"] == "inbox" and not m["heard"]]
    inbox = [m for m in listed if m["folder"] == "inbox"]
    counts = api.http.get(path, headers=PLATFORM).json()["counts"]
    assert counts == {"new": len(new), "saved": len(saved), "urgentNew": len(new), "total": len(inbox) + len(saved)}
    reconciled = api.http.post(f"{path}/counts/reconcile", headers=PLATFORM)
    assert reconciled.status_code == 200, reconciled.text
    body = reconciled.json()
    assert body["messagesSettled"] == 0
    assert body["drift"] == {"new": 0, "saved": 0, "urgentNew": 0, "heard": 0, "pending": 0}
    assert body["counts"]["new"] == counts["new"] and body["counts"]["saved"] == counts["saved"]


def test_reconcile_is_for_operators_only(api):
    mailbox = api.provision()
    token = api.login(mailbox)
    assert api.http.post(f"{api.mailbox_path(mailbox)}/counts/reconcile", headers=token).status_code == 403
