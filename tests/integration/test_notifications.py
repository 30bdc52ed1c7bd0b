"""Notifications end to end on the local host: a webhook receiver that fails first and checks the
Standard Webhooks signature, e-mail read back from an SMTP sink, SMS from the sink folder, dead
letters and their replay."""

from __future__ import annotations

import email
import email.policy
import json
import re
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from standardwebhooks.webhooks import Webhook

from devstack.mail_sink import MailSink
from devstack.webhook_receiver import WebhookReceiver
from tests.integration.api_support import PLATFORM, tone_wav
from tests.support import free_port, wait_until

SMTP_PORT = free_port()
SINK = Path(tempfile.mkdtemp(prefix="notify-"))
# A compressed schedule: the first retry within a second or two, dead-lettered after 20 s.
PRODUCT_SETTINGS = {"NOTIFY_FIRST_RETRY_SECONDS": "1", "NOTIFY_MAX_RETRY_SECONDS": "2",
                    "NOTIFY_RETRY_HORIZON_SECONDS": "20", "SMTP_PORT": str(SMTP_PORT),
                    "SMS_SINK_DIR": str(SINK / "sms")}


@pytest.fixture(scope="module")
def receiver():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def mail():
    with MailSink(SINK / "mail", SMTP_PORT) as sink:
        yield sink


def mails_to(sink: MailSink, address: str) -> list[email.message.EmailMessage]:
    found = [email.message_from_bytes(path.read_bytes(), policy=email.policy.default) for path in sink.mails()]
    return [m for m in found if m["To"] == address]


def ready(api, mailbox_id: str, **params: str) -> dict:
    message = api.deposit(mailbox_id, tone_wav(2.0), **params).json()
    url = f"{api.mailbox_path(mailbox_id)}/messages/{message['id']}"
    return wait_until(lambda: (m := api.http.get(url, headers=PLATFORM).json())["status"] == "ready" and m,
                      timeout=60, message="the message to be ready")


