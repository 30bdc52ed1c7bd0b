"""Notifications with in-memory ports: one event per change (re-fired triggers, two regions), retries
with backoff until the horizon then a dead letter, replay with the same id, the wait for the
transcript and its hook, takeover of another region's events, and what people read."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from shared.adapters.outbox import config_to_doc, event_to_doc
from shared.adapters.webhook import SafeWebhookSender, signed_headers
from shared.domain.commands import PutMailbox
from shared.domain.errors import (
    EventNotDeadLettered,
    Forbidden,
    InvalidWebhookUrl,
    NotFound,
    TooManyRequests,
    VerificationFailed,
)
from shared.domain.model import MailboxSettings, utcnow
from shared.domain.notifications import (
    Delivery,
    NotificationConfig,
    PutNotifications,
    Schedule,
    address_problem,
    email_for,
    message_event,
    mwi_event,
    sms_for,
    url_problem,
)
from shared.domain.principal import PLATFORM, Principal
from shared.domain.tenants import Budgets, Tenant
from shared.domain.verification import VerifyTarget
from shared.ports import DeliveryFailed
from shared.services.budgets import TenantBudgets
from shared.services.messages import Sender
from shared.services.mwi import Mwi
from shared.services.notifications import NotificationService
from shared.services.pipeline import AudioPipeline
from shared.services.renditions import Renditions
from shared.services.replication import Regions
from shared.services.writes import WriteBudget
from shared.telemetry import Telemetry
from tests.unit.fakes import (
    CONTAINERS,
    FakeAudio,
    FakeEvents,
    FakeGreetings,
    FakeOutbox,
    FakeReplicationRequests,
    FakeStore,
    FakeTranscoder,
    hand_mailboxes,
)
from tests.unit.fakes import FakeMailer as Mailer
from tests.unit.fakes import FakeSms as Texts
from tests.unit.fakes import FakeWebhooks as Webhooks
from tests.unit.fakes_tenants import FakeTenants
from tests.unit.services.wiring import announcing_ledger, message_use_cases

MAILBOX = "+1555"
SUBSCRIBER = Principal("subscriber", MAILBOX)


class Delays:
    """The service's telemetry: each delivery's delay since due, event type, target kind and outcome."""

    def __init__(self):
        self.seen: list[tuple[float, str, str, str]] = []

    def notified(self, delay_s, event_type, target_kind, *, delivered, bound_s):
        outcome = "dead" if not delivered else "on_time" if delay_s <= bound_s else "late"
        self.seen.append((delay_s, event_type, target_kind, outcome))


class Clock:
    """utcnow for the service, moved by the test."""

    def __init__(self, monkeypatch):
        self.now = datetime.now(UTC) + timedelta(seconds=1)  # after the events the test records
        monkeypatch.setattr("shared.services.notifications.utcnow", lambda: self.now)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def world(monkeypatch):
    store, greetings, transcoder = FakeStore(), FakeGreetings(), FakeTranscoder()
    audio, telemetry = FakeAudio(store), Telemetry("r1")
    mwi = Mwi(store, FakeEvents())
    mailboxes = hand_mailboxes(store, mwi)
    mailboxes.put(PLATFORM, MAILBOX, PutMailbox(displayName="Ann", settings=MailboxSettings(
        maxMessageSeconds=60, timeZone="Europe/Paris")))
    ledger = announcing_ledger(store, "r1", FakeEvents())
    messages = message_use_cases(store, audio, mailboxes, ledger, telemetry=telemetry)
    outbox, webhooks, mailer, texts, delays = FakeOutbox(store), Webhooks(), Mailer(), Texts(), Delays()
    tenants = FakeTenants()
    budgets = TenantBudgets(tenants)  # one for the deployment's dispatchers, as one process holds

    def service(region="r1", wait=0.0):
        regions = Regions(region, audio, {})
        return NotificationService(
            outbox, store, regions, webhooks, mailer, texts, region,
            Schedule(first_s=10, cap_s=60, horizon_s=300), transcript_wait=timedelta(seconds=wait),
            takeover_after=timedelta(seconds=600), allow_loopback=True,
            trash=lambda m, i: messages.delete(PLATFORM, m, i, purge=False),
            renditions=Renditions(regions, transcoder, True, store, Telemetry(region)), telemetry=delays,
            writes=WriteBudget(store, region), budgets=budgets)

    return {"store": store, "mailboxes": mailboxes, "messages": messages, "outbox": outbox, "webhooks": webhooks,
            "tenants": tenants, "budgets": budgets,
            "mailer": mailer, "texts": texts, "service": service, "clock": Clock(monkeypatch), "delays": delays,
            "pipeline": AudioPipeline(store, store, greetings, audio, transcoder, ledger, "r1", normalize=True,
                                      containers=CONTAINERS, replication=FakeReplicationRequests(),
                                      telemetry=telemetry, transcripts=None, journal=None)}


def ready_message(world) -> str:
    sender = Sender("+15557654321", "Bob", urgent=False)
    message_id = world["messages"].deposit(PLATFORM, MAILBOX, b"hello audio", "audio/wav", sender, None)[0]["id"]
    assert world["pipeline"].process(f"incoming/{MAILBOX}/{message_id}", b"hello audio") == "ready"
    return message_id


def configure(world, *targets, delete_after_email=False):
    command = PutNotifications.model_validate({"targets": list(targets), "deleteAfterEmail": delete_after_email})
    return world["service"]().configure(PLATFORM, MAILBOX, command)


def kinds(world):
    return sorted(e.type for e in world["store"].events.values())


def test_a_ready_message_records_one_event_however_often_its_trigger_fires(world):
    message_id = ready_message(world)
    world["pipeline"].process(f"incoming/{MAILBOX}/{message_id}", b"hello audio")  # the blob trigger again
    assert kinds(world) == ["message.ready", "mwi.changed"]  # the deposit changed the counts; ready did not
    # Another region finishing the same message (a takeover) records the same id: one event.
    mine = message_event(MAILBOX, message_id, "ready", "r1", utcnow())
    theirs = message_event(MAILBOX, message_id, "ready", "r2", utcnow() + timedelta(seconds=3))
    assert mine.id == theirs.id and (MAILBOX, mine.id) in world["store"].events


def test_a_webhook_is_retried_with_the_same_id_until_it_is_taken(world):
    configure(world, {"kind": "webhook", "url": "https://hooks.example.com/vm"})
    ready_message(world)
    webhooks, clock, service = world["webhooks"], world["clock"], world["service"]()
    webhooks.failing = True
    assert service.dispatch() == {"pending": 2}
    assert service.dispatch() == {}  # nothing due before the backoff
    clock.advance(10)
    webhooks.failing = False
    assert service.dispatch() == {"done": 2}
    ids = [webhook_id for _, webhook_id, body in webhooks.sent if b"message.ready" in body]
    assert len(ids) == 2 and len(set(ids)) == 1
    clock.advance(3600)
    assert service.dispatch() == {}  # delivered: never again


def feed(world) -> list[dict]:
    """What the change feed brings: every event as stored now, among documents of other kinds."""
    return [{"id": "m1", "mailboxId": MAILBOX, "type": "message"},
            *(event_to_doc(e) | {"_etag": e.etag} for e in world["store"].events.values())]


def test_the_change_feed_sends_this_regions_due_events_at_once_and_leaves_the_rest_to_the_sweep(world):
    configure(world, {"kind": "webhook", "url": "https://hooks.example.com/vm"})
    ready_message(world)
    webhooks, clock, brought = world["webhooks"], world["clock"], feed(world)
    assert world["service"]("r2").dispatch_changed(brought) == {}  # another region's events: not r2's
    assert world["service"]().dispatch_changed(brought) == {"done": 2}  # message.ready and mwi.changed
    assert sorted(json.loads(body)["type"] for _, _, body in webhooks.sent) == ["message.ready", "mwi.changed"]
    # The same versions again (a feed read twice, or a lease moving): their claims fail, nothing is sent twice.
    assert world["service"]().dispatch_changed(brought) == {"claimed elsewhere": 2}
    assert len(webhooks.sent) == 2
    # A failed delivery is due later: the feed brings its new version, the sweep sends it when due.
    ready_message(world)
    webhooks.failing = True
    assert world["service"]().dispatch_changed(feed(world)) == {"pending": 2}
    webhooks.failing = False
    assert world["service"]().dispatch_changed(feed(world)) == {}
    clock.advance(10)
    assert world["service"]().dispatch() == {"done": 2}
    # Each delivery's delay since its event was made: what the notification-delay SLO is measured by.
    assert sorted((kind, target, outcome) for _, kind, target, outcome in world["delays"].seen) == [
        ("message.ready", "webhook", "on_time"), ("message.ready", "webhook", "on_time"),
        ("mwi.changed", "webhook", "on_time"), ("mwi.changed", "webhook", "on_time")]
    assert all(0 <= delay < 5 for delay, *_ in world["delays"].seen[:2])
    assert all(delay >= 10 for delay, *_ in world["delays"].seen[2:])  # the retried ones waited their backoff


def test_a_round_sends_up_to_its_limit_and_each_mailboxs_events_in_order(world):
    configure(world, {"kind": "webhook", "url": "https://hooks.example.com/vm"})
    for _ in range(4):
        ready_message(world)
    service = world["service"]()
    # The 3 oldest (lamp, ready, lamp): the first lamp state is replaced by the second, unsent.
    assert service.dispatch(limit=3) == {"superseded": 1, "done": 2}
    assert service.dispatch() == {"superseded": 1, "done": 4}
    created = {event.id: event.created_at for event in world["store"].events.values()}
    sent = [webhook_id for _, webhook_id, _ in world["webhooks"].sent]
    assert len(sent) == 6 and sent == sorted(sent, key=lambda event_id: created[event_id])


def test_a_tenants_notifications_beyond_its_hour_are_delayed_never_dropped(world):
    clock = world["clock"]
    world["budgets"]._clock = lambda: clock.now.timestamp()  # noqa: PLW0108 - the budget's hour, the test's clock
    world["tenants"].tenants["default"] = Tenant("default", "Default", Budgets(notificationsPerHour=3),
                                                 clock.now, clock.now)
    configure(world, {"kind": "webhook", "url": "https://hooks.example.com/vm"})
    for _ in range(3):
        ready_message(world)
    service = world["service"]()
    outcomes = service.dispatch()
    assert len(world["webhooks"].sent) == 3 and outcomes.get("over budget", 0) >= 1
    waiting = [e for e in world["store"].events.values() if e.status == "pending"]
    assert waiting and all(e.due_at > clock.now + timedelta(minutes=50) for e in waiting)  # the hour's end
    clock.advance(30 * 60)
    service.dispatch()
    assert len(world["webhooks"].sent) == 3  # still within the hour: nothing more, nothing lost
    clock.advance(31 * 60)
    service.dispatch()
    events = list(world["store"].events.values())
    assert all(e.status == "done" for e in events)  # every one settled: delivered, or superseded unsent
    delivered = {e.id for e in events if any(d.done for d in e.deliveries.values())}
    assert sorted(webhook_id for _, webhook_id, _ in world["webhooks"].sent) == sorted(delivered)
    assert len(delivered) > 3


def flood_the_lamp(world, toggles: int, first: int = 1) -> list:
    """`toggles` count changes of MAILBOX recorded before anything else, as a subscriber toggling
    `heard` leaves them: one `mwi.changed` each, the last one the lamp's state now."""
    began = utcnow() - timedelta(seconds=60)
    return [world["outbox"].save_event(mwi_event(MAILBOX, "r1", seq, {"new": seq % 2, "saved": 1, "urgentNew": 0},
                                                 "r1", began + timedelta(milliseconds=seq)))
            for seq in range(first, first + toggles)]


