"""Transcripts end to end with the local engine (PocketSphinx) on spoken audio (espeak-ng), through
local hosts on the emulators over real HTTP: a spoken message at 8 kHz and at 16 kHz turns `ready`
with `transcript: pending`, then its transcript turns `ready` with words, in the mailbox's language.

The region runs as two hosts on the same storage and queues: the front one serves the API and
transcodes, with the transcription trigger off, so `pending` can be seen for as long as the test
needs; the back one (started when a test asks for it) runs only the transcription trigger, as a
second instance of the region's function app would."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import jsonschema_rs
import pytest

from shared.adapters.speech_audio import speech_wav
from tests.integration.api_support import PLATFORM, Api
from tests.support import PLATFORM_KEY, ROOT, HostProcess, product_env, random_name, wait_until

pytestmark = pytest.mark.integration
SAID = "Hello, this is a message for you. Please call me back tomorrow morning about the meeting."
SAID_WORDS = set(SAID.lower().replace(",", "").replace(".", "").split())


def spoken_wav(text: str, rate: int) -> bytes:
    """espeak-ng's voice (22.05 kHz) as a mono 16-bit WAV at `rate`: 8000 (telephony) or 16000 (wideband)."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: `make install` installs it (Debian package espeak-ng)")
    voice = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "--stdout", text],
                           check=True, capture_output=True, timeout=60).stdout
    return speech_wav(voice, rate)


@pytest.fixture(scope="module")
def region(stack, tmp_path_factory):
    env = product_env(random_name("r"), MWI_QUEUE=random_name("mwi"), TRANSCRIPTION_ENGINE="local")
    tmp = tmp_path_factory.mktemp("transcripts")
    front = {**env, "AzureWebJobs.transcription_requested.Disabled": "true"}
    with HostProcess(front, tmp=tmp) as host:
        yield {"api": Api(host.base_url, env["MWI_QUEUE"]), "env": env, "tmp": tmp}


@pytest.fixture(scope="module")
def transcriber(region):
    """The region's transcription trigger, on from here on."""
    back = {**region["env"], "AzureWebJobs.incoming_audio.Disabled": "true"}
    with HostProcess(back, tmp=region["tmp"]) as host:
        yield host


def documented_message(api: Api):
    """A validator of the Message schema of the host's own OpenAPI document."""
    document = api.http.get("/openapi.json").json()
    return jsonschema_rs.validator_for({"$ref": "#/components/schemas/Message", "components": document["components"]})


def message(api: Api, mailbox: str, message_id: str) -> dict:
    return api.http.get(f"{api.mailbox_path(mailbox)}/messages/{message_id}", headers=PLATFORM).json()


def settled(api: Api, mailbox: str, message_id: str, what: str, done) -> dict:
    def check() -> dict | None:
        current = message(api, mailbox, message_id)
        return current if done(current) else None

    return wait_until(check, 120, interval=0.5, message=f"{message_id}: {what}")


def test_a_spoken_message_is_pending_when_ready_then_ready_with_its_words(region, request):
    api = region["api"]
    mailbox = api.provision()
    spoken = {rate: spoken_wav(SAID, rate) for rate in (8000, 16000)}
    deposited = {rate: api.deposit(mailbox, audio, **{"from": "+15550001111"}).json()["id"]
                 for rate, audio in spoken.items()}
    for rate, message_id in deposited.items():
        ready = settled(api, mailbox, message_id, "ready", lambda m: m["status"] != "processing")
        assert ready["status"] == "ready", (rate, ready)
        assert ready["transcript"] == {"status": "pending", "text": None, "language": "en-US", "confidence": None,
                                       "error": None}
        documented_message(api).validate(ready)
    request.getfixturevalue("transcriber")
    for rate, message_id in deposited.items():
        done = settled(api, mailbox, message_id, "transcript", lambda m: m["transcript"]["status"] != "pending")
        transcript = done["transcript"]
        assert transcript["status"] == "ready", (rate, transcript)
        assert transcript["language"] == "en-US" and transcript["error"] is None
        words = transcript["text"].split()
        assert len(words) >= 3, (rate, transcript["text"])
        # The local engine is for running the flow, not for accuracy: some of what was said is enough.
        assert SAID_WORDS & set(words), (rate, transcript["text"])
        assert 0.0 <= transcript["confidence"] <= 1.0
        assert done["status"] == "ready" and done["formats"] == ["opus", "wav", "mp3"]  # the message unaffected
        documented_message(api).validate(done)  # as the OpenAPI document describes it
    listed = {m["id"]: m["transcript"] for m in api.list_all(mailbox)}
    assert {listed[i]["status"] for i in deposited.values()} == {"ready"}
    # Two deposits and two messages ready (in whichever order): the transcripts sent no MWI event.
    events = [e["new"] for e in api.mwi_events(mailbox)]
    assert len(events) == 4 and events[0] == 1 and events[-1] == 2, events


def test_transcription_off_in_the_mailbox_gives_null(region, transcriber):
    api = region["api"]
    mailbox = api.provision(transcription=False)
    message_id = api.deposit(mailbox, spoken_wav("Call me back.", 8000)).json()["id"]
    ready = settled(api, mailbox, message_id, "ready", lambda m: m["status"] != "processing")
    assert ready["status"] == "ready" and ready["transcript"] is None


def test_a_language_the_local_engine_lacks_fails_the_transcript_not_the_message(region, transcriber):
    api = region["api"]
    mailbox = api.provision(language="fr")
    message_id = api.deposit(mailbox, spoken_wav("Bonjour, rappelle-moi demain.", 16000)).json()["id"]
    done = settled(api, mailbox, message_id, "transcript",
                   lambda m: m["transcript"] is not None and m["transcript"]["status"] != "pending")
    assert done["transcript"] == {"status": "failed", "text": None, "language": "fr-FR", "confidence": None,
                                  "error": "unsupported-language"}
    assert done["status"] == "ready" and done["error"] is None
    audio = api.http.get(f"{api.mailbox_path(mailbox)}/messages/{message_id}/audio", headers=PLATFORM)
    assert audio.status_code == 200 and audio.content


def test_the_readme_transcript_lines_run_as_written(region, transcriber, tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- transcripts:begin -->\s*```sh\n(.*?)```\s*<!-- transcripts:end -->", readme, re.S)
    assert block, "README.md lost its transcripts block"
    api = region["api"]
    mailbox = api.provision()
    env = {"API": str(api.http.base_url).rstrip("/"), "KEY": PLATFORM_KEY, "MBX": mailbox.replace("+", "%2B"),
           "PATH": "/usr/bin:/bin:/usr/local/bin"}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", block.group(1)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    transcript = json.loads(result.stdout.strip().splitlines()[-1])["transcript"]
    assert transcript["status"] == "ready" and len(transcript["text"].split()) >= 2, transcript
