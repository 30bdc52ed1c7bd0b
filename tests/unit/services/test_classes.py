"""Classes of service through the app's own wiring (shared/services/classes.py): a tenant's key puts
its classes, mailboxes name them, and what a class says holds on every read and at runtime."""

from __future__ import annotations

import pytest

from shared.domain.classes import ClassOfService
from shared.domain.commands import ChangePin, ForwardMessage, PatchMailbox, PatchMailboxSettings, PutMailbox
from shared.domain.errors import (
    BeyondClass,
    ClassNotFound,
    Forbidden,
    MailboxFull,
    NotAllowed,
    NotFound,
    TenantNotFound,
    ValidationFailed,
    WeakPin,
)
from shared.domain.model import Mailbox, MailboxSettings
from shared.domain.notifications import PutNotifications
from shared.domain.principal import PLATFORM, Principal
from shared.domain.tenants import PutTenant
from shared.domain.transcripts import Recognized
from shared.services.classes import ClassedStore, ClassService
from shared.services.messages import Sender
from tests.unit.fakes import FakeClock, FakeStore, fake_app, fake_ports
from tests.unit.fakes_tenants import FakeTenants

ACME = Principal("platform", tenant="acme")
BOB = Sender("+15550001111", "Bob", urgent=False)
BASIC = {"defaults": {"maxMessages": 20, "language": "fr"}, "limits": {"maxMessages": 50, "retentionDays": 60},
         "allow": {"transcription": False, "sms": False, "forward": False}, "pin": {"minLength": 6, "refuseWeak": True}}


class Transcriber:
    name = "fake"

    def transcribe(self, audio: bytes, locale: str) -> Recognized:
        return Recognized("call me back", 0.9)


@pytest.fixture
def app():
    return fake_app(ports=fake_ports(transcriber=Transcriber())).app


def klass(body: dict) -> ClassOfService:
    return ClassOfService.model_validate(body)


def test_a_tenants_key_puts_and_reads_its_classes_and_only_its_own(app):
    assert app.classes.put(ACME, "acme", "basic", klass(BASIC))["limits"] == {"maxMessages": 50, "retentionDays": 60}
    assert app.classes.get(ACME, "acme", "basic")["pin"] == {"minLength": 6, "refuseWeak": True}
    assert app.classes.get(ACME, "acme", "standard")["allow"] == dict.fromkeys(
        ("transcription", "email", "sms", "webhook", "forward"), True)
    with pytest.raises(NotFound):
        app.classes.get(ACME, "acme", "gold")
    with pytest.raises(NotFound):
        app.classes.get(PLATFORM, "default", "basic")  # tenant default has no such class: acme's is acme's
    for who in (PLATFORM, Principal("subscriber", "acme~+1555")):
        with pytest.raises(Forbidden):
            app.classes.put(who, "acme", "basic", klass(BASIC))
    with pytest.raises(ValidationFailed):
        app.classes.put(ACME, "acme", "standard", klass(BASIC))  # built in


def test_a_mailbox_takes_its_class_defaults_and_keeps_its_own_settings(app):
    app.classes.put(PLATFORM, "default", "basic", klass(BASIC))
    mailbox, _ = app.mailboxes.put(PLATFORM, "+1555", PutMailbox(
        displayName="Ann", classOfService="basic", settings=MailboxSettings(retentionDays=45)))
    assert mailbox["classOfService"] == "basic"
    assert (mailbox["settings"]["maxMessages"], mailbox["settings"]["language"]) == (20, "fr")
    assert mailbox["settings"]["retentionDays"] == 45
    assert mailbox["settings"]["transcription"] is False  # not allowed: off, whatever today's default says
    plain, _ = app.mailboxes.put(PLATFORM, "+1666", PutMailbox(displayName="Bea"))
    assert (plain["classOfService"], plain["settings"]["maxMessages"]) == ("standard", 100)
    # A replace without classOfService keeps the class (as it keeps the PIN).
    again, _ = app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="Ann B"))
    assert (again["classOfService"], again["settings"]["maxMessages"]) == ("basic", 20)