def put_targets(api, mailbox_id: str, targets: list[dict], headers=PLATFORM, **extra) -> dict:
    response = api.http.put(f"{api.mailbox_path(mailbox_id)}/notifications", json={"targets": targets, **extra},
                            headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_new_message_is_signed_to_the_webhook_retried_after_a_500_mailed_with_its_audio_and_texted(
        api, receiver, mail):
    mailbox_id = api.provision()
    api.http.patch(api.mailbox_path(mailbox_id), json={"settings": {"timeZone": "America/New_York"}},
                   headers=PLATFORM).raise_for_status()
    receiver.failing["/flaky"] = "first"
    address = f"{mailbox_id.lstrip('+')}@example.com"
    created = put_targets(api, mailbox_id, [{"kind": "webhook", "url": receiver.url("/flaky")},
                                            {"kind": "email", "address": address, "attach": "mp3"},
                                            {"kind": "sms", "number": "+15550001111"}])
    secret = created["targets"][0]["secret"]
    assert secret.startswith("whsec_")

    message = ready(api, mailbox_id, **{"from": "+15557654321", "fromName": "Alice"})

    calls = wait_until(lambda: [c for c in receiver.received("/flaky", "message.ready") if c["status"] == 204]
                       and receiver.received("/flaky", "message.ready"), timeout=60, message="a delivered webhook")
    assert [c["status"] for c in calls] == [500, 204]  # failed first, retried once, then taken
    assert calls[0]["headers"]["webhook-id"] == calls[1]["headers"]["webhook-id"]
    body = Webhook(secret).verify(calls[1]["body"], calls[1]["headers"])  # raises unless signed with the secret
    assert body["type"] == "message.ready" and body["data"]["id"] == message["id"]
    assert body["data"]["status"] == "ready" and body["data"]["from"]["name"] == "Alice"

    lamp = wait_until(lambda: receiver.received("/flaky", "mwi.changed"), timeout=60, message="an MWI webhook")
    data = json.loads(lamp[-1]["body"])["data"]
    assert data["mailboxId"] == mailbox_id and {"new", "saved", "urgentNew"} <= set(data)

    [sent] = wait_until(lambda: mails_to(mail, address), timeout=60, message="the e-mail")
    assert "Alice" in sent["Subject"]
    [attachment] = list(sent.iter_attachments())
    assert attachment.get_content_type() == "audio/mpeg" and len(attachment.get_content()) > 0
    # The MP3 is made on first request (here, the e-mail's) and kept: the API serves the same bytes.
    served = api.http.get(f"{api.mailbox_path(mailbox_id)}/messages/{message['id']}/audio",
                          params={"format": "mp3"}, headers=PLATFORM)
    assert served.headers["content-type"] == "audio/mpeg" and served.content == attachment.get_content()
    text = sent.get_body(preferencelist=("plain",)).get_content()
    received = datetime.fromisoformat(message["receivedAt"].replace("Z", "+00:00"))
    assert received.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M %Z") in text

    def texts():
        return [json.loads(p.read_text()) for p in (SINK / "sms").glob("*.json")]

    [sms] = wait_until(lambda: [t for t in texts() if t["to"] == "+15550001111" and "+15557654321" in t["text"]],
                       timeout=60, message="the SMS")
    assert sms["text"].startswith("Voicemail from Alice (+15557654321)")

    assert len(receiver.received("/flaky", "message.ready")) == 2  # delivered once: no further sends


def test_an_event_that_keeps_failing_is_dead_lettered_then_replayed_with_the_same_id(api, receiver):
    mailbox_id = api.provision()
    receiver.failing["/down"] = "always"
    secret = put_targets(api, mailbox_id, [{"kind": "webhook", "url": receiver.url("/down")}])["targets"][0]["secret"]
    message = ready(api, mailbox_id)

    def dead():
        items = api.http.get("/admin/notifications/dead-letters", params={"mailboxId": mailbox_id},
                             headers=PLATFORM).json()["items"]
        return [i for i in items if i["type"] == "message.ready"]

    [letter] = wait_until(dead, timeout=90, interval=1, message="the dead letter")
    assert letter["messageId"] == message["id"] and letter["deliveries"][0]["attempts"] >= 2
    assert "500" in letter["deliveries"][0]["lastError"]
    ids = {c["headers"]["webhook-id"] for c in receiver.received("/down", "message.ready")}
    assert ids == {letter["id"]}

    receiver.failing["/down"] = "never"  # the receiver is back
    replay = api.http.post(f"/admin/notifications/dead-letters/{letter['id']}/replay", headers=PLATFORM)
    assert replay.status_code == 202, replay.text
    taken = wait_until(lambda: [c for c in receiver.received("/down", "message.ready") if c["status"] == 204],
                       timeout=60, message="the replayed delivery")
    assert taken[0]["headers"]["webhook-id"] == letter["id"]
    Webhook(secret).verify(taken[0]["body"], taken[0]["headers"])
    assert not dead()
    again = api.http.post(f"/admin/notifications/dead-letters/{letter['id']}/replay", headers=PLATFORM)
    assert again.status_code == 409 and again.json()["type"] == "event-not-dead-lettered"


def test_targets_show_secrets_once_and_subscribers_manage_only_email_and_sms(api, receiver):
    mailbox_id = api.provision()
    hook = {"kind": "webhook", "url": receiver.url("/quiet")}
    first = put_targets(api, mailbox_id, [hook])
    assert "secret" in first["targets"][0]
    again = put_targets(api, mailbox_id, [hook, {"kind": "email", "address": "a@example.com", "attach": "none"}])
    assert all("secret" not in t for t in again["targets"])  # the webhook existed: its secret is not shown again
    shown = api.http.get(f"{api.mailbox_path(mailbox_id)}/notifications", headers=PLATFORM).json()
    assert shown["targets"] == [hook, {"kind": "email", "address": "a@example.com", "attach": "none", "verified": True}]
    assert shown["deleteAfterEmail"] is False

    subscriber = api.login(mailbox_id)
    refused = api.http.put(f"{api.mailbox_path(mailbox_id)}/notifications", headers=subscriber,
                           json={"targets": [hook]})
    assert refused.status_code == 403 and refused.json()["type"] == "forbidden"
    mine = put_targets(api, mailbox_id, [{"kind": "sms", "number": "+15550002222"}], headers=subscriber)
    assert mine["targets"] == [{"kind": "sms", "number": "+15550002222", "verified": False}]
    kept = api.http.get(f"{api.mailbox_path(mailbox_id)}/notifications", headers=PLATFORM).json()
    assert kept["targets"] == [hook, {"kind": "sms", "number": "+15550002222", "verified": False}]  # webhook stays

    for url in ("ftp://127.0.0.1/x", "http://10.0.0.1/hook", "http://example.com/hook", "https://[::1/x",
                "https://example.com:99999/hook"):
        bad = api.http.put(f"{api.mailbox_path(mailbox_id)}/notifications", headers=PLATFORM,
                           json={"targets": [{"kind": "webhook", "url": url}]})
        assert bad.status_code == 422 and bad.json()["type"] == "invalid-webhook-url", url
    other = api.provision()
    assert api.http.get(f"{api.mailbox_path(other)}/notifications", headers=subscriber).status_code in (403, 404)


def test_delete_after_email_moves_the_message_to_the_trash_once_mailed(api, mail):
    mailbox_id = api.provision()
    address = f"trash{mailbox_id.lstrip('+')}@example.com"
    put_targets(api, mailbox_id, [{"kind": "email", "address": address, "attach": "wav"}], deleteAfterEmail=True)
    message = ready(api, mailbox_id)
    [sent] = wait_until(lambda: mails_to(mail, address), timeout=60, message="the e-mail")
    assert [a.get_content_type() for a in sent.iter_attachments()] == ["audio/wav"]
    url = f"{api.mailbox_path(mailbox_id)}/messages/{message['id']}"
    wait_until(lambda: api.http.get(url, headers=PLATFORM).json()["folder"] == "trash", timeout=30,
               message="the message in the trash")


def test_a_subscribers_target_gets_a_code_and_once_confirmed_its_voicemail(api, mail, receiver):
    """As a person would: read the code from the mail and SMS sinks, confirm it over HTTP, then get
    the voicemail notification that an unverified target never gets."""
    mailbox_id = api.provision()
    subscriber, path = api.login(mailbox_id), f"{api.mailbox_path(mailbox_id)}/notifications"
    hook = f"/verify-{mailbox_id.lstrip('+')}"  # the platform's webhook says when an event was dispatched
    put_targets(api, mailbox_id, [{"kind": "webhook", "url": receiver.url(hook)}])
    address, number = f"v{mailbox_id.lstrip('+')}@example.com", "+1555" + mailbox_id[-7:]
    shown = put_targets(api, mailbox_id, [{"kind": "email", "address": address, "attach": "none"},
                                          {"kind": "sms", "number": number}], headers=subscriber)
    assert [t["verified"] for t in shown["targets"]] == [False, False]

    def texts_to() -> list[dict]:
        return [t for p in (SINK / "sms").glob("*.json") if (t := json.loads(p.read_text()))["to"] == number]

    [code_mail] = wait_until(lambda: mails_to(mail, address), timeout=30, message="the code by e-mail")
    [code_sms] = wait_until(texts_to, timeout=30, message="the code by SMS")
    mail_code = re.search(r"\b([0-9]{6})\b", code_mail.get_body(preferencelist=("plain",)).get_content()).group(1)
    sms_code = re.search(r"\b([0-9]{6})\b", code_sms["text"]).group(1)

    early = ready(api, mailbox_id, **{"from": "+15557654321", "fromName": "Early"})  # before they are confirmed
    wait_until(lambda: [c for c in receiver.received(hook, "message.ready")
                        if json.loads(c["body"])["data"]["id"] == early["id"]],
               timeout=60, message="the early message dispatched")
    wrong = api.http.post(f"{path}/verify", headers=subscriber,
                          json={"number": number, "code": "000000" if sms_code != "000000" else "111111"})
    assert wrong.status_code == 422 and wrong.json()["type"] == "verification-failed"
    assert wrong.headers["content-type"].startswith("application/problem+json")
    both = api.http.post(f"{path}/verify", headers=subscriber, json={"number": number, "address": address,
                                                                     "code": sms_code})
    assert both.status_code == 400 and both.json()["type"] == "validation-failed"
    for body in ({"address": address, "code": mail_code}, {"number": number, "code": sms_code}):
        confirmed = api.http.post(f"{path}/verify", headers=subscriber, json=body)
        assert confirmed.status_code == 204, confirmed.text
    shown = api.http.get(path, headers=subscriber).json()
    assert [t["verified"] for t in shown["targets"]] == [True, True]

    ready(api, mailbox_id, **{"from": "+15557654321", "fromName": "Alice"})
    wait_until(lambda: [m for m in mails_to(mail, address) if "Alice" in m["Subject"]], timeout=60,
               message="the voicemail e-mail")
    wait_until(lambda: [t for t in texts_to() if "Alice" in t["text"]], timeout=60, message="the voicemail SMS")
    assert not [m for m in mails_to(mail, address) if "Early" in m["Subject"]]  # never sent while unverified
    assert not [t for t in texts_to() if "Early" in t["text"]]
    assert len(mails_to(mail, address)) == 2 and len(texts_to()) == 2  # the code, then the voicemail


def test_a_fourth_code_in_a_day_is_429_with_retry_after(api):
    mailbox_id = api.provision()
    subscriber, number = api.login(mailbox_id), "+1556" + mailbox_id[-7:]
    for _ in range(3):  # removing and adding it again does not reset its count
        put_targets(api, mailbox_id, [{"kind": "sms", "number": number}], headers=subscriber)
        put_targets(api, mailbox_id, [], headers=subscriber)
    refused = api.http.put(f"{api.mailbox_path(mailbox_id)}/notifications", headers=subscriber,
                           json={"targets": [{"kind": "sms", "number": number}]})
    assert refused.status_code == 429 and refused.json()["type"] == "too-many-requests"
    assert int(refused.headers["retry-after"]) > 23 * 3600
