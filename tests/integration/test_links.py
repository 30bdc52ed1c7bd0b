"""Upload and read links end to end, through the local host against Azurite: an upload link creates
its one blob once and can never overwrite it; a read link downloads with the rendition's content type
as an attachment."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.integration.api_support import PLATFORM, tone_wav
from tests.support import ROOT, wait_until

pytestmark = pytest.mark.integration
SPEECH = (ROOT / "samples" / "hello.wav").read_bytes()  # 4.0 s, 8 kHz
RENDITIONS = {"opus": "audio/ogg", "wav": "audio/wav", "mp3": "audio/mpeg"}


def link_query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def assert_short_lived(url: str) -> None:
    expiry = datetime.fromisoformat(link_query(url)["se"].replace("Z", "+00:00"))
    assert 0 < (expiry - datetime.now(UTC)).total_seconds() <= 15 * 60, expiry


def request_upload(api, mailbox: str, size: int) -> tuple[dict, dict]:
    response = api.http.post(f"{api.mailbox_path(mailbox)}/messages", headers=PLATFORM,
                             json={"contentType": "audio/wav", "sizeBytes": size})
    assert response.status_code == 201, response.text
    return response.json()["message"], response.json()["upload"]


def settled(api, mailbox: str, message_id: str, timeout: float = 60) -> dict:
    url = f"{api.mailbox_path(mailbox)}/messages/{message_id}"
    return wait_until(lambda: (r := api.http.get(url, headers=PLATFORM)).status_code == 200
                      and r.json()["status"] in ("ready", "failed") and r.json(),
                      timeout, interval=0.3, message=f"message {message_id} to leave processing")


def original(api, mailbox: str, message_id: str) -> bytes:
    response = api.http.get(f"{api.mailbox_path(mailbox)}/messages/{message_id}/audio",
                            params={"format": "original"}, headers=PLATFORM)
    assert response.status_code == 200, response.text
    return response.content


def overwrite_attempts(url: str, headers: dict[str, str]) -> list[httpx.Response]:
    """Every way a SAS holder could try to replace a block blob: a whole PUT, or blocks then a block list."""
    other = tone_wav(1.0, hz=900)
    block_id = base64.b64encode(b"block-0").decode()
    block_list = f'<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>{block_id}</Latest></BlockList>'
    return [httpx.put(url, content=other, headers=headers),
            httpx.put(f"{url}&comp=block&blockid={block_id}", content=other),
            httpx.put(f"{url}&comp=blocklist", content=block_list)]


def test_an_upload_link_creates_its_blob_once_and_never_overwrites_it(api):
    mailbox = api.provision()
    message, upload = request_upload(api, mailbox, len(SPEECH))
    assert link_query(upload["url"])["sp"] == "c"  # create only: no write, read or delete
    assert_short_lived(upload["url"])

    first = httpx.put(upload["url"], content=SPEECH, headers=upload["headers"])
    assert first.status_code == 201, first.text
    for again in overwrite_attempts(upload["url"], upload["headers"]):
        assert again.status_code in (403, 409), (again.request.url, again.status_code, again.text)

    ready = settled(api, mailbox, message["id"])  # hidden until the pipeline has seen its audio
    assert ready["status"] == "ready", ready  # transcoded from what landed first
    assert original(api, mailbox, message["id"]) == SPEECH
    # Still refused once the message is processed, and the audio is still the first upload.
    for again in overwrite_attempts(upload["url"], upload["headers"]):
        assert again.status_code in (403, 409), (again.request.url, again.status_code, again.text)
    assert original(api, mailbox, message["id"]) == SPEECH
    assert abs(ready["durationMs"] - 4000) <= 20


def test_a_second_upload_request_for_a_landed_message_cannot_replace_its_audio(api):
    mailbox = api.provision()
    headers = {**PLATFORM, "Idempotency-Key": "links-replay"}
    body = {"contentType": "audio/wav", "sizeBytes": len(SPEECH)}
    path = f"{api.mailbox_path(mailbox)}/messages"
    first = api.http.post(path, headers=headers, json=body).json()
    assert httpx.put(first["upload"]["url"], content=SPEECH, headers=first["upload"]["headers"]).status_code == 201
    assert settled(api, mailbox, first["message"]["id"])["status"] == "ready"
    replay = api.http.post(path, headers=headers, json=body)  # the same request again: the same message
    assert replay.status_code == 201 and replay.json()["message"]["id"] == first["message"]["id"], replay.text
    for again in overwrite_attempts(replay.json()["upload"]["url"], replay.json()["upload"]["headers"]):
        assert again.status_code in (403, 409), (again.request.url, again.status_code, again.text)
    assert original(api, mailbox, first["message"]["id"]) == SPEECH


def test_read_links_download_with_the_renditions_content_type_as_an_attachment(api):
    mailbox = api.provision()
    deposit = api.deposit(mailbox, SPEECH)
    assert deposit.status_code == 202, deposit.text
    message = settled(api, mailbox, deposit.json()["id"])
    assert message["status"] == "ready" and set(message["formats"]) == set(RENDITIONS), message
    url = f"{api.mailbox_path(mailbox)}/messages/{message['id']}/audio"
    cases = [(None, RENDITIONS[message["formats"][0]], message["formats"][0]),
             *((fmt, content_type, fmt) for fmt, content_type in RENDITIONS.items()),
             ("original", "audio/wav", message["id"])]
    for fmt, content_type, filename in cases:
        params = {"format": fmt} if fmt else {}
        redirect = api.http.get(url, params={**params, "redirect": "true"}, headers=PLATFORM)
        assert redirect.status_code == 302, (fmt, redirect.text)
        link = redirect.headers["location"]
        assert link_query(link)["sp"] == "r"
        assert_short_lived(link)
        served = api.http.get(url, params=params, headers=PLATFORM)
        fetched = httpx.get(link)
        assert fetched.status_code == 200, (fmt, fetched.text)
        assert fetched.headers["content-type"] == content_type == served.headers["content-type"], fmt
        assert fetched.headers["content-disposition"] == f'attachment; filename="{filename}"', fmt
        assert fetched.content == served.content, fmt


def test_an_originals_read_link_names_the_deposits_content_type_not_the_uploaders(api):
    mailbox = api.provision()
    message, upload = request_upload(api, mailbox, len(SPEECH))
    put = httpx.put(upload["url"], content=SPEECH,
                    headers={**upload["headers"], "Content-Type": "application/octet-stream"})
    assert put.status_code == 201, put.text
    assert settled(api, mailbox, message["id"])["status"] == "ready"  # visible once its audio is seen
    url = f"{api.mailbox_path(mailbox)}/messages/{message['id']}/audio"
    redirect = api.http.get(url, params={"format": "original", "redirect": "true"}, headers=PLATFORM)
    assert redirect.status_code == 302, redirect.text
    fetched = httpx.get(redirect.headers["location"])
    assert fetched.status_code == 200 and fetched.content == SPEECH
    assert fetched.headers["content-disposition"] == f'attachment; filename="{message["id"]}"'
    assert fetched.headers["content-type"] == "audio/wav"  # what the deposit declared and the API serves