def test_one_mailboxs_flood_of_lamp_states_delays_no_other_mailboxs_message_ready(world):
    configure(world, {"kind": "webhook", "url": "https://hooks.example.com/flooded"})
    flood = flood_the_lamp(world, 500)
    others = [f"+1600{n:03d}" for n in range(50)]
    sender = Sender("+15557654321", "Bob", urgent=False)
    for other in others:
        world["mailboxes"].put(PLATFORM, other, PutMailbox(displayName="Other"))
        world["service"]().configure(PLATFORM, other, PutNotifications.model_validate(
            {"targets": [{"kind": "webhook", "url": f"https://hooks.example.com/{other}"}]}))
        message_id = world["messages"].deposit(PLATFORM, other, b"hello audio", "audio/wav", sender, None)[0]["id"]
        world["pipeline"].process(f"incoming/{other}/{message_id}", b"hello audio")
    service, webhooks = world["service"](), world["webhooks"]

    def sent(url_end, kind):
        return [json.loads(body) for url, _, body in webhooks.sent if url.endswith(url_end) and kind.encode() in body]

    rounds = 0
    while not all(sent(f"/{other}", "message.ready") for other in others):
        service.dispatch()
        rounds += 1
        assert rounds < 10
    assert rounds == 1  # the 500 older events of one mailbox did not push anyone's message.ready back
    while world["outbox"].due("r1", world["clock"].now, world["clock"].now, 1000):
        service.dispatch()
        rounds += 1
        assert rounds < 10  # superseded lamp states are settled a page at a time, not one a round
    lamp = sent("/flooded", "mwi.changed")
    assert lamp[-1]["data"] == flood[-1].data  # the latest state always goes out
    assert len(lamp) <= rounds  # at most one lamp state a round, not one a toggle
    assert all(world["store"].events[(MAILBOX, e.id)].status == "done" for e in flood)
    assert all(len(sent(f"/{other}", "message.ready")) == 1 for other in others)


