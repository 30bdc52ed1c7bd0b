"""Usage per tenant per day through the real host and emulators, as an operator bills a wholesale
customer: a deposit retried with its Idempotency-Key counts once, its audio seconds once it is
ready; the tenant reads its own usage with its key, and no other tenant's; bad ranges are 400."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from tests.integration.api_support import PLATFORM, new_mailbox_id, tone_wav
from tests.support import OPERATOR_KEY, wait_until

pytestmark = pytest.mark.integration
OPERATOR = {"x-api-key": OPERATOR_KEY}


def new_tenant(api) -> tuple[str, dict[str, str]]:
    tenant = f"u{uuid.uuid4().hex[:10]}"
    assert api.http.put(f"/tenants/{tenant}", json={"displayName": "Usage"}, headers=OPERATOR).status_code == 201
    issued = api.http.post(f"/tenants/{tenant}/keys", headers=OPERATOR)
    assert issued.status_code == 201, issued.text
    return tenant, {"x-api-key": issued.json()["key"]}


def usage(api, tenant: str, headers: dict[str, str], start: str, end: str):
    return api.http.get(f"/tenants/{tenant}/usage", params={"from": start, "to": end}, headers=headers)


def today() -> str:
    return datetime.now(UTC).date().isoformat()


@pytest.fixture(scope="module")
def billed(api):
    """A tenant with one mailbox: one deposit sent twice with its key (and once more without), all ready."""
    tenant, key = new_tenant(api)
    mailbox = f"/tenants/{tenant}/mailboxes/{quote(new_mailbox_id(), safe='')}"
    made = api.http.put(mailbox, json={"displayName": "Billed", "settings": {"transcription": False}}, headers=key)
    assert made.status_code == 201, made.text
    ids = []
    for idempotency_key in ("first", "first", None):
        sent = api.http.post(f"{mailbox}/messages", content=tone_wav(1.5),
                             headers={**key, "content-type": "audio/wav",
                                      **({"Idempotency-Key": idempotency_key} if idempotency_key else {})})
        assert sent.status_code == 202, sent.text
        ids.append(sent.json()["id"])
    assert ids[0] == ids[1] != ids[2]
    messages = []
    for message_id in (ids[0], ids[2]):
        def ready(message_id=message_id):
            found = api.http.get(f"{mailbox}/messages/{message_id}", headers=key).json()
            return found if found["status"] == "ready" else None
        messages.append(wait_until(ready, 60, 0.3, "the message ready"))
    return {"tenant": tenant, "key": key, "seconds": sum(m["durationMs"] for m in messages) / 1000}


def test_a_retried_deposit_counts_once_and_its_audio_seconds_once_it_is_ready(api, billed):
    answer = usage(api, billed["tenant"], OPERATOR, today(), today())
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"days": [{"date": today(), "deposits": 2, "audioSeconds": round(billed["seconds"], 3),
                                       "transcriptionSeconds": 0, "emails": 0, "sms": 0, "webhooks": 0}]}


def test_the_tenant_reads_its_own_usage_and_every_day_of_the_range(api, billed):
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    answer = usage(api, billed["tenant"], billed["key"], yesterday, today())
    assert answer.status_code == 200, answer.text
    assert [(day["date"], day["deposits"]) for day in answer.json()["days"]] == [(yesterday, 0), (today(), 2)]


def test_another_tenants_key_and_default_platform_key_get_the_unknown_tenant_404(api, billed):
    _, other_key = new_tenant(api)
    for headers in (other_key, PLATFORM):
        answer = usage(api, billed["tenant"], headers, today(), today())
        assert answer.status_code == 404, answer.text
        assert answer.json()["type"].endswith("tenant-not-found")
    assert usage(api, "nobody-here", OPERATOR, today(), today()).status_code == 404


@pytest.mark.parametrize(("start", "end"), [("2026-12-02", "2026-12-01"), ("2025-01-01", "2026-01-02"),
                                            ("yesterday", "2026-12-01"), ("2026-02-30", "2026-03-01")])
def test_a_bad_range_is_validation_failed(api, billed, start, end):
    answer = usage(api, billed["tenant"], OPERATOR, start, end)
    assert answer.status_code == 400, answer.text
    assert answer.json()["type"].endswith("validation-failed")
    assert answer.headers["content-type"].startswith("application/problem+json")
