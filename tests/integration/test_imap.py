"""Visual voicemail over IMAP, with standard clients (Python's imaplib and IMAPClient) against the
gateway in its own process, in front of the product on the local host and the emulators."""

from __future__ import annotations

import email
import email.utils
import imaplib
import re
import shutil
import socket
import ssl
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from imapclient import IMAPClient

from devstack.hosting import GatewayProcess
from tests.integration.api_support import PLATFORM, Api, tone_wav
from tests.support import free_port, wait_until

PIN = "4826"
# Tokens last the shortest the API allows, so a session renews its token (10 s before expiry) in a test.
PRODUCT_SETTINGS = {"TOKEN_TTL_SECONDS": "60"}


@pytest.fixture(scope="module")
def gateway(product, tmp_path_factory):
    host, _api = product
    with GatewayProcess(f"{host.base_url}/api", tmp=tmp_path_factory.mktemp("imap"),
                        IMAP_IDLE_POLL_SECONDS="1") as process:
        yield process


def ready_messages(api: Api, mailbox: str, count: int, folder: str | None = None) -> list[dict]:
    def all_ready():
        items = api.list_all(mailbox, **({"folder": folder} if folder else {}))
        assert not [m for m in items if m["status"] == "failed"], items
        return items if len(items) >= count and all(m["status"] == "ready" for m in items) else None

    return wait_until(all_ready, 60, interval=0.3, message=f"{count} ready messages")


def mailbox_with(api: Api, count: int, **settings: int) -> str:
    mailbox = api.provision(pin=PIN, **settings)
    for n in range(count):
        assert api.deposit(mailbox, tone_wav(1.5, hz=300 + 100 * n), **{"from": f"+1555000{n:04d}",
                                                                        "fromName": f"Caller {n}"}).status_code == 202
    if count:
        ready_messages(api, mailbox, count)
    return mailbox


def connect(gateway: GatewayProcess, mailbox: str, pin: str = PIN) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", gateway.port)
    client.login(mailbox, pin)
    return client


def uids_of(client: imaplib.IMAP4) -> list[int]:
    _typ, data = client.uid("SEARCH", None, "ALL")
    return [int(n) for n in data[0].split()]


