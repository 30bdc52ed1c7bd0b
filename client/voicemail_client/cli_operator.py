"""The operator's commands of `voicemail` (API.md, "Tenants and classes of service"):

    voicemail tenants put acme --name "Acme Mobile" [--requests-per-second 200 --notifications-per-hour 5000]
    voicemail tenants get acme
    voicemail keys issue acme ; voicemail keys list acme ; voicemail keys revoke acme KEY_ID
    voicemail classes put acme premium premium.json   (or inline: '{"limits":{"maxMessages":500}}')
    voicemail classes get acme premium
    voicemail usage acme --from 2026-12-01 --to 2026-12-31
    voicemail --tenant acme --api-key KEY provision +15551234567 --name Ann   (a tenant's mailboxes)

The operator's key comes from --operator-key or VOICEMAIL_OPERATOR_KEY; against local endpoints
only (127.0.0.1, localhost) it defaults to `local-operator-key`, the one `make run` configures.
Classes are the tenant's: they go with its platform key (--api-key), else the operator's.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from voicemail_client.client import VoicemailClient

LOCAL_OPERATOR_KEY = "local-operator-key"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
USAGE_FIELDS = ("deposits", "audioSeconds", "transcriptionSeconds", "emails", "sms", "webhooks")


def operator_key(given: str | None, endpoints: list[str]) -> str | None:
    """--operator-key or VOICEMAIL_OPERATOR_KEY (`given`), else the local one against local endpoints only."""
    if given:
        return given
    if endpoints and all(urlsplit(url).hostname in LOCAL_HOSTS for url in endpoints):
        return LOCAL_OPERATOR_KEY
    return None


def add_parsers(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("tenants", help="create, update or read a tenant (operator)")
    cmd.add_argument("action", choices=["put", "get"])
    cmd.add_argument("tenant")
    cmd.add_argument("--name", help="put: the display name")
    cmd.add_argument("--requests-per-second", type=int, help="put: the tenant's request budget")
    cmd.add_argument("--notifications-per-hour", type=int, help="put: the tenant's notification budget")
    cmd = sub.add_parser("keys", help="issue, list or revoke a tenant's platform keys (operator)")
    cmd.add_argument("action", choices=["issue", "list", "revoke"])
    cmd.add_argument("tenant")
    cmd.add_argument("key_id", nargs="?", help="revoke: the key's id")
    cmd = sub.add_parser("classes", help="set or read a tenant's class of service")
    cmd.add_argument("action", choices=["put", "get"])
    cmd.add_argument("tenant")
    cmd.add_argument("name", help="the class's name")
    cmd.add_argument("body", nargs="?", help="put: a JSON file, or the JSON itself "
                                             '({"defaults","limits","allow","pin"}: API.md)')
    cmd = sub.add_parser("usage", help="a tenant's usage per UTC day (operator, or the tenant's own key)")
    cmd.add_argument("tenant")
    cmd.add_argument("--from", dest="start", type=_day,
                     help="the first day, YYYY-MM-DD (default: the 1st of --to's month)")
    cmd.add_argument("--to", dest="end", type=_day, help="the last day, YYYY-MM-DD (default: today, UTC)")


def _day(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError("a day, YYYY-MM-DD") from None


def _tenants(client: VoicemailClient, args: argparse.Namespace, out: TextIO) -> dict:
    if args.action == "get":
        return client.get_tenant(args.tenant)
    if not args.name:
        raise SystemExit("tenants put needs --name")
    budgets = {k: v for k, v in {"requestsPerSecond": args.requests_per_second,
                                 "notificationsPerHour": args.notifications_per_hour}.items() if v is not None}
    return client.put_tenant(args.tenant, args.name, budgets or None)


def _keys(client: VoicemailClient, args: argparse.Namespace, out: TextIO) -> dict | list[dict]:
    if args.action == "list":
        return client.list_keys(args.tenant)
    if args.action == "issue":
        issued = client.issue_key(args.tenant)
        print("keep this key now: it is not shown again", file=sys.stderr)
        return issued
    if not args.key_id:
        raise SystemExit("keys revoke needs the key's id")
    client.revoke_key(args.tenant, args.key_id)
    return {"revoked": args.key_id, "tenant": args.tenant}


def class_body(given: str | None) -> dict[str, Any]:
    """A class's body from a JSON file or from the JSON itself."""
    if not given:
        raise SystemExit("classes put needs the class: a JSON file or the JSON itself")
    text = given if given.lstrip().startswith("{") else _read(Path(given))
    try:
        body = json.loads(text)
    except ValueError as error:
        raise SystemExit(f"classes put: not JSON ({error})") from None
    if not isinstance(body, dict):
        raise SystemExit("classes put: the class is a JSON object")
    return body


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise SystemExit(f"classes put: cannot read {path} ({error.strerror})") from None


def _classes(client: VoicemailClient, args: argparse.Namespace, out: TextIO) -> dict:
    if args.action == "get":
        return client.get_class(args.tenant, args.name)
    return client.put_class(args.tenant, args.name, class_body(args.body))


def _usage(client: VoicemailClient, args: argparse.Namespace, out: TextIO) -> list[dict]:
    end = args.end or datetime.now(UTC).date().isoformat()
    start = args.start or end[:8] + "01"
    days = client.usage(args.tenant, start, end)
    if args.json:
        return days
    total = {"date": "total", **{name: round(sum(day[name] for day in days), 3) for name in USAGE_FIELDS}}
    return [*days, total]


COMMANDS = {"tenants": _tenants, "keys": _keys, "classes": _classes, "usage": _usage}
