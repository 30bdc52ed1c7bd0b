"""E-mail: Azure Communication Services Email in Azure (identity-based), SMTP locally (the sink on
127.0.0.1:1025 that `make run` starts keeps each mail as `.localstack/mail/*.eml`)."""

from __future__ import annotations

import base64
import smtplib
from email.message import EmailMessage

from shared.domain.notifications import Mail
from shared.ports import DeliveryFailed

SEND_TIMEOUT_S = 30.0


class AcsMailer:
    """One EmailClient per process (built on first send), authenticated by the app's identity."""

    def __init__(self, endpoint: str | None, sender: str | None, credential: object | None):
        self._endpoint = endpoint
        self._sender = sender
        self._credential = credential
        self._client = None

    def send(self, mail: Mail) -> None:
        if not self._endpoint or not self._sender:
            raise DeliveryFailed("e-mail is not configured (ACS_EMAIL_ENDPOINT, ACS_EMAIL_SENDER)")
        if self._client is None:
            from azure.communication.email import EmailClient

            self._client = EmailClient(self._endpoint, self._credential)
        message: dict[str, object] = {
            "senderAddress": self._sender, "recipients": {"to": [{"address": mail.to}]},
            "content": {"subject": mail.subject, "plainText": mail.text}}
        if mail.attachment:
            name, content_type, data = mail.attachment
            message["attachments"] = [{"name": name, "contentType": content_type,
                                       "contentInBase64": base64.b64encode(data).decode()}]
        try:
            result = self._client.begin_send(message).result(timeout=SEND_TIMEOUT_S)
        except Exception as error:  # noqa: BLE001 - any SDK failure is a failed delivery, retried
            raise DeliveryFailed(f"ACS e-mail: {type(error).__name__}: {error}") from None
        if (result or {}).get("status") not in ("Succeeded", "Running", "NotStarted"):
            raise DeliveryFailed(f"ACS e-mail: {result}")


class SmtpMailer:
    def __init__(self, host: str, port: int, sender: str, timeout_s: float = 10.0):
        self._host, self._port, self._sender, self._timeout_s = host, port, sender, timeout_s

    def send(self, mail: Mail) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self._sender, mail.to, mail.subject
        message.set_content(mail.text)
        if mail.attachment:
            name, content_type, data = mail.attachment
            main, sub = content_type.split("/", 1)
            message.add_attachment(data, maintype=main, subtype=sub, filename=name)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryFailed(f"SMTP {self._host}:{self._port}: {error}") from None
