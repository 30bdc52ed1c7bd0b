"""The voicemail HTTP API as the gateway uses it: a subscriber's session, one per IMAP connection.

Blocking calls (httpx, one pooled client per process); the server runs them in Twisted's thread
pool. Every answer the API gives maps to one of the errors below, which the server turns into IMAP
`NO` answers with RFC 5530 response codes. The PIN stays in this object's memory for the life of
the connection, so a token is renewed by logging in again a minute before it expires. A token the API
refuses before then was ended by a PIN change or a deprovisioning: the session ends, and the old
PIN is never tried again (it would count towards the lockout).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

DEFAULT_TENANT = "default"


class ApiError(Exception):
    """The API refused or failed; `code` is the RFC 5530 response code for the IMAP answer."""

    code = "UNAVAILABLE"

    def __init__(self, detail: str, status: int = 0):
        super().__init__(detail)
        self.status = status


class LoginFailed(ApiError):
    code = "AUTHENTICATIONFAILED"


class Locked(ApiError):
    code = "ALERT"


class Limited(ApiError):
    code = "LIMIT"


class SessionEnded(ApiError):
    code = "AUTHENTICATIONFAILED"


class NotFound(ApiError):
    code = "NONEXISTENT"


class Conflict(ApiError):
    code = "CANNOT"


@dataclass(frozen=True)
class User:
    """An IMAP user name: `mailboxId`, or `tenantId/mailboxId` for a tenant other than `default`."""

    tenant: str
    mailbox_id: str

    @classmethod
    def parse(cls, name: str) -> User:
        tenant, _, mailbox = name.rpartition("/")
        return cls(tenant or DEFAULT_TENANT, mailbox)

    @property
    def path(self) -> str:
        mailbox = f"mailboxes/{quote(self.mailbox_id, safe='')}"
        return mailbox if self.tenant == DEFAULT_TENANT else f"tenants/{quote(self.tenant, safe='')}/{mailbox}"


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail") or response.reason_phrase)
    except ValueError:
        return response.reason_phrase


def _raise_for(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    detail = _detail(response)
    if status == 401:
        raise SessionEnded(detail, status)
    if status == 404:
        raise NotFound(detail, status)
    if status in (409, 412):
        raise Conflict(detail, status)
    if status == 423:
        raise Locked(detail, status)
    if status == 429:
        raise Limited(detail, status)
    raise ApiError(detail, status)


class Client:
    """One per process: the connection pool every session shares."""

    def __init__(self, base_url: str, timeout_s: float = 15.0):
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout_s,
                                 limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))

    def login(self, user: User, pin: str, client_ip: str) -> Session:
        session = Session(self, user, pin, client_ip)
        session.login()
        return session

    def ready(self) -> bool:
        try:
            return self.http.get("/health/ready", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self.http.close()


class Session:
    def __init__(self, client: Client, user: User, pin: str, client_ip: str):
        self._client, self.user, self._pin, self._client_ip = client, user, pin, client_ip
        self._token: str | None = None
        self._renew_at = 0.0  # time.monotonic() when the token is a minute from expiring
        self._mailbox: tuple[float, dict] | None = None  # (when, the last GET of the mailbox)
        self._lock = threading.Lock()

    def login(self) -> None:
        try:
            response = self._client.http.post(f"/{self.user.path}/sessions", json={"pin": self._pin},
                                              headers={"x-forwarded-for": self._client_ip})
        except httpx.HTTPError as error:
            raise ApiError(f"the API did not answer: {type(error).__name__}") from error
        if response.status_code in (400, 401, 404, 422):  # unknown mailbox and wrong PIN look the same
            raise LoginFailed("wrong mailbox or PIN", response.status_code)
        _raise_for(response)
        answer = response.json()
        self._token = answer["token"]
        expires = datetime.fromisoformat(answer["expiresAt"].replace("Z", "+00:00"))
        lifetime = (expires - datetime.now(UTC)).total_seconds()
        self._renew_at = time.monotonic() + max(10.0, lifetime - 60)

    def _call(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        """One API call with the session's token, renewed first when it is about to expire."""
        if time.monotonic() >= self._renew_at:
            with self._lock:
                if time.monotonic() >= self._renew_at:
                    try:
                        self.login()
                    except LoginFailed as error:
                        raise SessionEnded("the session ended: log in again", 401) from error
        headers = {"authorization": f"Bearer {self._token}", "x-forwarded-for": self._client_ip,
                   **kwargs.pop("headers", {})}
        try:
            response = self._client.http.request(method, f"/{self.user.path}{path}", headers=headers, **kwargs)
        except httpx.HTTPError as error:
            raise ApiError(f"the API did not answer: {type(error).__name__}") from error
        _raise_for(response)  # 401: the session was ended (PIN changed, mailbox removed)
        return response

    def mailbox(self, max_age_s: float = 0.0) -> dict:
        """The mailbox (counts, settings, createdAt); an answer younger than `max_age_s` is reused."""
        cached = self._mailbox
        if cached is not None and time.monotonic() - cached[0] < max_age_s:
            return cached[1]
        answer = self._call("GET", "").json()
        self._mailbox = (time.monotonic(), answer)
        return answer

    def messages(self, folder: str) -> list[dict]:
        """Every message of a folder, oldest first (pages of 200)."""
        items: list[dict] = []
        params: dict[str, str] = {"folder": folder, "order": "asc", "limit": "200"}
        while True:
            page = self._call("GET", "/messages", params=params).json()
            items += page["items"]
            if not page.get("continuation"):
                return items
            params["continuation"] = page["continuation"]

    def audio(self, message: dict) -> bytes:
        fmt = "wav" if "wav" in (message.get("formats") or []) else "original"
        return self._call("GET", f"/messages/{quote(message['id'], safe='')}/audio", params={"format": fmt}).content

    def audio_size(self, message: dict) -> int:
        """The length of what `audio(message)` returns, from one byte of it (`Range: bytes=0-0`)."""
        fmt = "wav" if "wav" in (message.get("formats") or []) else "original"
        response = self._call("GET", f"/messages/{quote(message['id'], safe='')}/audio", params={"format": fmt},
                              headers={"range": "bytes=0-0"})
        total = response.headers.get("content-range", "").rpartition("/")[2]
        return int(total) if response.status_code == 206 and total.isdigit() else len(response.content)

    def change(self, message_id: str, **fields: object) -> dict:
        return self._call("PATCH", f"/messages/{quote(message_id, safe='')}", json=fields).json()

    def delete(self, message_id: str, purge: bool) -> None:
        self._call("DELETE", f"/messages/{quote(message_id, safe='')}", params={"purge": "true"} if purge else None)

    def greeting(self, kind: str) -> bytes | None:
        try:
            return self._call("GET", f"/greetings/{kind}/audio", params={"format": "wav"}).content
        except NotFound:
            return None
