"""The usage facts' rules (shared/domain/usage.py): what a write counts, that the same occurrence is
always the same fact (so a retry or another region adds nothing), and how a report sums them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from shared.domain.model import Message
from shared.domain.notifications import Delivery, Event
from shared.domain.transcripts import Transcript
from shared.domain.usage import UsageFact, days, delivery_facts, message_facts

NIGHT = datetime(2026, 12, 6, 23, 59, 59, tzinfo=UTC)  # received just before midnight: billed on the 6th
MESSAGE = Message("m1", "acme~+15551234567", NIGHT, "r1", duration_ms=4200)


def fields(facts: list[UsageFact]) -> list[tuple[str, int, str]]:
    return [(f.field, f.amount, f.day) for f in facts]


def test_a_creation_counts_a_deposit_and_a_ready_write_its_audio_on_the_day_it_was_received():
    assert fields(message_facts(MESSAGE, created=True)) == [("deposits", 1, "2026-12-06")]
    ready = replace(MESSAGE, status="ready")
    became_ready = message_facts(ready, created=False, changed=["status"])
    assert fields(became_ready) == [("deposits", 1, "2026-12-06"), ("audioSeconds", 4200, "2026-12-06")]
    assert became_ready[0] == message_facts(MESSAGE, created=True)[0]  # the creation's fact again: counted once
    assert message_facts(ready, created=False, changed=["heard"]) == []  # any later write counts nothing
    assert fields(message_facts(replace(MESSAGE, status="failed"), created=False, changed=["status"])) == [
        ("deposits", 1, "2026-12-06")]  # a deposit that failed decoding was still a deposit: no audio seconds
    assert {f.tenant for f in message_facts(ready, created=True)} == {"acme"}


def test_only_a_ready_transcript_counts_and_the_same_occurrence_is_always_the_same_fact():
    ready = replace(MESSAGE, status="ready", transcript=Transcript("ready", "en-US", "call me", 0.9))
    first = message_facts(ready, created=False, changed=("transcript",))
    assert fields(first) == [("transcriptionSeconds", 4200, "2026-12-06")]
    assert message_facts(replace(ready, clocks={"transcript": ("later", "r2")}), created=False,
                         changed=("transcript",)) == first  # written again, in another region: the same
    failed = replace(ready, transcript=Transcript("failed", "en-US", error="no-speech"))
    assert message_facts(failed, created=False, changed=("transcript",)) == []


def test_deliveries_count_when_done_one_fact_per_event_and_target():
    event = Event("e1", "+1555", "message.ready", NIGHT + timedelta(seconds=2), NIGHT, "r1", deliveries={
        "webhook-aa": Delivery(3, None, None, True), "email-bb": Delivery(1, None, None, True),
        "sms-cc": Delivery(2, NIGHT, "busy", False)})
    facts = delivery_facts(event)
    assert sorted(fields(facts)) == [("emails", 1, "2026-12-07"), ("webhooks", 1, "2026-12-07")]
    assert delivery_facts(replace(event, etag="x", status="done")) == facts  # saved again: the same facts
    assert len({f.id for f in facts}) == 2


def test_a_report_sums_each_day_counts_a_fact_once_and_gives_seconds():
    facts = [UsageFact("d1", "+1", "2026-12-01", "deposits", 1), UsageFact("d1", "+1", "2026-12-01", "deposits", 1),
             UsageFact("a1", "+1", "2026-12-01", "audioSeconds", 1500),
             UsageFact("a2", "+2", "2026-12-01", "audioSeconds", 250),
             UsageFact("d9", "+1", "2026-12-09", "deposits", 1)]  # outside the range
    assert days(facts, "2026-12-01", "2026-12-02") == [
        {"date": "2026-12-01", "deposits": 1, "audioSeconds": 1.75, "transcriptionSeconds": 0, "emails": 0, "sms": 0,
         "webhooks": 0},
        {"date": "2026-12-02", "deposits": 0, "audioSeconds": 0, "transcriptionSeconds": 0, "emails": 0, "sms": 0,
         "webhooks": 0}]


def test_a_forwards_copy_counts_its_deposit_and_audio_but_no_transcription():
    """The copy is created ready with its source's transcript: stored in the target mailbox (a
    deposit, its audio seconds), transcribed by no one."""
    copy = replace(MESSAGE, id="m2", status="ready", transcript=Transcript("ready", "en-US", "call me", 0.9))
    assert fields(message_facts(copy, created=True)) == [("deposits", 1, "2026-12-06"),
                                                         ("audioSeconds", 4200, "2026-12-06")]


def test_a_delivery_stays_on_the_day_it_was_done_when_its_dead_letter_is_replayed_later():
    """A dead letter's replay starts the event's clock again (its retry horizon); the delivery that
    had already gone stays billed on its own day, the one that goes on replay on the replay's."""
    from shared.domain.notifications import replayed

    event = Event("e1", "acme~+15551234567", "message.ready", NIGHT, NIGHT, "r1", deliveries={
        "webhook-aa": Delivery(1, None, None, True, NIGHT), "webhook-bb": Delivery(9, None, "503", False)})
    later = NIGHT + timedelta(days=20)
    again = replayed(event, later)
    again = replace(again, deliveries={**again.deliveries, "webhook-bb": Delivery(1, None, None, True, later)})
    assert sorted(f.day for f in delivery_facts(again)) == ["2026-12-06", "2026-12-26"]
    assert {f.id for f in delivery_facts(event)} < {f.id for f in delivery_facts(again)}  # the first: the same fact


def test_an_upload_links_message_counts_once_its_audio_lands_and_never_for_a_link_left_unused():
    promised = replace(MESSAGE, upload_pending=True)
    assert message_facts(promised, created=True) == []  # the link: nothing yet
    assert message_facts(promised.tombstone(NIGHT), created=False, changed=["status", "expiry"]) == []  # unused
    landed = replace(promised, upload_pending=False, status="ready")
    assert fields(message_facts(landed, created=False, changed=["status"])) == [
        ("deposits", 1, "2026-12-06"), ("audioSeconds", 4200, "2026-12-06")]
    failed = replace(promised, upload_pending=False, status="failed")
    assert fields(message_facts(failed, created=False, changed=["status"])) == [("deposits", 1, "2026-12-06")]
