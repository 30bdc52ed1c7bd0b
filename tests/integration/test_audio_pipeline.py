"""The blob-triggered audio pipeline end to end: deposit, transcode, serve; limits, bad audio,
re-firing, direct uploads and greetings, through the local host against the emulators."""

from __future__ import annotations

import concurrent.futures
import io
import time

import av
import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from shared.domain.audio import largest_needed
from tests.integration.api_support import PLATFORM, tone_wav
from tests.support import ROOT, wait_until
from tests.unit.adapters.network_corpus import BY_NAME, corpus_file, missing_tool

pytestmark = pytest.mark.integration
SPEECH = (ROOT / "samples" / "hello.wav").read_bytes()  # 4.0 s, 8 kHz


def settled(api, mailbox: str, message_id: str, timeout: float = 60) -> dict:
    """The message once the pipeline has finished with it."""
    url = f"{api.mailbox_path(mailbox)}/messages/{message_id}"
    return wait_until(lambda: (m := api.http.get(url, headers=PLATFORM).json())["status"] in ("ready", "failed") and m,
                      timeout, interval=0.3, message=f"message {message_id} to leave processing")


def decoded_seconds(data: bytes) -> tuple[float, int, int]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.rate, stream.rate, stream.codec_context.channels


def test_a_deposit_becomes_ready_with_playable_renditions(api):
    mailbox = api.provision()
    message = api.deposit(mailbox, SPEECH).json()
    ready = settled(api, mailbox, message["id"])
    assert ready["status"] == "ready" and ready["error"] is None
    assert abs(ready["durationMs"] - 4000) <= 20
    assert ready["formats"] == ["opus", "wav", "mp3"] and ready["truncated"] is False
    url = f"{api.mailbox_path(mailbox)}/messages/{message['id']}/audio"
    for fmt, content_type in (("opus", "audio/ogg"), ("wav", "audio/wav"), ("mp3", "audio/mpeg")):
        response = api.http.get(url, params={"format": fmt}, headers=PLATFORM)
        assert response.status_code == 200 and response.headers["content-type"] == content_type
        seconds, rate, channels = decoded_seconds(response.content)
        assert abs(seconds - 4.0) < 0.1 and channels == 1, fmt
        if fmt == "wav":
            assert rate == 8000
        part = api.http.get(url, params={"format": fmt}, headers={**PLATFORM, "Range": "bytes=0-99"})
        assert part.status_code == 206 and part.content == response.content[:100]
    default = api.http.get(url, headers=PLATFORM)
    assert default.headers["content-type"] == "audio/ogg"
    events = api.mwi_events(mailbox)
    assert [e["new"] for e in events] == [1, 1]  # the deposit, then ready


def test_the_mp3_is_made_on_first_request_then_served_from_its_blob(product):
    """Made lazily from the original (shared/services/renditions.py): not stored at deposit, made by
    the first request, kept as the rendition blob that later requests and ranges read."""
    host, api = product
    mailbox = api.provision()
    message = api.deposit(mailbox, SPEECH).json()
    ready = settled(api, mailbox, message["id"])
    assert ready["status"] == "ready" and "mp3" in ready["formats"]
    blob = BlobServiceClient.from_connection_string(host.env["AzureWebJobsStorage"]).get_blob_client(
        host.env["AUDIO_CONTAINER"], f"{mailbox}/{message['id']}/mp3")
    assert not blob.exists()  # not made at deposit
    url = f"{api.mailbox_path(mailbox)}/messages/{message['id']}/audio"
    first = api.http.get(url, params={"format": "mp3"}, headers=PLATFORM)
    assert first.status_code == 200 and first.headers["content-type"] == "audio/mpeg"
    seconds, _, channels = decoded_seconds(first.content)
    assert abs(seconds * 1000 - ready["durationMs"]) <= 20 and abs(seconds - 4.0) <= 0.02 and channels == 1
    stored = blob.get_blob_properties()
    assert stored.size == len(first.content) and stored.content_settings.content_type == "audio/mpeg"
    second = api.http.get(url, params={"format": "mp3"}, headers=PLATFORM)
    assert second.status_code == 200 and second.content == first.content
    assert blob.get_blob_properties().etag == stored.etag  # served from the blob, not made again
    part = api.http.get(url, params={"format": "mp3"}, headers={**PLATFORM, "Range": "bytes=100-299"})
    assert part.status_code == 206 and part.content == first.content[100:300]
    assert part.headers["content-range"] == f"bytes 100-299/{len(first.content)}"


