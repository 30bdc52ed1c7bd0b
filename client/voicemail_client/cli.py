"""`voicemail`: the API from a terminal, over every regional endpoint.

    voicemail -e http://127.0.0.1:7071/api -e http://127.0.0.1:7072/api health
    voicemail deposit +15551234567 samples/hello.wav --from +15557654321
    voicemail list +15551234567
    voicemail download +15551234567 MESSAGE_ID --format mp3 -o message.mp3   (or --play)
    voicemail mark +15551234567 MESSAGE_ID --heard --folder saved
    voicemail delete +15551234567 MESSAGE_ID [--purge]
    voicemail sweep start retention ; voicemail sweep status INSTANCE_ID
    voicemail notify set +15551234567 --webhook https://hooks.example.com/vm --email me@example.com:mp3
    voicemail notify set +15551234567 --sms +15557654321   (a subscriber, with VOICEMAIL_TOKEN: e-mail and SMS only)
    voicemail notify verify +15551234567 --sms +15557654321 --code 123456   (the code the target was sent)
    voicemail notify show +15551234567 ; voicemail dead-letters list ; voicemail dead-letters replay EVENT_ID
    voicemail tenants put acme --name "Acme Mobile" ; voicemail keys issue acme ; voicemail usage acme --from 2026-12-01
    voicemail classes put acme premium premium.json ; voicemail --tenant acme --api-key KEY list +15551234567

Endpoints come from -e (repeatable, nearest first) or VOICEMAIL_ENDPOINTS (comma-separated);
the platform key from VOICEMAIL_API_KEY, a subscriber token from VOICEMAIL_TOKEN (or `login`),
the operator's key from VOICEMAIL_OPERATOR_KEY (`local-operator-key` against local endpoints), a
tenant's mailboxes with --tenant (VOICEMAIL_TENANT): see cli_operator.py.
Exit status: 0 done, 1 the API refused (its problem is printed), 2 usage (or no operator key), 3 no
region answered.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from voicemail_client.cli_operator import COMMANDS as OPERATOR_COMMANDS
from voicemail_client.cli_operator import add_parsers as add_operator_parsers
from voicemail_client.cli_operator import operator_key
from voicemail_client.client import ApiError, RetryPolicy, Unavailable, VoicemailClient
from voicemail_client.operator import NoOperatorKey

DEFAULT_ENDPOINTS = "http://127.0.0.1:7071/api"


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = parser().parse_args(argv)
    endpoints = args.endpoint or [e for e in os.environ.get("VOICEMAIL_ENDPOINTS", DEFAULT_ENDPOINTS).split(",") if e]
    policy = RetryPolicy(timeout=args.timeout, deadline=args.deadline)
    with VoicemailClient(endpoints, api_key=args.api_key, token=args.token, policy=policy, tenant=args.tenant,
                         operator_key=operator_key(args.operator_key, endpoints)) as client:
        try:
            result = COMMANDS[args.command](client, args, out)
        except ApiError as error:
            print(f"error: {error} [{error.type}]", file=sys.stderr)
            return 1
        except NoOperatorKey as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except Unavailable as error:
            print(f"error: {error}", file=sys.stderr)
            return 3
    if result is not None:
        if args.json:
            print(json.dumps(result, indent=2), file=out)
        else:
            render(result, out)
    return 0


def parser() -> argparse.ArgumentParser:  # noqa: PLR0915 - one line per option reads best
    top = argparse.ArgumentParser(prog="voicemail", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("-e", "--endpoint", action="append", help="a regional API base URL (repeat, nearest first)")
    top.add_argument("--api-key", default=os.environ.get("VOICEMAIL_API_KEY"), help="platform key")
    top.add_argument("--token", default=os.environ.get("VOICEMAIL_TOKEN"), help="subscriber token")
    top.add_argument("--tenant", default=os.environ.get("VOICEMAIL_TENANT"),
                     help="the mailboxes' tenant (default: tenant default's paths)")
    top.add_argument("--operator-key", default=os.environ.get("VOICEMAIL_OPERATOR_KEY"),
                     help="the operator's key (tenants, keys, usage); local endpoints: local-operator-key")
    top.add_argument("--json", action="store_true", help="print JSON instead of tables")
    top.add_argument("--timeout", type=float, default=10.0, help="seconds per attempt")
    top.add_argument("--deadline", type=float, default=60.0, help="seconds for all attempts of one request")
    sub = top.add_subparsers(dest="command", required=True)

    sub.add_parser("health", help="probe every endpoint's readiness")
    cmd = sub.add_parser("provision", help="create or replace a mailbox (platform)")
    cmd.add_argument("mailbox")
    cmd.add_argument("--name", required=True, help="display name")
    cmd.add_argument("--pin")
    cmd = sub.add_parser("login", help="open a subscriber session; prints the token")
    cmd.add_argument("mailbox")
    cmd.add_argument("--pin", required=True)
    cmd = sub.add_parser("deposit", help="leave a message (platform)")
    cmd.add_argument("mailbox")
    cmd.add_argument("file", type=Path)
    cmd.add_argument("--from", dest="sender")
    cmd.add_argument("--from-name")
    cmd.add_argument("--urgent", action="store_true")
    cmd.add_argument("--content-type", help="default: from the file's extension")
    cmd.add_argument("--idempotency-key", help="default: a new one, reused by every retry")
    cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    cmd = sub.add_parser("list", help="list messages")
    cmd.add_argument("mailbox")
    cmd.add_argument("--folder", choices=["inbox", "saved", "trash"])
    cmd.add_argument("--heard", type=_bool)
    cmd.add_argument("--urgent", type=_bool)
    cmd.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    cmd = sub.add_parser("get", help="one message")
    cmd.add_argument("mailbox")
    cmd.add_argument("message")
    cmd = sub.add_parser("download", help="a message's audio, to a file or the speaker")
    cmd.add_argument("mailbox")
    cmd.add_argument("message")
    cmd.add_argument("--format", default="opus", choices=["opus", "wav", "mp3", "original"])
    cmd.add_argument("-o", "--output", type=Path, help="default: MESSAGE.FORMAT")
    cmd.add_argument("--play", action="store_true", help="play it (ffplay, aplay or afplay) instead of keeping it")
    cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    cmd = sub.add_parser("mark", help="set heard / folder / urgent")
    cmd.add_argument("mailbox")
    cmd.add_argument("message")
    cmd.add_argument("--heard", dest="heard", action="store_true", default=None)
    cmd.add_argument("--unheard", dest="heard", action="store_false")
    cmd.add_argument("--folder", choices=["inbox", "saved", "trash"])
    cmd.add_argument("--urgent", dest="urgent", action="store_true", default=None)
    cmd.add_argument("--not-urgent", dest="urgent", action="store_false")
    cmd.add_argument("--if-match", help="the ETag the change is conditional on")
    cmd = sub.add_parser("delete", help="move to trash, or --purge for good")
    cmd.add_argument("mailbox")
    cmd.add_argument("message")
    cmd.add_argument("--purge", action="store_true")
    cmd = sub.add_parser("sweep", help="start a sweep or read its status (platform)")
    cmd.add_argument("action", choices=["start", "status"])
    cmd.add_argument("what", help="start: retention|replication; status: the instance id")
    cmd = sub.add_parser("notify", help="set, show or verify a mailbox's notification targets")
    cmd.add_argument("action", choices=["set", "show", "verify"])
    cmd.add_argument("mailbox")
    cmd.add_argument("--webhook", action="append", default=[], metavar="URL", help="a webhook (platform; repeat)")
    cmd.add_argument("--email", action="append", default=[], metavar="ADDRESS[:mp3|wav|opus|none]",
                     help="an e-mail target and the audio it attaches (default mp3; repeat)")
    cmd.add_argument("--sms", action="append", default=[], metavar="NUMBER", help="an SMS target (E.164; repeat)")
    cmd.add_argument("--delete-after-email", action="store_true", help="trash a message once every e-mail has it")
    cmd.add_argument("--code", help="verify: the 6-digit code the --email or --sms target was sent")
    cmd = sub.add_parser("dead-letters", help="notifications that kept failing: list or replay (platform)")
    cmd.add_argument("action", choices=["list", "replay"])
    cmd.add_argument("event", nargs="?", help="replay: the event id")
    cmd.add_argument("--mailbox", help="list: only this mailbox's")
    add_operator_parsers(sub)
    return top


def _bool(text: str) -> bool:
    if text.lower() in {"true", "yes", "1"}:
        return True
    if text.lower() in {"false", "no", "0"}:
        return False
    raise argparse.ArgumentTypeError("true or false")


# -- commands: each returns what to print (a dict, a list of rows) or None ------------------------

def _health(client: VoicemailClient, args: argparse.Namespace, out: TextIO) -> list[dict]:
    return [{"endpoint": row["endpoint"], "ready": "yes" if row["healthy"] else "NO", "problem": row["problem"] or ""}
            for row in client.health()]


def _provision(client: VoicemailClient, args: argparse.Namespace, out: TextIO) -> dict:
    return client.provision(args.mailbox, args.name, args.pin)


def _login(client: VoicemailClient, args: argparse.Namespace, out: TextIO) -> dict:
    return client.login(args.mailbox, args.pin)


def _deposit(client: VoicemailClient, args: argparse.Namespace, out: TextIO) -> dict:
    bar = None if args.quiet else ProgressBar(f"deposit {args.file.name}")
    try:
        return client.deposit(args.mailbox, args.file, args.content_type, sender=args.sender,
                              sender_name=args.from_name, urgent=args.urgent,
                              idempotency_key=args.idempotency_key, progress=bar)
    finally:
        if bar:
            bar.finish()


def _list(client: VoicemailClient, args: argparse.Namespace, out: TextIO) -> list[dict]:
    rows = []
    for message in client.list_messages(args.mailbox, folder=args.folder, heard=args.heard, urgent=args.urgent,
                                        limit=min(args.limit, 200)):
        rows.append(message)
        if len(rows) >= args.limit:
            break
    return rows if args.json else [_message_row(m) for m in rows]


def _get(client: VoicemailClient, args: argparse.Namespace, out: TextIO) -> dict:
    return client.get_message(args.mailbox, args.message)


def _download(client: VoicemailClient, args: argparse.Namespace, out: TextIO) -> dict:
    bar = None if args.quiet else ProgressBar(f"download {args.message}")
    try:
        data, content_type = client.download(args.mailbox, args.message, args.format, progress=bar)
    finally:
        if bar:
            bar.finish()
    suffix = {"opus": ".ogg", "original": ""}.get(args.format, f".{args.format}")
    if args.play:
        with tempfile.NamedTemporaryFile(suffix=suffix) as audio:
            audio.write(data)
            audio.flush()
            return {"played": play(Path(audio.name)), "bytes": len(data), "contentType": content_type}
    target = args.output or Path(f"{args.message}{suffix}")
    target.write_bytes(data)
    return {"saved": str(target), "bytes": len(data), "contentType": content_type}


def play(path: Path) -> str:
    for player in (["ffplay", "-nodisp", "-autoexit", "-loglevel", "error"], ["aplay", "-q"], ["afplay"]):
        if shutil.which(player[0]):
            subprocess.run([*player, str(path)], check=True)  # noqa: S603 - a fixed player, our temp file
            return player[0]
    raise SystemExit("no audio player found (ffplay, aplay or afplay); use -o FILE instead")


def _mark(client: VoicemailClient, args: argparse.Namespace, out: TextIO) -> dict:
    return client.mark(args.mailbox, args.message, heard=args.heard, folder=args.folder, urgent=args.urgent,
                       etag=args.if_match)


def _delete(client: VoicemailClient, args: argparse.Namespace, out: TextIO) -> dict:
    client.delete(args.mailbox, args.message, purge=args.purge)
    return {"deleted": args.message, "purged": args.purge}


def _sweep(client: VoicemailClient, args: argparse.Namespace, out: TextIO) -> dict:
    if args.action == "start":
        return client.start_sweep(args.what)
    status = client.sweep_status(args.what)
    return {"runtimeStatus": status.get("runtimeStatus"), **(status.get("output") or {})}


def _notify(client: VoicemailClient, args: argparse.Namespace, out: TextIO) -> dict | list[dict]:
    if args.action == "verify":
        if not args.code or len(args.email) + len(args.sms) != 1:
            raise SystemExit("notify verify: one --email ADDRESS or --sms NUMBER, and --code")
        address = args.email[0].partition(":")[0] if args.email else None
        client.verify_target(args.mailbox, args.code, address=address, number=args.sms[0] if args.sms else None)
        return {"verified": address or args.sms[0]}
    if args.action == "show":
        answer = client.get_notifications(args.mailbox)
    else:
        targets = [{"kind": "webhook", "url": url} for url in args.webhook]
        for given in args.email:
            address, _, attach = given.partition(":")
            targets.append({"kind": "email", "address": address, "attach": attach or "mp3"})
        targets += [{"kind": "sms", "number": number} for number in args.sms]
        answer = client.set_notifications(args.mailbox, targets, args.delete_after_email)
    if args.json:
        return answer
    rows = [{"kind": t["kind"], "target": t.get("url") or t.get("address") or t.get("number"),
             "attach": t.get("attach", ""), "verified": {True: "yes", False: "no"}.get(t.get("verified"), ""),
             "secret": t.get("secret", "")} for t in answer["targets"]]
    if any(row["secret"] for row in rows):
        print("keep each webhook secret now: it is not shown again", file=sys.stderr)
    return rows or {"targets": "none", "deleteAfterEmail": answer["deleteAfterEmail"]}


def _dead_letters(client: VoicemailClient, args: argparse.Namespace, out: TextIO) -> dict | list[dict]:
    if args.action == "replay":
        if not args.event:
            raise SystemExit("dead-letters replay needs the event id")
        return client.replay_dead_letter(args.event)
    letters = client.dead_letters(args.mailbox)
    if args.json:
        return letters
    return [{"id": d["id"], "mailbox": d["mailboxId"], "type": d["type"], "deadAt": d.get("deadAt") or "",
             "lastError": next((x["lastError"] for x in d["deliveries"] if not x["done"]), "") or ""}
            for d in letters]


COMMANDS = {"health": _health, "provision": _provision, "login": _login, "deposit": _deposit, "list": _list,
            "get": _get, "download": _download, "mark": _mark, "delete": _delete, "sweep": _sweep,
            "notify": _notify, "dead-letters": _dead_letters, **OPERATOR_COMMANDS}


# -- output ---------------------------------------------------------------------------------------

def _message_row(message: dict) -> dict:
    sender = message.get("from") or {}
    return {"id": message["id"], "receivedAt": message.get("receivedAt", "")[:19].replace("T", " "),
            "from": " ".join(filter(None, [sender.get("number"), sender.get("name")])),
            "durationMs": message.get("durationMs") or "", "folder": message.get("folder"),
            "heard": "yes" if message.get("heard") else "", "urgent": "!" if message.get("urgent") else "",
            "status": message.get("status") if message.get("status") != "failed"
            else f"failed ({message.get('error')})"}


def render(result: Any, out: TextIO) -> None:
    """A list of rows as an aligned table; a dict as `key  value` lines."""
    if isinstance(result, list):
        print(table(result), file=out)
    elif isinstance(result, dict):
        width = max((len(k) for k in result), default=0)
        for key, value in result.items():
            shown = json.dumps(value) if isinstance(value, dict | list) else ("" if value is None else value)
            print(f"{key:<{width}}  {shown}", file=out)


def table(rows: list[dict]) -> str:
    if not rows:
        return "(none)"
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[str("" if row.get(c) is None else row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


class ProgressBar:
    """`name [#########-----------]  45%  28.8/64.0 KiB` on stderr, redrawn at most 10 times a second."""

    def __init__(self, name: str, stream: TextIO | None = None, width: int = 30):
        self.name, self.stream, self.width = name, stream or sys.stderr, width
        self._last = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and total is not None and done < total:
            return
        self._last = now
        if total:
            filled = int(self.width * done / total)
            line = (f"{self.name} [{'#' * filled}{'-' * (self.width - filled)}] {100 * done // total:3d}%  "
                    f"{done / 1024:.1f}/{total / 1024:.1f} KiB")
        else:
            line = f"{self.name} {done / 1024:.1f} KiB"
        self.stream.write("\r" + line)
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


if __name__ == "__main__":
    sys.exit(main())
