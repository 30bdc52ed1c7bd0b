"""Hostile input through the real HTTP stack (the local host, the emulators): malformed tokens,
continuations and parameters, over-long values, bytes that are not UTF-8, wrong JSON types. Each
answers a 4xx problem+json with a stable `type`, never a 5xx (API.md: "Any malformed token,
continuation or parameter is a 4xx problem, never a 500")."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

import httpx
import pytest

from tests.integration.api_support import PLATFORM, Api, tone_wav

pytestmark = pytest.mark.integration

MAILBOX = "{mailbox}"  # filled in with the test's mailbox
MESSAGE = "{mailbox}/messages/{message}"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Hostile:
    """One nasty request: method, path under /api/mailboxes/, and what it must answer."""

    method: str
    path: str
    status: int
    type: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str | bytes] = field(default_factory=lambda: dict(PLATFORM))
    body: bytes | None = None


def case(name: str, *args, **kwargs):
    return pytest.param(Hostile(*args, **kwargs), id=name)


def json_headers(**extra: str | bytes) -> dict[str, str | bytes]:
    return {**PLATFORM, "content-type": "application/json", **extra}


CONTINUATION = [
    # json.loads recursed until RecursionError inside decode_continuation: was a 500.
    case("continuation-nested-arrays", "GET", f"{MAILBOX}/messages", 400, "validation-failed",
         params={"continuation": b64(b"[" * 5000 + b"]" * 5000)}),
    case("continuation-nested-objects", "GET", f"{MAILBOX}/messages", 400, "validation-failed",
         params={"continuation": b64(b'{"k":' * 2000)}),
    case("continuation-over-long", "GET", f"{MAILBOX}/messages", 400, "validation-failed",
         params={"continuation": "A" * 50_000}),
    # These three were accepted and went into the store's query (200): not tokens we issue.
    case("continuation-lone-surrogate", "GET", f"{MAILBOX}/messages", 400, "validation-failed",
         params={"continuation": b64(b'{"k":"\\ud800","d":true}')}),
    case("continuation-foreign-sort-key", "GET", f"{MAILBOX}/messages", 400, "validation-failed",
         params={"continuation": b64(json.dumps({"k": "x" * 3000, "d": True}).encode())}),
    case("continuation-extra-members", "GET", f"{MAILBOX}/messages", 400, "validation-failed",
         params={"continuation": b64(b'{"k":"2026-11-27T08:00:00.000000Z|abc","d":1,"x":[[[]]]}')}),
    case("continuation-not-utf8", "GET", f"{MAILBOX}/messages?continuation=%FF%FE", 400, "validation-failed"),
    case("continuation-not-ascii", "GET", f"{MAILBOX}/messages", 400, "validation-failed",
         params={"continuation": "\u00e9t\u00e9"}),
]

PARAMETERS = [
    case("limit-over-long", "GET", f"{MAILBOX}/messages", 400, "validation-failed", params={"limit": "9" * 5000}),
    case("limit-superscript", "GET", f"{MAILBOX}/messages", 400, "validation-failed", params={"limit": "\u00b2"}),
    case("limit-fraction", "GET", f"{MAILBOX}/messages", 400, "validation-failed", params={"limit": "1.5"}),
    case("order-over-long", "GET", f"{MAILBOX}/messages", 400, "validation-failed", params={"order": "d" * 8000}),
    case("folder-nul", "GET", f"{MAILBOX}/messages?folder=%00", 400, "validation-failed"),
    case("heard-not-utf8", "GET", f"{MAILBOX}/messages?heard=%FF", 400, "validation-failed"),
    case("urgent-word", "GET", f"{MAILBOX}/messages", 400, "validation-failed", params={"urgent": "maybe"}),
    case("since-fullwidth-digits", "GET", f"{MAILBOX}/messages", 400, "validation-failed",
         params={"since": "\uff12\uff10\uff12\uff16-01-01T00:00:00Z"}),
    case("since-long-fraction", "GET", f"{MAILBOX}/messages", 400, "validation-failed",
         params={"since": "2026-01-01T00:00:00." + "1" * 5000 + "Z"}),
    case("until-not-a-day", "GET", f"{MAILBOX}/messages", 400, "validation-failed",
         params={"until": "2026-02-30T00:00:00Z"}),
    case("format-not-utf8", "GET", f"{MESSAGE}/audio?format=%FF", 400, "validation-failed"),
    case("redirect-word", "GET", f"{MESSAGE}/audio", 400, "validation-failed",
         params={"format": "original", "redirect": "please"}),
    case("purge-word", "DELETE", MESSAGE, 400, "validation-failed", params={"purge": "x" * 3000}),
    case("range-over-long", "GET", f"{MESSAGE}/audio", 416, "range-not-satisfiable", params={"format": "original"},
         headers={**PLATFORM, "range": "bytes=0-" + "9" * 5000}),
    case("range-not-latin", "GET", f"{MESSAGE}/audio", 416, "range-not-satisfiable", params={"format": "original"},
         headers={**PLATFORM, "range": b"bytes=\xff-\xfe"}),
    case("reason-not-utf8", "GET", f"{MAILBOX}/greeting?reason=%FF", 400, "validation-failed"),
    case("inline-from-name-bidi", "POST", f"{MAILBOX}/messages", 400, "validation-failed",
         params={"fromName": "\u202eecilA"}, headers={**PLATFORM, "content-type": "audio/wav"}, body=b"RIFF"),
]

PATHS = [
    case("mailbox-not-utf8", "GET", "%FF%FE/messages", 400, "validation-failed"),
    case("mailbox-nul", "GET", "a%00b", 400, "validation-failed"),
    case("mailbox-double-encoded-plus", "GET", "%252B15551234567", 400, "validation-failed"),
    case("mailbox-encoded-slash", "GET", "a%2Fb/messages", 400, "validation-failed"),
    case("mailbox-trailing-newline", "PUT", "a%0A", 400, "validation-failed", headers=json_headers(),
         body=b'{"displayName":"x"}'),
    case("mailbox-over-long", "GET", "a" * 5000, 400, "validation-failed"),
    case("message-not-utf8", "GET", f"{MAILBOX}/messages/%FF", 400, "validation-failed"),
    case("message-over-long", "PATCH", f"{MAILBOX}/messages/{'m' * 5000}", 400, "validation-failed",
         headers=json_headers(), body=b'{"heard":true}'),
    case("greeting-kind-not-utf8", "GET", f"{MAILBOX}/greetings/%FF/audio", 400, "validation-failed"),
]

HEADERS = [
    # A malformed If-Match was compared as if it were an ETag (412): it is not one.
    case("if-match-not-latin", "PATCH", MESSAGE, 400, "validation-failed",
         headers=json_headers(**{"if-match": b"\xff\xfe"}), body=b'{"heard":true}'),
    case("if-match-empty", "PATCH", MESSAGE, 400, "validation-failed",
         headers=json_headers(**{"if-match": ""}), body=b'{"heard":true}'),
    case("if-match-over-long", "PATCH", MAILBOX, 400, "validation-failed",
         headers=json_headers(**{"if-match": '"' + "x" * 7000 + '"'}), body=b'{"displayName":"x"}'),
    case("if-match-list", "PATCH", MAILBOX, 400, "validation-failed",
         headers=json_headers(**{"if-match": '"a", "b"'}), body=b'{"displayName":"x"}'),
    case("idempotency-key-over-long", "POST", f"{MAILBOX}/messages", 400, "validation-failed",
         headers={**PLATFORM, "content-type": "audio/wav", "idempotency-key": "k" * 5000}, body=b"RIFF"),
    case("idempotency-key-empty", "POST", f"{MAILBOX}/messages", 400, "validation-failed",
         headers={**PLATFORM, "content-type": "audio/wav", "idempotency-key": ""}, body=b"RIFF"),
    case("content-type-not-latin", "POST", f"{MAILBOX}/messages", 415, "invalid-audio",
         headers={**PLATFORM, "content-type": b"audio/\xff"}, body=b"RIFF"),
    case("api-key-over-long", "GET", MAILBOX, 401, "unauthorized", headers={"x-api-key": "k" * 7000}),
    case("api-key-not-latin", "GET", MAILBOX, 401, "unauthorized", headers={"x-api-key": b"\xff\xfe"}),
    case("api-key-empty", "GET", MAILBOX, 401, "unauthorized", headers={"x-api-key": ""}),
    case("bearer-empty", "GET", MAILBOX, 401, "unauthorized", headers={"authorization": "Bearer"}),
    case("bearer-other-scheme", "GET", MAILBOX, 401, "unauthorized", headers={"authorization": "Basic YTpi"}),
    case("bearer-over-long", "GET", MAILBOX, 401, "invalid-token", headers={"authorization": "Bearer " + "a" * 7000}),
    case("bearer-not-latin", "GET", MAILBOX, 401, "invalid-token", headers={"authorization": b"Bearer v1.\xff.\xfe"}),
    case("bearer-nested-claims", "GET", MAILBOX, 401, "invalid-token",
         headers={"authorization": f"Bearer v1.{b64(b'[' * 3000)}.{b64(b'x' * 32)}"}),
    case("bearer-empty-parts", "GET", MAILBOX, 401, "invalid-token", headers={"authorization": "Bearer v1.."}),
]

BODIES = [
    case("body-not-utf8", "PUT", MAILBOX, 400, "validation-failed", headers=json_headers(), body=b"\xff\xfe"),
    case("body-nested", "PUT", MAILBOX, 400, "validation-failed", headers=json_headers(), body=b"[" * 60_000),
    case("body-wrong-types", "PUT", MAILBOX, 400, "validation-failed", headers=json_headers(),
         body=b'{"displayName":5,"pin":1234,"settings":[]}'),
    case("body-number-too-big", "PUT", MAILBOX, 400, "validation-failed", headers=json_headers(),
         body=b'{"displayName":"x","settings":{"maxMessages":1e400}}'),
    case("body-huge-integer", "PATCH", MESSAGE, 400, "validation-failed", headers=json_headers(),
         body=b'{"heard":' + b"9" * 5000 + b"}"),
    case("body-heard-string", "PATCH", MESSAGE, 400, "validation-failed", headers=json_headers(),
         body=b'{"heard":"maybe"}'),
    case("body-forward-to-object", "POST", f"{MESSAGE}/forward", 400, "validation-failed", headers=json_headers(),
         body=b'{"to":{"id":["x"]}}'),
    case("body-pin-nested", "POST", f"{MAILBOX}/sessions", 400, "validation-failed",
         headers={"content-type": "application/json"}, body=b'{"pin":[[[["1234"]]]]}'),
    case("body-pin-over-long", "POST", f"{MAILBOX}/sessions", 400, "validation-failed",
         headers={"content-type": "application/json"}, body=b'{"pin":"' + b"1" * 60_000 + b'"}'),
    # JSON bodies over 64 KiB: refused before they are parsed (a login's before its rate limit).
    case("body-over-64-kib-login", "POST", f"{MAILBOX}/sessions", 413, "payload-too-large",
         headers={"content-type": "application/json"}, body=b'{"pin":"1234"}'.ljust(64 * 1024 + 1, b" ")),
    case("body-over-64-kib-mailbox", "PUT", MAILBOX, 413, "payload-too-large", headers=json_headers(),
         body=b'{"displayName":"' + b"x" * 70_000 + b'"}'),
    case("body-over-64-kib-notifications", "PUT", f"{MAILBOX}/notifications", 413, "payload-too-large",
         headers=json_headers(), body=b'{"targets":' + b"[" * 70_000 + b"}"),
    case("body-upload-size-text", "POST", f"{MAILBOX}/messages", 400, "validation-failed", headers=json_headers(),
         body=b'{"contentType":"audio/wav","sizeBytes":"twelve"}'),
    # fromName: one rule on both deposit paths; the upload path took these (201).
    case("upload-from-name-line-separator", "POST", f"{MAILBOX}/messages", 400, "validation-failed",
         headers=json_headers(), body='{"fromName":"Al\u2028ice","contentType":"audio/wav","sizeBytes":9}'.encode()),
    case("upload-from-name-bidi", "POST", f"{MAILBOX}/messages", 400, "validation-failed",
         headers=json_headers(), body='{"fromName":"\u202eecilA","contentType":"audio/wav","sizeBytes":9}'.encode()),
    case("upload-from-name-c1-control", "POST", f"{MAILBOX}/messages", 400, "validation-failed",
         headers=json_headers(), body=b'{"fromName":"Al\\u0085ice","contentType":"audio/wav","sizeBytes":9}'),
    # urlparse raised on the unclosed bracket: was a 500. The port was accepted.
    case("webhook-url-unclosed-bracket", "PUT", f"{MAILBOX}/notifications", 422, "invalid-webhook-url",
         headers=json_headers(), body=b'{"targets":[{"kind":"webhook","url":"https://[::1/x"}]}'),
    case("webhook-url-port-99999", "PUT", f"{MAILBOX}/notifications", 422, "invalid-webhook-url",
         headers=json_headers(), body=b'{"targets":[{"kind":"webhook","url":"https://hooks.example.com:99999/x"}]}'),
    # Azure's host address and 6to4 were taken as public addresses.
    case("webhook-azure-host-address", "PUT", f"{MAILBOX}/notifications", 422, "invalid-webhook-url",
         headers=json_headers(), body=b'{"targets":[{"kind":"webhook","url":"https://168.63.129.16/machine"}]}'),
    case("webhook-6to4", "PUT", f"{MAILBOX}/notifications", 422, "invalid-webhook-url",
         headers=json_headers(), body=b'{"targets":[{"kind":"webhook","url":"https://[2002:a9fe:a9fe::1]/x"}]}'),
]


@pytest.fixture(scope="module")
def target(api: Api) -> dict[str, str]:
    mailbox = api.provision()
    answer = api.deposit(mailbox, tone_wav(0.3))
    assert answer.status_code == 202, answer.text
    return {"mailbox": mailbox, "message": answer.json()["id"]}


def send(api: Api, hostile: Hostile, target: dict[str, str]) -> httpx.Response:
    path = "/mailboxes/" + hostile.path.format(**target)
    return api.http.request(hostile.method, path, params=hostile.params or None, headers=hostile.headers,
                            content=hostile.body)


def assert_problem(answer: httpx.Response, status: int, slug: str) -> None:
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert (body["type"], body["status"]) == (slug, status), body
    assert set(body) == {"type", "title", "status", "detail"} and len(body["detail"]) <= 600


@pytest.mark.parametrize("hostile", CONTINUATION + PARAMETERS + PATHS + HEADERS + BODIES)
def test_hostile_input_is_a_4xx_problem(api, target, hostile):
    assert_problem(send(api, hostile, target), hostile.status, hostile.type)


def test_a_real_continuation_still_pages(api, target):
    for _ in range(2):
        assert api.deposit(target["mailbox"], tone_wav(0.3)).status_code == 202
    first = api.http.get(f"/mailboxes/{target['mailbox']}/messages", params={"limit": 1}, headers=PLATFORM).json()
    token = first["continuation"]
    assert token is not None
    second = api.http.get(f"/mailboxes/{target['mailbox']}/messages", params={"limit": 1, "continuation": token},
                          headers=PLATFORM)
    assert second.status_code == 200 and second.json()["items"][0]["id"] != first["items"][0]["id"]
    # Issued for one order, refused for the other; tampered with, refused.
    other_order = api.http.get(f"/mailboxes/{target['mailbox']}/messages",
                               params={"order": "asc", "continuation": token}, headers=PLATFORM)
    assert_problem(other_order, 400, "validation-failed")
    tampered = api.http.get(f"/mailboxes/{target['mailbox']}/messages",
                            params={"continuation": token[:-2] + "[["}, headers=PLATFORM)
    assert_problem(tampered, 400, "validation-failed")


@pytest.mark.parametrize(("method", "path", "headers", "status", "slug"), [
    ("POST", "retention%FF", PLATFORM, 404, "not-found"),
    ("POST", "r" * 5000, PLATFORM, 404, "not-found"),
    ("POST", "retention", {}, 401, "unauthorized"),
    ("POST", "retention", {"x-api-key": "k" * 7000}, 401, "unauthorized"),
    ("GET", "retention-x%3FtaskHub%3Dother", PLATFORM, 404, "not-found"),
    ("GET", "retention-x%23", PLATFORM, 404, "not-found"),
    ("GET", "retention-%2F..%2F..", PLATFORM, 404, "not-found"),
    ("GET", "retention-" + "x" * 5000, PLATFORM, 404, "not-found"),
    ("GET", "replication-%FF", PLATFORM, 404, "not-found"),
    ("GET", "retention-x", {"authorization": "Bearer " + "a" * 3000}, 401, "invalid-token"),
])
def test_the_admin_routes_answer_hostile_input_with_a_problem(api, method, path, headers, status, slug):
    assert_problem(api.http.request(method, f"/admin/sweeps/{path}", headers=headers), status, slug)


def test_a_subscriber_is_refused_the_admin_routes_with_a_problem(api, target):
    token = api.login(target["mailbox"])
    assert_problem(api.http.post("/admin/sweeps/retention", headers=token), 403, "forbidden")
