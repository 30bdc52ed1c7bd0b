from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.model import Message, count
from shared.domain.replicated import PinRecord, lockout
from shared.domain.security import (
    TokenError,
    api_key_matches,
    hash_api_key,
    hash_pin,
    issue_token,
    pin_hash_outdated,
    pin_matches,
    verify_token,
)

KEY, OLD_KEY = b"k" * 32, b"o" * 32
PEPPER, OTHER_PEPPER = b"p" * 32, b"q" * 32
# A hash as made before PIN_PEPPER (scrypt of the PIN itself), of "1234".
UNPEPPERED = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$-fZT9cNHIKfiVc1cRZFSZ9e61YYrhtmnHL5e7-rAghk"


def test_pins_are_salted_slow_peppered_hashes_marked_with_their_version():
    first, second = hash_pin("1234", PEPPER), hash_pin("1234", PEPPER)
    assert first != second and first.startswith("v2$scrypt$16384$8$1$")
    assert "1234" not in first
    assert pin_matches("1234", first, PEPPER) and not pin_matches("4321", first, PEPPER)
    assert not pin_matches("000000", None, PEPPER)
    assert not pin_hash_outdated(first)


def test_a_new_hash_needs_the_pepper():
    stored = hash_pin("1234", PEPPER)
    assert not pin_matches("1234", stored, OTHER_PEPPER)  # the database alone is not enough to guess


def test_a_hash_from_before_the_pepper_still_verifies_and_is_outdated():
    assert pin_matches("1234", UNPEPPERED, PEPPER) and pin_matches("1234", UNPEPPERED, OTHER_PEPPER)
    assert not pin_matches("4321", UNPEPPERED, PEPPER)
    assert pin_hash_outdated(UNPEPPERED)


def test_api_keys_compare_by_hash():
    assert api_key_matches("local-dev-key", ("0" * 64, hash_api_key("local-dev-key")))
    assert not api_key_matches("local-dev-key2", (hash_api_key("local-dev-key"),))


def test_tokens_name_one_mailbox_and_expire():
    token, _claims = issue_token("+1555", KEY, 1000, 900)
    assert verify_token(token, (KEY,), 1899).mailbox_id == "+1555"
    with pytest.raises(TokenError, match="expired"):
        verify_token(token, (KEY,), 1900)


def test_tokens_signed_by_the_previous_key_still_verify_while_rotating():
    token, _ = issue_token("+1555", OLD_KEY, 1000, 900)
    assert verify_token(token, (KEY, OLD_KEY), 1001).mailbox_id == "+1555"
    with pytest.raises(TokenError):
        verify_token(token, (KEY,), 1001)


@pytest.mark.parametrize("mangle", [
    lambda t: t + "x", lambda t: t.replace("v1.", "v2."), lambda t: t.split(".")[0], lambda t: "",
    lambda t: ".".join([t.split(".")[0], t.split(".")[1][:-2] + "AA", t.split(".")[2]]),
])
def test_tampered_tokens_are_refused(mangle):
    token, _ = issue_token("+1555", KEY, 1000, 900)
    with pytest.raises(TokenError):
        verify_token(mangle(token), (KEY,), 1001)


def test_fifth_wrong_pin_locks_for_fifteen_minutes():
    now = datetime(2026, 11, 27, tzinfo=UTC)
    record = PinRecord("+1555", "r1")
    for n in range(4):
        record = record.with_failure(now + timedelta(seconds=n))
        assert not lockout([record]).locked(now + timedelta(seconds=n))
    fifth = now + timedelta(seconds=4)
    record = record.with_failure(fifth)
    assert lockout([record]).locked(fifth) and lockout([record]).locked(fifth + timedelta(minutes=14, seconds=59))
    assert not lockout([record]).locked(fifth + timedelta(minutes=15))


def test_a_right_pin_ends_the_run_of_wrong_ones_in_every_region():
    now = datetime(2026, 11, 27, tzinfo=UTC)
    a = PinRecord("+1555", "r1").with_failure(now).with_failure(now + timedelta(seconds=1))
    b = PinRecord("+1555", "r2").with_failure(now + timedelta(seconds=2)).with_success(now + timedelta(seconds=3))
    assert lockout([a, b]).streak == 0
    b = b.with_failure(now + timedelta(seconds=4))
    assert lockout([a, b]).streak == 1


def test_counts_leave_out_trash_failed_and_pending_uploads():
    now = datetime(2026, 11, 27, tzinfo=UTC)

    def message(**fields):
        return Message(id="m", mailbox_id="+1555", received_at=now, deposit_region="r1", **fields)

    counts = count([
        message(), message(urgent=True), message(heard=True), message(folder="saved"),
        message(folder="trash"), message(status="failed"), message(upload_pending=True),
    ])
    assert counts.as_api() == {"new": 2, "saved": 1, "urgentNew": 1, "total": 4}
