"""Azure AI Speech, fast transcription (`POST {endpoint}/speechtotext/transcriptions:transcribe`,
multipart `audio` + `definition`), through the `azure-ai-transcription` client with the app's
identity (a bearer token for `https://cognitiveservices.azure.com/.default`; the Speech resource
has local auth off and a custom subdomain, as Entra ID requires). Synchronous: the answer holds
the text, so a queue trigger waits for it and nothing polls.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.adapters.speech_audio import speech_wav
from shared.domain.transcripts import (
    AUDIO_UNREADABLE,
    UNSUPPORTED_LANGUAGE,
    Recognized,
    TranscriberUnavailable,
    TranscriptionRejected,
    clean_text,
)

logger = logging.getLogger(__name__)
SCOPE = "https://cognitiveservices.azure.com/.default"


class AzureSpeechTranscriber:
    name = "azure"

    def __init__(self, endpoint: str, credential: Any, timeout_s: float, **client_options: Any):
        self._endpoint = endpoint.rstrip("/")
        self._credential = credential
        self._options = {"connection_timeout": timeout_s, "read_timeout": max(timeout_s, 120.0), "retry_total": 2,
                         "credential_scopes": [SCOPE], **client_options}
        self._lock = threading.Lock()
        self._client: Any = None

    def _connected(self) -> Any:
        with self._lock:
            if self._client is None:  # once per process, on first use
                from azure.ai.transcription import TranscriptionClient

                self._client = TranscriptionClient(self._endpoint, self._credential, **self._options)
            return self._client

    def transcribe(self, audio: bytes, locale: str) -> Recognized:
        from azure.ai.transcription.models import TranscriptionContent, TranscriptionOptions

        content = TranscriptionContent(definition=TranscriptionOptions(locales=[locale]),
                                       audio=("message.wav", speech_wav(audio), "audio/wav"))
        try:
            result = self._connected().transcribe(content)
        except ClientAuthenticationError as error:  # 401: the identity or its role is not there (yet)
            raise TranscriberUnavailable(f"Azure AI Speech refused the identity: {error.status_code}") from None
        except HttpResponseError as error:
            raise _failure(error) from None
        except (ServiceRequestError, ServiceResponseError) as error:
            raise TranscriberUnavailable(f"Azure AI Speech did not answer: {type(error).__name__}") from None
        return recognized(result)


def recognized(result: Any) -> Recognized:
    """Text from `combinedPhrases` (the whole audio, display form); confidence: the phrases'
    confidences weighted by their durations."""
    text = clean_text(" ".join(phrase.get("text", "") for phrase in result.get("combinedPhrases") or []))
    phrases = [p for p in result.get("phrases") or [] if p.get("confidence") is not None]
    weights = [max(1, int(p.get("durationMilliseconds") or 0)) for p in phrases]
    confidence = (sum(p["confidence"] * w for p, w in zip(phrases, weights, strict=True)) / sum(weights)
                  if phrases else None)
    return Recognized(text, confidence)


def _failure(error: HttpResponseError) -> Exception:
    status = error.status_code or 0
    code, message = _error_detail(error)
    logger.warning("Azure AI Speech answered %s %s: %s", status, code, message)
    if status == 429 or status >= 500 or status in (403, 408):  # throttled, failing, or the role not yet there
        return TranscriberUnavailable(f"Azure AI Speech answered {status} {code}")
    if status in (400, 415, 422):
        reason = UNSUPPORTED_LANGUAGE if "locale" in f"{code} {message}".lower() else AUDIO_UNREADABLE
        return TranscriptionRejected(reason, f"Azure AI Speech answered {status} {code}")
    return TranscriberUnavailable(f"Azure AI Speech answered {status} {code}")


def _error_detail(error: HttpResponseError) -> tuple[str, str]:
    """The service's `{"error": {"code", "message"}}` (or whatever it sent instead)."""
    try:
        body = error.response.json() if error.response is not None else {}
    except ValueError:
        body = {}
    detail = body.get("error", body) if isinstance(body, dict) else {}
    if not isinstance(detail, dict):
        detail = {}
    return str(detail.get("code", "")), str(detail.get("message", ""))
