"""The Azure AI Speech adapter against the fast-transcription API's documented request and
response shapes: the real `azure-ai-transcription` client and azure-core pipeline (identity,
multipart body, error mapping), with only the HTTP session replaced by one that records the
request as it would go on the wire and answers as the service documents."""

from __future__ import annotations

import io
import json
import math
import struct
import wave
from email import message_from_bytes
from email.policy import HTTP

import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport

from shared.adapters.transcribe_azure import SCOPE, AzureSpeechTranscriber
from shared.domain.transcripts import TranscriberUnavailable, TranscriptionRejected

ENDPOINT = "https://speech-abc.cognitiveservices.azure.com/"

# The response of POST /speechtotext/transcriptions:transcribe, as documented (trimmed to two phrases).
DOCUMENTED = {
    "durationMilliseconds": 4000,
    "combinedPhrases": [{"text": "Hi, this is Alice. Please call me back."}],
    "phrases": [
        {"offsetMilliseconds": 40, "durationMilliseconds": 1000, "text": "Hi, this is Alice.",
         "words": [{"text": "Hi,", "offsetMilliseconds": 40, "durationMilliseconds": 200}],
         "locale": "en-US", "confidence": 0.9},
        {"offsetMilliseconds": 1200, "durationMilliseconds": 3000, "text": "Please call me back.",
         "words": [{"text": "Please", "offsetMilliseconds": 1200, "durationMilliseconds": 300}],
         "locale": "en-US", "confidence": 0.5},
    ],
}


def narrowband_wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 300 * n / rate)))
                                 for n in range(int(seconds * rate))))
    return out.getvalue()


class Identity:
    """A token credential, as DefaultAzureCredential is: records the scopes it was asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken("identity-token", 4_102_444_800)


class Service(requests.Session):
    """Answers every request with (status, body) from `answers`; keeps each request as prepared."""

    def __init__(self, *answers: tuple[int, object]) -> None:
        super().__init__()
        self.answers = list(answers)
        self.sent: list[requests.PreparedRequest] = []

    def request(self, method, url, headers=None, data=None, files=None, **kwargs):
        prepared = requests.Request(method, url, headers=dict(headers or {}), data=data, files=files).prepare()
        self.sent.append(prepared)
        status, body = self.answers.pop(0)
        if isinstance(body, Exception):
            raise body
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        response.raw = io.BytesIO(response._content)
        response.request = prepared
        return response


def transcriber(service: Service, identity: Identity | None = None) -> AzureSpeechTranscriber:
    return AzureSpeechTranscriber(ENDPOINT, identity or Identity(), 10.0, retry_total=0,
                                  transport=RequestsTransport(session=service, session_owner=False))


def parts(request: requests.PreparedRequest) -> dict[str, tuple[str | None, str, bytes]]:
    """The multipart body: name -> (filename, content type, bytes)."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = message_from_bytes(head + request.body, policy=HTTP)
    return {part.get_param("name", header="content-disposition"):
            (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
            for part in message.iter_parts()}


def test_the_request_is_the_documented_multipart_post_with_an_identity_token():
    service, identity = Service((200, DOCUMENTED)), Identity()
    transcriber(service, identity).transcribe(narrowband_wav(), "en-GB")
    [request] = service.sent
    assert request.method == "POST"
    assert request.url.startswith("https://speech-abc.cognitiveservices.azure.com/speechtotext/"
                                  "transcriptions:transcribe?api-version=")
    assert request.headers["Authorization"] == "Bearer identity-token"
    assert "Ocp-Apim-Subscription-Key" not in request.headers  # identity only, never a key
    assert identity.scopes == [(SCOPE,)] and SCOPE == "https://cognitiveservices.azure.com/.default"
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    body = parts(request)
    assert set(body) == {"audio", "definition"}
    assert json.loads(body["definition"][2]) == {"locales": ["en-GB"]}  # the mailbox's language
    filename, content_type, audio = body["audio"]
    assert (filename, content_type) == ("message.wav", "audio/wav")
    with wave.open(io.BytesIO(audio)) as wav:  # 8 kHz in, 16 kHz mono 16-bit PCM out
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        assert abs(wav.getnframes() / 16000 - 0.5) < 0.01


def test_the_documented_response_gives_the_whole_text_and_a_duration_weighted_confidence():
    heard = transcriber(Service((200, DOCUMENTED))).transcribe(narrowband_wav(), "en-US")
    assert heard.text == "Hi, this is Alice. Please call me back."
    assert heard.confidence == pytest.approx((0.9 * 1000 + 0.5 * 3000) / 4000)


def test_silence_answers_no_phrases_and_gives_no_words():
    heard = transcriber(Service((200, {"durationMilliseconds": 500, "combinedPhrases": [], "phrases": []}))) \
        .transcribe(narrowband_wav(), "en-US")
    assert heard.text == "" and heard.confidence is None


@pytest.mark.parametrize("status", [429, 500, 503, 401, 403])
def test_throttling_outages_and_a_missing_role_are_worth_another_attempt(status):
    answer = {"error": {"code": "Throttled" if status == 429 else "ServiceError", "message": "try later"}}
    with pytest.raises(TranscriberUnavailable):
        transcriber(Service((status, answer))).transcribe(narrowband_wav(), "en-US")


def test_a_locale_the_service_does_not_know_fails_for_good_as_unsupported_language():
    answer = {"error": {"code": "InvalidArgument", "message": "The locale 'xx-XX' is not supported."}}
    with pytest.raises(TranscriptionRejected) as rejected:
        transcriber(Service((400, answer))).transcribe(narrowband_wav(), "xx-XX")
    assert rejected.value.reason == "unsupported-language"


def test_audio_the_service_refuses_fails_for_good():
    answer = {"error": {"code": "InvalidAudioFormat", "message": "The audio could not be decoded."}}
    with pytest.raises(TranscriptionRejected) as rejected:
        transcriber(Service((400, answer))).transcribe(narrowband_wav(), "en-US")
    assert rejected.value.reason == "audio-unreadable"


def test_no_answer_at_all_is_worth_another_attempt():
    with pytest.raises(TranscriberUnavailable):
        transcriber(Service((0, requests.exceptions.ConnectionError("refused")))).transcribe(narrowband_wav(), "en-US")


def test_audio_that_does_not_decode_is_refused_before_anything_is_sent():
    service = Service()
    with pytest.raises(TranscriptionRejected) as rejected:
        transcriber(service).transcribe(b"not audio at all" * 50, "en-US")
    assert rejected.value.reason == "audio-unreadable" and service.sent == []
