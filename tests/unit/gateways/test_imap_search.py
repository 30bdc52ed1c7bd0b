"""SEARCH keys over a session's messages, as mail clients send them."""

from __future__ import annotations

import pytest
from twisted.mail.imap4 import parseNestedParens

from gateways.imap.folders import Item
from gateways.imap.search import SearchError, search


def item(uid: int, day: int, heard: bool = False, urgent: bool = False, name: str = "Alice",
         transcript: str | None = None) -> Item:
    message = {"id": f"m{uid}", "receivedAt": f"2026-12-{day:02d}T10:00:00.000000Z", "heard": heard,
               "urgent": urgent, "durationMs": 4000, "from": {"number": "+15557654321", "name": name},
               "transcript": {"status": "ready", "text": transcript} if transcript else None}
    return Item(uid, message)


ITEMS = [item(10, 1, heard=True), item(20, 3, urgent=True, name="Bob", transcript="call me about Friday"),
         item(30, 5, name="Zoë")]


def find(query: bytes) -> list[int]:
    return search(ITEMS, parseNestedParens(query), "+15550001")


@pytest.mark.parametrize(("query", "expected"), [
    (b"ALL", [1, 2, 3]),
    (b"UNSEEN", [2, 3]),
    (b"SEEN FLAGGED", []),
    (b"FLAGGED", [2]),
    (b"SINCE 03-Dec-2026", [2, 3]),
    (b"BEFORE 03-Dec-2026", [1]),
    (b"ON 05-Dec-2026", [3]),
    (b"FROM bob", [2]),
    (b"FROM Zo\xc3\xab", [3]),
    (b"SUBJECT urgent", [2]),
    (b"TEXT friday", [2]),
    (b"OR SEEN FLAGGED", [1, 2]),
    (b"NOT SEEN", [2, 3]),
    (b"(UNSEEN FROM alice)", []),
    (b"2:*", [2, 3]),
    (b"UID 15:25", [2]),
    (b"UID 30:*", [3]),
    (b"LARGER 30000", [1, 2, 3]),
    (b"NEW", []),
    (b"UNKEYWORD $Junk", [1, 2, 3]),
])
def test_search_keys(query, expected):
    assert find(query) == expected


@pytest.mark.parametrize("query", [b"BOGUS", b"SINCE", b"SINCE yesterday", b"UID x:y"])
def test_bad_searches_are_errors_the_client_sees(query):
    with pytest.raises(SearchError):
        find(query)
