"""The `voicemail` CLI's operator commands and --tenant, against a scripted API (httpx.MockTransport):
which path and key each command sends, what it prints, and how it refuses what it cannot send."""

from __future__ import annotations

import functools
import io
import json

import httpx
import pytest
from voicemail_client import VoicemailClient, cli
from voicemail_client.cli_operator import LOCAL_OPERATOR_KEY

LOCAL = "http://127.0.0.1:7071/api"
REMOTE = "https://vm.example.com/api"
DAYS = [{"date": "2026-12-01", "deposits": 2, "audioSeconds": 3.5, "transcriptionSeconds": 1.25, "emails": 1,
         "sms": 0, "webhooks": 4},
        {"date": "2026-12-02", "deposits": 1, "audioSeconds": 1.5, "transcriptionSeconds": 0, "emails": 0,
         "sms": 1, "webhooks": 0}]


class Api:
    """Answers every request from `answers` by (method, path); records what it was sent."""

    def __init__(self, answers: dict[tuple[str, str], tuple[int, object]] | None = None):
        self.answers = answers or {}
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/health/ready"):
            return httpx.Response(200, json={"status": "ready"})
        self.seen.append(request)
        status, body = self.answers.get((request.method, request.url.path), (200, {}))
        return httpx.Response(status, json=body) if body is not None else httpx.Response(status)

    @property
    def last(self) -> httpx.Request:
        return self.seen[-1]


def run(monkeypatch, api: Api, *argv: str, endpoint: str = LOCAL, env: dict[str, str] | None = None):
    for name in ("VOICEMAIL_OPERATOR_KEY", "VOICEMAIL_API_KEY", "VOICEMAIL_TOKEN", "VOICEMAIL_TENANT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(cli, "VoicemailClient",
                        functools.partial(VoicemailClient, transport=httpx.MockTransport(api)))
    out = io.StringIO()
    status = cli.main(["-e", endpoint, *argv], out=out)
    return status, out.getvalue()


def test_tenants_put_sends_the_operator_key_and_the_budgets(monkeypatch):
    api = Api({("PUT", "/api/tenants/acme"): (201, {"id": "acme", "displayName": "Acme"})})
    status, printed = run(monkeypatch, api, "tenants", "put", "acme", "--name", "Acme", "--requests-per-second", "50",
                          env={"VOICEMAIL_OPERATOR_KEY": "op-key", "VOICEMAIL_API_KEY": "platform-key"})
    assert status == 0
    assert api.last.headers["x-api-key"] == "op-key"  # never the platform key, for the operator's routes
    assert json.loads(api.last.content) == {"displayName": "Acme", "budgets": {"requestsPerSecond": 50}}
    assert "Acme" in printed


def test_the_operator_key_defaults_to_the_local_one_against_local_endpoints_only(monkeypatch):
    api = Api({("GET", "/api/tenants/acme"): (200, {"id": "acme"})})
    assert run(monkeypatch, api, "tenants", "get", "acme")[0] == 0
    assert api.last.headers["x-api-key"] == LOCAL_OPERATOR_KEY
    remote = Api()
    status, _ = run(monkeypatch, remote, "tenants", "get", "acme", endpoint=REMOTE)
    assert status == 2 and remote.seen == []  # nothing sent without a key
    status, _ = run(monkeypatch, remote, "--operator-key", "given", "tenants", "get", "acme", endpoint=REMOTE)
    assert status == 0 and remote.last.headers["x-api-key"] == "given"


def test_keys_are_issued_listed_and_revoked(monkeypatch, capsys):
    api = Api({("POST", "/api/tenants/acme/keys"): (201, {"keyId": "0123456789ab", "key": "vmk_secret",
                                                          "createdAt": "2026-12-07T00:00:00Z"}),
               ("GET", "/api/tenants/acme/keys"): (200, {"items": [{"keyId": "0123456789ab",
                                                                    "createdAt": "2026-12-07T00:00:00Z"}]}),
               ("DELETE", "/api/tenants/acme/keys/0123456789ab"): (204, None)})
    status, printed = run(monkeypatch, api, "keys", "issue", "acme")
    assert status == 0 and "vmk_secret" in printed and "not shown again" in capsys.readouterr().err
    status, printed = run(monkeypatch, api, "keys", "list", "acme")
    assert status == 0 and printed.splitlines()[0].split() == ["KEYID", "CREATEDAT"]
    status, printed = run(monkeypatch, api, "keys", "revoke", "acme", "0123456789ab")
    assert status == 0 and api.last.method == "DELETE" and "0123456789ab" in printed


