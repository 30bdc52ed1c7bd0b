"""SMS: Azure Communication Services SMS in Azure (identity-based), a folder of JSON files locally
(`.localstack/sms/*.json` in a `make run`)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from shared.ports import DeliveryFailed


class AcsSms:
    def __init__(self, endpoint: str | None, sender: str | None, credential: object | None):
        self._endpoint = endpoint
        self._sender = sender
        self._credential = credential
        self._client = None

    def send(self, number: str, text: str) -> None:
        if not self._endpoint or not self._sender:
            raise DeliveryFailed("SMS is not configured (ACS_SMS_ENDPOINT, ACS_SMS_FROM)")
        if self._client is None:
            from azure.communication.sms import SmsClient

            self._client = SmsClient(self._endpoint, self._credential)
        try:
            results = self._client.send(from_=self._sender, to=[number], message=text)
        except Exception as error:  # noqa: BLE001 - any SDK failure is a failed delivery, retried
            raise DeliveryFailed(f"ACS SMS: {type(error).__name__}: {error}") from None
        failed = [r for r in results if not r.successful]
        if failed:
            raise DeliveryFailed(f"ACS SMS: {failed[0].http_status_code} {failed[0].error_message}")


class FileSms:
    """Each SMS as one JSON file: what a local run 'sends'."""

    def __init__(self, folder: str | Path):
        self._folder = Path(folder)

    def send(self, number: str, text: str) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        at = datetime.now(UTC)
        record = {"to": number, "text": text, "at": at.isoformat().replace("+00:00", "Z")}
        path = self._folder / f"{at.strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}.json"
        path.write_text(json.dumps(record, ensure_ascii=False))
