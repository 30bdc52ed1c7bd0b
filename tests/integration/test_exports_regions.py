"""An export across two local regions (one database, two storage accounts): asked for in region a,
built by a's management plane in a's account with a message and a greeting held in region b, its
status answered by either region with a link that downloads the same ZIP."""

from __future__ import annotations

import io
import json
import zipfile

import httpx
import pytest

from tests.integration.api_support import PLATFORM, tone_wav
from tests.integration.test_regions import two_regions
from tests.support import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def regions(stack, tmp_path_factory):
    yield from two_regions(tmp_path_factory, {})


def test_an_export_asked_in_one_region_holds_what_the_other_region_took(regions):
    hosts, _ = regions
    (_, api_a), (_, api_b) = hosts["a"], hosts["b"]
    mailbox = api_a.provision()
    base = api_a.mailbox_path(mailbox)
    in_a = api_a.deposit(mailbox, tone_wav(1.0, hz=440)).json()["id"]
    in_b = api_b.deposit(mailbox, tone_wav(1.3, hz=550)).json()["id"]
    greeting = api_b.http.put(f"{base}/greetings/name", content=tone_wav(1.2, hz=350),
                              headers={**PLATFORM, "content-type": "audio/wav"})
    assert greeting.status_code == 202, greeting.text
    for api, message_id in ((api_a, in_a), (api_b, in_b)):
        wait_until(lambda api=api, message_id=message_id: api.http.get(
            f"{base}/messages/{message_id}", headers=PLATFORM).json()["status"] == "ready", 60, interval=0.3,
            message="messages ready")
    wait_until(lambda: api_b.http.get(f"{base}/greetings/name/audio", params={"format": "opus"},
                                      headers=PLATFORM).status_code == 200, 60, interval=0.3, message="greeting")

    started = api_a.http.post(f"{base}/exports", headers=PLATFORM)
    assert started.status_code == 202, started.text
    status_path = started.json()["statusUrl"].removeprefix("/api")
    ready = wait_until(lambda: (s := api_b.http.get(status_path, headers=PLATFORM).json())["status"] != "running"
                       and s, 120, interval=1, message="the export built (status read in region b)")
    assert ready["status"] == "ready", ready
    from_a = api_a.http.get(status_path, headers=PLATFORM).json()
    zips = [httpx.get(answer["url"], timeout=30).content for answer in (ready, from_a)]
    assert zips[0] == zips[1]  # one ZIP, in region a's account, whichever region answered
    archive = zipfile.ZipFile(io.BytesIO(zips[0]))

    messages = {m["id"]: m for m in json.loads(archive.read("messages.json"))}
    assert set(messages) == {in_a, in_b}
    for message_id in (in_a, in_b):
        assert messages[message_id] == api_a.http.get(f"{base}/messages/{message_id}", headers=PLATFORM).json()
        original = api_b.http.get(f"{base}/messages/{message_id}/audio", params={"format": "original"},
                                  headers=PLATFORM).content
        assert archive.read(f"messages/{message_id}.wav") == original
    name = api_b.http.get(f"{base}/greetings/name/audio", params={"format": "original"}, headers=PLATFORM).content
    assert archive.read("greetings/name.wav") == name
    assert json.loads(archive.read("mailbox.json")) == api_a.http.get(base, headers=PLATFORM).json()
