"""Legal hold and a fresh start under an old id, end to end: the local host on the emulators."""

from __future__ import annotations

import pytest

from tests.integration.api_support import PLATFORM, Api, tone_wav
from tests.integration.test_sweeps import (
    SETTINGS,
    cosmos_container,
    expire,
    run_sweep,
    sweeps_in_turn,  # noqa: F401 - autouse: takes turns with test_sweeps
)
from tests.support import HostProcess, product_env, random_name, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]  # may wait its turn (test_sweeps)


@pytest.fixture
def region(stack, tmp_path):
    env = product_env(random_name("r"), **SETTINGS)
    with HostProcess(env, tmp=tmp_path) as host:
        yield host, Api(host.base_url, "unused")


def _message(api: Api, mailbox: str, message_id: str, headers: dict[str, str] = PLATFORM):
    return api.http.get(f"{api.mailbox_path(mailbox)}/messages/{message_id}", headers=headers)


def test_a_mailbox_provisioned_again_under_its_id_starts_fresh(region):
    host, api = region
    mailbox = api.provision(pin="1234")
    old_session = api.login(mailbox, "1234")
    key = {"Idempotency-Key": "call-0001"}
    audio = tone_wav(0.2)
    first = api.deposit(mailbox, audio, headers=key)
    assert first.status_code == 202, first.text
    old_id = first.json()["id"]
    old_doc = cosmos_container().read_item(old_id, partition_key=mailbox)
    assert api.http.delete(api.mailbox_path(mailbox), headers=PLATFORM).status_code == 202
    # Its erasure (functions/erasure.py, every 10 s) done, and the tombstone purged: the id is free.
    wait_until(lambda: api.http.get(f"{api.mailbox_path(mailbox)}/erasure", headers=PLATFORM).json().get(
        "status") == "done", 60, interval=0.5, message="the erasure done")
    assert run_sweep(host, "retention")["runtimeStatus"] == "Completed"
    assert api.http.get(api.mailbox_path(mailbox), headers=PLATFORM).status_code == 404
    # While the id is free, someone guesses PINs at it until it locks.
    sessions = f"{api.mailbox_path(mailbox)}/sessions"
    assert [api.http.post(sessions, json={"pin": "0000"}).status_code for _ in range(6)] == [401] * 5 + [423]
    # A copy of the first owner's message that the purge did not reach (a late replica).
    cosmos_container().create_item({k: v for k, v in old_doc.items() if not k.startswith("_")})

    api.provision(mailbox, pin="9876")
    refused = api.http.get(api.mailbox_path(mailbox), headers=old_session)
    assert refused.status_code == 401 and refused.json()["type"] == "invalid-token"
    new_session = api.login(mailbox, "9876")  # the guesses at the free id do not lock the new owner
    assert api.http.get(api.mailbox_path(mailbox), headers=new_session).status_code == 200
    again = api.deposit(mailbox, audio, headers=key)
    assert again.status_code == 202 and again.json()["id"] != old_id  # deposited anew, not the old message
    assert api.deposit(mailbox, audio, headers=key).json()["id"] == again.json()["id"]  # its own retries meet it


def test_a_held_mailbox_keeps_its_messages_until_released(region):
    host, api = region
    mailbox = api.provision()
    kept, trashed = (api.deposit(mailbox, tone_wav(0.2)).json()["id"] for _ in range(2))
    hold = f"{api.mailbox_path(mailbox)}/hold"
    assert api.http.put(hold, json={"reason": "mine"}, headers=api.login(mailbox)).status_code == 403
    held = api.http.put(hold, json={"reason": "case 2026-117"}, headers=PLATFORM)
    assert held.status_code == 200, held.text
    assert held.json()["reason"] == "case 2026-117" and held.json()["by"].startswith("platform:") and held.json()["at"]

    purge = api.http.delete(f"{api.mailbox_path(mailbox)}/messages/{kept}", params={"purge": "true"}, headers=PLATFORM)
    assert purge.status_code == 409 and purge.json()["type"] == "held"
    deprovision = api.http.delete(api.mailbox_path(mailbox), headers=PLATFORM)
    assert deprovision.status_code == 409 and deprovision.json()["type"] == "held"
    assert api.http.delete(f"{api.mailbox_path(mailbox)}/messages/{trashed}", headers=PLATFORM).status_code == 204
    assert _message(api, mailbox, trashed).json()["folder"] == "trash"

    expire(mailbox, kept)  # as if its retention had passed
    assert run_sweep(host, "retention")["runtimeStatus"] == "Completed"
    assert _message(api, mailbox, kept).status_code == 200

    assert api.http.delete(hold, headers=PLATFORM).status_code == 204
    purge = api.http.delete(f"{api.mailbox_path(mailbox)}/messages/{kept}", params={"purge": "true"}, headers=PLATFORM)
    assert purge.status_code == 204
    assert _message(api, mailbox, kept).status_code == 404