def test_a_class_that_does_not_exist_and_settings_beyond_it_are_refused(app):
    app.classes.put(PLATFORM, "default", "basic", klass(BASIC))
    with pytest.raises(ClassNotFound):
        app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="Ann", classOfService="gold"))
    with pytest.raises(BeyondClass):
        app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="Ann", classOfService="basic",
                                                        settings=MailboxSettings(maxMessages=51)))
    with pytest.raises(NotAllowed):
        app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="Ann", classOfService="basic",
                                                        settings=MailboxSettings(transcription=True)))
    app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="Ann", classOfService="basic"))
    with pytest.raises(BeyondClass):
        app.mailboxes.patch(PLATFORM, "+1555", PatchMailbox(settings=PatchMailboxSettings(retentionDays=0)), None)
    with pytest.raises(ClassNotFound):
        app.mailboxes.patch(PLATFORM, "+1555", PatchMailbox(classOfService="gold"), None)
    with pytest.raises(Forbidden):  # a subscriber never changes its class
        app.mailboxes.patch(Principal("subscriber", "+1555"), "+1555", PatchMailbox(classOfService="standard"), None)
    moved = app.mailboxes.patch(PLATFORM, "+1555", PatchMailbox(classOfService="standard"), None)
    assert (moved["classOfService"], moved["settings"]["maxMessages"], moved["settings"]["transcription"]) == (
        "standard", 100, True)


def test_weak_pins_are_refused_on_provisioning_and_on_change(app):
    app.classes.put(PLATFORM, "default", "basic", klass(BASIC))
    for pin in ("123456", "000000", "987654", "234567", "2580"):  # runs, repeats, the number's end, too short
        with pytest.raises(WeakPin):
            app.mailboxes.put(PLATFORM, "+15551234567", PutMailbox(displayName="Ann", classOfService="basic", pin=pin))
    app.mailboxes.put(PLATFORM, "+15551234567", PutMailbox(displayName="Ann", classOfService="basic", pin="258013"))
    with pytest.raises(WeakPin):
        app.mailboxes.change_pin(PLATFORM, "+15551234567", ChangePin(newPin="111111"))
    app.mailboxes.change_pin(PLATFORM, "+15551234567", ChangePin(newPin="731904"))
    app.mailboxes.put(PLATFORM, "+1666", PutMailbox(displayName="Bea", pin="1234"))  # standard: any 4-12 digits


def test_a_class_change_reaches_its_mailboxes_without_rewriting_them():
    store, tenants, clock = FakeStore(), FakeTenants(), FakeClock()
    here, elsewhere = ClassService(tenants, clock=clock), ClassService(tenants, clock=clock)  # two processes
    elsewhere.put(PLATFORM, "default", "basic", klass(BASIC))
    read = ClassedStore(store, here)
    store.create_mailbox(Mailbox(id="+1555", display_name="Ann", settings=MailboxSettings(),
                                 class_of_service="basic", settings_set=()))
    stored = store.get_mailbox("+1555")
    assert read.get_mailbox("+1555").settings.maxMessages == 20
    elsewhere.put(PLATFORM, "default", "basic", klass({**BASIC, "defaults": {"maxMessages": 40}}))
    assert read.get_mailbox("+1555").settings.maxMessages == 20  # this process still has the class it read
    clock.now += 20
    assert read.get_mailbox("+1555").settings.maxMessages == 40  # the change, once its copy expired
    assert read.snapshot("+1555").mailbox.settings.maxMessages == 40
    assert store.get_mailbox("+1555") == stored  # the mailbox itself was never written


