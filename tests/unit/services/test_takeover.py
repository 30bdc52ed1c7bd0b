"""A region's replication sweep takes over messages another region acknowledged and never
transcoded: it copies their original here (where its own blob trigger transcodes it), once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from shared.domain.commands import PutMailbox
from shared.domain.model import utcnow
from shared.domain.principal import PLATFORM
from shared.services.ledger import Ledger
from shared.services.messages import Sender
from shared.services.replication import Regions
from tests.unit.fakes import FakeAudio, FakeSweepStore, fake_app


@pytest.fixture
def world():
    """A message deposited in region b (its original in b's storage), still processing; we are a."""
    store = FakeSweepStore()  # one Cosmos account; each region its own storage
    here, there = FakeAudio(store), FakeAudio(store)
    a = fake_app("a", store=store, audio=here, peers={"b": there}, TAKEOVER_AFTER_SECONDS="600")
    b = fake_app("b", store=store, audio=there, peers={"a": here})
    b.app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="A"))
    message_id = b.app.messages.deposit(PLATFORM, "+1555", b"audio", "audio/wav", Sender(None, None, False),
                                        "k1")[0]["id"]
    return {"store": a.store, "here": a.audio, "there": b.audio, "id": message_id, "key": ("+1555", message_id),
            "takeover": a.app.takeover, "a": a}


def age(world, minutes: float) -> None:
    store = world["store"]
    store.messages[world["key"]] = replace(store.messages[world["key"]],
                                           received_at=utcnow() - timedelta(minutes=minutes))


def test_a_message_processing_too_long_in_another_region_is_copied_here_once(world):
    assert world["takeover"].find_stalled(None, 10, []) == []  # just deposited: b is on it
    age(world, 11)
    stalled = world["takeover"].find_stalled(None, 10, [])
    assert [(m["id"], m["mailboxId"]) for m in stalled] == [(world["id"], "+1555")]
    assert world["takeover"].find_stalled(stalled[0]["receivedAt"], 10, []) == []  # past the sweep's cursor
    assert world["takeover"].take_over("+1555", world["id"]) == 1
    path = f"incoming/+1555/{world['id']}"
    assert world["here"].blobs[path] == b"audio"  # here, where this region's blob trigger sees it
    assert world["takeover"].take_over("+1555", world["id"]) == 0  # again: already here


def test_a_message_finished_meanwhile_or_deposited_here_is_left_alone(world):
    age(world, 11)
    store = world["store"]
    store.messages[world["key"]] = replace(store.messages[world["key"]], status="ready")
    assert world["takeover"].find_stalled(None, 10, []) == []
    assert world["takeover"].take_over("+1555", world["id"]) == 0
    store.messages[world["key"]] = replace(store.messages[world["key"]], status="processing", deposit_region="a")
    assert world["takeover"].find_stalled(None, 10, []) == []  # our own: our blob trigger's retries cover it


def test_a_promised_upload_that_never_landed_is_not_taken_over(world):
    age(world, 11)
    world["there"].blobs.clear()
    assert world["takeover"].take_over("+1555", world["id"]) == 0
    assert world["here"].blobs == {}


def test_after_a_takeover_the_renditions_are_copied_back_to_the_depositing_region(world):
    """Only the taker holds the renditions: the message must count one region, not two, so
    replication copies them to the region that had only the original."""
    from shared.services.replication import ReplicationService
    from shared.telemetry import Telemetry

    age(world, 11)
    world["takeover"].take_over("+1555", world["id"])
    store, here, there = world["store"], world["here"], world["there"]
    pipeline = world["a"].app.pipeline
    assert pipeline.process(f"incoming/+1555/{world['id']}", b"audio") == "ready"
    assert store.messages[world["key"]].replica_regions == ("a",)
    replication = ReplicationService(store, Regions("a", here, {"b": there}), 2, Telemetry(), Ledger(store, "a", None))
    assert [m["id"] for m in replication.find_under_replicated(10, [])] == [world["id"]]
    assert replication.replicate("+1555", world["id"]) == 1
    assert there.blobs[f"audio/+1555/{world['id']}/opus"] == here.blobs[f"audio/+1555/{world['id']}/opus"]