def test_the_latest_lamp_state_is_retried_until_taken_after_it_superseded_the_others(world):
    configure(world, {"kind": "webhook", "url": "https://hooks.example.com/vm"})
    flood = flood_the_lamp(world, 5)
    service, webhooks, clock = world["service"](), world["webhooks"], world["clock"]
    webhooks.failing = True
    assert service.dispatch() == {"superseded": 4, "pending": 1}
    clock.advance(10)
    webhooks.failing = False
    assert service.dispatch() == {"done": 1}
    assert [webhook_id for _, webhook_id, _ in webhooks.sent] == [flood[-1].id, flood[-1].id]
    # The change feed coalesces too: of what it brings at once, the latest lamp state alone is sent.
    more = flood_the_lamp(world, 3, first=6)
    assert service.dispatch_changed(feed(world)) == {"superseded": 2, "done": 1}
    assert webhooks.sent[-1][1] == more[-1].id


def test_an_event_that_fails_is_tried_once_a_round_and_stays_due(world):
    configure(world, {"kind": "webhook", "url": "https://hooks.example.com/vm"})
    ready_message(world)
    service = world["service"]()
    world["outbox"].save_event = lambda event: (_ for _ in ()).throw(RuntimeError("Cosmos said no"))
    assert service.dispatch() == {"error": 2}
    assert service.dispatch() == {"error": 2}  # still due: the next round tries again


