"""What an IMAP client changes: flags (STORE), deletion (EXPUNGE, UID EXPUNGE) and folders (COPY,
MOVE), each as the API call a subscriber would make. Mixed into `server.Gateway`."""

from __future__ import annotations

import contextlib

from twisted.internet import defer, threads
from twisted.mail import imap4

from gateways.imap import api, folders
from gateways.imap.folders import Folder
from gateways.imap.messages import Item


class Changes:
    """STORE, EXPUNGE, UID EXPUNGE, COPY and MOVE; needs the Gateway's `_run` and `mbox`."""

    def do_STORE(self, tag: bytes, messages: imap4.MessageSet, mode: bytes, flags: list, uid: int = 0) -> None:
        box = self.mbox
        if not isinstance(box, Folder) or not box.rw:
            self.sendNegativeResponse(tag, b"[READ-ONLY] This folder is read-only")
            return
        mode_text = mode.upper()
        silent = mode_text.endswith(b".SILENT")
        wanted = {flag.decode() if isinstance(flag, bytes) else flag for flag in flags}
        unknown = {f for f in wanted if f.lower() not in ("\\seen", "\\flagged", "\\deleted")}
        if unknown:
            self.sendNegativeResponse(tag, b"[CANNOT] Only \\Seen, \\Flagged and \\Deleted can be set")
            return
        wanted = {f.capitalize() if not f.startswith("\\") else "\\" + f[1:].capitalize() for f in wanted}
        targets = box.resolve(messages, bool(uid))

        def apply() -> list[tuple[int, Item]]:
            for _seq, item in targets:
                now = set(item.flags)
                new = wanted if mode_text.startswith(b"FLAGS") else (
                    now | wanted if mode_text.startswith(b"+") else now - wanted)
                change = {field: (flag in new) for field, flag in (("heard", "\\Seen"), ("urgent", "\\Flagged"))
                          if (flag in new) != (flag in now)}
                item.deleted = "\\Deleted" in new
                if change:
                    item.message = box.session.change(item.message["id"], **change)
            return targets

        def answer(done):
            if not silent:
                for seq, item in done:
                    text = b"%d FETCH (FLAGS (%s)" % (seq, " ".join(item.flags).encode())
                    self.sendUntaggedResponse(text + (b" UID %d)" % item.uid if uid else b")"))
            self.sendPositiveResponse(tag, b"STORE completed")

        self._run(tag, lambda: threads.deferToThread(apply).addCallback(answer))

    select_STORE = (do_STORE, imap4.IMAP4Server.arg_seqset, imap4.IMAP4Server.arg_atom,
                    imap4.IMAP4Server.arg_flaglist)

    def _expunge(self, box: Folder, only: set[int] | None, report: bool = True) -> defer.Deferred:
        """\\Deleted messages go to the trash; in Trash they are purged. Sends EXPUNGE for each."""
        doomed = [(seq, item) for seq, item in enumerate(box.items, 1)
                  if item.deleted and (only is None or item.uid in only)]

        def remove():
            for _seq, item in doomed:
                with contextlib.suppress(api.NotFound):  # already gone: what EXPUNGE wanted
                    box.session.delete(item.message["id"], purge=box.folder == "trash")
            return doomed

        def told(done):
            for seq, _item in reversed(done):
                del box.items[seq - 1]
                if report:
                    self.sendUntaggedResponse(b"%d EXPUNGE" % seq)

        return threads.deferToThread(remove).addCallback(told)

    def do_EXPUNGE(self, tag: bytes) -> None:
        box = self.mbox
        if not isinstance(box, Folder) or not box.rw:
            self.sendNegativeResponse(tag, b"[READ-ONLY] This folder is read-only")
            return
        self._run(tag, lambda: self._expunge(box, None).addCallback(
            lambda _: self.sendPositiveResponse(tag, b"EXPUNGE completed")))

    select_EXPUNGE = (do_EXPUNGE,)

    def _move(self, tag: bytes, messages: imap4.MessageSet, mailbox: bytes, uid: int, command: bytes) -> None:
        """COPY and MOVE both move (a voice message exists once): the target folder gets it, this one
        loses it, and COPYUID says the new UIDs (RFC 4315)."""
        box = self.mbox
        target = folders.canonical(imap4._parseMbox(mailbox))
        if target not in folders.FOLDERS:
            self.sendNegativeResponse(tag, b"[TRYCREATE] Messages can go to INBOX, Saved or Trash")
            return
        if not isinstance(box, Folder) or target == box.name:
            self.sendNegativeResponse(tag, b"[CANNOT] A voice message exists once: nothing to copy here")
            return
        chosen = box.resolve(messages, bool(uid))

        def move():
            for _seq, item in chosen:
                box.session.change(item.message["id"], folder=folders.FOLDERS[target])
            destination = Folder(box.session, target)
            _validity, numbers, _ready = fresh = destination.read()
            return fresh[0], [(seq, item, numbers.get(item.message["id"], 0)) for seq, item in chosen]

        def told(result):
            validity, moved = result
            code = b""
            if moved:
                code = b"[COPYUID %d %s %s] " % (validity, b",".join(b"%d" % m[1].uid for m in moved),
                                                 b",".join(b"%d" % m[2] for m in moved))
            if command == b"MOVE" and code:
                self.sendPositiveResponse(None, code.strip())
            for seq, _item, _new in sorted(moved, key=lambda m: m[0], reverse=True):
                del box.items[seq - 1]
                self.sendUntaggedResponse(b"%d EXPUNGE" % seq)
            self.sendPositiveResponse(tag, (b"" if command == b"MOVE" else code) + command + b" completed")

        self._run(tag, lambda: threads.deferToThread(move).addCallback(told))

    def do_COPY(self, tag: bytes, messages: imap4.MessageSet, mailbox: bytes, uid: int = 0) -> None:
        self._move(tag, messages, mailbox, uid, b"COPY")

    select_COPY = (do_COPY, imap4.IMAP4Server.arg_seqset, imap4.IMAP4Server.arg_finalastring)

    def do_MOVE(self, tag: bytes, messages: imap4.MessageSet, mailbox: bytes, uid: int = 0) -> None:
        self._move(tag, messages, mailbox, uid, b"MOVE")

    select_MOVE = (do_MOVE, imap4.IMAP4Server.arg_seqset, imap4.IMAP4Server.arg_finalastring)

    def do_UID(self, tag: bytes, command: bytes, line: bytes) -> None:
        command = command.upper()
        if command == b"EXPUNGE":  # UIDPLUS: only the given UIDs
            box = self.mbox
            if not isinstance(box, Folder) or not box.rw:
                self.sendNegativeResponse(tag, b"[READ-ONLY] This folder is read-only")
                return
            wanted, rest = self.arg_seqset(line)
            if rest:
                raise imap4.IllegalClientResponse("UID EXPUNGE takes one sequence set")
            only = {uid for _seq, uid in ((s, i.uid) for s, i in box.resolve(wanted, True))}
            self._run(tag, lambda: self._expunge(box, only).addCallback(
                lambda _: self.sendPositiveResponse(tag, b"UID EXPUNGE completed")))
            return
        if command not in (b"COPY", b"MOVE", b"FETCH", b"STORE", b"SEARCH"):
            raise imap4.IllegalClientResponse(command)
        self.dispatchCommand(tag, command, line, uid=1)

    select_UID = (do_UID, imap4.IMAP4Server.arg_atom, imap4.IMAP4Server.arg_line)
