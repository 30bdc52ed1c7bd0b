"""The `voicemail` CLI against the live product, with a dead endpoint listed first: every command
works through the failover, and prints tables a person can read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest

from tests.integration.api_support import new_mailbox_id
from tests.support import OPERATOR_KEY, PLATFORM_KEY, ROOT, free_port

pytestmark = pytest.mark.integration
SAMPLE = ROOT / "samples" / "hello.wav"


@pytest.fixture(scope="module")
def cli(product):
    host, _ = product
    dead = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there: a lost region
    env = {**os.environ, "VOICEMAIL_ENDPOINTS": f"{dead},{host.base_url}/api", "VOICEMAIL_API_KEY": PLATFORM_KEY,
           "PYTHONPATH": str(ROOT / "client")}  # this checkout's client, whichever checkout the venv installed

    def run(*args: str, expect: int = 0) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "voicemail_client", *args], env=env, capture_output=True,
                                text=True, timeout=60, check=False)
        assert result.returncode == expect, result.stdout + result.stderr
        return result

    run.dead = dead  # type: ignore[attr-defined]
    return run


def test_health_shows_which_region_answers(cli):
    lines = cli("health").stdout.splitlines()
    assert lines[0].split() == ["ENDPOINT", "READY", "PROBLEM"]
    assert any(line.startswith(cli.dead) and " NO " in line for line in lines)
    assert any(line.split()[1:2] == ["yes"] for line in lines[2:])


def test_a_message_from_deposit_to_purge(cli, tmp_path):
    mailbox = new_mailbox_id()
    cli("provision", mailbox, "--name", "CLI Test", "--pin", "1234")
    deposit = cli("deposit", mailbox, str(SAMPLE), "--from", "+15557654321", "--from-name", "Bob", "--urgent")
    assert "100%" in deposit.stderr  # the progress bar reached the end
    message_id = next(line.split()[1] for line in deposit.stdout.splitlines() if line.startswith("id "))

    listing = cli("list", mailbox).stdout.splitlines()
    assert listing[0].split()[:3] == ["ID", "RECEIVEDAT", "FROM"]
    row = next(line for line in listing if line.startswith(message_id))
    assert "+15557654321 Bob" in row and "!" in row  # sender and the urgent mark

    original = tmp_path / "message.wav"
    saved = cli("download", mailbox, message_id, "--format", "original", "-o", str(original), "--quiet")
    assert original.read_bytes() == SAMPLE.read_bytes() and "audio/wav" in saved.stdout

    cli("mark", mailbox, message_id, "--heard", "--folder", "saved")
    got = json.loads(cli("--json", "get", mailbox, message_id).stdout)
    assert got["heard"] is True and got["folder"] == "saved"
    assert cli("list", mailbox, "--folder", "inbox").stdout.strip() == "(none)"

    cli("delete", mailbox, message_id, "--purge")
    refused = cli("get", mailbox, message_id, expect=1)
    assert "404" in refused.stderr and "message-not-found" in refused.stderr


def test_a_refusal_exits_1_with_the_problem_and_no_region_exits_3(cli):
    refused = cli("deposit", new_mailbox_id(), str(SAMPLE), "--quiet", expect=1)
    assert "404" in refused.stderr
    nowhere = subprocess.run([sys.executable, "-m", "voicemail_client", "-e", cli.dead, "--deadline", "2",
                              "list", new_mailbox_id()], capture_output=True, text=True, timeout=60, check=False,
                             env={**os.environ, "VOICEMAIL_API_KEY": PLATFORM_KEY})
    assert nowhere.returncode == 3 and "ConnectError" in nowhere.stderr


def test_sweep_start_and_status(cli):
    started = json.loads(cli("--json", "sweep", "start", "replication").stdout)
    status = cli("sweep", "status", started["instanceId"]).stdout
    assert status.startswith("runtimeStatus")


def test_notification_targets_are_set_and_shown_and_the_secret_printed_once(cli):
    mailbox = new_mailbox_id()
    cli("provision", mailbox, "--name", "Notified")
    created = cli("notify", "set", mailbox, "--webhook", "http://127.0.0.1:9/hook", "--email", "me@example.com:wav",
                  "--sms", "+15557654321")
    lines = created.stdout.splitlines()
    assert lines[0].split() == ["KIND", "TARGET", "ATTACH", "VERIFIED", "SECRET"]
    assert any(line.split()[:1] == ["webhook"] and "whsec_" in line for line in lines)
    assert "not shown again" in created.stderr
    shown = json.loads(cli("--json", "notify", "show", mailbox).stdout)
    assert shown["targets"] == [{"kind": "webhook", "url": "http://127.0.0.1:9/hook"},
                                {"kind": "email", "address": "me@example.com", "attach": "wav", "verified": True},
                                {"kind": "sms", "number": "+15557654321", "verified": True}]
    assert "whsec_" not in cli("notify", "show", mailbox).stdout
    # Set with the platform key: verified already, so confirming it again is a no-op (204).
    assert cli("notify", "verify", mailbox, "--sms", "+15557654321", "--code", "123456").returncode == 0
    refused = cli("notify", "verify", mailbox, "--sms", "+15550000000", "--code", "123456", expect=1)
    assert "not-found" in refused.stderr + refused.stdout
    assert cli("dead-letters", "list", "--mailbox", mailbox).returncode == 0


def test_an_operator_makes_a_tenant_and_its_key_and_bills_its_deposits(cli):
    tenant = f"c{uuid.uuid4().hex[:10]}"
    operator = ("--operator-key", OPERATOR_KEY)  # the test host's, not the local default
    made = cli(*operator, "tenants", "put", tenant, "--name", "CLI Tenant", "--requests-per-second", "100")
    assert made.stdout.splitlines()[0].split() == ["id", tenant]
    assert json.loads(cli(*operator, "--json", "tenants", "get", tenant).stdout)["displayName"] == "CLI Tenant"
    issued = json.loads(cli(*operator, "--json", "keys", "issue", tenant).stdout)
    assert "not shown again" in cli(*operator, "keys", "issue", tenant).stderr
    listed = cli(*operator, "keys", "list", tenant).stdout
    assert issued["keyId"] in listed and issued["key"] not in listed

    mailbox, key = new_mailbox_id(), ("--tenant", tenant, "--api-key", issued["key"])
    cli(*key, "provision", mailbox, "--name", "Tenant's")
    cli(*key, "deposit", mailbox, str(SAMPLE), "--quiet")
    assert cli("list", mailbox, expect=1).returncode == 1  # tenant default has no such mailbox
    today = datetime.now(UTC).date().isoformat()
    days = json.loads(cli(*operator, "--json", "usage", tenant, "--from", today, "--to", today).stdout)
    assert [(day["date"], day["deposits"]) for day in days] == [(today, 1)]
    table = cli(*operator, "usage", tenant, "--from", today).stdout.splitlines()
    assert table[-1].split()[:2] == ["total", "1"]

    cli(*operator, "keys", "revoke", tenant, issued["keyId"])
    assert issued["keyId"] not in cli(*operator, "keys", "list", tenant).stdout
