"""What an IMAP client reads: FETCH, streamed in batches so memory stays bounded, and QUOTA (RFC 9208).
Mixed into `server.Gateway`."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from twisted.internet import defer, threads
from twisted.mail import imap4

from gateways.imap import folders
from gateways.imap.folders import Folder

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
BODY_BATCH = 8  # messages whose audio is held at once while a FETCH streams (bounded memory)
SIZE_BATCH = 16  # RFC822.SIZE: audio lengths asked at once (one byte of each: `Range: bytes=0-0`)


def _in_threads(calls: Iterable[Callable[[], object]]) -> defer.Deferred:
    """Run the calls in the thread pool at once; fails with the first one's own error."""
    return defer.gatherResults([threads.deferToThread(call) for call in calls],
                               consumeErrors=True).addErrback(lambda failure: failure.value.subFailure)


def _needs_body(query: list) -> bool:
    for part in query:
        if part.type in ("rfc822", "rfc822text", "bodystructure"):
            return True
        if part.type == "body" and (part.part or part.header is None):
            return True
    return False


def _sets_seen(query: list) -> bool:
    return any((part.type == "body" and not part.peek and part.header is None) or part.type in ("rfc822", "rfc822text")
               for part in query)


class Reads:
    """FETCH, GETQUOTA, GETQUOTAROOT (SETQUOTA and APPEND refused); needs the Gateway's `_run`."""

    def do_FETCH(self, tag: bytes, messages: imap4.MessageSet, query: list, uid: int = 0) -> None:
        if not query:
            self.sendPositiveResponse(tag, b"FETCH completed")
            return
        box = self.mbox
        self._run(tag, lambda: self._fetch(tag, box, box.fetch(messages, bool(uid)), query, uid))

    select_FETCH = (do_FETCH, imap4.IMAP4Server.arg_seqset, imap4.IMAP4Server.arg_fetchatt)

    @defer.inlineCallbacks
    def _fetch(self, tag: bytes, box: object, found: list, query: list, uid: int):
        """Answers in batches: at most BODY_BATCH messages' audio in memory at once."""
        bodies = _needs_body(query)
        seen = _sets_seen(query) and isinstance(box, Folder) and box.rw
        self._oldTimeout = self.setTimeout(None)
        try:
            if not bodies:  # headers, flags, dates, sizes: no audio, so written at once, not message by message
                if any(part.type == "rfc822size" for part in query):  # a mail client's listing asks for it
                    for start in range(0, len(found), SIZE_BATCH):
                        yield _in_threads(mail.load_size for _seq, mail in found[start:start + SIZE_BATCH])
                self._fetch_headers(found, query, uid)
            for start in range(0, len(found) if bodies else 0, BODY_BATCH):
                batch = found[start:start + BODY_BATCH]
                if bodies:
                    yield _in_threads(mail.load for _seq, mail in batch)
                for seq, mail in batch:
                    yield self.spewMessage(seq, mail, query, uid)
                    mail.data = None
            if seen:
                unheard = [(seq, mail.item) for seq, mail in found if not mail.item.message.get("heard")]
                for seq, item in unheard:
                    item.message = yield threads.deferToThread(box.session.change, item.message["id"], heard=True)
                    self.sendUntaggedResponse(b"%d FETCH (FLAGS (%s))" % (seq, " ".join(item.flags).encode()))
        finally:
            self.setTimeout(self._oldTimeout)
        self.sendPositiveResponse(tag, b"FETCH completed")

    def spew_envelope(self, id: int, msg: object, _w=None, _f=None) -> None:
        envelope = getattr(msg, "envelope", None)
        if envelope is None:
            super().spew_envelope(id, msg, _w, _f)
            return
        (_w or self.transport.write)(b"ENVELOPE " + envelope())

    def spew_internaldate(self, id: int, msg: object, _w=None, _f=None) -> None:
        received = getattr(getattr(msg, "mail", None), "received_at", None)
        if received is None:
            super().spew_internaldate(id, msg, _w, _f)
            return
        month = MONTHS[received.month - 1]  # not strftime's %b: that follows the locale
        (_w or self.transport.write)(received.strftime(f'INTERNALDATE "%d-{month}-%Y %H:%M:%S +0000"').encode())

    def _fetch_headers(self, found: list, query: list, uid: int, chunk: int = 256) -> None:
        """FETCH answers that need no body, built synchronously with Twisted's own spew_* writers and
        written in chunks (its per-message scheduler costs more than the answers themselves)."""
        lines: list[bytes] = []
        for seq, mail in found:
            items = []
            for part in query:
                out: list[bytes] = []
                if part.type == "body":
                    self.spew_body(part, seq, mail, out.append, None)
                else:
                    getattr(self, "spew_" + part.type)(seq, mail, out.append, None)
                items.append(b"".join(out))
            if uid and not any(part.type == "uid" for part in query):
                items.append(b"UID %d" % mail.getUID())
            lines.append(b"* %d FETCH (%s)\r\n" % (seq, b" ".join(items)))
            if len(lines) >= chunk:
                self.transport.write(b"".join(lines))
                lines = []
        if lines:
            self.transport.write(b"".join(lines))

    # -- QUOTA (RFC 9208) ------------------------------------------------------------------------------
    def do_GETQUOTAROOT(self, tag: bytes, mailbox: bytes) -> None:
        name = folders.canonical(imap4._parseMbox(mailbox))
        if name is None:
            self.sendNegativeResponse(tag, b"[NONEXISTENT] No such folder")
            return
        self.sendUntaggedResponse(b"QUOTAROOT " + imap4._quote(name.encode()) + b' ""')
        self._quota(tag, b"GETQUOTAROOT")

    auth_GETQUOTAROOT = (do_GETQUOTAROOT, imap4.IMAP4Server.arg_astring)
    select_GETQUOTAROOT = auth_GETQUOTAROOT

    def do_GETQUOTA(self, tag: bytes, root: bytes) -> None:
        if root not in (b"", b'""'):
            self.sendNegativeResponse(tag, b"[NONEXISTENT] The only quota root is \"\"")
            return
        self._quota(tag, b"GETQUOTA")

    auth_GETQUOTA = (do_GETQUOTA, imap4.IMAP4Server.arg_astring)
    select_GETQUOTA = auth_GETQUOTA

    def _quota(self, tag: bytes, command: bytes) -> None:
        """`MESSAGE` against `maxMessages`: what counts towards it (inbox and saved, not the trash)."""
        def answer(mailbox):
            used = (mailbox.get("counts") or {}).get("total", 0)
            limit = (mailbox.get("settings") or {}).get("maxMessages", 0)
            self.sendUntaggedResponse(b'QUOTA "" (MESSAGE %d %d)' % (used, limit))
            self.sendPositiveResponse(tag, command + b" completed")

        self._run(tag, lambda: threads.deferToThread(self.account.session.mailbox).addCallback(answer))

    def do_SETQUOTA(self, tag: bytes, *args: object) -> None:
        self.sendNegativeResponse(tag, b"[NOPERM] The quota is the mailbox's maxMessages, set by the platform")

    auth_SETQUOTA = (do_SETQUOTA, imap4.IMAP4Server.arg_line)
    select_SETQUOTA = auth_SETQUOTA

    def do_APPEND(self, tag: bytes, *args: object) -> None:
        self.sendNegativeResponse(tag, b"[CANNOT] Messages arrive by phone: APPEND is not offered")

    auth_APPEND = (do_APPEND, imap4.IMAP4Server.arg_line)
    select_APPEND = auth_APPEND
