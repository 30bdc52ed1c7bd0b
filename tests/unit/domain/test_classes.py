"""Classes of service, the rules: defaults, limits, features and PINs (shared/domain/classes.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.domain.classes import (
    STANDARD_CLASS,
    ClassOfService,
    check_pin,
    check_settings,
    effective_settings,
    own_names,
    weak_pin,
)
from shared.domain.errors import BeyondClass, NotAllowed, WeakPin
from shared.domain.model import MailboxSettings

GOLD = ClassOfService.model_validate({
    "defaults": {"maxMessages": 300, "language": "fr", "timeZone": "Europe/Paris"},
    "limits": {"maxMessages": 500, "maxMessageSeconds": 300, "retentionDays": 90},
    "allow": {"transcription": False, "sms": False},
    "pin": {"minLength": 6, "refuseWeak": True}})


@pytest.mark.parametrize("pin", ["0000", "777777", "1234", "2345", "9876", "3210", "0123456789", "987654"])
def test_a_repeated_digit_or_a_run_up_or_down_is_weak(pin):
    assert weak_pin(pin, "+15550000000")


@pytest.mark.parametrize("pin", ["2580", "1357", "1243", "9870", "4711", "908172"])
def test_other_pins_are_not_weak(pin):
    assert not weak_pin(pin, "+15550000000")


def test_the_mailbox_numbers_last_digits_are_weak_in_any_tenant():
    assert weak_pin("4567", "+15551234567")
    assert weak_pin("234567", "acme~+15551234567")  # the id the subscriber knows, not the key
    assert not weak_pin("4568", "acme~+15551234567")
    assert not weak_pin("123456789012", "+15551234567")  # longer than the number: not its end


def test_the_class_refuses_short_and_weak_pins_only_as_it_says():
    with pytest.raises(WeakPin):
        check_pin(GOLD, "25801", "+15551234567")  # shorter than minLength 6
    with pytest.raises(WeakPin):
        check_pin(GOLD, "456789", "+15551234567")  # a run
    with pytest.raises(WeakPin):
        check_pin(GOLD, "234567", "+15551234567")  # the number's end
    check_pin(GOLD, "258013", "+15551234567")
    check_pin(STANDARD_CLASS, "1111", "+15551234567")  # standard refuses nothing a 4-12 digit PIN may be


def test_a_mailbox_takes_the_class_defaults_for_what_it_does_not_set():
    stored = MailboxSettings(maxMessages=50, retentionDays=10)
    settings = effective_settings(GOLD, stored, {"retentionDays"})
    assert settings.maxMessages == 300  # the class's default, not the 50 once stored as a default
    assert settings.retentionDays == 10  # its own
    assert (settings.language, settings.timeZone, settings.maxMessageSeconds) == ("fr", "Europe/Paris", 180)


def test_the_class_holds_a_mailboxs_own_settings_to_its_limits_and_features():
    stored = MailboxSettings(maxMessages=2000, retentionDays=0, transcription=True)
    settings = effective_settings(GOLD, stored, {"maxMessages", "retentionDays", "transcription"})
    assert (settings.maxMessages, settings.retentionDays, settings.transcription) == (500, 90, False)


def test_standard_changes_nothing():
    stored = MailboxSettings(maxMessages=2000, retentionDays=0, language="de")
    assert effective_settings(STANDARD_CLASS, stored, own_names(stored, None)) == stored


def test_a_request_beyond_the_limit_or_asking_for_a_feature_not_allowed_is_refused():
    with pytest.raises(BeyondClass):
        check_settings(GOLD, MailboxSettings(maxMessages=501), {"maxMessages"})
    with pytest.raises(BeyondClass):
        check_settings(GOLD, MailboxSettings(retentionDays=0), {"retentionDays"})  # keep forever
    with pytest.raises(NotAllowed):
        check_settings(GOLD, MailboxSettings(transcription=True), {"transcription"})
    check_settings(GOLD, MailboxSettings(maxMessages=500, retentionDays=90, transcription=False),
                   {"maxMessages", "retentionDays", "transcription"})
    check_settings(GOLD, MailboxSettings(maxMessages=9000), set())  # not set by this request: not checked


def test_a_mailbox_stored_before_classes_owns_the_settings_it_changed_from_the_defaults():
    stored = MailboxSettings(maxMessages=100, retentionDays=60)
    assert own_names(stored, None) == {"retentionDays"}
    assert own_names(stored, ("maxMessages",)) == {"maxMessages"}


def test_a_class_body_is_checked_whole():
    with pytest.raises(ValidationError):
        ClassOfService.model_validate({"defaults": {"maxMessages": 600}, "limits": {"maxMessages": 500}})
    with pytest.raises(ValidationError):
        ClassOfService.model_validate({"defaults": {"transcription": True}, "allow": {"transcription": False}})
    with pytest.raises(ValidationError):
        ClassOfService.model_validate({"allow": {"fax": True}})
    with pytest.raises(ValidationError):
        ClassOfService.model_validate({"pin": {"minLength": 3}})
    with pytest.raises(ValidationError):
        ClassOfService.model_validate({"limits": {"retentionDays": 0}})
    capped = ClassOfService.model_validate({"limits": {"retentionDays": 14}})  # today's 30 capped, not refused
    assert effective_settings(capped, MailboxSettings(), ()).retentionDays == 14
