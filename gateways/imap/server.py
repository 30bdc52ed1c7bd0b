"""The IMAP protocol: Twisted's IMAP4rev1 server, with the API behind it and the extensions a phone
or mail client needs (IDLE, UIDPLUS, MOVE, QUOTA, SPECIAL-USE).

Every API call runs in the reactor's thread pool. A connection runs one command at a time (lines
that arrive meanwhile wait), so a client that pipelines never sees two commands' answers mixed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from twisted.internet import defer, reactor, task, threads
from twisted.internet.protocol import Factory
from twisted.mail import imap4

from gateways.imap import api, folders, uids
from gateways.imap.changes import Changes
from gateways.imap.folders import Folder
from gateways.imap.mime import parse_time
from gateways.imap.reads import Reads

log = logging.getLogger("gateways.imap")
RELIST_EVERY_S = 30.0  # while idle, the folder is read again at least this often (counts do not show everything)


def code(error: api.ApiError) -> bytes:
    detail = str(error).encode("ascii", "replace")[:200]
    return b"[" + error.code.encode() + b"] " + detail


class Gateway(Changes, Reads, imap4.IMAP4Server):
    IDENT = b"Voicemail IMAP gateway ready"
    timeOut = 60  # before LOGIN
    POSTAUTH_TIMEOUT = 30 * 60  # RFC 3501: at least 30 minutes once logged in
    MAX_FAILED_LOGINS = 3

    def __init__(self, client: api.Client, idle_poll_s: float = 2.0):
        super().__init__()
        self.client, self.idle_poll_s = client, idle_poll_s
        self.account: folders.Account | None = None
        self.failed_logins = 0
        self._inflight = False
        self._queue: list[bytes] = []
        self._idler: task.LoopingCall | None = None
        self._idle_seen: tuple | None = None
        self._idle_relisted = 0.0

    # -- one command at a time ---------------------------------------------------------------------
    def lineReceived(self, line: bytes) -> None:
        if self.parseState == "command":
            if self._inflight:
                self._queue.append(line)
                return
            self._inflight = True
        super().lineReceived(line)

    def _respond(self, state: bytes, tag: bytes | None, message: bytes | None) -> None:
        super()._respond(state, tag, message)
        if (tag is not None and state in (b"OK", b"NO", b"BAD")) or state.startswith(b"BAD"):
            self._inflight = False
            if self._queue:
                reactor.callLater(0, self._drain)

    def _drain(self) -> None:
        while self._queue and not self._inflight and self.parseState == "command":
            self.lineReceived(self._queue.pop(0))

    def _run(self, tag: bytes, work: Callable[[], defer.Deferred]) -> None:
        """A command's work; API errors become NO with their response code, anything else BAD."""
        d = defer.maybeDeferred(work)

        def failed(failure):
            if failure.check(api.SessionEnded):
                self.sendUntaggedResponse(b"BYE " + code(failure.value))
                self.sendNegativeResponse(tag, code(failure.value))
                self.transport.loseConnection()
            elif failure.check(api.ApiError):
                self.sendNegativeResponse(tag, code(failure.value))
            elif failure.check(imap4.MailboxException):
                self.sendNegativeResponse(tag, str(failure.value).encode())
            else:
                log.error("command failed: %s", failure.getTraceback())
                self.sendBadResponse(tag, b"Server error")

        d.addErrback(failed)

    def capabilities(self) -> dict:
        cap = {b"AUTH": []}
        for name in (b"IDLE", b"UIDPLUS", b"MOVE", b"QUOTA", b"NAMESPACE", b"SPECIAL-USE", b"LITERAL-"):
            cap[name] = None
        return cap

    # -- login ----------------------------------------------------------------------------------------
    def do_LOGIN(self, tag: bytes, user: bytes, passwd: bytes) -> None:
        peer = getattr(self.transport.getPeer(), "host", "unknown")
        name, pin = user.decode("utf-8", "replace"), passwd.decode("utf-8", "replace")

        def logged_in(session: api.Session) -> None:
            self.account = folders.Account(session)
            self.state = "auth"
            self.setTimeout(self.POSTAUTH_TIMEOUT)
            self.sendPositiveResponse(tag, b"[CAPABILITY " + b" ".join(self.listCapabilities()) + b"] LOGIN completed")

        def refused(failure):
            failure.trap(api.ApiError)
            self.failed_logins += 1
            self.sendNegativeResponse(tag, code(failure.value))
            if self.failed_logins >= self.MAX_FAILED_LOGINS:
                self.sendUntaggedResponse(b"BYE Too many failed logins")
                self.transport.loseConnection()

        self._run(tag, lambda: threads.deferToThread(self.client.login, api.User.parse(name), pin, peer)
                  .addCallbacks(logged_in, refused))

    unauth_LOGIN = (do_LOGIN, imap4.IMAP4Server.arg_astring, imap4.IMAP4Server.arg_finalastring)

    def do_AUTHENTICATE(self, tag: bytes, args: bytes) -> None:
        self.sendNegativeResponse(tag, b"[CANNOT] Use LOGIN: the user name is the mailbox id, the password the PIN")

    unauth_AUTHENTICATE = (do_AUTHENTICATE, imap4.IMAP4Server.arg_atom)

    # -- selecting ------------------------------------------------------------------------------------
    def _selectWork(self, tag: bytes, name: bytes, rw: int, cmdName: bytes) -> None:
        self._close_selected()
        folder_name = imap4._parseMbox(name)

        def selected(box):
            if box is None:
                self.sendNegativeResponse(tag, b"[NONEXISTENT] No such folder")
                return
            writeable = rw and box.isWriteable()
            self.sendUntaggedResponse(b"%d EXISTS" % box.getMessageCount())
            self.sendUntaggedResponse(b"0 RECENT")
            self.sendUntaggedResponse(b"FLAGS (" + " ".join(box.getFlags()).encode() + b")")
            flags = b"\\Seen \\Flagged \\Deleted" if writeable else b""
            self.sendPositiveResponse(None, b"[PERMANENTFLAGS (" + flags + b")] Limited")
            self.sendPositiveResponse(None, b"[UIDVALIDITY %d] UIDs valid" % box.getUIDValidity())
            self.sendPositiveResponse(None, b"[UIDNEXT %d] Predicted next UID" % box.getUIDNext())
            unseen = box.first_unseen()
            if unseen is not None:
                self.sendPositiveResponse(None, b"[UNSEEN %d] First unseen" % unseen)
            box.rw = bool(writeable) if isinstance(box, Folder) else False
            self.mbox, self.state = box, "select"
            mode = b"READ-WRITE" if writeable else b"READ-ONLY"
            self.sendPositiveResponse(tag, b"[" + mode + b"] " + cmdName + b" completed")

        self._run(tag, lambda: threads.deferToThread(self.account.select, folder_name, rw).addCallback(selected))

    auth_SELECT = (_selectWork, imap4.IMAP4Server.arg_astring, 1, b"SELECT")
    select_SELECT = auth_SELECT
    auth_EXAMINE = (_selectWork, imap4.IMAP4Server.arg_astring, 0, b"EXAMINE")
    select_EXAMINE = auth_EXAMINE

    def _close_selected(self) -> None:
        self.mbox = None
        if self.state == "select":
            self.state = "auth"

    def do_STATUS(self, tag: bytes, mailbox: bytes, names: list) -> None:
        name = imap4._parseMbox(mailbox)
        wanted = [n.decode() if isinstance(n, bytes) else n for n in names]

        def answer(box):
            if box is None:
                self.sendNegativeResponse(tag, b"[NONEXISTENT] No such folder")
                return
            line = " ".join(f"{k} {v}" for k, v in box.requestStatus(wanted).items())
            self.sendUntaggedResponse(b"STATUS " + imap4._quote(name.encode()) + b" (" + line.encode() + b")")
            self.sendPositiveResponse(tag, b"STATUS completed")

        self._run(tag, lambda: threads.deferToThread(self.account.select, name, 0).addCallback(answer))

    auth_STATUS = (do_STATUS, imap4.IMAP4Server.arg_astring, imap4.IMAP4Server.arg_plist)
    select_STATUS = auth_STATUS

    def do_CLOSE(self, tag: bytes) -> None:
        """CLOSE expunges silently (RFC 3501), then leaves the folder."""
        box = self.mbox

        def closed(_):
            self._close_selected()
            self.sendPositiveResponse(tag, b"CLOSE completed")

        if isinstance(box, Folder) and box.rw:
            self._run(tag, lambda: self._expunge(box, None, report=False).addCallback(closed))
        else:
            closed(None)

    select_CLOSE = (do_CLOSE,)

    def do_UNSELECT(self, tag: bytes) -> None:
        self._close_selected()
        self.sendPositiveResponse(tag, b"UNSELECT completed")

    select_UNSELECT = (do_UNSELECT,)

    # -- news: NOOP, CHECK, IDLE ----------------------------------------------------------------------
    def _refresh(self) -> defer.Deferred:
        """Read the selected folder again and tell the client what changed."""
        box = self.mbox
        if not isinstance(box, Folder):
            return defer.succeed(None)

        def tell(fresh):
            if self.mbox is not box:
                return
            expunged, changed, exists = box.changes(fresh)
            for seq in expunged:
                self.sendUntaggedResponse(b"%d EXPUNGE" % seq, isAsync=True)
            for seq in changed:
                flags = " ".join(box.items[seq - 1].flags).encode()
                self.sendUntaggedResponse(b"%d FETCH (FLAGS (%s) UID %d)" % (seq, flags, box.items[seq - 1].uid),
                                          isAsync=True)
            if exists is not None:
                self.sendUntaggedResponse(b"%d EXISTS" % exists, isAsync=True)

        return threads.deferToThread(box.read).addCallback(tell)

    def do_NOOP(self, tag: bytes) -> None:
        self._run(tag, lambda: self._refresh().addCallback(lambda _: self.sendPositiveResponse(tag, b"NOOP completed")))

    select_NOOP = (do_NOOP,)

    def do_CHECK(self, tag: bytes) -> None:
        self._run(tag, lambda: self._refresh().addCallback(
            lambda _: self.sendPositiveResponse(tag, b"CHECK completed")))

    select_CHECK = (do_CHECK,)

    def do_IDLE(self, tag: bytes) -> None:
        super().do_IDLE(tag)
        self._idle_seen, self._idle_relisted = None, reactor.seconds()
        self._idler = task.LoopingCall(self._idle_poll)
        self._idler.start(self.idle_poll_s, now=False).addErrback(lambda f: log.error("idle: %s", f.getTraceback()))

    select_IDLE = (do_IDLE,)
    auth_IDLE = (do_IDLE,)

    def parse_idle(self, *args: object) -> None:
        if self._idler is not None and self._idler.running:
            self._idler.stop()
        self._idler = None
        super().parse_idle(*args)

    def _idle_poll(self) -> defer.Deferred | None:
        """While idle: the mailbox's counts first (one read); the folder again only when they moved, a
        message is still processing, or a while has passed."""
        box = self.mbox
        if not isinstance(box, Folder):
            return None

        def look(mailbox):
            if uids.uid_validity(parse_time(mailbox["createdAt"])) != box.validity:  # provisioned anew
                self.sendUntaggedResponse(b"BYE [UNAVAILABLE] The mailbox was provisioned again", isAsync=True)
                self.transport.loseConnection()
                return None
            seen = (mailbox.get("counts"), mailbox.get("updatedAt"))
            stale = reactor.seconds() - self._idle_relisted > RELIST_EVERY_S
            if seen != self._idle_seen or box.waiting or stale:
                self._idle_seen, self._idle_relisted = seen, reactor.seconds()
                return self._refresh()
            return None

        def lost(failure):
            failure.trap(api.ApiError)
            if failure.check(api.SessionEnded):  # the PIN changed, or the mailbox went: never retry with it
                self.sendUntaggedResponse(b"BYE " + code(failure.value), isAsync=True)
                self.transport.loseConnection()
                return
            log.warning("idle poll: %s", failure.value)  # the API is away for a moment: the next poll tries again

        return threads.deferToThread(box.session.mailbox).addCallback(look).addErrback(lost)

    def connectionMade(self) -> None:
        # Answers go out as several small writes (SELECT's untagged lines, a FETCH in chunks): with
        # Nagle's algorithm each waits for the client's delayed ACK, about 40 ms.
        set_no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            set_no_delay(True)
        super().connectionMade()

    def connectionLost(self, reason: object) -> None:
        if self._idler is not None and self._idler.running:
            self._idler.stop()
        super().connectionLost(reason)


class GatewayFactory(Factory):
    """Counts connections: at most `max_connections` at once, `per_client` from one address."""

    def __init__(self, client: api.Client, idle_poll_s: float = 2.0, max_connections: int = 10_000,
                 per_client: int = 20):
        self.client, self.idle_poll_s = client, idle_poll_s
        self.max_connections, self.per_client = max_connections, per_client
        self.open: dict[str, int] = {}

    def buildProtocol(self, addr: object) -> Gateway | None:
        host = getattr(addr, "host", "unknown")
        if sum(self.open.values()) >= self.max_connections or self.open.get(host, 0) >= self.per_client:
            log.warning("refused a connection from %s: too many", host)
            return None
        self.open[host] = self.open.get(host, 0) + 1
        protocol = Gateway(self.client, self.idle_poll_s)
        protocol.factory = self
        lost = protocol.connectionLost

        def counted_lost(reason: object) -> None:
            self.open[host] -= 1
            if not self.open[host]:
                del self.open[host]
            lost(reason)

        protocol.connectionLost = counted_lost
        return protocol
