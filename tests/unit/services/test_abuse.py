"""Rules against abuse, with in-memory ports: forwards, logins, promised uploads."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from shared.domain.commands import CreateSession, ForwardMessage, PatchMessage, PutMailbox, RequestUpload
from shared.domain.errors import ForwardRefused, InvalidCredentials, MailboxFull, PinLocked, TooManyRequests
from shared.domain.model import MailboxSettings, utcnow
from shared.domain.principal import PLATFORM, Principal
from shared.services.forwards import FORWARD_REFUSED, forward_room
from shared.services.messages import Sender
from shared.services.rate import SlidingWindow
from tests.unit.fakes import fake_app

SENDER = Sender("+15550001111", "Bob", urgent=False)
OWNER = Principal("subscriber", "+1555")


@pytest.fixture
def world():
    region = fake_app(CLIENT_LOGINS_PER_MINUTE="60")  # the contract's rate, as in Azure
    store, mailboxes, messages = region.store, region.app.mailboxes, region.app.messages
    for mailbox, size in (("+1555", 100), ("+1666", 5)):
        mailboxes.put(PLATFORM, mailbox, PutMailbox(displayName="A", pin="1234",
                                                    settings=MailboxSettings(maxMessages=size)))
    return store, mailboxes, messages


def _ready(store, messages, mailbox: str = "+1555") -> str:
    message_id = messages.deposit(PLATFORM, mailbox, b"RIFF", "audio/wav", SENDER, None)[0]["id"]
    key = (mailbox, message_id)
    store.messages[key] = replace(store.messages[key], status="ready", formats=("opus",),
                                  blobs={**store.messages[key].blobs})
    return message_id


@pytest.mark.parametrize(("size", "room"), [(1, 0), (5, 4), (10, 8), (100, 80), (101, 80)])
def test_forwards_never_take_the_last_fifth(size, room):
    assert forward_room(size) == room


def test_a_forward_stops_short_of_the_callers_reserve_with_the_same_refusal_for_every_reason(world):
    store, _, messages = world
    sources = [_ready(store, messages) for _ in range(6)]
    for source in sources[:4]:  # +1666 holds 5: forwards may fill 4 places
        messages.forward(OWNER, "+1555", source, ForwardMessage(to="+1666"))
    refusals = []
    for target in ("+1666", "+1999"):  # full for forwards; unknown
        with pytest.raises(ForwardRefused) as refused:
            messages.forward(OWNER, "+1555", sources[5], ForwardMessage(to=target))
        refusals.append(refused.value.problem())
    assert refusals[0] == refusals[1]
    assert refusals[0].detail == FORWARD_REFUSED and "5" not in refusals[0].detail
    # Callers still get the last place.
    messages.deposit(PLATFORM, "+1666", b"RIFF", "audio/wav", SENDER, None)
    with pytest.raises(MailboxFull):
        messages.deposit(PLATFORM, "+1666", b"RIFF", "audio/wav", SENDER, None)


def test_a_subscriber_forwards_at_most_twenty_an_hour(world):
    store, mailboxes, messages = world
    mailboxes.put(PLATFORM, "+1777", PutMailbox(displayName="Big", settings=MailboxSettings(maxMessages=1000)))
    sources = [_ready(store, messages) for _ in range(21)]
    for source in sources[:20]:
        messages.forward(OWNER, "+1555", source, ForwardMessage(to="+1777"))
    with pytest.raises(ForwardRefused):
        messages.forward(OWNER, "+1555", sources[20], ForwardMessage(to="+1777"))
    messages.forward(PLATFORM, "+1555", sources[20], ForwardMessage(to="+1777"))  # the platform is not limited
    recorded = store.recent[("+1555", "forwards", "r1")]
    store.recent[("+1555", "forwards", "r1")] = replace(  # an hour later
        recorded, times=tuple(t - timedelta(hours=1) for t in recorded.times))
    messages.forward(OWNER, "+1555", _ready(store, messages), ForwardMessage(to="+1777"))


def test_forwarding_again_answers_the_first_forwards_answer_never_the_targets_copy_as_it_now_is(world):
    store, _, messages = world
    source = _ready(store, messages)
    first = messages.forward(OWNER, "+1555", source, ForwardMessage(to="+1666"))
    target = Principal("subscriber", "+1666")
    messages.patch(target, "+1666", first["id"], PatchMessage(heard=True, urgent=True), None)
    moved = messages.patch(target, "+1666", first["id"], PatchMessage(folder="trash"), None)
    assert (moved["heard"], moved["folder"]) == (True, "trash") and moved["expiresAt"] != first["expiresAt"]
    again = messages.forward(OWNER, "+1555", source, ForwardMessage(to="+1666"))
    assert again["id"] == first["id"] and len([k for k in store.messages if k[0] == "+1666"]) == 1
    assert (again["heard"], again["folder"], again["urgent"]) == (False, "inbox", False)
    assert again["expiresAt"] == first["expiresAt"]
    assert again["etag"] is None  # the target's ETag is the target's: neither now's nor a guess at the first
    assert {k: v for k, v in again.items() if k != "etag"} == {k: v for k, v in first.items() if k != "etag"}


def test_an_unknown_mailbox_answers_wrong_pins_exactly_as_a_known_one(world):
    _, mailboxes, _ = world
    answers = {}
    for mailbox in ("+1555", "+1999"):
        seen = []
        for _ in range(6):
            try:
                mailboxes.login(mailbox, CreateSession(pin="9999"))
            except (InvalidCredentials, PinLocked) as error:
                seen.append(error.problem().type)
        answers[mailbox] = seen
    assert answers["+1555"] == answers["+1999"] == ["invalid-credentials"] * 5 + ["pin-locked"]


def test_logins_faster_than_a_person_are_refused_before_hashing(world, monkeypatch):
    _, mailboxes, _ = world
    hashed = []
    monkeypatch.setattr("shared.services.mailboxes.pin_matches", lambda pin, stored, pepper: hashed.append(pin) or True)
    for _ in range(20):
        mailboxes.login("+1555", CreateSession(pin="1234"))
    with pytest.raises(TooManyRequests) as refused:
        mailboxes.login("+1555", CreateSession(pin="1234"))
    assert refused.value.retry_after_s and 0 < refused.value.retry_after_s <= 60
    assert len(hashed) == 20


def test_one_client_is_limited_across_mailboxes_before_hashing():
    window = SlidingWindow(30, 60.0, clock=lambda: 100.0)
    assert all(window.wait("203.0.113.7") == 0 for _ in range(30))  # under 30 a minute: never refused
    assert window.wait("203.0.113.7") > 0
    assert window.wait("198.51.100.1") == 0


def test_a_client_cannot_get_fresh_budgets_by_walking_its_ipv6_64(world, monkeypatch):
    _, mailboxes, _ = world
    monkeypatch.setattr("shared.services.mailboxes.pin_matches", lambda pin, stored, pepper: True)
    ids = [f"+1800{n}" for n in range(4)]  # 60 logins, under each mailbox's own 20
    for mailbox in ids:
        mailboxes.put(PLATFORM, mailbox, PutMailbox(displayName="A", pin="1234"))
    for n in range(60):
        mailboxes.login(ids[n % 4], CreateSession(pin="1234"), f"2001:db8:7:7::{n + 1:x}")
    with pytest.raises(TooManyRequests):
        mailboxes.login(ids[0], CreateSession(pin="1234"), "2001:db8:7:7:ffff::1")  # same /64, new address
    mailboxes.login(ids[0], CreateSession(pin="1234"), "2001:db8:7:8::1")  # the next /64 is someone else


def test_a_promise_whose_link_expired_releases_its_room(world):
    store, _, messages = world
    for _ in range(5):
        messages.request_upload(PLATFORM, "+1666", RequestUpload(contentType="audio/wav", sizeBytes=10), None)
    with pytest.raises(MailboxFull):
        messages.deposit(PLATFORM, "+1666", b"RIFF", "audio/wav", SENDER, None)
    key = next(k for k in store.messages if k[0] == "+1666")
    store.messages[key] = replace(store.messages[key], expires_at=utcnow() - timedelta(seconds=1))
    messages.deposit(PLATFORM, "+1666", b"RIFF", "audio/wav", SENDER, None)  # room again
    assert store.messages[key].purged
