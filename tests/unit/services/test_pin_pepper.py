"""PIN hashes with a secret pepper (PIN_PEPPER, issue 23): new hashes are peppered; hashes from
before it keep working and a right PIN upgrades them, ending no session."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest

from shared.domain.commands import ChangePin, CreateSession, PutMailbox
from shared.domain.errors import InvalidCredentials
from shared.domain.principal import PLATFORM
from shared.domain.security import pin_hash_outdated, pin_matches
from tests.unit.fakes import fake_app

PEPPER = b"s" * 32
# A hash as made before PIN_PEPPER (scrypt of the PIN itself), of "1234".
UNPEPPERED = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$-fZT9cNHIKfiVc1cRZFSZ9e61YYrhtmnHL5e7-rAghk"


@pytest.fixture
def region():
    region = fake_app(PIN_PEPPER=base64.b64encode(PEPPER).decode())
    region.app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="A", pin="1234"))
    return region


def test_a_provisioned_pin_is_peppered_with_the_setting(region):
    stored = region.store.mailboxes["+1555"].pin_hash
    assert stored.startswith("v2$") and pin_matches("1234", stored, PEPPER)
    assert not pin_matches("1234", stored, b"x" * 32)


def test_an_old_hash_still_logs_in_and_the_login_upgrades_it(region):
    store = region.store
    store.mailboxes["+1555"] = replace(store.mailboxes["+1555"], pin_hash=UNPEPPERED)
    epoch, clocks = store.mailboxes["+1555"].session_epoch, store.mailboxes["+1555"].clocks
    assert region.app.mailboxes.login("+1555", CreateSession(pin="1234"))["token"]
    upgraded = store.mailboxes["+1555"]
    assert not pin_hash_outdated(upgraded.pin_hash) and pin_matches("1234", upgraded.pin_hash, PEPPER)
    # The same PIN: no session ends, and the register keeps its clock (a PIN change elsewhere wins).
    assert upgraded.session_epoch == epoch and upgraded.clocks == clocks
    again = region.app.mailboxes.login("+1555", CreateSession(pin="1234"))
    assert again["token"] and store.mailboxes["+1555"].pin_hash == upgraded.pin_hash  # once


def test_a_wrong_pin_upgrades_nothing(region):
    store = region.store
    store.mailboxes["+1555"] = replace(store.mailboxes["+1555"], pin_hash=UNPEPPERED)
    with pytest.raises(InvalidCredentials):
        region.app.mailboxes.login("+1555", CreateSession(pin="9999"))
    assert store.mailboxes["+1555"].pin_hash == UNPEPPERED


def test_a_failed_upgrade_leaves_the_login_standing(region, monkeypatch):
    store = region.store
    store.mailboxes["+1555"] = replace(store.mailboxes["+1555"], pin_hash=UNPEPPERED)
    monkeypatch.setattr(store, "replace_mailbox", lambda mailbox: (_ for _ in ()).throw(RuntimeError("down")))
    assert region.app.mailboxes.login("+1555", CreateSession(pin="1234"))["token"]
    assert store.mailboxes["+1555"].pin_hash == UNPEPPERED


def test_a_pin_change_from_an_old_hash_checks_it_and_stores_a_peppered_one(region):
    store = region.store
    store.mailboxes["+1555"] = replace(store.mailboxes["+1555"], pin_hash=UNPEPPERED)
    token = region.app.mailboxes.login("+1555", CreateSession(pin="1234"))["token"]
    who = region.app.auth.authenticate({"authorization": f"Bearer {token}"})
    region.app.mailboxes.change_pin(who, "+1555", ChangePin(currentPin="1234", newPin="5678"))
    stored = store.mailboxes["+1555"].pin_hash
    assert stored.startswith("v2$") and pin_matches("5678", stored, PEPPER)
