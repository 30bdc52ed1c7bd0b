"""Deposit, query, audio, changes and forward through HTTP on the local host, against the emulators."""

from __future__ import annotations

import concurrent.futures
import time
from datetime import UTC, datetime

import httpx
import pytest
from azure.cosmos import CosmosClient

from devstack import localstack
from tests.integration.api_support import PLATFORM, tone_wav
from tests.support import random_name, wait_until

pytestmark = pytest.mark.integration
# These tests look at messages while they are `processing`: the transcoder stays off here
# (tests/integration/test_audio_pipeline.py runs it).
PRODUCT_SETTINGS = {"AzureWebJobs.incoming_audio.Disabled": "true"}


def make_ready(mailbox_id: str, message_id: str) -> None:
    """What the transcoder will do: mark the message ready (its original is its only audio)."""
    container = CosmosClient(localstack.cosmos_endpoint(), credential=localstack.COSMOS_KEY,
                             enable_endpoint_discovery=False).get_database_client("voicemail") \
        .get_container_client("mailboxes")
    doc = container.read_item(message_id, partition_key=mailbox_id)
    container.replace_item(message_id, {**doc, "status": "ready", "durationMs": 500})


def test_inline_deposit_is_202_durable_and_counted(api):
    mailbox = api.provision()
    audio = tone_wav(0.5)
    response = api.deposit(mailbox, audio, **{"from": "+15550001111", "fromName": "Bob", "urgent": "true"})
    assert response.status_code == 202, response.text
    message = response.json()
    assert message["status"] == "processing" and message["folder"] == "inbox"
    assert message["from"] == {"number": "+15550001111", "name": "Bob"}
    assert message["urgent"] is True and message["heard"] is False
    assert response.headers["location"].endswith(f"/messages/{message['id']}")
    assert response.headers["etag"] == message["etag"]
    got = api.http.get(f"{api.mailbox_path(mailbox)}/messages/{message['id']}", headers=PLATFORM)
    assert got.status_code == 200 and got.json()["id"] == message["id"]
    counts = api.http.get(api.mailbox_path(mailbox), headers=PLATFORM).json()["counts"]
    assert counts == {"new": 1, "saved": 0, "urgentNew": 1, "total": 1}
    events = wait_until(lambda: api.mwi_events(mailbox), 5, message="MWI event")
    assert events[-1]["new"] == 1 and events[-1]["urgentNew"] == 1
    original = api.http.get(f"{api.mailbox_path(mailbox)}/messages/{message['id']}/audio",
                            params={"format": "original"}, headers=PLATFORM)
    assert original.status_code == 200 and original.content == audio
    assert original.headers["content-type"] == "audio/wav"


@pytest.mark.parametrize(("content", "content_type", "status", "slug"), [
    (b"", "audio/wav", 415, "invalid-audio"),
    (b"hello", "text/plain", 415, "invalid-audio"),
    (b"x" * (20 * 1024 * 1024 + 1), "audio/wav", 413, "payload-too-large"),
])
def test_deposit_refuses_what_is_not_audio_or_too_big(api, content, content_type, status, slug):
    mailbox = api.provision()
    response = api.deposit(mailbox, content, headers={"content-type": content_type})
    assert response.status_code == status
    assert response.json()["type"] == slug
    assert api.list_all(mailbox) == []


def test_deposit_to_an_unknown_mailbox_is_404(api):
    response = api.deposit("+19998887777" + random_name("")[:3].replace("a", "1"))
    assert response.status_code == 404 and response.json()["type"] == "mailbox-not-found"


def test_a_full_mailbox_refuses_deposits(api):
    mailbox = api.provision(maxMessages=2)
    assert api.deposit(mailbox).status_code == 202
    assert api.deposit(mailbox).status_code == 202
    full = api.deposit(mailbox)
    assert full.status_code == 409 and full.json()["type"] == "mailbox-full"


