"""Every route by every kind of caller: who gets in, and that nobody else learns anything."""

from __future__ import annotations

import base64
import json
import time

import pytest

from shared.domain.security import issue_token
from tests.integration.api_support import PLATFORM, tone_wav
from tests.support import SIGNING_KEY

pytestmark = pytest.mark.integration
# These tests look at messages while they are `processing`: the transcoder stays off here
# (tests/integration/test_audio_pipeline.py runs it).
PRODUCT_SETTINGS = {"AzureWebJobs.incoming_audio.Disabled": "true"}

# route, body, expected status for the platform, for the mailbox's own subscriber
ROUTES = [
    ("PUT", "", {"displayName": "Replaced"}, 200, 403),  # with a "pin" it would be a reset: sessions end
    ("GET", "", None, 200, 200),
    ("PATCH", "", {"displayName": "Patched"}, 200, 200),
    ("POST", "/messages", "audio", 202, 403),
    ("GET", "/messages", None, 200, 200),
    ("GET", "/messages/{message}", None, 200, 200),
    ("GET", "/messages/{message}/audio?format=original", None, 200, 200),
    ("PATCH", "/messages/{message}", {"heard": True}, 200, 200),
    ("POST", "/messages/{message}/forward", {"to": "{other}"}, 409, 409),  # allowed; the source is processing
    ("DELETE", "/messages/{message}", None, 204, 204),
    ("PUT", "/pin", {"currentPin": "1234", "newPin": "1234"}, 204, 204),  # ends the session: logs in again after
    ("DELETE", "", None, 202, 403),  # last: it deprovisions the mailbox
]


def tampered(token: str, mailbox: str) -> str:
    """The same signature over a payload naming another mailbox."""
    version, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["mbx"] = mailbox
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{version}.{forged}.{signature}"


@pytest.fixture(scope="module")
def world(api):
    victim, other = api.provision(), api.provision()
    message = api.deposit(victim, tone_wav(0.2)).json()["id"]
    own = api.login(victim)
    other_token = api.login(other)
    expired, _ = issue_token(victim, base64.b64decode(SIGNING_KEY), int(time.time()) - 3600, 900)
    return {
        "victim": victim, "other": other, "message": message,
        "callers": [  # name, headers, expected status when not allowed
            ("none", {}, 401),
            ("other-mailbox", other_token, 403),
            ("expired", {"authorization": f"Bearer {expired}"}, 401),
            ("tampered", {"authorization": f"Bearer {tampered(own['authorization'][7:], other)}"}, 401),
            ("bad-api-key", {"x-api-key": "guess"}, 401),
            ("own", own, None),
            ("platform", PLATFORM, None),
        ],
    }


@pytest.mark.parametrize(("method", "suffix", "payload", "platform_status", "own_status"), ROUTES,
                         ids=[f"{m} {s or '/'}" for m, s, *_ in ROUTES])
def test_route_by_caller(api, world, method, suffix, payload, platform_status, own_status):
    path = api.mailbox_path(world["victim"]) + suffix.replace("{message}", world["message"])
    for caller, headers, refused in world["callers"]:
        kwargs: dict = {"headers": dict(headers)}
        if payload == "audio":
            kwargs["content"] = tone_wav(0.2)
            kwargs["headers"]["content-type"] = "audio/wav"
        elif payload is not None:
            kwargs["content"] = json.dumps(payload).replace("{other}", world["other"])
            kwargs["headers"]["content-type"] = "application/json"
        response = api.http.request(method, path, **kwargs)
        expected = {"platform": platform_status, "own": own_status}.get(caller, refused)
        assert response.status_code == expected, f"{caller}: {response.status_code} {response.text}"
        if response.status_code in (401, 403):
            assert response.headers["content-type"].startswith("application/problem+json")
            body = response.text
            assert world["message"] not in body and "Test " not in body and "Replaced" not in body
            assert set(response.json()) == {"type", "title", "status", "detail"}
        if response.status_code == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")
    if suffix == "/pin":  # a PIN change ends every session opened before it, the subscriber's own too
        own = next(headers for name, headers, _ in world["callers"] if name == "own")
        assert api.http.get(api.mailbox_path(world["victim"]), headers=own).status_code == 401
        world["callers"] = [(name, api.login(world["victim"]) if name == "own" else headers, refused)
                            for name, headers, refused in world["callers"]]


def test_another_mailboxes_token_cannot_tell_which_mailboxes_exist(api, world):
    token = api.login(world["other"])
    known = api.http.get(api.mailbox_path(world["victim"]) + "/messages", headers=token)
    unknown = api.http.get(api.mailbox_path("+19990000000") + "/messages", headers=token)
    assert known.status_code == unknown.status_code == 403
    assert known.json() == unknown.json()
