"""The voicemail API over several regional endpoints, with failover and bounded retries."""

from __future__ import annotations

import itertools
import mimetypes
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import httpx
from voicemail_client.endpoints import Endpoints, http_probe, retry_after_seconds
from voicemail_client.operator import OperatorCalls, tenant_path

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# A request that surely never reached the server: safe to send again whatever it does.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# A request that may or may not have been acted on: only idempotent ones are sent again.
MAYBE_SENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"})  # PATCH sets absolute values
CHUNK = 64 * 1024
AUDIO_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".opus": "audio/ogg",
               ".oga": "audio/ogg", ".amr": "audio/amr", ".au": "audio/basic", ".ul": "audio/basic",
               ".m4a": "audio/mp4", ".mp4": "audio/mp4", ".webm": "audio/webm", ".flac": "audio/flac",
               ".gsm": "audio/gsm"}

Progress = Callable[[int, int | None], None]  # (bytes so far, total or None)


class ApiError(Exception):
    """The API answered with a problem that retrying will not change (a 4xx, or a 5xx after every attempt)."""

    def __init__(self, status: int, problem: dict[str, Any]):
        self.status = status
        self.problem = problem
        self.type = str(problem.get("type", ""))
        super().__init__(f"{status} {problem.get('title', '')}: {problem.get('detail', '')}".strip())


class Unavailable(Exception):
    """Every attempt failed without an answer worth returning (connection errors, timeouts, 5xx, 429)."""

    def __init__(self, attempts: list[Attempt]):
        self.attempts = attempts
        last = attempts[-1] if attempts else None
        super().__init__(f"no region answered after {len(attempts)} attempts; last: "
                         f"{last.endpoint + ' ' + last.outcome if last else 'none'}")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_base: float = 0.1  # seconds; doubles per attempt, full jitter
    backoff_cap: float = 5.0
    deadline: float = 60.0  # for all attempts of one call
    timeout: float = 10.0  # per attempt (connect, read, write)


@dataclass
class Attempt:
    endpoint: str
    outcome: str  # "200", "503", "ConnectError", ...
    seconds: float


@dataclass
class Stats:
    """What this client did: figures for the reliability drills and for the curious."""

    calls: int = 0
    attempts: int = 0
    retries: int = 0
    failovers: int = 0  # retries sent to another endpoint than the attempt before
    unavailable: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    answered: dict[str, int] = field(default_factory=dict)  # final answers below 500, per endpoint
    failed: list[Attempt] = field(default_factory=list)  # attempts that were retried or given up on (the last 10,000)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, attempts: list[Attempt], gave_up: bool) -> None:
        with self._lock:
            self.calls += 1
            self.attempts += len(attempts)
            self.retries += len(attempts) - 1
            self.failovers += sum(1 for a, b in itertools.pairwise(attempts) if a.endpoint != b.endpoint)
            self.unavailable += gave_up
            for attempt in attempts:
                self.outcomes[attempt.outcome] = self.outcomes.get(attempt.outcome, 0) + 1
            self.failed.extend(attempts if gave_up else attempts[:-1])
            if not gave_up and attempts:
                self.answered[attempts[-1].endpoint] = self.answered.get(attempts[-1].endpoint, 0) + 1
            del self.failed[:-10_000]


