"""The mailbox as IMAP sees it: the account (folder list) and a selected folder (messages: messages.py).

A `Folder` is one session's view of one folder: the messages it has announced, in UID order, with
their sequence numbers. Only `ready` messages are shown (a processing message has no audio yet).
`refresh()` reads the folder again through the API and says what changed, as IMAP may say it: gone
(EXPUNGE), flags changed (FETCH), new at the end (EXISTS). A message whose UID would land among
numbers already shown waits for the next SELECT (gateways/imap/uids.py says when that happens).
"""

from __future__ import annotations

import hashlib
import io
import math
import wave

from twisted.mail import imap4
from zope.interface import implementer

from gateways.imap import search, uids
from gateways.imap.api import Session
from gateways.imap.messages import Item, Mail
from gateways.imap.mime import VoiceMail, parse_time

FOLDERS = {"INBOX": "inbox", "Saved": "saved", "Trash": "trash"}
GREETINGS = "Greetings"
GREETING_KINDS = ("unavailable", "busy", "name", "temporary")
SPECIAL_USE = {"Trash": ["\\Trash"], "Saved": ["\\Archive"]}
MESSAGE_FLAGS = ["\\Seen", "\\Flagged", "\\Deleted"]


def canonical(name: str) -> str | None:
    """The folder a client's name means (INBOX in any case), or None."""
    if name.upper() == "INBOX":
        return "INBOX"
    return name if name in (*FOLDERS, GREETINGS) else None


class Listed:
    """A folder as LIST shows it: its attributes (RFC 6154 special use), no messages."""

    def __init__(self, name: str):
        self.name = name

    def getFlags(self) -> list[str]:
        return ["\\HasNoChildren", *SPECIAL_USE.get(self.name, [])]

    def getHierarchicalDelimiter(self) -> str:
        return "/"


@implementer(imap4.IAccount, imap4.INamespacePresenter)
class Account:
    def __init__(self, session: Session):
        self.session = session

    def listMailboxes(self, ref: str, wildcard: str) -> list[tuple[str, Listed]]:
        pattern = imap4.wildcardToRegexp(ref + wildcard, "/")
        return [(name, Listed(name)) for name in (*FOLDERS, GREETINGS) if pattern.match(name)]

    def select(self, name: str, rw: bool = True) -> Folder | Greetings | None:
        folder = canonical(name)
        if folder is None:
            return None
        box = Greetings(self.session) if folder == GREETINGS else Folder(self.session, folder, rw)
        box.load()
        return box

    def isSubscribed(self, name: str) -> bool:
        return canonical(name) is not None

    def subscribe(self, name: str) -> bool:
        if canonical(name) is None:
            raise imap4.MailboxException("No such folder")
        return True

    def unsubscribe(self, name: str) -> bool:
        raise imap4.MailboxException("The folders are fixed: they stay subscribed")

    def addMailbox(self, name: str, mbox: object = None) -> bool:
        raise imap4.MailboxException("The folders are fixed: INBOX, Saved, Trash and Greetings")

    create = addMailbox

    def delete(self, name: str) -> bool:
        raise imap4.MailboxException("The folders are fixed: INBOX, Saved, Trash and Greetings")

    def rename(self, oldname: str, newname: str) -> bool:
        raise imap4.MailboxException("The folders are fixed: INBOX, Saved, Trash and Greetings")

    def getPersonalNamespaces(self) -> list[list[str]]:
        return [["", "/"]]

    def getSharedNamespaces(self) -> None:
        return None

    def getOtherNamespaces(self) -> None:
        return None


def _duration_ms(wav: bytes) -> int:
    try:
        with wave.open(io.BytesIO(wav)) as audio:
            return int(audio.getnframes() * 1000 / audio.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError):
        return 0


class _Box:
    """What Folder and Greetings share: sequence sets and STATUS."""

    items: list[Item]
    validity: int

    # IMailbox asks for listeners; the session tells its client of changes itself (server._refresh),
    # so nothing is kept for them.
    def addListener(self, listener: object) -> None:
        pass

    def removeListener(self, listener: object) -> None:
        pass

    def getHierarchicalDelimiter(self) -> str:
        return "/"

    def getFlags(self) -> list[str]:
        return list(MESSAGE_FLAGS)

    def getUIDValidity(self) -> int:
        return self.validity

    def getUIDNext(self) -> int:
        return (self.items[-1].uid if self.items else 0) + 1

    def getUID(self, seq: int) -> int:
        return self.items[seq - 1].uid

    def getMessageCount(self) -> int:
        return len(self.items)

    def getRecentCount(self) -> int:
        return 0

    def getUnseenCount(self) -> int:
        return sum(1 for item in self.items if not item.message.get("heard"))

    def first_unseen(self) -> int | None:
        return next((seq for seq, item in enumerate(self.items, 1) if not item.message.get("heard")), None)

    def requestStatus(self, names: list[str]) -> dict[str, int]:
        values = {"MESSAGES": self.getMessageCount, "RECENT": self.getRecentCount, "UIDNEXT": self.getUIDNext,
                  "UIDVALIDITY": self.getUIDValidity, "UNSEEN": self.getUnseenCount}
        return {name.upper(): values[name.upper()]() for name in names if name.upper() in values}

    def search(self, query: list, uid: int = 0) -> list[int]:
        """SEARCH and UID SEARCH: sequence numbers (Twisted turns them into UIDs for UID SEARCH)."""
        return search.search(self.items, query, self.session.user.mailbox_id)

    def resolve(self, messages: imap4.MessageSet, uid: bool) -> list[tuple[int, Item]]:
        """(sequence number, item) for a sequence set of numbers or UIDs, in order, unknown ones skipped."""
        if not self.items:
            return []
        if uid:
            messages.last = self.items[-1].uid
            wanted = set()
            for first, last in messages.ranges:
                wanted.update(item.uid for item in self.items
                              if min(first, last) <= item.uid <= max(first, last))
            return [(seq, item) for seq, item in enumerate(self.items, 1) if item.uid in wanted]
        messages.last = len(self.items)
        chosen = sorted({seq for seq in messages if 1 <= seq <= len(self.items)})
        return [(seq, self.items[seq - 1]) for seq in chosen]


