"""Usage across two regions through a partition and its heal: deposits on both sides (one of them the
same deposit retried with its Idempotency-Key in the other region) add up exactly, the retry once,
and both regions report the same days once replication catches up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devstack import replicator
from tests.integration.api_support import PLATFORM, tone_wav
from tests.integration.test_partition import regions  # noqa: F401 - the fixture: two hosts, two emulators
from tests.support import OPERATOR_KEY, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
OPERATOR = {"x-api-key": OPERATOR_KEY}
AUDIO = tone_wav(1.2)


def _usage(api) -> dict:
    today = datetime.now(UTC).date().isoformat()
    answer = api.http.get("/tenants/default/usage", params={"from": today, "to": today}, headers=OPERATOR)
    assert answer.status_code == 200, answer.text
    return answer.json()["days"][0]


def _ready(api, mailbox: str, message_id: str) -> dict | None:
    answer = api.http.get(f"{api.mailbox_path(mailbox)}/messages/{message_id}", headers=PLATFORM)
    return answer.json() if answer.status_code == 200 and answer.json()["status"] == "ready" else None


def test_usage_is_exact_in_both_regions_after_a_partition_heals(regions):  # noqa: F811
    apis, endpoints, state = regions
    a, b = apis["a"], apis["b"]
    mailbox = a.provision(transcription=False)
    wait_until(lambda: b.http.get(b.mailbox_path(mailbox), headers=PLATFORM).status_code == 200, 60, interval=0.3,
               message="the mailbox replicated to region b")
    before = _usage(a)

    replicator.partition(state)
    retried = {"Idempotency-Key": "bill-me-once"}
    sent = [(a, a.deposit(mailbox, AUDIO, headers=retried)), (a, a.deposit(mailbox, AUDIO, headers=retried)),
            (b, b.deposit(mailbox, AUDIO, headers=retried)),  # the client's retry, in the other region
            (a, a.deposit(mailbox, AUDIO)), (b, b.deposit(mailbox, AUDIO))]
    assert [answer.status_code for _, answer in sent] == [202] * 5, [answer.text for _, answer in sent]
    ids = {answer.json()["id"] for _, answer in sent}
    assert len(ids) == 3  # the retried deposit is one message, whichever region took it
    for api, answer in sent:  # each side finishes what it took, while still apart
        wait_until(lambda api=api, answer=answer: _ready(api, mailbox, answer.json()["id"]), 60, interval=0.3,
                   message="a deposit ready on its own side")

    replicator.heal(state)
    replicator.wait_converged(endpoints, timeout=60, state_dir=state)
    messages = [wait_until(lambda m=message_id: _ready(a, mailbox, m), 60, interval=0.3, message="ready in a")
                for message_id in sorted(ids)]
    expected = {"deposits": before["deposits"] + 3,
                "audioSeconds": round(before["audioSeconds"] + sum(m["durationMs"] for m in messages) / 1000, 3)}
    seen: list[dict] = []

    def agreed() -> bool:
        seen[:] = [_usage(a), _usage(b)]
        return all({k: day[k] for k in expected} == expected for day in seen)

    try:
        wait_until(agreed, 60, interval=0.5, message="both regions reporting the exact usage")
    except AssertionError as error:
        raise AssertionError(f"{error}: expected {expected}, (a, b) reported {seen}") from None
    assert seen[0] == seen[1]