def test_what_a_class_stops_allowing_stops_at_runtime():
    region = fake_app(ports=fake_ports(transcriber=Transcriber()))
    app, jobs, webhooks = region.app, region.ports.transcription_jobs, region.ports.webhooks
    app.classes.put(PLATFORM, "default", "basic", klass({"allow": {"sms": False}}))
    app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="Ann", classOfService="basic"))
    app.mailboxes.put(PLATFORM, "+1666", PutMailbox(displayName="Bea"))
    with pytest.raises(NotAllowed):
        app.notifications.configure(PLATFORM, "+1555", PutNotifications.model_validate(
            {"targets": [{"kind": "sms", "number": "+15550002222"}]}))
    app.notifications.configure(PLATFORM, "+1555", PutNotifications.model_validate(
        {"targets": [{"kind": "webhook", "url": "https://hooks.example.com/vm"}]}))

    def deliver() -> tuple[str, dict | None]:
        message_id = app.messages.deposit(PLATFORM, "+1555", b"hello audio", "audio/wav", BOB, None)[0]["id"]
        assert app.pipeline.process(f"incoming/+1555/{message_id}", b"hello audio") == "ready"
        app.notifications.dispatch()
        return message_id, app.messages.get(PLATFORM, "+1555", message_id)["transcript"]

    first, transcript = deliver()
    assert transcript is not None and transcript["status"] == "pending"  # transcription allowed, job queued
    sent = len(webhooks.sent)
    assert sent > 0  # the lamp's changes, at least
    app.classes.put(PLATFORM, "default", "basic", klass({"allow": {"transcription": False, "webhook": False,
                                                                   "forward": False}}))
    app.transcripts.transcribe(jobs.take())  # queued before the change: settled, not transcribed
    settled = app.messages.get(PLATFORM, "+1555", first)["transcript"]
    assert (settled["status"], settled["error"]) == ("failed", "not-allowed")
    _, transcript = deliver()
    assert transcript is None  # no new transcripts
    assert len(webhooks.sent) == sent  # the webhook target stays configured, and gets nothing more
    with pytest.raises(NotAllowed):
        app.messages.forward(PLATFORM, "+1555", first, ForwardMessage(to="+1666"))


def test_deposits_keep_to_the_class_default_the_mailbox_does_not_override(app):
    app.classes.put(PLATFORM, "default", "tiny", klass({"defaults": {"maxMessages": 1}}))
    app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="Ann", classOfService="tiny"))
    app.messages.deposit(PLATFORM, "+1555", b"hello audio", "audio/wav", BOB, None)
    with pytest.raises(MailboxFull):
        app.messages.deposit(PLATFORM, "+1555", b"hello audio", "audio/wav", BOB, None)
    app.classes.put(PLATFORM, "default", "tiny", klass({"defaults": {"maxMessages": 2}}))
    app.messages.deposit(PLATFORM, "+1555", b"hello audio", "audio/wav", BOB, None)  # room, once the class says so


@pytest.mark.parametrize("write", ["pin", "display name", "greeting"])
def test_a_write_under_a_stricter_class_never_turns_the_class_values_into_the_mailboxs_own(write):
    """A mailbox with its own maxMessages 500 and transcription on, moved to a class capping it at 10
    with transcription not allowed: after any write there, moved back, it has its 500 and its
    transcription again (docs/classes.md: a mailbox moved into a stricter class keeps its own values)."""
    wired = fake_app()
    app = wired.app
    app.classes.put(PLATFORM, "default", "small", klass({"limits": {"maxMessages": 10},
                                                          "allow": {"transcription": False}}))
    app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="A", settings=MailboxSettings(
        maxMessages=500, transcription=True)))
    app.mailboxes.patch(PLATFORM, "+1555", PatchMailbox(classOfService="small"), None)
    assert app.mailboxes.get(PLATFORM, "+1555")["settings"]["maxMessages"] == 10
    if write == "pin":
        app.mailboxes.change_pin(PLATFORM, "+1555", ChangePin(newPin="482913"))
    elif write == "display name":
        app.mailboxes.patch(PLATFORM, "+1555", PatchMailbox(displayName="B"), None)
    else:
        app.mailboxes.patch(PLATFORM, "+1555", PatchMailbox(greeting="default"), None)
    stored = wired.store.get_mailbox("+1555").settings
    assert (stored.maxMessages, stored.transcription) == (500, True)
    back = app.mailboxes.patch(PLATFORM, "+1555", PatchMailbox(classOfService="standard"), None)
    assert (back["settings"]["maxMessages"], back["settings"]["transcription"]) == (500, True)