def test_a_refused_revoke_exits_1_with_the_problem(monkeypatch, capsys):
    api = Api({("DELETE", "/api/tenants/acme/keys/0123456789ab"): (
        404, {"type": "not-found", "title": "Not found", "status": 404, "detail": "no live key"})})
    assert run(monkeypatch, api, "keys", "revoke", "acme", "0123456789ab")[0] == 1
    assert "[not-found]" in capsys.readouterr().err


def test_a_class_is_put_from_a_file_or_inline_json_with_the_tenants_key(monkeypatch, tmp_path):
    body = {"limits": {"maxMessages": 500}, "allow": {"sms": False}}
    path = tmp_path / "premium.json"
    path.write_text(json.dumps(body))
    api = Api({("PUT", "/api/tenants/acme/classes/premium"): (200, body)})
    for given in (str(path), json.dumps(body)):
        status, _ = run(monkeypatch, api, "--api-key", "acme-key", "classes", "put", "acme", "premium", given)
        assert status == 0
        assert json.loads(api.last.content) == body and api.last.headers["x-api-key"] == "acme-key"
    status, _ = run(monkeypatch, api, "classes", "get", "acme", "premium")
    assert status == 0 and api.last.method == "GET" and api.last.headers["x-api-key"] == LOCAL_OPERATOR_KEY


@pytest.mark.parametrize("given", ["{not json", "[1, 2]", "missing.json"])
def test_a_class_that_is_not_a_json_object_is_refused_before_anything_is_sent(monkeypatch, given):
    api = Api()
    with pytest.raises(SystemExit):
        run(monkeypatch, api, "classes", "put", "acme", "premium", given)
    assert api.seen == []


def test_usage_asks_for_the_range_and_prints_each_day_and_the_total(monkeypatch):
    api = Api({("GET", "/api/tenants/acme/usage"): (200, {"days": DAYS})})
    status, printed = run(monkeypatch, api, "usage", "acme", "--from", "2026-12-01", "--to", "2026-12-02")
    assert status == 0
    assert dict(api.last.url.params) == {"from": "2026-12-01", "to": "2026-12-02"}
    lines = printed.splitlines()
    assert lines[0].split() == ["DATE", "DEPOSITS", "AUDIOSECONDS", "TRANSCRIPTIONSECONDS", "EMAILS", "SMS",
                                "WEBHOOKS"]
    assert lines[-1].split() == ["total", "3", "5.0", "1.25", "1", "1", "4"]
    status, printed = run(monkeypatch, api, "--json", "usage", "acme", "--to", "2026-12-02")
    assert json.loads(printed) == DAYS and api.last.url.params["from"] == "2026-12-01"


def test_usage_with_a_tenants_own_key_when_there_is_no_operator_key(monkeypatch):
    api = Api({("GET", "/api/tenants/acme/usage"): (200, {"days": DAYS})})
    status, _ = run(monkeypatch, api, "--api-key", "acme-key", "usage", "acme", "--from", "2026-12-01",
                    endpoint=REMOTE)
    assert status == 0 and api.last.headers["x-api-key"] == "acme-key"


def test_a_day_that_is_not_a_day_is_a_usage_error(monkeypatch):
    with pytest.raises(SystemExit) as stopped:
        run(monkeypatch, Api(), "usage", "acme", "--from", "yesterday")
    assert stopped.value.code == 2


def test_with_tenant_a_mailbox_command_goes_under_the_tenant_with_the_platform_key(monkeypatch):
    api = Api({("PUT", "/api/tenants/acme/mailboxes/%2B15551234567"): (201, {"id": "+15551234567"})})
    status, _ = run(monkeypatch, api, "--tenant", "acme", "--api-key", "acme-key", "provision", "+15551234567",
                    "--name", "Ann")
    assert status == 0
    assert api.last.url.raw_path.decode() == "/api/tenants/acme/mailboxes/%2B15551234567"
    assert api.last.headers["x-api-key"] == "acme-key"
    run(monkeypatch, api, "--api-key", "k", "get", "+15551234567", "m1")  # without: tenant default's paths
    assert api.last.url.raw_path.decode() == "/api/mailboxes/%2B15551234567/messages/m1"
