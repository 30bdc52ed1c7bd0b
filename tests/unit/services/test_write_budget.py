"""A subscriber's 60 writes a minute to its mailbox, every region together; the platform is not
budgeted and reads are not counted."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.commands import ChangePin, ForwardMessage, PatchMailbox, PatchMessage, PutMailbox
from shared.domain.errors import TooManyRequests, VerificationFailed
from shared.domain.model import ListQuery, MailboxSettings
from shared.domain.notifications import PutNotifications
from shared.domain.principal import PLATFORM, Principal
from shared.domain.verification import VerifyTarget
from shared.services import writes
from shared.services.messages import Sender
from tests.unit.fakes import fake_app
from tests.unit.services.test_notifications import FakeOutbox, Mailer

OWNER = Principal("subscriber", "+1555")
SENDER = Sender("+15550001111", "Bob", urgent=False)
T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


class Clock:
    """The budget's clock: set by a test, and a microsecond on at each reading (writes never share one)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        now, self.now = self.now, self.now + timedelta(microseconds=1)
        return now


@pytest.fixture
def clock(monkeypatch):
    ticking = Clock()
    monkeypatch.setattr(writes, "utcnow", ticking)
    return ticking


def _region(name: str = "r1", store=None):
    region = fake_app(name, store=store)
    if store is None:
        for mailbox in ("+1555", "+1777"):
            region.app.mailboxes.put(PLATFORM, mailbox, PutMailbox(
                displayName="A", pin="1234", settings=MailboxSettings(maxMessages=1000)))
    return region


def _ready(region, mailbox: str = "+1555") -> str:
    message_id = region.app.messages.deposit(PLATFORM, mailbox, b"RIFF", "audio/wav", SENDER, None)[0]["id"]
    key = (mailbox, message_id)
    region.store.messages[key] = replace(region.store.messages[key], status="ready", formats=("opus",))
    return message_id


def _patch(region, message_id: str, n: int, who: Principal = OWNER) -> None:
    region.app.messages.patch(who, "+1555", message_id, PatchMessage(heard=n % 2 == 0), None)


def _writes(store, region: str = "r1") -> int:
    record = store.recent.get(("+1555", "write", region))
    return len(record.times) if record else 0


def test_the_61st_write_in_a_minute_is_429_with_the_seconds_until_the_oldest_leaves(clock):
    region = _region()
    message = _ready(region)
    for n in range(60):  # 60 writes in 30 seconds
        clock.now = T0 + timedelta(seconds=n / 2)
        _patch(region, message, n)
    clock.now = T0 + timedelta(seconds=40)
    with pytest.raises(TooManyRequests) as refused:
        _patch(region, message, 60)
    problem = refused.value.problem()
    assert (problem.status, problem.type, problem.retry_after_s) == (429, "too-many-requests", 20)
    assert _writes(region.store) == 60  # a refused write is not recorded
    clock.now = T0 + timedelta(seconds=60, microseconds=1)  # the oldest left the minute: one more fits
    _patch(region, message, 60)
    with pytest.raises(TooManyRequests) as again:
        _patch(region, message, 61)
    assert again.value.retry_after_s == 1  # the next oldest (at 0.5 s) leaves in under a second


def test_writes_in_two_regions_add_up(clock):
    r1 = _region("r1")
    r2 = _region("r2", store=r1.store)  # one Cosmos account, two regions
    message = _ready(r1)
    for n in range(30):
        clock.now = T0 + timedelta(seconds=n)
        _patch(r1, message, n)
        _patch(r2, message, n + 1)
    assert (_writes(r1.store, "r1"), _writes(r1.store, "r2")) == (30, 30)  # one record per region
    clock.now = T0 + timedelta(seconds=45)
    for region in (r1, r2):
        with pytest.raises(TooManyRequests) as refused:
            _patch(region, message, 0)
        assert refused.value.retry_after_s == 15


def test_the_platform_is_not_budgeted(clock):
    region = _region()
    message = _ready(region)
    for n in range(60):
        _patch(region, message, n)
    with pytest.raises(TooManyRequests):
        _patch(region, message, 60)
    for n in range(70):
        _patch(region, message, n, PLATFORM)
    region.app.greetings.put(PLATFORM, "+1555", "busy", b"RIFF", "audio/wav")
    region.app.mailboxes.change_pin(PLATFORM, "+1555", ChangePin(newPin="4321"))
    assert _writes(region.store) == 60


def test_reads_are_not_counted(clock):
    region = _region()
    message = _ready(region)
    app = region.app
    app.notifications._outbox = FakeOutbox(region.store)  # no Azure here
    for _ in range(100):
        app.messages.list(OWNER, "+1555", ListQuery(), None)
        app.messages.get(OWNER, "+1555", message)
        app.mailboxes.get(OWNER, "+1555")
        app.notifications.show(OWNER, "+1555")
    assert _writes(region.store) == 0
    for n in range(60):
        _patch(region, message, n)


def test_every_kind_of_subscriber_write_counts(clock):
    region = _region()
    app = region.app
    first, second, third = (_ready(region) for _ in range(3))
    app.messages.patch(OWNER, "+1555", first, PatchMessage(heard=True), None)
    app.messages.delete(OWNER, "+1555", second, purge=False)
    app.messages.forward(OWNER, "+1555", third, ForwardMessage(to="+1777"))
    app.greetings.put(OWNER, "+1555", "busy", b"RIFF", "audio/wav")
    app.greetings.delete(OWNER, "+1555", "busy")
    app.mailboxes.patch(OWNER, "+1555", PatchMailbox(greeting="name"), None)  # activating a greeting
    app.mailboxes.change_pin(OWNER, "+1555", ChangePin(currentPin="1234", newPin="5678"))
    app.notifications._outbox, app.notifications._mailer = FakeOutbox(region.store), Mailer()  # no Azure here
    app.notifications.configure(OWNER, "+1555", PutNotifications.model_validate(
        {"targets": [{"kind": "email", "address": "me@example.com"}]}))
    with pytest.raises(VerificationFailed):
        app.notifications.verify(OWNER, "+1555", VerifyTarget(address="me@example.com", code="000000"))
    assert _writes(region.store) == 9