def test_idempotency_key_gives_back_the_same_message(api):
    mailbox = api.provision()
    audio = tone_wav(0.3)
    first = api.deposit(mailbox, audio, headers={"Idempotency-Key": "call-1"})
    again = api.deposit(mailbox, audio, headers={"Idempotency-Key": "call-1"})
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    other = api.deposit(mailbox, tone_wav(0.3, hz=300), headers={"Idempotency-Key": "call-1"})
    assert other.status_code == 409 and other.json()["type"] == "idempotency-key-reused"
    assert len(api.list_all(mailbox)) == 1
    assert len(api.mwi_events(mailbox)) == 1


def test_twenty_concurrent_deposits_with_one_key_make_one_message(api):
    mailbox = api.provision()
    audio = tone_wav(0.3)
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(lambda _: api.deposit(mailbox, audio, headers={"Idempotency-Key": "same"}),
                                  range(20)))
    assert {r.status_code for r in responses} == {202}, [r.text for r in responses if r.status_code != 202]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(api.list_all(mailbox)) == 1


def test_unknown_json_fields_in_an_upload_request_are_rejected(api):
    mailbox = api.provision()
    response = api.http.post(f"{api.mailbox_path(mailbox)}/messages", headers=PLATFORM,
                             json={"contentType": "audio/wav", "sizeBytes": 10, "extra": True})
    assert response.status_code == 400 and "extra" in response.json()["detail"]