def test_a_slow_target_does_not_hold_up_another_mailboxs_events(world):
    configure(world, {"kind": "webhook", "url": "https://hooks.example.com/slow"})
    other = "+1666"
    world["mailboxes"].put(PLATFORM, other, PutMailbox(displayName="Other"))
    world["service"]().configure(PLATFORM, other, PutNotifications.model_validate(
        {"targets": [{"kind": "webhook", "url": "https://hooks.example.com/fast"}]}))
    ready_message(world)
    sender = Sender("+15557654321", "Bob", urgent=False)
    other_id = world["messages"].deposit(PLATFORM, other, b"hello audio", "audio/wav", sender, None)[0]["id"]
    world["pipeline"].process(f"incoming/{other}/{other_id}", b"hello audio")
    fast_sent = threading.Event()
    webhooks = world["webhooks"]

    def send(url, secret, webhook_id, body):
        webhooks.sent.append((url, webhook_id, body))
        if url.endswith("/fast"):
            fast_sent.set()
        elif not fast_sent.wait(5):  # the slow mailbox waits for the other one to be served
            raise DeliveryFailed("the fast mailbox was held up behind the slow one")

    webhooks.send = send
    assert world["service"]().dispatch() == {"done": 4}


def test_an_event_that_keeps_failing_is_dead_lettered_after_the_horizon_then_replayed(world):
    configure(world, {"kind": "webhook", "url": "https://hooks.example.com/vm"})
    ready_message(world)
    webhooks, clock, service = world["webhooks"], world["clock"], world["service"]()
    webhooks.failing = True
    rounds = 0
    while len(service.dead_letters(PLATFORM, 10, MAILBOX)["items"]) < 2:  # each event dies on its own schedule
        service.dispatch()
        clock.advance(30)
        rounds += 1
        assert rounds < 100
    letters = service.dead_letters(PLATFORM, 10, None)["items"]
    assert {d["type"] for d in letters} == {"message.ready", "mwi.changed"}
    assert all(d["deliveries"][0]["attempts"] >= 5 and d["deliveries"][0]["lastError"] == "answered 500"
               for d in letters)
    # Each given up on counts against the notification-delay SLO, as a delivery that never came.
    assert sorted((kind, outcome) for _, kind, _, outcome in world["delays"].seen) == [
        ("message.ready", "dead"), ("mwi.changed", "dead")]
    sent = len(webhooks.sent)
    webhooks.failing = False
    service.replay(PLATFORM, letters[0]["id"])
    service.dispatch()
    assert [w[1] for w in webhooks.sent[sent:]] == [letters[0]["id"]]  # the same id, once
    with pytest.raises(EventNotDeadLettered):
        service.replay(PLATFORM, letters[0]["id"])
    with pytest.raises(Forbidden):
        service.dead_letters(SUBSCRIBER, 10, MAILBOX)


