"""Usage per tenant per day on in-memory ports, through the app as `build` wires it: each billable
thing counted once however often it is retried, replayed or done again (in another region too),
the regions' facts adding up, tenants apart, and billing kept through a mailbox's erasure."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain import tenancy
from shared.domain.commands import PutMailbox
from shared.domain.errors import TenantNotFound, ValidationFailed
from shared.domain.model import MailboxSettings, utcnow
from shared.domain.notifications import PutNotifications
from shared.domain.principal import OPERATOR, PLATFORM, Principal
from shared.domain.tenants import PutTenant
from shared.domain.transcripts import Recognized, TranscriptionJob
from shared.domain.usage import message_facts
from shared.services.messages import Sender
from tests.unit.fakes import FakeStore, fake_app, fake_ports

SENDER = Sender("+15550001111", "Bob", urgent=False)
TODAY = utcnow().date().isoformat()
MAILBOX = "+15551230000"
AUDIO = b"x" * 4200  # the fake transcoder makes a message of one millisecond a byte: 4.2 s


class Transcriber:
    name = "fake"

    def transcribe(self, audio: bytes, locale: str) -> Recognized:
        return Recognized("call me back", 0.9)


def region(name: str = "r1", store: FakeStore | None = None, **settings: str):
    ports = fake_ports(store, transcriber=Transcriber())
    return fake_app(name, ports=ports, NOTIFY_TRANSCRIPT_WAIT_SECONDS="0", REGIONS="r1,r2", **settings)


def provision(app, mailbox: str = MAILBOX, principal: Principal = PLATFORM, transcription: bool = True) -> None:
    app.mailboxes.put(principal, mailbox, PutMailbox(displayName="Ann", settings=MailboxSettings(
        maxMessageSeconds=60, transcription=transcription)))


def deposit(app, mailbox: str = MAILBOX, key: str | None = None) -> str:
    return app.messages.deposit(PLATFORM, mailbox, AUDIO, "audio/wav", SENDER, key)[0]["id"]


def process(world, message_id: str, mailbox: str = MAILBOX) -> None:
    world.app.pipeline.process(f"incoming/{mailbox}/{message_id}", AUDIO)


def transcribe_all(world) -> None:
    jobs = world.ports.transcription_jobs
    while jobs.queued:
        world.app.transcripts.transcribe(jobs.take())


def today(app, tenant: str = tenancy.DEFAULT) -> dict[str, object]:
    days = app.usage.report(OPERATOR, tenant, TODAY, TODAY)["days"]
    assert [day["date"] for day in days] == [TODAY]
    return {name: value for name, value in days[0].items() if name != "date"}


def test_a_deposit_its_audio_and_its_transcript_each_count_once_however_often_they_are_retried():
    world = region()
    provision(world.app)
    message_id = deposit(world.app, key="retry-me")
    assert deposit(world.app, key="retry-me") == message_id  # the idempotent retry: the same message
    process(world, message_id)
    process(world, message_id)  # the blob trigger fires again
    transcribe_all(world)
    world.app.transcripts.transcribe(_job_of(message_id))  # a job delivered again: nothing to do
    assert today(world.app) == {"deposits": 1, "audioSeconds": 4.2, "transcriptionSeconds": 4.2,
                                "emails": 0, "sms": 0, "webhooks": 0}


def _job_of(message_id: str) -> TranscriptionJob:
    return TranscriptionJob(MAILBOX, message_id, 1)


def test_a_failed_transcript_bills_no_transcription_and_no_transcript_when_the_mailbox_has_none():
    world = region()
    provision(world.app, transcription=False)
    process(world, deposit(world.app))
    assert today(world.app)["transcriptionSeconds"] == 0
    assert today(world.app)["audioSeconds"] == 4.2


def test_a_write_that_did_not_commit_counts_nothing_and_its_retry_counts_once():
    world = region()
    provision(world.app)
    world.store.fail_next["create_message"] = RuntimeError("the batch did not commit")
    with pytest.raises(RuntimeError):
        deposit(world.app, key="k1")
    assert today(world.app)["deposits"] == 0
    deposit(world.app, key="k1")
    assert today(world.app)["deposits"] == 1


def test_a_webhook_counts_once_per_delivery_not_per_attempt(monkeypatch):
    world = region()
    provision(world.app, transcription=False)
    world.app.notifications.configure(PLATFORM, MAILBOX, PutNotifications.model_validate(
        {"targets": [{"kind": "webhook", "url": "https://hooks.example.com/a"}]}))
    process(world, deposit(world.app))
    webhooks = world.ports.webhooks
    webhooks.failing = True
    world.app.notifications.dispatch()
    assert webhooks.sent and today(world.app)["webhooks"] == 0  # tried, not delivered
    webhooks.failing = False
    later = utcnow() + timedelta(hours=1)
    monkeypatch.setattr("shared.services.notifications.utcnow", lambda: later)
    for _ in range(3):
        world.app.notifications.dispatch()
    assert len(webhooks.sent) >= 3  # message.ready twice (once failed), mwi.changed at least once
    delivered = len({webhook_id for _, webhook_id, _ in webhooks.sent})
    assert today(world.app)["webhooks"] == delivered


def test_the_same_event_saved_done_again_counts_its_delivery_once():
    world = region()
    provision(world.app, transcription=False)
    world.app.notifications.configure(PLATFORM, MAILBOX, PutNotifications.model_validate(
        {"targets": [{"kind": "webhook", "url": "https://hooks.example.com/a"}]}))
    process(world, deposit(world.app))
    world.app.notifications.dispatch()
    counted = today(world.app)["webhooks"]
    assert counted >= 1
    for event in list(world.store.events.values()):  # a dispatcher that died after its write, replayed
        world.ports.outbox.save_event(event)
    assert today(world.app)["webhooks"] == counted


def test_two_regions_add_up_and_the_same_message_finished_in_both_counts_once():
    store = FakeStore()
    one, two = region("r1", store), region("r2", store)
    provision(one.app)
    first, second = deposit(one.app), deposit(two.app)
    process(one, first)
    process(two, second)
    assert today(one.app) == today(two.app)
    assert today(one.app)["deposits"] == 2 and today(one.app)["audioSeconds"] == 8.4
    # A fact written again by the other region (a takeover, a partition) is the same document.
    message = store.messages[(MAILBOX, first)]
    store.write_message(message, None, usage=message_facts(message, created=True))  # as the batch writes them
    assert today(one.app)["deposits"] == 2 and today(one.app)["audioSeconds"] == 8.4


def test_tenants_are_billed_apart_and_their_own_key_reads_only_their_own():
    world = region()
    world.app.tenants.put(OPERATOR, "acme", PutTenant(displayName="Acme"))
    acme_key = tenancy.key("acme", MAILBOX)
    provision(world.app, acme_key, Principal("platform", tenant="acme"))
    provision(world.app)
    deposit(world.app, acme_key)
    deposit(world.app, acme_key)
    deposit(world.app)
    assert today(world.app, "acme")["deposits"] == 2
    assert today(world.app)["deposits"] == 1
    own = world.app.usage.report(Principal("platform", tenant="acme"), "acme", TODAY, TODAY)
    assert own["days"][0]["deposits"] == 2


def test_an_erasure_keeps_the_usage_it_billed():
    world = region()
    provision(world.app)
    process(world, deposit(world.app))
    world.store.erase_documents(MAILBOX, 1000)
    assert not [key for key in world.store.messages if key[0] == MAILBOX]
    assert today(world.app)["deposits"] == 1


def test_every_day_of_the_range_is_answered_and_an_unknown_tenant_is_404():
    world = region()
    provision(world.app)
    deposit(world.app)
    yesterday = (utcnow() - timedelta(days=1)).date().isoformat()
    days = world.app.usage.report(OPERATOR, "default", yesterday, TODAY)["days"]
    assert [(d["date"], d["deposits"]) for d in days] == [(yesterday, 0), (TODAY, 1)]
    with pytest.raises(TenantNotFound):
        world.app.usage.report(OPERATOR, "nobody", TODAY, TODAY)


@pytest.mark.parametrize(("start", "end"), [
    (None, "2026-12-01"), ("2026-12-01", None), ("yesterday", "2026-12-01"), ("2026-13-01", "2026-12-31"),
    ("2026-12-02", "2026-12-01"), ("2025-01-01", "2026-01-02"), ("2026-12-1", "2026-12-02"),
    ("20261201", "2026-12-02"), ("2026-W01-1", "2026-12-02"), ("2026-12-01", "2026-W52-7")])
def test_a_range_that_is_not_days_is_backwards_or_over_366_days_is_refused(start, end):
    with pytest.raises(ValidationFailed):
        region().app.usage.report(OPERATOR, "default", start, end)


def test_a_range_of_366_days_is_answered():
    assert len(region().app.usage.report(OPERATOR, "default", "2024-01-01", "2024-12-31")["days"]) == 366