def test_audio_ranges_formats_and_links(api):
    mailbox = api.provision()
    audio = tone_wav(1.0)
    message = api.deposit(mailbox, audio).json()
    url = f"{api.mailbox_path(mailbox)}/messages/{message['id']}/audio"
    processing = api.http.get(url, headers=PLATFORM)
    assert processing.status_code == 409 and processing.json()["type"] == "message-processing"
    assert api.http.get(url, params={"format": "opus"}, headers=PLATFORM).status_code == 409
    part = api.http.get(url, params={"format": "original"}, headers={**PLATFORM, "Range": "bytes=0-99"})
    assert part.status_code == 206
    assert part.content == audio[:100]
    assert part.headers["content-range"] == f"bytes 0-99/{len(audio)}"
    tail = api.http.get(url, params={"format": "original"}, headers={**PLATFORM, "Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == audio[-10:]
    beyond = api.http.get(url, params={"format": "original"}, headers={**PLATFORM, "Range": f"bytes={len(audio)}-"})
    assert beyond.status_code == 416
    assert api.http.get(url, params={"format": "flac"}, headers=PLATFORM).status_code == 400
    redirect = api.http.get(url, params={"format": "original", "redirect": "true"}, headers=PLATFORM)
    assert redirect.status_code == 302
    link = redirect.headers["location"]
    assert httpx.get(link).content == audio
    assert httpx.put(link, content=b"overwrite", headers={"x-ms-blob-type": "BlockBlob"}).status_code == 403
    expiry = datetime.fromisoformat(httpx.URL(link).params["se"].replace("Z", "+00:00"))
    assert (expiry - datetime.now(UTC)).total_seconds() <= 15 * 60
    make_ready(mailbox, message["id"])
    assert api.http.get(url, headers=PLATFORM).content == audio  # ready: the default format is served


def test_flags_if_match_trash_undo_and_purge(api):
    mailbox = api.provision()
    message = api.deposit(mailbox).json()
    url = f"{api.mailbox_path(mailbox)}/messages/{message['id']}"
    heard = api.http.patch(url, json={"heard": True}, headers={**PLATFORM, "If-Match": message["etag"]})
    assert heard.status_code == 200 and heard.json()["heard"] is True
    stale = api.http.patch(url, json={"urgent": True}, headers={**PLATFORM, "If-Match": message["etag"]})
    assert stale.status_code == 412 and stale.json()["type"] == "etag-mismatch"
    assert api.http.patch(url, json={"colour": "red"}, headers=PLATFORM).status_code == 400
    assert api.http.patch(url, json={}, headers=PLATFORM).status_code == 400
    saved = api.http.patch(url, json={"folder": "saved"}, headers=PLATFORM)
    assert saved.json()["folder"] == "saved"
    assert api.http.get(api.mailbox_path(mailbox), headers=PLATFORM).json()["counts"] == {
        "new": 0, "saved": 1, "urgentNew": 0, "total": 1}
    assert api.http.delete(url, headers=PLATFORM).status_code == 204
    assert api.list_all(mailbox) == []
    assert [m["id"] for m in api.list_all(mailbox, folder="trash")] == [message["id"]]
    assert api.http.get(api.mailbox_path(mailbox), headers=PLATFORM).json()["counts"]["total"] == 0
    undo = api.http.patch(url, json={"folder": "inbox"}, headers=PLATFORM)
    assert undo.status_code == 200 and undo.json()["folder"] == "inbox"
    assert api.http.delete(url, params={"purge": "true"}, headers=PLATFORM).status_code == 204
    assert api.http.get(url, headers=PLATFORM).status_code == 404
    assert api.http.get(f"{url}/audio", params={"format": "original"}, headers=PLATFORM).status_code == 404
    events = api.mwi_events(mailbox)
    # deposit, heard, saved, trash, undo (back in the inbox, heard), purge
    assert [e["new"] for e in events] == [1, 0, 0, 0, 0, 0]
    assert [e["saved"] for e in events] == [0, 0, 1, 0, 0, 0]


def test_forward_copies_audio_into_another_mailbox(api):
    source, target = api.provision(), api.provision()
    audio = tone_wav(0.4)
    message = api.deposit(source, audio).json()
    url = f"{api.mailbox_path(source)}/messages/{message['id']}/forward"
    early = api.http.post(url, json={"to": target}, headers=PLATFORM)
    assert early.status_code == 409 and early.json()["type"] == "message-processing"
    make_ready(source, message["id"])
    token = api.login(source)
    forwarded = api.http.post(url, json={"to": target}, headers=token)
    assert forwarded.status_code == 202, forwarded.text
    copy = forwarded.json()
    assert copy["mailboxId"] == target and copy["id"] != message["id"] and copy["status"] == "ready"
    copy_url = f"{api.mailbox_path(target)}/messages/{copy['id']}"
    changed = api.http.patch(copy_url, json={"heard": True, "folder": "saved"}, headers=PLATFORM)
    assert changed.status_code == 200, changed.text
    again = api.http.post(url, json={"to": target}, headers=token)
    assert again.status_code == 202 and again.json()["id"] == copy["id"]
    # The first forward's answer, never the target's copy as it now is (heard, folder, ETag).
    assert (again.json()["heard"], again.json()["folder"]) == (False, "inbox")
    assert again.json()["etag"] is None and "etag" not in again.headers
    assert [m["id"] for m in api.list_all(target)] == [copy["id"]]
    played = api.http.get(f"{api.mailbox_path(target)}/messages/{copy['id']}/audio",
                          params={"format": "original"}, headers=PLATFORM)
    assert played.content == audio
    nowhere = api.http.post(url, json={"to": "+10000000000"}, headers=token)
    # An unknown target answers as a full one would: forwards never reveal which mailboxes exist.
    assert nowhere.status_code == 409 and nowhere.json()["type"] == "forward-refused"


@pytest.mark.parametrize("params", [
    {"limit": "0"}, {"limit": "201"}, {"limit": "ten"}, {"folder": "spam"}, {"heard": "maybe"},
    {"order": "sideways"}, {"since": "yesterday"}, {"since": "2026-11-27T08:00:00"},
    {"since": "2026-11-27T09:00:00Z", "until": "2026-11-27T08:00:00Z"}, {"continuation": "garbage"},
])
def test_list_parameters_are_validated(api, params):
    mailbox = api.provision()
    response = api.http.get(f"{api.mailbox_path(mailbox)}/messages", params=params, headers=PLATFORM)
    assert response.status_code == 400, params
    assert response.json()["type"] == "validation-failed"


def test_paging_through_250_messages_yields_each_once_in_order(api):
    mailbox = api.provision(maxMessages=1000)
    expected: dict[str, dict] = {}

    def deposit(i: int) -> None:
        response = api.deposit(mailbox, b"RIFF" + i.to_bytes(4, "big"), urgent="true" if i % 3 == 0 else "false",
                               headers={"content-type": "audio/basic"})
        assert response.status_code == 202, response.text
        expected[response.json()["id"]] = response.json()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(deposit, range(250)))
    ids = sorted(expected, key=lambda i: (expected[i]["receivedAt"], i))
    for message_id in ids[::5]:
        expected[message_id] = api.http.patch(f"{api.mailbox_path(mailbox)}/messages/{message_id}",
                                              json={"heard": True}, headers=PLATFORM).json()
    for message_id in ids[1::7]:
        expected[message_id] = api.http.patch(f"{api.mailbox_path(mailbox)}/messages/{message_id}",
                                              json={"folder": "saved"}, headers=PLATFORM).json()
    middle = expected[ids[100]]["receivedAt"]
    later = expected[ids[200]]["receivedAt"]

    def matches(message: dict, params: dict) -> bool:
        return all([
            message["folder"] == params["folder"] if "folder" in params else message["folder"] != "trash",
            "heard" not in params or message["heard"] == (params["heard"] == "true"),
            "urgent" not in params or message["urgent"] == (params["urgent"] == "true"),
            "since" not in params or message["receivedAt"] >= params["since"],
            "until" not in params or message["receivedAt"] < params["until"],
        ])

    for params in [{}, {"order": "asc"}, {"folder": "inbox"}, {"folder": "saved", "order": "asc"},
                   {"heard": "false"}, {"urgent": "true", "heard": "false"}, {"since": middle},
                   {"since": middle, "until": later, "order": "asc"}, {"urgent": "false", "folder": "inbox"}]:
        for limit in ("7", "50", "200"):
            listed = api.list_all(mailbox, limit=limit, **params)
            want = [i for i in ids if matches(expected[i], params)]
            if params.get("order") != "asc":
                want.reverse()
            got = [m["id"] for m in listed]
            assert len(got) == len(set(got)), f"duplicates with {params} limit {limit}"
            assert got == want, f"{params} limit {limit}"
    started = time.monotonic()
    assert len(api.list_all(mailbox, limit="200")) == 250
    assert time.monotonic() - started < 30


def test_the_mailbox_and_its_tallies_are_not_messages(api):
    """A message is read with its mailbox in one query of the partition: the partition's other
    documents (the mailbox, its tallies) are never answered, changed or purged as messages."""
    mailbox = api.provision()
    api.deposit(mailbox)
    container = CosmosClient(localstack.cosmos_endpoint(), credential=localstack.COSMOS_KEY,
                             enable_endpoint_discovery=False).get_database_client("voicemail") \
        .get_container_client("mailboxes")
    others = [doc["id"] for doc in container.query_items(
        "SELECT c.id FROM c WHERE c.mailboxId = @m AND c.type != 'message'",
        parameters=[{"name": "@m", "value": mailbox}], partition_key=mailbox)]
    assert "mailbox" in others and any(doc_id.startswith("tally-") for doc_id in others)
    for doc_id in others:
        url = f"{api.mailbox_path(mailbox)}/messages/{doc_id}"
        for answer in (api.http.get(url, headers=PLATFORM),
                       api.http.patch(url, json={"heard": True}, headers=PLATFORM),
                       api.http.delete(url, headers=PLATFORM),
                       api.http.delete(url, params={"purge": "true"}, headers=PLATFORM)):
            assert answer.status_code == 404 and answer.json()["type"] == "message-not-found", (doc_id, answer.text)
    assert api.http.get(api.mailbox_path(mailbox), headers=PLATFORM).json()["counts"]["new"] == 1