def test_backoff_grows_with_jitter_up_to_its_cap_and_gives_up_after_the_horizon():
    schedule = Schedule(first_s=30, cap_s=3600, horizon_s=26 * 3600)
    rng = random.Random(7)
    steps = [schedule.retry_in(attempt, rng) for attempt in range(1, 12)]
    assert 15 <= steps[0] <= 30 and all(1800 <= s <= 3600 for s in steps[8:])
    assert len({round(s) for s in steps}) == len(steps)  # jittered: no two the same
    created = datetime(2026, 12, 1, tzinfo=UTC)
    event = message_event(MAILBOX, "m1", "ready", "r1", created)
    assert not schedule.exhausted(event, Delivery(30, created + timedelta(hours=23)))
    assert schedule.exhausted(event, Delivery(31, created + timedelta(hours=26, seconds=1)))


def test_ready_waits_for_the_transcript_at_most_the_wait_or_until_the_hook_says_it_settled(world, monkeypatch):
    configure(world, {"kind": "webhook", "url": "https://hooks.example.com/vm"})
    message_id = ready_message(world)
    transcript = {"status": "pending", "text": None}
    monkeypatch.setattr("shared.domain.model.Message.as_api", lambda self: {
        "id": self.id, "mailboxId": self.mailbox_id, "receivedAt": "2026-12-01T08:00:00Z", "from": {},
        "transcript": dict(transcript)})
    service, clock, webhooks = world["service"](wait=60), world["clock"], world["webhooks"]
    assert service.dispatch() == {"waiting for transcript": 1, "done": 1}  # mwi.changed goes at once
    clock.advance(5)
    assert service.dispatch() == {}
    transcript.update(status="ready", text="call me back")
    assert service.message_settled(MAILBOX, message_id) is True  # the transcript service's hook
    assert service.dispatch() == {"done": 1}
    [ready] = [w for w in webhooks.sent if b"message.ready" in w[2]]
    assert b"call me back" in ready[2]
    assert service.message_settled(MAILBOX, message_id) is False  # sent: nothing waits any more

    transcript.update(status="pending", text=None)
    other = ready_message(world)
    assert service.dispatch() == {"waiting for transcript": 1, "done": 1}
    clock.advance(61)  # no transcript came: the fallback sends it anyway
    assert service.dispatch() == {"done": 1}
    assert any(other.encode() in w[2] for w in webhooks.sent)


def test_another_region_takes_over_events_their_owner_left_undelivered(world):
    configure(world, {"kind": "webhook", "url": "https://hooks.example.com/vm"})
    ready_message(world)  # recorded by r1, which is then lost
    r2, clock = world["service"](region="r2"), world["clock"]
    assert r2.dispatch() == {}
    clock.advance(601)
    assert r2.dispatch() == {"done": 2}
    assert {e.owner for e in world["store"].events.values()} == {"r2"}