@implementer(imap4.IMailbox, imap4.IMailboxInfo, imap4.ISearchableMailbox)
class Folder(_Box):
    """INBOX, Saved or Trash, as one session sees it."""

    def __init__(self, session: Session, name: str, rw: bool = True):
        super().__init__()
        self.session, self.name, self.folder, self.rw = session, name, FOLDERS[name], rw
        self.items: list[Item] = []
        self.validity = 1
        self.time_zone = "UTC"
        self.waiting = False  # a message is still processing: it will turn ready

    def read(self) -> tuple[int, dict[str, int], list[dict]]:
        """(UIDVALIDITY, UIDs by id, ready messages oldest first), from the API. Blocking. The mailbox
        itself is the session's last read of it: its createdAt (UIDVALIDITY) cannot change within a
        session (a mailbox provisioned again ends it: see the IDLE poll), and its timeZone is kept
        as the session found it, so a message's Date never changes under a client. IDLE reads it
        fresh each poll, and that refreshes it."""
        mailbox = self.session.mailbox(max_age_s=math.inf)
        self.time_zone = (mailbox.get("settings") or {}).get("timeZone", "UTC")
        created = parse_time(mailbox["createdAt"])
        messages = self.session.messages(self.folder)
        self.waiting = any(message["status"] == "processing" for message in messages)
        numbers = uids.assign(((m["id"], parse_time(m["receivedAt"])) for m in messages), created)
        return uids.uid_validity(created), numbers, [m for m in messages if m["status"] == "ready"]

    def load(self) -> None:
        self.validity, numbers, ready = self.read()
        self.items = sorted((Item(numbers[m["id"]], m) for m in ready), key=lambda item: item.uid)

    def changes(self, fresh: tuple[int, dict[str, int], list[dict]]) -> tuple[list[int], list[int], int | None]:
        """Apply a new read: (expunged sequence numbers, highest first; sequence numbers whose flags
        changed; the new message count if messages were added, else None)."""
        _validity, numbers, ready = fresh
        now = {message["id"]: message for message in ready}
        expunged = [seq for seq, item in reversed(list(enumerate(self.items, 1))) if item.message["id"] not in now]
        for seq in expunged:
            del self.items[seq - 1]
        changed = []
        for seq, item in enumerate(self.items, 1):
            message = now.pop(item.message["id"])
            if (message.get("heard"), message.get("urgent")) != (item.message.get("heard"), item.message.get("urgent")):
                changed.append(seq)
            item.message = message
        top = self.items[-1].uid if self.items else 0
        added = sorted((Item(numbers[m["id"]], m) for m in now.values() if numbers[m["id"]] > top),
                       key=lambda item: item.uid)
        self.items += added
        return expunged, changed, (len(self.items) if added else None)

    def mail(self, item: Item) -> Mail:
        return Mail(item, VoiceMail(item.message, self.session.user.mailbox_id, self.time_zone), self.session)

    def fetch(self, messages: imap4.MessageSet, uid: bool) -> list[tuple[int, Mail]]:
        return [(seq, self.mail(item)) for seq, item in self.resolve(messages, uid)]

    def isWriteable(self) -> bool:
        return self.rw

    def addMessage(self, message: object, flags: object = (), date: object = None) -> None:
        raise imap4.MailboxException("Messages arrive by phone: APPEND is not offered")

    def destroy(self) -> None:
        raise imap4.MailboxException("The folders are fixed")


@implementer(imap4.IMailbox, imap4.IMailboxInfo, imap4.ISearchableMailbox)
class Greetings(_Box):
    """The mailbox's greetings, read-only: one message per kind that is set. Its UIDVALIDITY follows
    their audio, so a client refetches them after a greeting changes."""

    def __init__(self, session: Session):
        super().__init__()
        self.session = session
        self.items: list[Item] = []
        self.audio: dict[int, bytes] = {}
        self.validity = 1
        self.created = "1970-01-01T00:00:00Z"

    def load(self) -> None:
        self.created = self.session.mailbox()["createdAt"]
        digest = hashlib.sha256()
        for number, kind in enumerate(GREETING_KINDS, 1):
            audio = self.session.greeting(kind)
            if audio is not None:
                self.audio[number] = audio
                self.items.append(Item(number, {"id": f"greeting-{kind}", "kind": kind, "heard": True,
                                                "subject": f"Greeting: {kind}", "receivedAt": self.created,
                                                "durationMs": _duration_ms(audio)}))
                digest.update(kind.encode() + hashlib.sha256(audio).digest())
        self.validity = 1 + int.from_bytes(digest.digest()[:4], "big") % (2**31 - 1)

    def fetch(self, messages: imap4.MessageSet, uid: bool) -> list[tuple[int, Mail]]:
        result = []
        for seq, item in self.resolve(messages, uid):
            mail = Mail(item, VoiceMail(item.message, self.session.user.mailbox_id))
            mail.data = mail.mail.render(self.audio[item.uid])
            result.append((seq, mail))
        return result

    def isWriteable(self) -> bool:
        return False

    def addMessage(self, message: object, flags: object = (), date: object = None) -> None:
        raise imap4.MailboxException("Greetings are read-only")

    def destroy(self) -> None:
        raise imap4.MailboxException("The folders are fixed")