def test_concurrent_first_requests_of_the_mp3_get_the_same_bytes(api):
    mailbox = api.provision()
    message = api.deposit(mailbox, SPEECH).json()
    settled(api, mailbox, message["id"])
    url = f"{api.mailbox_path(mailbox)}/messages/{message['id']}/audio"
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: api.http.get(url, params={"format": "mp3"}, headers=PLATFORM, timeout=60),
                                range(4)))
    assert {a.status_code for a in answers} == {200} and len({a.content for a in answers}) == 1


@pytest.mark.parametrize(("audio", "reason"), [
    (tone_wav(0.4), "too-short"),
    (tone_wav(2.0, hz=0) , "silent"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt garbage that is not audio at all" * 20, "invalid-audio"),
])
def test_unusable_audio_ends_failed_with_its_reason_and_is_not_counted(api, audio, reason):
    mailbox = api.provision()
    message = api.deposit(mailbox, audio).json()
    failed = settled(api, mailbox, message["id"])
    assert failed["status"] == "failed" and failed["error"] == reason
    assert api.http.get(api.mailbox_path(mailbox), headers=PLATFORM).json()["counts"]["total"] == 0
    original = api.http.get(f"{api.mailbox_path(mailbox)}/messages/{message['id']}/audio",
                            params={"format": "original"}, headers=PLATFORM)
    assert original.content == audio  # kept for diagnosis
    time.sleep(2)  # not retried: still one outcome, one event each way
    assert [e["new"] for e in api.mwi_events(mailbox)] == [1, 0]


def test_too_long_is_cut_to_the_mailbox_limit(api):
    mailbox = api.provision(maxMessageSeconds=2)
    message = api.deposit(mailbox, SPEECH).json()
    ready = settled(api, mailbox, message["id"])
    assert ready["status"] == "ready" and ready["truncated"] is True
    assert abs(ready["durationMs"] - 2000) <= 20


def test_firing_again_changes_nothing(product):
    host, api = product
    mailbox = api.provision()
    message = api.deposit(mailbox, SPEECH).json()
    ready = settled(api, mailbox, message["id"])
    # The lamp is posted just after the message is committed ready: its deposit's event and its own.
    wait_until(lambda: len(api.mwi_events(mailbox)) >= 2, 10, message="the message's MWI events")
    events = len(api.mwi_events(mailbox))
    response = httpx.post(f"{host.base_url}/admin/functions/incoming_audio",
                          json={"input": f"{host.env['INCOMING_CONTAINER']}/{mailbox}/{message['id']}"})
    assert response.status_code == 202
    time.sleep(3)
    again = api.http.get(f"{api.mailbox_path(mailbox)}/messages/{message['id']}", headers=PLATFORM).json()
    assert again == ready  # same document, same ETag
    assert len(api.mwi_events(mailbox)) == events


def test_upload_link_is_write_only_for_one_blob_and_the_message_appears_when_processed(api):
    mailbox = api.provision()
    response = api.http.post(f"{api.mailbox_path(mailbox)}/messages", headers=PLATFORM,
                             json={"from": "+15550002222", "contentType": "audio/wav", "sizeBytes": len(SPEECH)})
    assert response.status_code == 201, response.text
    message, upload = response.json()["message"], response.json()["upload"]
    assert upload["method"] == "PUT"
    assert api.list_all(mailbox) == []  # not visible before its audio
    assert httpx.get(upload["url"]).status_code in (403, 404)  # no read with this link
    elsewhere = upload["url"].replace(message["id"], "someone-else")
    assert httpx.put(elsewhere, content=SPEECH, headers=upload["headers"]).status_code == 403  # one blob only
    assert httpx.put(upload["url"], content=SPEECH, headers=upload["headers"]).status_code == 201
    ready = settled(api, mailbox, message["id"])
    assert ready["status"] == "ready"
    assert [m["id"] for m in api.list_all(mailbox)] == [message["id"]]
    assert api.http.get(api.mailbox_path(mailbox), headers=PLATFORM).json()["counts"]["new"] == 1


def greeting_ready(api, mailbox: str, kind: str) -> bytes:
    url = f"{api.mailbox_path(mailbox)}/greetings/{kind}/audio"
    response = wait_until(lambda: (r := api.http.get(url, params={"format": "opus"}, headers=PLATFORM))
                          .status_code == 200 and r, 60, interval=0.3, message=f"{kind} greeting")
    return response.content


def test_greetings_and_what_callers_hear(api):
    mailbox = api.provision()
    base = api.mailbox_path(mailbox)
    active = f"{base}/greeting"
    assert api.http.get(active, params={"reason": "busy"}, headers=PLATFORM).status_code == 404
    for kind, hz in (("name", 300), ("busy", 500), ("unavailable", 700)):
        put = api.http.put(f"{base}/greetings/{kind}", content=tone_wav(1.5, hz=hz),
                           headers={**PLATFORM, "content-type": "audio/wav"})
        assert put.status_code == 202 and put.json()["status"] == "processing"
    audio = {kind: greeting_ready(api, mailbox, kind) for kind in ("name", "busy", "unavailable")}

    def heard(reason: str) -> bytes:
        response = api.http.get(active, params={"reason": reason, "format": "opus"}, headers=PLATFORM)
        assert response.status_code == 200, response.text
        return response.content

    assert heard("busy") == audio["busy"] and heard("unavailable") == audio["unavailable"]
    token = api.login(mailbox)
    assert api.http.put(f"{base}/greetings/temporary", content=tone_wav(1.5, hz=900),
                        headers={**token, "content-type": "audio/wav"}).status_code == 202
    audio["temporary"] = greeting_ready(api, mailbox, "temporary")
    assert heard("busy") == heard("unavailable") == audio["temporary"]  # temporary wins
    assert api.http.delete(f"{base}/greetings/temporary", headers=token).status_code == 204
    assert api.http.delete(f"{base}/greetings/unavailable", headers=PLATFORM).status_code == 204
    assert heard("busy") == audio["busy"]
    assert heard("unavailable") == audio["name"]  # no greeting for the reason: the name
    assert api.http.get(active, params={"reason": "busy"}, headers=token).status_code == 403  # platform only
    api.http.patch(base, json={"greeting": "default"}, headers=token)
    assert api.http.get(active, params={"reason": "busy"}, headers=PLATFORM).status_code == 404
    bad = api.http.put(f"{base}/greetings/loud", content=tone_wav(1.5),
                       headers={**PLATFORM, "content-type": "audio/wav"})
    assert bad.status_code == 400


def test_a_greeting_plays_until_its_replacement_is_ready_and_survives_a_bad_one(api):
    mailbox = api.provision()
    base = api.mailbox_path(mailbox)
    url = f"{base}/greetings/busy/audio"

    def put(audio: bytes) -> None:
        response = api.http.put(f"{base}/greetings/busy", content=audio,
                                headers={**PLATFORM, "content-type": "audio/wav"})
        assert response.status_code == 202, response.text

    def playing() -> bytes:
        response = api.http.get(url, params={"format": "opus"}, headers=PLATFORM)
        assert response.status_code == 200, response.text  # never a gap
        return response.content

    put(tone_wav(1.5, hz=400))
    first = greeting_ready(api, mailbox, "busy")
    put(b"RIFF" + bytes(2000))  # claims WAV, decodes to nothing: its transcoding fails
    for _ in range(20):  # long enough for the pipeline to have failed it
        assert playing() == first
        time.sleep(0.25)
    put(tone_wav(1.5, hz=800))
    assert playing() == first  # still, while the replacement is transcoded
    wait_until(lambda: playing() != first, 60, interval=0.3, message="the replacement to take over")


NETWORK_CASES = ("sox-amr-nb-mode7", "sox-amr-nb-mode0", "ffmpeg-3gp-amr-nb", "amr-wb-every-frame-type",
                 "sox-wav49-gsm", "ffmpeg-wav-g723_1", "ffmpeg-wav-g726-16k", "ffmpeg-ogg-speex-wb",
                 "ffmpeg-m4a-aac", "sox-wav-ima-adpcm", "sox-raw-ulaw", "ffmpeg-raw-g722")


def test_audio_from_real_networks_becomes_ready_at_its_true_length(api):
    """Files from other encoders than PyAV (tests/unit/adapters/network_corpus.py: sox with DTX, the ffmpeg
    CLI, AMR-WB built frame by frame), deposited with the content type a gateway would send."""
    mailbox = api.provision()
    deposited = {}
    for name in NETWORK_CASES:
        case = BY_NAME[name]
        if missing_tool(case):
            continue
        response = api.deposit(mailbox, corpus_file(name).read_bytes(), headers={"content-type": case.content_type})
        assert response.status_code == 202, (name, response.text)
        deposited[name] = response.json()["id"]
    if not deposited:
        pytest.skip("neither sox nor the ffmpeg CLI is installed (make install installs them)")
    for name, message_id in deposited.items():
        ready = settled(api, mailbox, message_id)
        assert ready["status"] == "ready", (name, ready["error"])
        assert abs(ready["durationMs"] - BY_NAME[name].truth_ms) <= 20, (name, ready["durationMs"])
        played = api.http.get(f"{api.mailbox_path(mailbox)}/messages/{message_id}/audio",
                              params={"format": "wav"}, headers=PLATFORM)
        seconds, rate, _ = decoded_seconds(played.content)
        assert rate == 8000 and abs(seconds * 1000 - ready["durationMs"]) <= 20, name


def test_an_inline_body_over_what_max_message_seconds_can_need_is_413_before_it_is_stored(api):
    """Issue 23: a 1 s mailbox takes at most a second of 16-bit PCM at 384 kHz, 16 channels, and a header."""
    mailbox = api.provision(maxMessageSeconds=1)
    refused = api.deposit(mailbox, b"RIFF" + b"\0" * (largest_needed(1) - 3), headers={"content-type": "audio/wav"})
    assert refused.status_code == 413 and refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"] == "payload-too-large"
    assert api.list_all(mailbox) == []
    assert api.deposit(mailbox, tone_wav(0.5)).status_code == 202  # within the bound: taken


def test_an_upload_far_larger_than_its_size_bytes_ends_failed_too_large_and_is_deleted(product):
    host, api = product
    mailbox = api.provision()
    response = api.http.post(f"{api.mailbox_path(mailbox)}/messages", headers=PLATFORM,
                             json={"contentType": "audio/wav", "sizeBytes": 1000})
    assert response.status_code == 201, response.text
    message, upload = response.json()["message"], response.json()["upload"]
    assert httpx.put(upload["url"], content=b"\0" * 5_000_000, headers=upload["headers"]).status_code == 201
    done = settled(api, mailbox, message["id"])
    assert (done["status"], done["error"]) == ("failed", "too-large")
    original = BlobServiceClient.from_connection_string(host.env["AzureWebJobsStorage"]).get_blob_client(
        host.env["INCOMING_CONTAINER"], f"{mailbox}/{message['id']}")
    wait_until(lambda: not original.exists(), 10, interval=0.2, message="the oversized upload deleted")
    assert api.http.get(api.mailbox_path(mailbox), headers=PLATFORM).json()["counts"]["total"] == 0