def test_email_and_sms_tell_a_person_in_the_mailbox_time_zone_and_delete_after_email_trashes(world):
    configure(world, {"kind": "email", "address": "ann@example.com", "attach": "mp3"},
              {"kind": "sms", "number": "+15550009999"}, delete_after_email=True)
    message_id = ready_message(world)
    world["service"]().dispatch()
    [mail] = world["mailer"].mails
    assert mail.to == "ann@example.com" and mail.subject == "New voicemail from Bob (+15557654321)"
    name, content_type, data = mail.attachment
    assert content_type == "audio/mpeg" and name.endswith(".mp3") and data
    received = world["messages"].get(PLATFORM, MAILBOX, message_id)["receivedAt"]
    local = datetime.fromisoformat(received.replace("Z", "+00:00")).astimezone(
        __import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert f"Received: {local.strftime('%Y-%m-%d %H:%M')} CET" in mail.text
    [(number, text)] = world["texts"].texts
    assert number == "+15550009999" and text.startswith("Voicemail from Bob (+15557654321)")
    assert world["messages"].get(PLATFORM, MAILBOX, message_id)["folder"] == "trash"


def test_transcripts_appear_in_the_email_and_the_first_140_characters_in_the_sms():
    message = {"from": {"number": "+15557654321", "name": None}, "receivedAt": "2026-07-01T12:00:00Z",
               "durationMs": 65_000, "urgent": True, "transcript": {"status": "ready", "text": "x" * 200}}
    subject, text = email_for(message, "Ann", "America/New_York")
    assert subject == "Urgent voicemail from +15557654321"
    assert "Received: 2026-07-01 08:00 EDT" in text and "Duration: 1:05" in text and "x" * 200 in text
    assert sms_for(message, "UTC") == "Voicemail from +15557654321, 2026-07-01 12:00 UTC: " + "x" * 140
    assert "Transcript" not in email_for({**message, "transcript": {"status": "failed"}}, "Ann", "UTC")[1]


def test_secrets_show_once_and_subscribers_manage_only_their_email_and_sms(world):
    hook = {"kind": "webhook", "url": "https://hooks.example.com/vm"}
    first = configure(world, hook)
    secret = first["targets"][0]["secret"]
    assert secret.startswith("whsec_") and len(secret) == 6 + 44
    assert "secret" not in configure(world, hook)["targets"][0]
    assert world["outbox"].configs[MAILBOX].targets[0]["secret"] == secret  # kept, for signing
    service = world["service"]()
    with pytest.raises(Forbidden):
        service.configure(SUBSCRIBER, MAILBOX, PutNotifications.model_validate({"targets": [hook]}))
    mine = service.configure(SUBSCRIBER, MAILBOX, PutNotifications.model_validate(
        {"targets": [{"kind": "sms", "number": "+15550001111"}]}))
    assert mine["targets"] == [{"kind": "sms", "number": "+15550001111", "verified": False}]
    assert service.show(PLATFORM, MAILBOX)["targets"] == [
        hook, {"kind": "sms", "number": "+15550001111", "verified": False}]
    with pytest.raises(InvalidWebhookUrl):
        service.configure(PLATFORM, MAILBOX, PutNotifications.model_validate(
            {"targets": [{"kind": "webhook", "url": "http://hooks.example.com/vm"}]}))


# -- target verification (API.md, "Budgets") ---------------------------------------------------

SMS = {"kind": "sms", "number": "+15550002222"}
MAIL = {"kind": "email", "address": "ann@example.com", "attach": "none"}


def subscriber_sets(world, *targets):
    return world["service"]().configure(SUBSCRIBER, MAILBOX, PutNotifications.model_validate({"targets": targets}))


def verify(world, code, **target):
    world["service"]().verify(SUBSCRIBER, MAILBOX, VerifyTarget(code=code, **target))


def last_code(text: str) -> str:
    return re.search(r"\b([0-9]{6})\b", text).group(1)


def test_a_subscribers_target_gets_one_hashed_code_and_nothing_else_until_it_is_confirmed(world):
    shown = subscriber_sets(world, SMS, MAIL)
    assert [t["verified"] for t in shown["targets"]] == [False, False]
    [(number, text)], [mail] = world["texts"].texts, world["mailer"].mails
    sms_code, mail_code = last_code(text), last_code(mail.text)
    assert number == SMS["number"] and mail.to == MAIL["address"] and mail.attachment is None
    stored = json.dumps(config_to_doc(world["outbox"].configs[MAILBOX]))
    assert sms_code not in stored and mail_code not in stored and "codeHash" in stored  # only its hash is kept

    ready_message(world)
    assert world["service"]().dispatch() == {"nothing to send": 2}  # unverified: no voicemail goes to them
    assert len(world["texts"].texts) == 1 and len(world["mailer"].mails) == 1

    wrong = "000000" if sms_code != "000000" else "111111"
    with pytest.raises(VerificationFailed) as failed:
        verify(world, wrong, number=SMS["number"])
    assert failed.value.problem().type == "verification-failed" and failed.value.problem().status == 422
    verify(world, sms_code, number=SMS["number"])
    verify(world, sms_code, number=SMS["number"])  # again: already verified, 204
    assert [t["verified"] for t in world["service"]().show(SUBSCRIBER, MAILBOX)["targets"]] == [True, False]
    ready_message(world)
    world["service"]().dispatch()
    assert len(world["texts"].texts) == 2 and world["texts"].texts[1][1].startswith("Voicemail from Bob")
    assert len(world["mailer"].mails) == 1  # the e-mail is still unverified
    subscriber_sets(world, SMS, MAIL)  # kept as they are: no new code, the SMS stays verified
    assert len(world["texts"].texts) == 2 and len(world["mailer"].mails) == 1
    with pytest.raises(NotFound):
        verify(world, sms_code, number="+15559990000")


def test_at_most_three_codes_a_day_go_to_one_target_then_429_with_retry_after(world):
    for _ in range(3):  # removing and adding it again does not reset its count
        subscriber_sets(world, SMS)
        subscriber_sets(world)
    with pytest.raises(TooManyRequests) as refused:
        subscriber_sets(world, SMS)
    assert refused.value.problem().type == "too-many-requests"
    assert 23 * 3600 < refused.value.retry_after_s <= 24 * 3600 + 1
    assert len(world["texts"].texts) == 3
    subscriber_sets(world, {"kind": "sms", "number": "+15550003333"})  # another target has its own count
    world["clock"].advance(24 * 3600 + 1)
    subscriber_sets(world, SMS)
    assert len(world["texts"].texts) == 5
    verify(world, last_code(world["texts"].texts[-1][1]), number=SMS["number"])


def test_five_wrong_tries_spend_a_code_and_an_expired_code_confirms_nothing(world):
    subscriber_sets(world, MAIL)
    code = last_code(world["mailer"].mails[-1].text)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        with pytest.raises(VerificationFailed):
            verify(world, wrong, address=MAIL["address"])
    with pytest.raises(VerificationFailed, match="set it again"):
        verify(world, code, address=MAIL["address"])  # spent: even the right code no longer works
    subscriber_sets(world, MAIL)  # a fresh code (the 2nd today)
    code = last_code(world["mailer"].mails[-1].text)
    world["clock"].advance(31 * 60)
    with pytest.raises(VerificationFailed):
        verify(world, code, address=MAIL["address"])
    subscriber_sets(world, MAIL)
    verify(world, last_code(world["mailer"].mails[-1].text), address=MAIL["address"])
    assert world["outbox"].configs[MAILBOX].targets[0]["verified"] is True
    with pytest.raises(ValueError):
        VerifyTarget(code="123456", address=MAIL["address"], number=SMS["number"])  # one target, not two


def test_platform_targets_are_verified_and_stored_ones_without_the_flag_keep_receiving(world):
    configure(world, SMS)
    assert world["texts"].texts == [] and configure(world, SMS)["targets"][0]["verified"] is True
    subscriber_sets(world, SMS, MAIL)  # the platform's SMS stays verified; the new e-mail gets a code
    assert world["texts"].texts == [] and len(world["mailer"].mails) == 1
    # Stored before verification existed: no flag. It keeps receiving (the platform's must not stop)...
    outbox = world["outbox"]
    outbox.configs[MAILBOX] = NotificationConfig(MAILBOX, ({**SMS},), etag=outbox.configs[MAILBOX].etag)
    ready_message(world)
    world["service"]().dispatch()
    assert len(world["texts"].texts) == 1 and world["texts"].texts[0][1].startswith("Voicemail from")
    # ...until a subscriber's PUT keeps it: then it is unverified and gets a code.
    assert subscriber_sets(world, SMS)["targets"][0]["verified"] is False
    assert len(world["texts"].texts) == 2 and last_code(world["texts"].texts[1][1])


@pytest.mark.parametrize("url", ["https://[::1/x", "https://hooks.example.com:99999/vm", "https://[::1]:70000/",
                                 "https://hooks.example.com:0/vm", "https://hooks.example.com:-1/vm",
                                 "https://hooks.example.com:http/vm"])
def test_a_malformed_webhook_url_or_a_port_outside_1_to_65535_is_a_422_not_a_crash(world, url):
    assert url_problem(url, allow_loopback_http=True)
    with pytest.raises(InvalidWebhookUrl) as refused:
        configure(world, {"kind": "webhook", "url": url})
    assert refused.value.status == 422 and refused.value.type == "invalid-webhook-url"
    with pytest.raises(DeliveryFailed):  # a target stored before this rule fails its delivery, never the dispatcher
        SafeWebhookSender(allow_loopback=True).send(url, "whsec_" + "A" * 43 + "=", "evt_1", b"{}")


@pytest.mark.parametrize("address", ["10.0.0.1", "192.168.1.1", "172.16.0.1", "169.254.169.254", "127.0.0.1",
                                     "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fd00::1", "::ffff:10.0.0.1",
                                     "224.0.0.1", "168.63.129.16", "::ffff:168.63.129.16", "2002:a9fe:a9fe::1",
                                     "2002:808:808::1", "2002::"])
def test_webhooks_never_reach_private_link_local_or_loopback_addresses_in_azure(address):
    assert address_problem(address, allow_loopback=False)


def test_public_addresses_and_https_are_allowed_and_loopback_http_only_locally():
    assert address_problem("8.8.8.8", allow_loopback=False) is None
    assert address_problem("2606:4700:4700::1111", allow_loopback=False) is None
    assert address_problem("127.0.0.1", allow_loopback=True) is None
    assert url_problem("https://hooks.example.com/vm", allow_loopback_http=False) is None
    assert url_problem("http://127.0.0.1:8080/vm", allow_loopback_http=False)
    assert url_problem("http://127.0.0.1:8080/vm", allow_loopback_http=True) is None
    assert url_problem("https://user:pw@hooks.example.com/", allow_loopback_http=False)
    assert url_problem("https://169.254.169.254/latest/meta-data", allow_loopback_http=False)  # refused at PUT
    assert url_problem("https://[fd00::1]/hook", allow_loopback_http=True)


def test_a_name_that_resolves_to_a_private_address_is_refused_before_any_connection(monkeypatch):
    monkeypatch.setattr("socket.getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("10.1.2.3", 443))])
    with pytest.raises(DeliveryFailed, match="not a public address"):
        SafeWebhookSender(allow_loopback=False).send("https://rebind.example.com/x", "whsec_" + "A" * 43 + "=",
                                                     "evt_1", b"{}")


def test_azures_host_address_and_6to4_are_refused_even_when_written_in_the_url():
    assert url_problem("https://168.63.129.16/machine?comp=goalstate", allow_loopback_http=True)
    assert url_problem("https://[2002:a9fe:a9fe::1]/hook", allow_loopback_http=False)
    assert address_problem("168.63.129.17", allow_loopback=False) is None  # its neighbours are ordinary addresses


def test_a_resolver_that_does_not_answer_is_a_failed_delivery_not_a_stuck_dispatcher(monkeypatch):
    release = threading.Event()
    monkeypatch.setattr("socket.getaddrinfo", lambda *a, **k: release.wait(30) and [])
    sender = SafeWebhookSender(allow_loopback=False, dns_timeout_s=0.2)
    started = time.monotonic()
    try:
        with pytest.raises(DeliveryFailed, match="did not resolve"):
            sender.send("https://slow-dns.example.com/x", "whsec_" + "A" * 43 + "=", "evt_1", b"{}")
        assert time.monotonic() - started < 2
    finally:
        release.set()


def test_the_signature_is_standard_webhooks():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"type":"mwi.changed","timestamp":"2026-12-01T08:00:00Z","data":{}}'
    headers = signed_headers(secret, "evt_0123", body, datetime.now(UTC))
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers) == {"type": "mwi.changed", "timestamp": "2026-12-01T08:00:00Z",
                                                     "data": {}}
