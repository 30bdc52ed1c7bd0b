"""Domain events: the handler table, the inline stage (the lamp right after a commit), and that
nothing in shared/ posts MWI but the table's handler."""

from __future__ import annotations

import ast
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.domain.commands import PatchMessage, PutMailbox, RequestUpload
from shared.domain.notifications import EVENT_TYPES, Event, message_event, mwi_event
from shared.domain.principal import PLATFORM
from shared.domain.replicated import Tally
from shared.services.events import (
    DELETE_AFTER_EMAIL,
    EMAIL,
    HANDLERS,
    MWI_QUEUE,
    SMS,
    WEBHOOK,
    Announcer,
    Committed,
    delivers_to,
)
from shared.services.messages import Sender
from tests.unit.fakes import fake_app

SHARED = Path(__file__).resolve().parents[3] / "shared"
NOW = datetime(2026, 12, 7, tzinfo=UTC)


def test_each_event_type_runs_its_handlers():
    assert HANDLERS == {
        "mwi.changed": (MWI_QUEUE, WEBHOOK),
        "message.ready": (MWI_QUEUE, WEBHOOK, EMAIL, SMS, DELETE_AFTER_EMAIL),
        "message.failed": (MWI_QUEUE, WEBHOOK),
    }
    assert set(HANDLERS) == set(EVENT_TYPES)
    assert [h for row in HANDLERS.values() for h in row if h.stage == "inline"] == [MWI_QUEUE] * 3


@pytest.mark.parametrize(("event_type", "target", "sent"), [
    ("mwi.changed", {"kind": "webhook", "url": "https://a.example"}, True),
    ("mwi.changed", {"kind": "email", "address": "a@b.example"}, False),  # a person hears of messages, not lamps
    ("message.failed", {"kind": "sms", "number": "+15550001111"}, False),
    ("message.ready", {"kind": "email", "address": "a@b.example"}, True),  # stored before verification: verified
    ("message.ready", {"kind": "sms", "number": "+15550001111", "verified": False}, False),
    ("message.ready", {"kind": "sms", "number": "+15550001111", "verified": True}, True),
])
def test_the_dispatcher_sends_to_the_targets_the_table_names(event_type, target, sent):
    assert delivers_to(event_type, target) is sent


def _lamp_event(mailbox_id: str, seq: int) -> Event:
    return mwi_event(mailbox_id, "r1", seq, {"new": seq, "saved": 0, "urgentNew": 0}, "r1", NOW)


def test_a_batch_lights_the_lamp_once_whatever_it_recorded():
    posted = []
    announcer = Announcer({MWI_QUEUE: lambda mailbox_id, counts: posted.append((mailbox_id, counts.new))})
    failed = message_event("+1555", "m1", "failed", "r1", NOW)
    announcer.committed(Committed("+1555", (failed, _lamp_event("+1555", 1)), Tally(new=0)))
    assert posted == [("+1555", 0)]
    announcer.committed(Committed("+1555", (), Tally(new=3)))  # a batch that recorded nothing: no post
    assert posted == [("+1555", 0)]


def test_held_batches_light_each_lamp_once_with_the_last_counts():
    posted = []
    announcer = Announcer({MWI_QUEUE: lambda mailbox_id, counts: posted.append((mailbox_id, counts.new))})
    with announcer.held():
        for seq in (1, 2, 3):
            announcer.committed(Committed("+1555", (_lamp_event("+1555", seq),), Tally(new=seq)))
        announcer.committed(Committed("+1666", (_lamp_event("+1666", 1),), Tally(new=1)))
        assert posted == []
    assert sorted(posted) == [("+1555", 3), ("+1666", 1)]


def test_a_failed_post_is_logged_and_the_change_stands(caplog):
    def refuse(mailbox_id: str, counts: Tally) -> None:
        raise ConnectionError("queue down")

    with caplog.at_level(logging.ERROR):
        Announcer({MWI_QUEUE: refuse}).committed(Committed("+1555", (_lamp_event("+1555", 1),), Tally(new=1)))
    assert "mwi-queue for +1555 not run" in caplog.text


@pytest.fixture
def region():
    region = fake_app()
    region.app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="A"))
    return region


def test_trashing_a_heard_message_changes_the_total_so_the_lamp_and_the_outbox_hear_of_it(region):
    message, _ = region.app.messages.deposit(PLATFORM, "+1555", b"RIFF", "audio/wav", Sender(None, None, False), None)
    region.app.messages.patch(PLATFORM, "+1555", message["id"], PatchMessage(heard=True), None)
    lamps = len([e for e in region.store.events.values() if e.type == "mwi.changed"])
    posts = len(region.events.events)
    region.app.messages.delete(PLATFORM, "+1555", message["id"], purge=False)
    assert len(region.events.events) == posts + 1 and region.events.events[-1]["new"] == 0
    assert len([e for e in region.store.events.values() if e.type == "mwi.changed"]) == lamps + 1


def test_a_promised_upload_holds_room_without_a_lamp(region):
    region.app.messages.request_upload(PLATFORM, "+1555", RequestUpload(contentType="audio/wav", sizeBytes=100), None)
    assert region.events.events == []
    assert [e.type for e in region.store.events.values()] == []


# -- nothing posts MWI by hand ------------------------------------------------------------------

ALLOWED = {"publish_mwi": {"services/mwi.py"}}  # the queue adapter's call, in the table's handler


def hand_posts(source: str, where: str) -> list[str]:
    """Calls in source that post MWI outside the handler table: `publish_mwi` anywhere but the MWI
    handler, and any call on an object named like the MWI service other than reading counts."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name, owner = node.func.attr, ast.unparse(node.func.value).lower()
        if (name == "publish_mwi" and where not in ALLOWED["publish_mwi"]) or ("mwi" in owner and name != "counts"):
            found.append(f"{where}:{node.lineno} {ast.unparse(node.func)}")
    return found


def test_the_check_finds_a_hand_made_post():
    assert hand_posts("self._mwi.changed(mailbox_id, counts)", "services/x.py") == [
        "services/x.py:1 self._mwi.changed"]
    assert hand_posts("self._events.publish_mwi({})", "services/x.py") == ["services/x.py:1 self._events.publish_mwi"]
    assert hand_posts("self._mwi.counts(mailbox_id)", "services/x.py") == []


def test_nothing_in_shared_posts_mwi_but_the_table():
    found = [hit for path in sorted(SHARED.rglob("*.py"))
             for hit in hand_posts(path.read_text(), path.relative_to(SHARED).as_posix())]
    assert found == []



def test_an_announcer_without_a_function_for_an_inline_handler_is_refused():
    with pytest.raises(ValueError, match="mwi-queue"):
        Announcer({})
