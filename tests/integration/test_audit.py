"""The audit trail through HTTP on the local host, against Azurite: each kind of action the contract
names is recorded (platform calls, logins right and wrong, audio reads and links), with no content,
read back in pages by the platform only."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.api_support import PLATFORM, PLATFORM_KEY, tone_wav
from tests.support import wait_until

pytestmark = pytest.mark.integration


def trail(api, mailbox: str, **params: str) -> list[dict]:
    items, continuation = [], None
    while True:
        query = {**params, **({"continuation": continuation} if continuation else {})}
        response = api.http.get(f"{api.mailbox_path(mailbox)}/audit", params=query, headers=PLATFORM)
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        continuation = response.json()["continuation"]
        if continuation is None:
            return items


def test_every_kind_of_action_is_recorded_without_content(api):
    mailbox = api.provision(pin="8642")
    path = api.mailbox_path(mailbox)
    deposited = api.deposit(mailbox, tone_wav(0.5), **{"from": "+15550009999", "fromName": "Secret Caller"})
    assert deposited.status_code == 202, deposited.text
    message = deposited.json()["id"]
    assert api.http.post(f"{path}/sessions", json={"pin": "0000"}).status_code == 401  # a wrong PIN
    token = api.login(mailbox, "8642")
    heard = api.http.get(f"{path}/messages/{message}/audio", params={"format": "original"}, headers=token)
    assert heard.status_code == 200
    link = api.http.get(f"{path}/messages/{message}/audio", params={"format": "original", "redirect": "true"},
                        headers=PLATFORM)
    assert link.status_code == 302
    assert api.http.get(f"{path}/messages", headers=token).status_code == 200  # a subscriber's list: not audited

    key_id = hashlib.sha256(PLATFORM_KEY.encode()).hexdigest()[:12]
    wanted = {(f"platform:{key_id}", "put_mailbox", 201), (f"platform:{key_id}", "deposit_message", 202),
              ("subscriber", "create_session", 401), ("subscriber", "create_session", 201),
              ("subscriber", "get_message_audio", 200), (f"platform:{key_id}", "get_message_audio", 302)}

    def recorded():
        items = trail(api, mailbox)
        return items if wanted <= {(i["actor"], i["action"], i["status"]) for i in items} else None

    items = wait_until(recorded, 10, message="the audit records")
    assert not [i for i in items if i["action"] == "list_messages"]
    assert all(i["target"].startswith(f"mailboxes/{mailbox}") and i["client"] for i in items)
    assert {i["target"] for i in items if i["action"] == "get_message_audio"} == {
        f"mailboxes/{mailbox}/messages/{message}/audio"}
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)
    text = json.dumps(items)
    assert "Secret Caller" not in text and "+15550009999" not in text and "8642" not in text

    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert trail(api, mailbox, since=later) == []
    refused = api.http.get(f"{path}/audit", headers=token)
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
