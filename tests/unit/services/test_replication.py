"""Replication copies audio to regions that lack it, up to replicaCount, once; reads fall back to
a region that holds the audio when this one does not (yet)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.domain.commands import PutMailbox
from shared.domain.principal import PLATFORM
from shared.services.ledger import Ledger
from shared.services.messages import Sender
from shared.services.mwi import Mwi
from shared.services.replication import Regions, ReplicationService
from shared.telemetry import Telemetry
from tests.unit.fakes import FakeAudio, FakeEvents, FakeStore, hand_mailboxes
from tests.unit.services.wiring import message_use_cases


@pytest.fixture
def world():
    store = FakeStore()
    here, there, third = FakeAudio(store), FakeAudio(store), FakeAudio(store)
    mwi = Mwi(store, FakeEvents())
    mailboxes = hand_mailboxes(store, mwi, "a")
    mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="A"))
    regions = Regions("a", here, {"b": there, "c": third})
    messages = message_use_cases(store, here, mailboxes, Ledger(store, "a", None), regions)
    message_id = messages.deposit(PLATFORM, "+1555", b"audio", "audio/wav", Sender(None, None, False), None)[0]["id"]
    key = ("+1555", message_id)
    store.messages[key] = replace(store.messages[key], status="ready")  # as the pipeline leaves it
    return {"store": store, "here": here, "there": there, "third": third, "regions": regions,
            "messages": messages, "id": message_id, "key": key}


def test_copies_to_one_more_region_for_two_replicas_and_only_once(world):
    replication = ReplicationService(world["store"], world["regions"], 2, Telemetry(),
                                     Ledger(world["store"], "a", None))
    assert replication.find_under_replicated(10, []) == [{"id": world["id"], "mailboxId": "+1555"}]
    assert replication.replicate("+1555", world["id"]) == 1
    path = f"incoming/+1555/{world['id']}"
    assert world["there"].blobs[path] == b"audio" and path not in world["third"].blobs
    assert world["store"].messages[world["key"]].replica_regions == ("a", "b")
    assert replication.find_under_replicated(10, []) == []
    assert replication.replicate("+1555", world["id"]) == 0


def test_processing_messages_are_not_replicated(world):
    store = world["store"]
    store.messages[world["key"]] = replace(store.messages[world["key"]], status="processing")
    replication = ReplicationService(store, world["regions"], 2, Telemetry(), Ledger(store, "a", None))
    assert replication.replicate("+1555", world["id"]) == 0


def test_replica_count_is_capped_by_the_regions_there_are(world):
    replication = ReplicationService(world["store"], Regions("a", world["here"], {}), 3, Telemetry(),
                                     Ledger(world["store"], "a", None))
    assert replication.wanted == 1 and replication.find_under_replicated(10, []) == []


def test_reads_fall_back_to_a_region_that_holds_the_audio(world):
    replication = ReplicationService(world["store"], world["regions"], 2, Telemetry(),
                                     Ledger(world["store"], "a", None))
    replication.replicate("+1555", world["id"])
    world["here"].blobs.clear()  # this region lost its copy (or never had it)
    answer = world["messages"].audio(PLATFORM, "+1555", world["id"], "original", None, False)
    assert answer.data == b"audio"
