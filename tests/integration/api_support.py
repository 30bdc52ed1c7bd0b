"""A small client for the product's API in tests, and a host serving it."""

from __future__ import annotations

import base64
import json
import math
import struct
import uuid
import wave
from io import BytesIO
from urllib.parse import quote

import httpx
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient

from devstack import localstack
from tests.support import PLATFORM_KEY

PLATFORM = {"x-api-key": PLATFORM_KEY}


def tone_wav(seconds: float = 1.0, rate: int = 8000, hz: float = 440.0) -> bytes:
    """A short PCM WAV: enough to be real audio for the deposit routes."""
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / rate)))
                      for i in range(int(seconds * rate)))
    buffer = BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


def new_mailbox_id() -> str:
    """An E.164-long number, one of 10^10: no two tests of a run share one (seven digits made of hex
    could, in about 1 run in 100 by estimate, given the mailboxes a run provisions)."""
    return f"+1555{uuid.uuid4().int % 10**10:010d}"


class Api:
    def __init__(self, base_url: str, mwi_queue: str):
        self.http = httpx.Client(base_url=f"{base_url}/api", timeout=30)
        self.mwi_queue = mwi_queue
        self._events: dict[str, list[dict]] = {}

    @staticmethod
    def mailbox_path(mailbox_id: str) -> str:
        return f"/mailboxes/{quote(mailbox_id, safe='')}"

    def provision(self, mailbox_id: str | None = None, pin: str | None = "1234", **settings: int) -> str:
        mailbox_id = mailbox_id or new_mailbox_id()
        body = {"displayName": f"Test {mailbox_id}", **({"pin": pin} if pin else {}),
                **({"settings": settings} if settings else {})}
        response = self.http.put(self.mailbox_path(mailbox_id), json=body, headers=PLATFORM)
        assert response.status_code == 201, response.text
        return mailbox_id

    def login(self, mailbox_id: str, pin: str = "1234") -> dict[str, str]:
        response = self.http.post(f"{self.mailbox_path(mailbox_id)}/sessions", json={"pin": pin})
        assert response.status_code == 201, response.text
        return {"authorization": f"Bearer {response.json()['token']}"}

    def deposit(self, mailbox_id: str, audio: bytes | None = None, headers: dict[str, str] | None = None,
                **params: str) -> httpx.Response:
        return self.http.post(f"{self.mailbox_path(mailbox_id)}/messages", params=params,
                              content=audio if audio is not None else tone_wav(0.5),
                              headers={**PLATFORM, "content-type": "audio/wav", **(headers or {})})

    def list_all(self, mailbox_id: str, headers: dict[str, str] | None = None, **params: str) -> list[dict]:
        """Every page of a listing, in order."""
        items, continuation = [], None
        while True:
            query = {**params, **({"continuation": continuation} if continuation else {})}
            response = self.http.get(f"{self.mailbox_path(mailbox_id)}/messages", params=query,
                                     headers=headers or PLATFORM)
            assert response.status_code == 200, response.text
            page = response.json()
            items += page["items"]
            continuation = page["continuation"]
            if continuation is None:
                return items

    def mwi_events(self, mailbox_id: str) -> list[dict]:
        """MWI events for one mailbox so far. This client's host has its own queue: take them all."""
        queue = QueueClient.from_connection_string(localstack.storage_connection_string(), self.mwi_queue)
        while True:
            try:
                batch = list(queue.receive_messages(max_messages=32, messages_per_page=32))
            except ResourceNotFoundError:  # no event yet: the queue is made with the first one
                break
            if not batch:
                break
            for message in batch:
                event = json.loads(base64.b64decode(message.content))
                self._events.setdefault(event["mailboxId"], []).append(event)
                queue.delete_message(message)
        return list(self._events.get(mailbox_id, []))
