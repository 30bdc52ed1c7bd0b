"""A subscriber's data request end to end on the emulators: two messages and a greeting deposited,
an export requested, polled to `ready` (the management plane's timer starts its orchestration),
the ZIP downloaded through its read link and checked byte for byte against the API."""

from __future__ import annotations

import io
import json
import zipfile

import httpx
import pytest

from tests.integration.api_support import PLATFORM, tone_wav
from tests.support import wait_until

pytestmark = pytest.mark.integration
# Transcripts on (the local engine), so messages.json carries settled ones, as the API answers them.
PRODUCT_SETTINGS = {"TRANSCRIPTION_ENGINE": "local"}


def settled(api, mailbox: str, message_id: str) -> dict:
    """The message once ready with its transcript settled (nothing about it changes after that)."""
    def done():
        message = api.http.get(f"{api.mailbox_path(mailbox)}/messages/{message_id}", headers=PLATFORM).json()
        transcript = message.get("transcript")
        return message["status"] == "ready" and (transcript is None or transcript["status"] != "pending") and message
    return wait_until(done, 120, interval=0.5, message=f"message {message_id} settled")


def test_an_export_holds_what_the_api_answers_byte_for_byte(api):
    mailbox = api.provision()
    base = api.mailbox_path(mailbox)
    ids = [api.deposit(mailbox, tone_wav(seconds, hz=hz)).json()["id"] for seconds, hz in ((1.2, 440), (1.6, 660))]
    greeting = api.http.put(f"{base}/greetings/busy", content=tone_wav(1.5, hz=500),
                            headers={**PLATFORM, "content-type": "audio/wav"})
    assert greeting.status_code == 202, greeting.text
    for message_id in ids:
        settled(api, mailbox, message_id)
    wait_until(lambda: api.http.get(f"{base}/greetings/busy/audio", params={"format": "opus"},
                                    headers=PLATFORM).status_code == 200, 60, interval=0.3, message="greeting")

    requested = api.http.post(f"{base}/exports", headers=PLATFORM)
    assert requested.status_code == 202, requested.text
    started = requested.json()
    assert started["status"] == "running" and requested.headers["Location"] == started["statusUrl"]
    status_url = started["statusUrl"].removeprefix("/api")
    first = api.http.get(status_url, headers=PLATFORM).json()
    assert first["status"] in ("running", "ready")

    ready = wait_until(lambda: (s := api.http.get(status_url, headers=PLATFORM).json())["status"] != "running" and s,
                       120, interval=1, message="the export to be built")
    assert ready["status"] == "ready", ready
    assert ready["url"] and ready["expiresAt"] and ready["availableUntil"]
    download = httpx.get(ready["url"], timeout=30)
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    assert archive.testzip() is None

    assert json.loads(archive.read("mailbox.json")) == api.http.get(base, headers=PLATFORM).json()
    exported = {m["id"]: m for m in json.loads(archive.read("messages.json"))}
    assert set(exported) == set(ids)
    for message_id in ids:
        assert exported[message_id] == api.http.get(f"{base}/messages/{message_id}", headers=PLATFORM).json()
        original = api.http.get(f"{base}/messages/{message_id}/audio", params={"format": "original"},
                                headers=PLATFORM)
        assert archive.read(f"messages/{message_id}.wav") == original.content
    busy = api.http.get(f"{base}/greetings/busy/audio", params={"format": "original"}, headers=PLATFORM)
    assert archive.read("greetings/busy.wav") == busy.content
    assert sorted(archive.namelist()) == sorted(["mailbox.json", "messages.json", "greetings/busy.wav",
                                                 *(f"messages/{message_id}.wav" for message_id in ids)])

    # Only for the platform, only this mailbox's: another mailbox's id or an unknown one is 404.
    other = api.provision()
    for url in (f"{api.mailbox_path(other)}/exports/{started['exportId']}", f"{base}/exports/{'0' * 32}"):
        missing = api.http.get(url, headers=PLATFORM)
        assert (missing.status_code, missing.json()["type"]) == (404, "not-found")
    token = api.login(mailbox)
    assert api.http.get(status_url, headers=token).status_code == 403
    assert api.http.post(f"{base}/exports", headers=token).status_code == 403
    assert api.http.post(f"{api.mailbox_path('+19990000000')}/exports", headers=PLATFORM).status_code == 404