def test_a_phone_reads_the_inbox_as_voice_mail(api, gateway):
    mailbox = mailbox_with(api, 2)
    stored = {m["id"]: m for m in api.list_all(mailbox)}
    client = connect(gateway, mailbox)
    assert client.select("INBOX") == ("OK", [b"2"])
    _typ, data = client.fetch("1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
    fetched = [part for part in data if isinstance(part, tuple)]
    assert len(fetched) == 2
    for head, raw_mail in fetched:
        mail = email.message_from_bytes(raw_mail)
        message_id = re.fullmatch(r"<(.+)@voicemail\.invalid>", mail["Message-ID"]).group(1)
        message = stored[message_id]
        assert mail["Message-Context"] == "voice-message"
        assert mail["Content-Duration"] == str(max(1, round(message["durationMs"] / 1000)))
        assert message["from"]["number"] in mail["From"] and message["from"]["name"] in mail["From"]
        received = datetime.fromisoformat(message["receivedAt"].replace("Z", "+00:00"))
        assert email.utils.parsedate_to_datetime(mail["Date"]) == received.replace(microsecond=0)
        assert time.mktime(imaplib.Internaldate2tuple(head)) == received.replace(microsecond=0).timestamp()
        audio = [part for part in mail.walk() if part.get_content_type() == "audio/wav"]
        assert len(audio) == 1 and audio[0].get_filename().endswith(".wav")
        served = api.http.get(f"{api.mailbox_path(mailbox)}/messages/{message_id}/audio",
                              params={"format": "wav"}, headers=PLATFORM).content
        assert audio[0].get_payload(decode=True) == served  # the wav rendition, byte for byte
    # A mail client's listing (Thunderbird's, mutt's) asks sizes with the headers: they are what the bodies are
    sizes = {}
    _typ, data = client.fetch("1:*", "(UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)])")
    for head, _headers in (part for part in data if isinstance(part, tuple)):
        found = re.search(rb"UID (\d+) RFC822\.SIZE (\d+)", head)
        sizes[int(found.group(1))] = int(found.group(2))
    _typ, data = client.fetch("1:*", "(UID BODY.PEEK[])")
    bodies = {int(re.search(rb"UID (\d+)", head).group(1)): len(body)
              for head, body in (part for part in data if isinstance(part, tuple))}
    assert sizes == bodies and len(sizes) == 2
    # BODY.PEEK left them unheard; a plain BODY[] marks the message heard, as reading mail does
    assert all(not m["heard"] for m in api.list_all(mailbox))
    client.fetch("1", "(BODY[])")
    assert sum(m["heard"] for m in api.list_all(mailbox)) == 1
    client.logout()


def test_uids_stay_the_same_across_sessions_and_validity_holds(api, gateway):
    mailbox = mailbox_with(api, 3)
    first = connect(gateway, mailbox)
    first.select("INBOX")
    validity = first.untagged_responses["UIDVALIDITY"][0]
    before = uids_of(first)
    first.logout()
    assert len(before) == 3 and before == sorted(set(before))
    api.deposit(mailbox, tone_wav(1.5))
    ready_messages(api, mailbox, 4)
    again = connect(gateway, mailbox)
    again.select("INBOX")
    assert again.untagged_responses["UIDVALIDITY"][0] == validity
    after = uids_of(again)
    assert after[:3] == before and after[3] > before[-1]  # the new one comes last
    assert int(again.untagged_responses["UIDNEXT"][0]) > after[-1]
    again.logout()


def test_flags_are_heard_and_urgent(api, gateway):
    mailbox = mailbox_with(api, 1)
    client = connect(gateway, mailbox)
    client.select("INBOX")
    client.store("1", "+FLAGS", "(\\Seen \\Flagged)")
    [message] = api.list_all(mailbox)
    assert message["heard"] and message["urgent"]
    assert api.http.get(api.mailbox_path(mailbox), headers=PLATFORM).json()["counts"]["new"] == 0
    assert client.uid("SEARCH", None, "UNSEEN") == ("OK", [b""])
    client.store("1", "-FLAGS", "(\\Seen)")
    assert not api.list_all(mailbox)[0]["heard"]
    _typ, data = client.uid("SEARCH", None, "UNSEEN SINCE 01-Dec-2026 FLAGGED")
    assert data == [str(uids_of(client)[0]).encode()]
    typ, _ = client.store("1", "+FLAGS", "(\\Answered)")
    assert typ == "NO"  # nothing the API cannot keep is accepted
    client.logout()


def test_move_and_copy_to_saved_move_the_message_once(api, gateway):
    mailbox = mailbox_with(api, 2)
    client = IMAPClient("127.0.0.1", port=gateway.port, ssl=False)
    client.login(mailbox, PIN)
    client.select_folder("INBOX")
    first, second = client.search("ALL")
    client.move([first], "Saved")
    client.copy([second], "Saved")  # COPY moves too: a voice message exists once
    assert client.search("ALL") == []
    messages = api.list_all(mailbox)
    assert len(messages) == 2 and {m["folder"] for m in messages} == {"saved"}
    client.select_folder("Saved")
    assert len(client.search("ALL")) == 2
    client.logout()


def test_deleted_and_expunge_go_to_the_trash_and_from_the_trash_for_good(api, gateway):
    mailbox = mailbox_with(api, 2)
    client = connect(gateway, mailbox)
    client.select("INBOX")
    client.store("1", "+FLAGS", "(\\Deleted)")
    _typ, data = client.expunge()
    assert data == [b"1"]
    assert [m["folder"] for m in api.list_all(mailbox, folder="trash")] == ["trash"]
    client.select("Trash")
    [uid] = uids_of(client)
    client.uid("STORE", str(uid), "+FLAGS", "(\\Deleted)")
    assert client.uid("EXPUNGE", str(uid))[0] == "OK"  # UIDPLUS
    assert api.list_all(mailbox, folder="trash") == []
    assert len(api.list_all(mailbox)) == 1  # the other one never moved
    client.logout()


def test_a_dropped_connection_loses_nothing(api, gateway):
    mailbox = mailbox_with(api, 1)
    client = connect(gateway, mailbox)
    client.select("INBOX")
    client.store("1", "+FLAGS", "(\\Deleted)")
    client.sock.close()  # gone before EXPUNGE
    assert len(api.list_all(mailbox)) == 1
    again = connect(gateway, mailbox)
    again.select("INBOX")
    _typ, data = again.fetch("1", "(FLAGS)")
    assert b"\\Deleted" not in data[0]
    again.logout()


def test_idle_reports_a_new_message_within_5_s_of_ready(api, gateway):
    mailbox = mailbox_with(api, 1)
    client = IMAPClient("127.0.0.1", port=gateway.port, ssl=False)
    client.login(mailbox, PIN)
    client.select_folder("INBOX")
    client.idle()
    api.deposit(mailbox, tone_wav(1.5))
    ready_messages(api, mailbox, 2)  # from the moment the API lists it ready
    responses = client.idle_check(timeout=5)
    client.idle_done()
    assert (2, b"EXISTS") in responses
    assert len(client.search("ALL")) == 2
    client.logout()


def test_quota_is_the_message_count_against_max_messages(api, gateway):
    mailbox = mailbox_with(api, 2, maxMessages=7)
    client = connect(gateway, mailbox)
    _typ, data = client.getquotaroot("INBOX")
    assert data == [[b'"INBOX" ""'], [b'"" (MESSAGE 2 7)']]
    client.logout()


def test_folders_and_greetings(api, gateway):
    mailbox = mailbox_with(api, 0)
    greeting = tone_wav(1.5)
    response = api.http.put(f"{api.mailbox_path(mailbox)}/greetings/busy", content=greeting,
                            headers={**PLATFORM, "content-type": "audio/wav"})
    assert response.status_code == 202

    def greeting_ready():
        return api.http.get(f"{api.mailbox_path(mailbox)}/greetings/busy/audio", params={"format": "wav"},
                            headers=PLATFORM).status_code == 200

    wait_until(greeting_ready, 60, interval=0.3, message="the greeting transcoded")
    client = connect(gateway, mailbox)
    _typ, folders = client.list()
    names = [re.search(rb'"([^"]+)"$', line).group(1).decode() for line in folders]
    assert names == ["INBOX", "Saved", "Trash", "Greetings"]
    assert any(b"\\Trash" in line and b"Trash" in line for line in folders)
    with pytest.raises(imaplib.IMAP4.readonly):  # SELECT answers READ-ONLY
        client.select("Greetings")
    assert client.select("Greetings", readonly=True) == ("OK", [b"1"])
    _typ, data = client.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"Greeting: busy" in data[0][1]
    assert client.store("1", "+FLAGS", "(\\Deleted)")[0] == "NO"
    assert client.create("Work")[0] == "NO"  # the folders are fixed
    client.logout()


def test_logins_follow_the_api_rules(api, gateway):
    mailbox = api.provision(pin=PIN)
    client = imaplib.IMAP4("127.0.0.1", gateway.port)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        client.login(mailbox, "0000")
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        client.login("+19999999999", PIN)  # an unknown mailbox answers as a wrong PIN
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        client.login(mailbox, "0001")
    with pytest.raises((imaplib.IMAP4.abort, OSError)):  # three failures: the gateway hangs up
        client.login(mailbox, PIN)
    for wrong in ("1111", "2222", "3333"):  # five wrong PINs in a row, the API's rule, lock the mailbox
        with pytest.raises(imaplib.IMAP4.error):
            imaplib.IMAP4("127.0.0.1", gateway.port).login(mailbox, wrong)
    with pytest.raises(imaplib.IMAP4.error, match="ALERT"):
        imaplib.IMAP4("127.0.0.1", gateway.port).login(mailbox, PIN)


def raw(gateway: GatewayProcess, *lines: bytes) -> list[bytes]:
    """Lines sent as they are, each after the answer to the one before; every line answered."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        stream = sock.makefile("rb")
        stream.readline()  # greeting
        answers = []
        for line in lines:
            sock.sendall(line + b"\r\n")
            tag = line.split(b" ", 1)[0]
            while True:
                answers.append(stream.readline())
                if answers[-1].startswith(tag + b" ") or answers[-1].startswith(b"+") or not answers[-1]:
                    break
        return answers


def test_bad_input_gets_bad_or_no_and_the_gateway_stays_up(api, gateway):
    assert raw(gateway, b"a1 FROBNICATE")[0].startswith(b"a1 BAD")
    assert raw(gateway, b"a1 LOGIN {999999999}")[0].startswith(b"a1 BAD")  # a literal too large
    mailbox = mailbox_with(api, 1)
    answers = raw(gateway, f"a1 LOGIN {mailbox} {PIN}".encode(), b"a2 EXAMINE INBOX", b"a3 FETCH 1:x FLAGS",
                  b"a4 UID FETCH *:1 (FLAGS)")
    assert answers[0].startswith(b"a1 OK") and b"a3 BAD" in b"".join(answers)  # a malformed sequence set
    assert answers[-1].startswith(b"a4 OK")  # (a reversed range is still one message)
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.recv(1024)
        sock.sendall(b"a1 NOOP " + b"x" * 100_000 + b"\r\n")  # a line far past any limit
        time.sleep(0.5)
    client = connect(gateway, mailbox)  # the gateway still answers
    assert client.select("INBOX")[0] == "OK"
    assert client.append("INBOX", None, None, b"Subject: x\r\n\r\nhi")[0] == "NO"
    client.logout()
    assert gateway.process.poll() is None


def test_one_subscriber_sees_only_their_mailbox(api, gateway):
    mine, theirs = mailbox_with(api, 1), mailbox_with(api, 2)
    client = connect(gateway, mine)
    assert client.select("INBOX") == ("OK", [b"1"])
    _typ, data = client.fetch("1", "(BODY.PEEK[HEADER.FIELDS (TO)])")
    assert mine.encode() in data[0][1] and theirs.encode() not in data[0][1]
    client.logout()


MBSYNC_CONFIG = """IMAPAccount vm
Host 127.0.0.1
Port {port}
User {user}
Pass {pin}
SSLType None
AuthMechs LOGIN

IMAPStore vm-remote
Account vm

MaildirStore vm-local
Path {root}/
Inbox {root}/INBOX
SubFolders Verbatim

Channel vm
Far :vm-remote:
Near :vm-local:
Patterns INBOX Saved Trash
Create Near
SyncState *
Sync All
"""


@pytest.mark.skipif(shutil.which("mbsync") is None, reason="isync (mbsync) is not installed: make audio-tools")
def test_mbsync_keeps_a_maildir_in_step_as_a_mail_client_would(api, gateway, tmp_path):
    """isync's mbsync, configured as a user would: incremental by UID, flags both ways."""
    mailbox = mailbox_with(api, 2)
    config = tmp_path / "mbsyncrc"
    (tmp_path / "mail").mkdir()
    config.write_text(MBSYNC_CONFIG.format(port=gateway.port, user=mailbox, pin=PIN, root=tmp_path / "mail"))

    def sync() -> dict[str, Path]:
        result = subprocess.run(["mbsync", "-c", str(config), "-a"], check=False, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stderr
        files = [p for p in (tmp_path / "mail" / "INBOX").rglob("*") if p.is_file() and p.parent.name in ("new", "cur")]
        by_id = {}
        for path in files:
            mail = email.message_from_bytes(path.read_bytes())
            assert mail["Message-Context"] == "voice-message"
            by_id[re.fullmatch(r"<(.+)@voicemail\.invalid>", mail["Message-ID"]).group(1)] = path
        return by_id

    first = sync()
    assert set(first) == {m["id"] for m in api.list_all(mailbox)}
    api.deposit(mailbox, tone_wav(1.5))
    ready_messages(api, mailbox, 3)
    second = sync()
    assert len(second) == 3 and {k: v.name for k, v in first.items()} == {k: second[k].name for k in first}
    heard_id, path = next(iter(second.items()))
    (path.parent.parent / "cur").mkdir(exist_ok=True)
    path.rename(path.parent.parent / "cur" / (path.name.split(":2,")[0] + ":2,S"))  # read in the mail client
    sync()
    assert {m["id"]: m["heard"] for m in api.list_all(mailbox)}[heard_id] is True


def _certificate(subject: str, issuer: tuple | None, ca: bool) -> tuple:
    """(certificate, key): signed by `issuer` (certificate, key), or self-signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(name).public_key(key.public_key())
               .issuer_name(issuer[0].subject if issuer else name).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256()), key


@pytest.fixture(scope="module")
def tls_gateway(product, tmp_path_factory):
    """The gateway as Azure runs it: TLS from the first byte, the certificate chain from files, probes."""
    host, _api = product
    folder = tmp_path_factory.mktemp("imaps")
    root = _certificate("Test Root CA", None, ca=True)
    intermediate = _certificate("Test Intermediate CA", root, ca=True)
    leaf, key = _certificate("localhost", intermediate, ca=False)
    pem = serialization.Encoding.PEM
    (folder / "root.pem").write_bytes(root[0].public_bytes(pem))
    (folder / "cert.pem").write_bytes(leaf.public_bytes(pem) + intermediate[0].public_bytes(pem))  # leaf, then chain
    (folder / "key.pem").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    health = free_port()
    with GatewayProcess(f"{host.base_url}/api", tmp=folder, IMAP_TLS_CERT_FILE=str(folder / "cert.pem"),
                        IMAP_TLS_KEY_FILE=str(folder / "key.pem"), IMAP_HEALTH_PORT=str(health)) as process:
        yield process, folder / "root.pem", health


def test_imaps_sends_the_whole_certificate_chain(api, tls_gateway):
    gateway, root, _health = tls_gateway
    mailbox = mailbox_with(api, 1)
    trusting_root = ssl.create_default_context(cafile=str(root))  # knows the root only: the chain must be sent
    client = imaplib.IMAP4_SSL("localhost", gateway.port, ssl_context=trusting_root)
    client.login(mailbox, PIN)
    assert client.select("INBOX") == ("OK", [b"1"])
    client.logout()


def test_the_gateway_answers_its_probes(tls_gateway):
    _gateway, _root, health = tls_gateway
    assert httpx.get(f"http://127.0.0.1:{health}/health", timeout=5).status_code == 200
    ready = httpx.get(f"http://127.0.0.1:{health}/health/ready", timeout=10)
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert httpx.get(f"http://127.0.0.1:{health}/other", timeout=5).status_code == 404


def test_a_session_outlives_its_token_and_ends_with_a_pin_change(api, gateway):
    mailbox = mailbox_with(api, 1)
    client = connect(gateway, mailbox)
    client.select("INBOX")
    time.sleep(11)  # past the renewal point of a 60 s token
    assert client.noop()[0] == "OK"
    assert client.fetch("1", "(FLAGS)")[0] == "OK"
    response = api.http.put(f"{api.mailbox_path(mailbox)}/pin", json={"newPin": "9173"}, headers=PLATFORM)
    assert response.status_code == 204

    def ended() -> bool:
        try:
            return client.noop()[0] != "OK"
        except (imaplib.IMAP4.abort, OSError):
            return True

    wait_until(ended, 10, interval=0.5, message="the IMAP session ended by the PIN change")
    # The gateway never tried the old PIN again: four wrong PINs now still leave the new one working.
    for _ in range(4):
        assert api.http.post(f"{api.mailbox_path(mailbox)}/sessions", json={"pin": "0000"}).status_code == 401
    assert api.http.post(f"{api.mailbox_path(mailbox)}/sessions", json={"pin": "9173"}).status_code == 201