def test_a_setting_made_the_mailboxs_own_under_a_class_is_written_as_given():
    """Setting a value equal to what the class gives makes it the mailbox's own: it stays when the
    class's default changes."""
    wired = fake_app()
    app = wired.app
    app.classes.put(PLATFORM, "default", "c", klass({"defaults": {"maxMessages": 30}}))
    app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="A", classOfService="c"))
    app.mailboxes.patch(PLATFORM, "+1555", PatchMailbox(settings=PatchMailboxSettings(maxMessages=30)), None)
    app.classes.put(PLATFORM, "default", "c", klass({"defaults": {"maxMessages": 40}}))
    app.classes.rules("default", "c", fresh=True)
    assert app.mailboxes.get(PLATFORM, "+1555")["settings"]["maxMessages"] == 30


def test_the_operator_puts_and_reads_a_tenants_classes_for_it(app):
    """The wholesale operator runs a customer's classes too (the CLI's `classes`), on tenants that exist."""
    operator = Principal("operator")
    with pytest.raises(TenantNotFound):
        app.classes.put(operator, "acme", "basic", klass(BASIC))
    app.tenants.put(operator, "acme", PutTenant(displayName="Acme"))
    assert app.classes.put(operator, "acme", "basic", klass(BASIC))["pin"]["minLength"] == 6
    assert app.classes.get(ACME, "acme", "basic")["limits"]["maxMessages"] == 50  # the tenant's own key sees it
    assert app.classes.get(operator, "acme", "basic")["allow"]["sms"] is False


def test_moving_a_mailbox_to_a_class_derives_its_messages_expiry_from_the_class_retention():
    """The mailbox's own retention change derives every stored message's expiry again; moving it to a
    class whose retention differs is such a change."""
    wired = fake_app()
    app = wired.app
    app.classes.put(PLATFORM, "default", "short", klass({"defaults": {"retentionDays": 5}}))
    app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="A"))
    message_id = app.messages.deposit(PLATFORM, "+1555", b"RIFF" + b"\0" * 4000, "audio/wav", BOB, None)[0]["id"]
    stored = wired.store.get_message("+1555", message_id)
    assert stored.expires_at is not None and (stored.expires_at - stored.received_at).days == 30
    app.mailboxes.patch(PLATFORM, "+1555", PatchMailbox(classOfService="short"), None)
    moved = wired.store.get_message("+1555", message_id)
    assert (moved.expires_at - moved.received_at).days == 5


def test_a_class_retention_change_reaches_its_stored_messages_at_the_retention_sweeps_first_step():
    """The mailboxes read the class's new retention at once; their stored messages' expiry is derived
    again by the sweep's first step (`apply_class_retention`), once per change, and only theirs."""
    wired = fake_app()
    app = wired.app
    app.classes.put(PLATFORM, "default", "c", klass({"defaults": {"retentionDays": 30}}))
    ids = {}
    for mailbox, klass_name in (("+1555", "c"), ("+1666", "standard")):
        app.mailboxes.put(PLATFORM, mailbox, PutMailbox(displayName="A", classOfService=klass_name))
        ids[mailbox] = app.messages.deposit(PLATFORM, mailbox, b"RIFF" + b"\0" * 4000, "audio/wav", BOB, None)[0]["id"]

    def kept_days(mailbox: str) -> int:
        message = wired.store.get_message(mailbox, ids[mailbox])
        return (message.expires_at - message.received_at).days

    assert app.mailboxes.apply_class_retention() == 0  # nothing changed yet
    app.classes.put(PLATFORM, "default", "c", klass({"defaults": {"language": "fr"}, "limits": {"maxMessages": 90}}))
    assert app.mailboxes.apply_class_retention() == 0  # no change of retention: nothing to derive
    app.classes.put(PLATFORM, "default", "c", klass({"defaults": {"retentionDays": 3}}))
    assert app.mailboxes.get(PLATFORM, "+1555")["settings"]["retentionDays"] == 3  # read at once
    assert kept_days("+1555") == 30  # stored expiry: until the sweep
    assert app.mailboxes.apply_class_retention() == 1
    assert (kept_days("+1555"), kept_days("+1666")) == (3, 30)
    assert app.mailboxes.apply_class_retention() == 0  # applied: the next sweep passes nothing
