"""SEARCH over what a session already holds (flags, headers, receipt dates, transcripts): no audio is
fetched, so a search costs no API call. Twisted's own fallback search mixes bytes and text under
Python 3 (`UID SEARCH SINCE ...` fails in it), hence this small evaluator of RFC 3501 search keys.
`TEXT` and `BODY` look in the transcript: the words of a voice message. `LARGER`/`SMALLER` compare
the audio's length in bytes as the wav rendition has it (8,000 bytes a second)."""

from __future__ import annotations

import email.header
from datetime import date, datetime
from typing import TYPE_CHECKING

from twisted.mail import imap4

from gateways.imap.mime import VoiceMail

if TYPE_CHECKING:
    from gateways.imap.messages import Item

FLAG_KEYS = {"SEEN": ("\\Seen", True), "UNSEEN": ("\\Seen", False), "FLAGGED": ("\\Flagged", True),
             "UNFLAGGED": ("\\Flagged", False), "DELETED": ("\\Deleted", True), "UNDELETED": ("\\Deleted", False),
             "ANSWERED": ("\\Answered", True), "UNANSWERED": ("\\Answered", False),
             "DRAFT": ("\\Draft", True), "UNDRAFT": ("\\Draft", False)}
WAV_BYTES_PER_SECOND = 8000


class SearchError(ValueError):
    """A search key Twisted parsed but RFC 3501 does not allow here: the client gets BAD."""


def _text(token: object) -> str:
    if isinstance(token, bytes):
        return token.decode("utf-8", "replace")
    if isinstance(token, str):
        return token
    raise SearchError("a search key needs a value here")


def _day(token: object) -> date:
    try:
        return datetime.strptime(_text(token), "%d-%b-%Y").date()
    except ValueError as error:
        raise SearchError(f"not a date: {_text(token)!r}") from error


class Search:
    """One SEARCH: `matches(seq, item)` for each message, with the folder's highest numbers for `*`."""

    def __init__(self, query: list, mailbox_id: str, last_seq: int, last_uid: int):
        self.query, self.mailbox_id, self.last_seq, self.last_uid = query, mailbox_id, last_seq, last_uid

    def matches(self, seq: int, item: Item, terms: list | None = None) -> bool:
        terms = list(self.query if terms is None else terms)
        while terms:
            if not self._one(terms, seq, item):
                return False
        return True

    def _one(self, terms: list, seq: int, item: Item) -> bool:
        token = terms.pop(0)
        if isinstance(token, list):  # a parenthesised group: all of it
            return self.matches(seq, item, token)
        key = _text(token).upper()
        handler = KEYS.get(key)
        if handler is not None:
            return handler(self, key, terms, seq, item)
        if key[:1].isdigit() or key[:1] == "*":
            return self._in(key, seq, self.last_seq)
        raise SearchError(f"unknown search key {key}")

    def _constant(self, key: str, terms: list, seq: int, item: Item) -> bool:
        return key in ("ALL", "OLD")  # nothing is \Recent (NEW, RECENT): the gateway keeps no history

    def _flag(self, key: str, terms: list, seq: int, item: Item) -> bool:
        flag, wanted = FLAG_KEYS[key]
        return (flag in item.flags) == wanted

    def _not(self, key: str, terms: list, seq: int, item: Item) -> bool:
        return not self._one(terms, seq, item)

    def _or(self, key: str, terms: list, seq: int, item: Item) -> bool:
        first, second = self._one(terms, seq, item), self._one(terms, seq, item)
        return first or second

    def _date(self, key: str, terms: list, seq: int, item: Item) -> bool:
        day, received = _day(terms.pop(0)), VoiceMail(item.message, self.mailbox_id).received_at.date()
        return {"SINCE": received >= day, "BEFORE": received < day, "ON": received == day}[key.removeprefix("SENT")]

    def _header_key(self, key: str, terms: list, seq: int, item: Item) -> bool:
        name = _text(terms.pop(0)) if key == "HEADER" else key
        return _text(terms.pop(0)).lower() in self._header(VoiceMail(item.message, self.mailbox_id), name).lower()

    def _words(self, key: str, terms: list, seq: int, item: Item) -> bool:
        transcript = VoiceMail(item.message, self.mailbox_id).transcript or ""
        return _text(terms.pop(0)).lower() in transcript.lower()

    def _size(self, key: str, terms: list, seq: int, item: Item) -> bool:
        size = (item.message.get("durationMs") or 0) * WAV_BYTES_PER_SECOND // 1000
        limit = int(_text(terms.pop(0)))
        return size > limit if key == "LARGER" else size < limit

    def _keyword(self, key: str, terms: list, seq: int, item: Item) -> bool:
        terms.pop(0)
        return key == "UNKEYWORD"  # no keywords are kept

    def _uid(self, key: str, terms: list, seq: int, item: Item) -> bool:
        return self._in(_text(terms.pop(0)), item.uid, self.last_uid)

    @staticmethod
    def _header(mail: VoiceMail, name: str) -> str:
        decoded = {key.lower(): str(email.header.make_header(email.header.decode_header(value)))
                   for key, value in mail.headers()}
        return decoded.get(name.lower(), "")

    @staticmethod
    def _in(spec: str, number: int, last: int) -> bool:
        try:
            numbers = imap4.parseIdList(spec.encode(), last)
        except (imap4.IllegalIdentifierError, ValueError) as error:
            raise SearchError(f"not a sequence set: {spec!r}") from error
        return number in numbers


KEYS = {
    **dict.fromkeys(("ALL", "OLD", "NEW", "RECENT"), Search._constant),
    **dict.fromkeys(FLAG_KEYS, Search._flag),
    "NOT": Search._not, "OR": Search._or, "UID": Search._uid,
    **dict.fromkeys(("SINCE", "BEFORE", "ON", "SENTSINCE", "SENTBEFORE", "SENTON"), Search._date),
    **dict.fromkeys(("FROM", "TO", "SUBJECT", "CC", "BCC", "HEADER"), Search._header_key),
    **dict.fromkeys(("TEXT", "BODY"), Search._words),
    **dict.fromkeys(("LARGER", "SMALLER"), Search._size),
    **dict.fromkeys(("KEYWORD", "UNKEYWORD"), Search._keyword),
}


def search(items: list[Item], query: list, mailbox_id: str) -> list[int]:
    """The sequence numbers of the messages that match."""
    last_uid = items[-1].uid if items else 0
    finder = Search(query, mailbox_id, len(items), last_uid)
    try:
        return [seq for seq, item in enumerate(items, 1) if finder.matches(seq, item)]
    except IndexError as error:
        raise SearchError("a search key is missing its value") from error

