"""A region as Azure runs it: the same package as two hosts, the API (`APP_ROLE=api`) and the
management plane (`APP_ROLE=management`). Notifications reach their target through the change feed
(the local host polls the emulator for it) with the dispatcher's sweep switched off; each plane
serves only its own routes."""

from __future__ import annotations

import time

import pytest

from devstack.webhook_receiver import WebhookReceiver
from tests.integration.api_support import PLATFORM, Api, tone_wav
from tests.support import HostProcess, product_env, random_name, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
NEVER = "0 0 0 1 1 *"


@pytest.fixture(scope="module")
def planes(stack, tmp_path_factory):
    env = product_env(random_name("mp"), MWI_QUEUE=random_name("mwi"), NOTIFICATIONS_SWEEP_SCHEDULE=NEVER)
    tmp = tmp_path_factory.mktemp("planes")
    with HostProcess({**env, "APP_ROLE": "api"}, tmp=tmp) as api, \
            HostProcess({**env, "APP_ROLE": "management"}, tmp=tmp) as management:
        yield Api(api.base_url, env["MWI_QUEUE"]), Api(management.base_url, env["MWI_QUEUE"])


def test_a_new_message_reaches_its_webhook_through_the_change_feed_without_the_sweep(planes):
    api, _ = planes
    mailbox = api.provision()
    with WebhookReceiver() as receiver:
        targets = {"targets": [{"kind": "webhook", "url": receiver.url("/hook")}]}
        assert api.http.put(f"{api.mailbox_path(mailbox)}/notifications", json=targets,
                            headers=PLATFORM).status_code == 200
        deposited = api.deposit(mailbox, tone_wav(1.0))
        assert deposited.status_code == 202, deposited.text
        started = time.monotonic()
        [call] = wait_until(lambda: receiver.received("/hook", "message.ready"), 30, interval=0.2,
                            message="message.ready at the webhook, with the sweep never running")
        assert deposited.json()["id"] in call["body"].decode()
        assert time.monotonic() - started < 30


def test_each_plane_serves_its_own_routes_only(planes):
    api, management = planes
    sweep = management.http.post("/admin/sweeps/retention", headers=PLATFORM)
    assert sweep.status_code == 202, sweep.text
    assert api.http.post("/admin/sweeps/retention", headers=PLATFORM).status_code == 404
    assert management.http.get("/admin/notifications/dead-letters", headers=PLATFORM).status_code == 200
    refused = management.http.post(f"{management.mailbox_path('+15550100')}/messages", content=tone_wav(0.5),
                                   headers={**PLATFORM, "Content-Type": "audio/wav"})
    assert refused.status_code == 404 and refused.headers["content-type"].startswith("application/problem+json")
    for plane in planes:
        assert plane.http.get("/health").status_code == 200
