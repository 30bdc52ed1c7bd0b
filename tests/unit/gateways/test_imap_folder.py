"""A session's view of a folder: what it tells the client when the mailbox changes underneath."""

from __future__ import annotations

import pytest
from twisted.mail.imap4 import collapseNestedLists, getEnvelope

from gateways.imap.api import User
from gateways.imap.folders import Folder, Item, Mail
from gateways.imap.mime import VoiceMail

CREATED = "2026-12-01T08:00:00.000000Z"


def msg(message_id: str, second: int, status: str = "ready", heard: bool = False) -> dict:
    return {"id": message_id, "receivedAt": f"2026-12-01T08:00:{second:02d}.000000Z", "status": status,
            "heard": heard, "urgent": False, "folder": "inbox", "durationMs": 2000}


class Api:
    """The API as a session sees it; `listing` is what the next read returns."""

    user = User("default", "+15550001")

    def __init__(self, listing: list[dict]):
        self.listing = listing

    def mailbox(self, max_age_s: float = 0.0) -> dict:
        return {"createdAt": CREATED, "counts": {"total": len(self.listing)}, "settings": {"maxMessages": 100}}

    def messages(self, folder: str) -> list[dict]:
        assert folder == "inbox"
        return list(self.listing)


def test_only_ready_messages_are_shown_in_uid_order():
    api = Api([msg("b", 20), msg("a", 10), msg("p", 30, status="processing"), msg("f", 40, status="failed")])
    folder = Folder(api, "INBOX")
    folder.load()
    assert [item.message["id"] for item in folder.items] == ["a", "b"]
    assert folder.waiting  # a processing message will turn ready: IDLE keeps looking
    assert folder.getUIDNext() == folder.items[-1].uid + 1


def test_a_refresh_reports_gone_changed_and_new_messages_as_imap_may():
    api = Api([msg("a", 10), msg("b", 20), msg("c", 30)])
    folder = Folder(api, "INBOX")
    folder.load()
    uid_c = folder.items[2].uid
    api.listing = [msg("b", 20, heard=True), msg("c", 30), msg("d", 40)]
    expunged, changed, exists = folder.changes(folder.read())
    assert expunged == [1]  # "a" went (sequence numbers, highest first)
    assert changed == [1]  # "b", now sequence 1, was heard
    assert exists == 3 and folder.items[-1].message["id"] == "d"
    assert folder.items[1].uid == uid_c  # UIDs do not move


def test_a_message_that_would_land_among_shown_uids_waits_for_the_next_select():
    api = Api([msg("a", 10), msg("c", 30)])
    folder = Folder(api, "INBOX")
    folder.load()
    api.listing = [msg("a", 10), msg("b", 20), msg("c", 30)]  # "b" turned ready late
    assert folder.changes(folder.read()) == ([], [], None)
    assert [item.message["id"] for item in folder.items] == ["a", "c"]
    fresh = Folder(api, "INBOX")
    fresh.load()
    assert [item.message["id"] for item in fresh.items] == ["a", "b", "c"]


@pytest.mark.parametrize("sender", [
    {"number": "+15557654321", "name": "Alice"},
    {"number": "+15557654321", "name": 'Al "the" \\ Pal'},
    {"number": "+33123", "name": "Zoë Ångström"},
    {"number": None, "name": None},
    {"number": "+15557654321", "name": None},
])
def test_our_envelope_is_twisteds(sender):
    """ENVELOPE is built from the header parts (fast); it must say exactly what parsing them says."""
    item = Item(7, {**msg("a", 10), "from": sender, "urgent": True})
    mail = Mail(item, VoiceMail(item.message, "+15550001", "Europe/Paris"))

    class Unfolded:  # Twisted sends a folded header as a literal; the envelope carries it unfolded
        @staticmethod
        def getHeaders(negate, *names):
            return {k: v.replace("\r\n", "") for k, v in mail.getHeaders(negate, *names).items()}

    assert mail.envelope() == collapseNestedLists([getEnvelope(Unfolded())])
    assert all("\n" not in v.replace("\r\n ", "") for v in mail.getHeaders(True).values())  # only CRLF folds
