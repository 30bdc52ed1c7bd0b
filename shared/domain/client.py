"""Who a request comes from, for per-client limits (the contract's "Budgets" rule).

`X-Azure-ClientIP` and `X-Forwarded-For` name the client only when the request carries this
deployment's Front Door id (`X-Azure-FDID`, compared in constant time); anyone can send those
headers. Otherwise the client is the connection's peer, which the platform's front end (App Service,
Flex Consumption; devstack/localhost/http_server.py locally) appends to `X-Forwarded-For` as its last
entry, sometimes with a port.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

UNKNOWN = "unknown"


def _host(entry: str) -> str:
    """The address of `ip`, `ip:port`, `[v6]` or `[v6]:port`; a bare IPv6 address as it is."""
    entry = entry.strip()
    if entry.startswith("["):
        return entry[1:entry.find("]")] if "]" in entry else entry
    return entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry


def from_front_door(headers: Mapping[str, str], front_door_id: str | None) -> bool:
    given = (headers.get("x-azure-fdid") or "").strip().lower()
    return bool(front_door_id) and hmac.compare_digest(given.encode(), front_door_id.strip().lower().encode())


def client_address(headers: Mapping[str, str], front_door_id: str | None) -> str:
    """The client's address: Front Door's client IP (else the first forwarded entry) on this
    deployment's Front Door traffic, the connection's peer otherwise; `unknown` when neither is given."""
    forwarded = [entry for entry in (headers.get("x-forwarded-for") or "").split(",") if entry.strip()]
    if from_front_door(headers, front_door_id):
        named = (headers.get("x-azure-clientip") or "").strip() or (forwarded[0] if forwarded else "")
    else:
        named = forwarded[-1] if forwarded else ""
    return _host(named)[:64] or UNKNOWN