class VoicemailClient(OperatorCalls):
    def __init__(self, endpoints: list[str] | Endpoints, api_key: str | None = None, token: str | None = None,
                 policy: RetryPolicy | None = None, transport: httpx.BaseTransport | None = None,
                 rng: random.Random | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, *, tenant: str | None = None,
                 operator_key: str | None = None):
        self.tenant = tenant  # mailboxes under /tenants/{tenant}/mailboxes/... (None: tenant default's paths)
        self.operator_key = operator_key  # the operator's routes: tenants, their keys and usage
        self.policy = policy or RetryPolicy()
        self.endpoints = endpoints if isinstance(endpoints, Endpoints) else Endpoints(
            endpoints, probe=lambda url: http_probe(url, timeout=min(2.0, self.policy.timeout), http=self._http))
        self.api_key, self.token = api_key, token
        self.stats = Stats()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._sleep, self._clock = sleep, clock
        self._http = httpx.Client(timeout=self.policy.timeout, transport=transport, follow_redirects=False,
                                  limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> VoicemailClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one place requests are sent --------------------------------------------------------

    def request(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                content: Callable[[], Any] | bytes | None = None, headers: dict[str, str] | None = None,
                stream_to: Callable[[httpx.Response], Any] | None = None, auth: bool = True) -> httpx.Response:
        """Send to the best endpoint; on a retryable failure, again (elsewhere first) within the policy.

        `content` may be a factory, called once per attempt (an upload generator is used up by
        one attempt). Non-idempotent requests without an `Idempotency-Key` are repeated only when
        they surely never arrived, or the server said 429/503 (it did nothing).
        """
        method = method.upper()
        headers = {**(self._auth() if auth else {}), **(headers or {})}
        repeatable = method in IDEMPOTENT_METHODS or any(k.lower() == "idempotency-key" for k in headers)
        attempts: list[Attempt] = []
        started = self._clock()
        while True:
            endpoint, wait = self.endpoints.choose(avoid=attempts[-1].endpoint if attempts else None)
            if attempts:
                # Another region at once; the same one (or none open) only after a back-off.
                if endpoint == attempts[-1].endpoint or wait > 0:
                    wait = max(wait, self._backoff(len(attempts)))
                if self._clock() - started + wait > self.policy.deadline:
                    self._give_up(attempts)
                self._sleep(wait)
            begun = self._clock()
            try:
                response = self._send(method, endpoint + path, params, json, content, headers, stream_to)
            except NOT_SENT + MAYBE_SENT as error:
                attempts.append(Attempt(endpoint, type(error).__name__, self._clock() - begun))
                self.endpoints.failed(endpoint, attempts[-1].outcome)
                if not (repeatable or isinstance(error, NOT_SENT)) or len(attempts) >= self.policy.max_attempts:
                    self._give_up(attempts, error)
                continue
            attempts.append(Attempt(endpoint, str(response.status_code), self._clock() - begun))
            retry = response.status_code in RETRYABLE_STATUS and (repeatable or response.status_code in {429, 503})
            if not retry or len(attempts) >= self.policy.max_attempts:
                if response.status_code < 500:
                    self.endpoints.succeeded(endpoint)  # it answered: a 4xx is the caller's problem
                else:
                    self.endpoints.failed(endpoint, attempts[-1].outcome, retry_after_seconds(response))
                self.stats.add(attempts, gave_up=retry)
                response.extensions["voicemail_attempts"] = len(attempts)
                return response  # with retries exhausted, the caller sees the last problem the API gave
            self.endpoints.failed(endpoint, attempts[-1].outcome, retry_after_seconds(response))

    def _send(self, method: str, url: str, params: dict | None, json: Any, content: Any,
              headers: dict[str, str], stream_to: Callable[[httpx.Response], Any] | None) -> httpx.Response:
        body = content() if callable(content) else content
        request = self._http.build_request(method, url, params=params, json=json, content=body, headers=headers)
        response = self._http.send(request, stream=stream_to is not None)
        if stream_to is not None:
            try:
                stream_to(response) if response.status_code < 300 else response.read()
            finally:
                response.close()
        return response

    def _give_up(self, attempts: list[Attempt], error: Exception | None = None) -> NoReturn:
        self.stats.add(attempts, gave_up=True)
        raise Unavailable(attempts) from error

    def _backoff(self, attempt: int) -> float:
        """Full jitter: anywhere between 0 and base·2^attempt (capped)."""
        return self._rng.uniform(0, min(self.policy.backoff_cap, self.policy.backoff_base * 2 ** attempt))

    def _auth(self) -> dict[str, str]:
        if self.api_key:
            return {"x-api-key": self.api_key}
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        return {}

    def _json(self, method: str, path: str, expect: tuple[int, ...], **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return _checked(response, expect).json() if response.content else None

    def _mailbox(self, mailbox_id: str) -> str:
        path = f"/mailboxes/{quote(mailbox_id, safe='')}"
        return path if self.tenant is None else f"{tenant_path(self.tenant)}{path}"

    def _message(self, mailbox_id: str, message_id: str) -> str:
        return f"{self._mailbox(mailbox_id)}/messages/{quote(message_id, safe='')}"

    # -- mailboxes and sessions -----------------------------------------------------------------

    def provision(self, mailbox_id: str, display_name: str, pin: str | None = None, **settings: Any) -> dict:
        body = {"displayName": display_name, **({"pin": pin} if pin else {}),
                **({"settings": settings} if settings else {})}
        return self._json("PUT", self._mailbox(mailbox_id), (200, 201), json=body)

    def get_mailbox(self, mailbox_id: str) -> dict:
        """The mailbox with its message-waiting counts (`counts`: new, saved, urgentNew, total)."""
        return self._json("GET", self._mailbox(mailbox_id), (200,))

    def login(self, mailbox_id: str, pin: str) -> dict:
        """A subscriber session: {"token","expiresAt"}; this client uses the token from then on."""
        session = self._json("POST", f"{self._mailbox(mailbox_id)}/sessions", (201,), json={"pin": pin})
        self.api_key, self.token = None, session["token"]
        return session

    # -- messages -------------------------------------------------------------------------------

    def deposit(self, mailbox_id: str, audio: bytes | Path, content_type: str | None = None, *,
                sender: str | None = None, sender_name: str | None = None, urgent: bool = False,
                idempotency_key: str | None = None, progress: Progress | None = None) -> dict:
        """Leave a message; the same Idempotency-Key goes with every attempt, in every region."""
        data = audio.read_bytes() if isinstance(audio, Path) else audio
        if content_type is None:
            content_type = _audio_type(audio)
        key = idempotency_key or str(uuid.uuid4())
        params = {k: v for k, v in {"from": sender, "fromName": sender_name,
                                    "urgent": "true" if urgent else None}.items() if v is not None}

        def upload() -> Any:
            if progress is None:
                return data
            return _chunks(data, progress)

        response = self.request("POST", f"{self._mailbox(mailbox_id)}/messages", params=params, content=upload,
                                headers={"Content-Type": content_type, "Content-Length": str(len(data)),
                                         "Idempotency-Key": key})
        return _checked(response, (201, 202)).json()

    def list_messages(self, mailbox_id: str, *, folder: str | None = None, heard: bool | None = None,
                      urgent: bool | None = None, since: str | None = None, until: str | None = None,
                      order: str | None = None, limit: int | None = None) -> Iterator[dict]:
        """Every message matching, page after page (each page may come from another region)."""
        params = {k: _param(v) for k, v in {"folder": folder, "heard": heard, "urgent": urgent, "since": since,
                                             "until": until, "order": order, "limit": limit}.items()
                  if v is not None}
        while True:
            page = self._json("GET", f"{self._mailbox(mailbox_id)}/messages", (200,), params=params)
            yield from page["items"]
            if not page.get("continuation"):
                return
            params["continuation"] = page["continuation"]

    def get_message(self, mailbox_id: str, message_id: str) -> dict:
        return self._json("GET", self._message(mailbox_id, message_id), (200,))

    def download(self, mailbox_id: str, message_id: str, audio_format: str = "opus",
                 progress: Progress | None = None) -> tuple[bytes, str]:
        """The audio in one format: (bytes, content type). A failed attempt starts over elsewhere."""
        got: dict[str, Any] = {}

        def read(response: httpx.Response) -> None:
            total = int(response.headers["content-length"]) if "content-length" in response.headers else None
            parts, done = [], 0
            for part in response.iter_bytes(CHUNK):
                parts.append(part)
                done += len(part)
                if progress:
                    progress(done, total)
            got["data"] = b"".join(parts)

        response = self.request("GET", f"{self._message(mailbox_id, message_id)}/audio",
                                params={"format": audio_format}, stream_to=read)
        _checked(response, (200,))
        return got["data"], response.headers.get("content-type", "")

    def mark(self, mailbox_id: str, message_id: str, *, heard: bool | None = None, folder: str | None = None,
             urgent: bool | None = None, etag: str | None = None) -> dict:
        body = {k: v for k, v in {"heard": heard, "folder": folder, "urgent": urgent}.items() if v is not None}
        headers = {"If-Match": etag} if etag else None
        return self._json("PATCH", self._message(mailbox_id, message_id), (200,), json=body, headers=headers)

    def delete(self, mailbox_id: str, message_id: str, purge: bool = False) -> None:
        params = {"purge": "true"} if purge else None
        response = self.request("DELETE", self._message(mailbox_id, message_id), params=params)
        if purge and response.status_code == 404 and response.extensions.get("voicemail_attempts", 1) > 1:
            return  # an earlier attempt purged it, and its answer was lost
        _checked(response, (204,))

    # -- notifications --------------------------------------------------------------------------

    def set_notifications(self, mailbox_id: str, targets: list[dict], delete_after_email: bool = False) -> dict:
        """Replace the mailbox's targets; a webhook created now comes back with its `secret` (only now)."""
        return self._json("PUT", f"{self._mailbox(mailbox_id)}/notifications", (200,),
                          json={"targets": targets, "deleteAfterEmail": delete_after_email})

    def get_notifications(self, mailbox_id: str) -> dict:
        return self._json("GET", f"{self._mailbox(mailbox_id)}/notifications", (200,))

    def verify_target(self, mailbox_id: str, code: str, *, address: str | None = None,
                      number: str | None = None) -> None:
        """Confirm an e-mail (`address`) or SMS (`number`) target with the 6-digit code it was sent."""
        target = {"address": address} if address is not None else {"number": number}
        self._json("POST", f"{self._mailbox(mailbox_id)}/notifications/verify", (204,), json={**target, "code": code})

    def dead_letters(self, mailbox_id: str | None = None, limit: int = 50) -> list[dict]:
        params = {"limit": str(limit), **({"mailboxId": mailbox_id} if mailbox_id else {})}
        return self._json("GET", "/admin/notifications/dead-letters", (200,), params=params)["items"]

    def replay_dead_letter(self, event_id: str) -> dict:
        return self._json("POST", f"/admin/notifications/dead-letters/{quote(event_id, safe='')}/replay", (202,))

    # -- operations -----------------------------------------------------------------------------

    def start_sweep(self, kind: str) -> dict:
        return self._json("POST", f"/admin/sweeps/{quote(kind, safe='')}", (202,))

    def sweep_status(self, instance_id: str) -> dict:
        return self._json("GET", f"/admin/sweeps/{quote(instance_id, safe='')}", (200,))

    def health(self) -> list[dict]:
        """Probe every endpoint now: one row per endpoint with what it answered."""
        self.endpoints.probe_all()
        return [{"endpoint": s.url, "healthy": s.healthy, "problem": s.last_problem}
                for s in self.endpoints.snapshot()]


def _checked(response: httpx.Response, expect: tuple[int, ...]) -> httpx.Response:
    if response.status_code in expect:
        return response
    try:
        problem = response.json()
        if not isinstance(problem, dict):
            raise ValueError
    except ValueError:
        problem = {"type": "about:blank", "title": response.reason_phrase, "detail": response.text[:200]}
    raise ApiError(response.status_code, problem)


def _param(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _audio_type(audio: bytes | Path) -> str:
    if isinstance(audio, Path):
        known = AUDIO_TYPES.get(audio.suffix.lower()) or mimetypes.guess_type(audio.name)[0]
        if known and known.startswith("audio/"):
            return known
    return "application/octet-stream"


def _chunks(data: bytes, progress: Progress) -> Iterator[bytes]:
    total = len(data)
    progress(0, total)
    for start in range(0, total, CHUNK):
        yield data[start:start + CHUNK]
        progress(min(total, start + CHUNK), total)
