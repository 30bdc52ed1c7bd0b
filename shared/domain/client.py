"""Who a request comes from, for per-client limits (the contract's "Budgets" rule).

`X-Azure-ClientIP` and `X-Forwarded-For` name the client only when the request carries this
deployment's Front Door id (`X-Azure-FDID`, compared in constant time); anyone can send those
headers. Otherwise the client is the connection's peer, which the platform's front end (App Service,
Flex Consumption; devstack/localhost/http_server.py locally) appends to `X-Forwarded-For` as its last
entry, sometimes with a port. A peer inside a trusted proxy's range (TRUSTED_PROXY_RANGES: the
stamp's IMAP gateway subnet, which alone of private addresses reaches the API, infra/modules/access.bicep)
is a proxy: the entry before it, which that proxy appended, names the client.

A budget counts an IPv6 client by its /64 (`budget_key`): one subscriber line or host is given a
whole /64 (RFC 6177), so counting single addresses would hand anyone 2^64 fresh budgets.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

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


def client_address(headers: Mapping[str, str], front_door_id: str | None,
                   trusted_proxies: Sequence[Network] = ()) -> str:
    """The client's address: Front Door's client IP (else the first forwarded entry) on this
    deployment's Front Door traffic; otherwise the connection's peer, or, when the peer is a trusted
    proxy, the entry it appended before it (one hop per trusted proxy); `unknown` when none is given."""
    forwarded = [entry for entry in (headers.get("x-forwarded-for") or "").split(",") if entry.strip()]
    if from_front_door(headers, front_door_id):
        named = (headers.get("x-azure-clientip") or "").strip() or (forwarded[0] if forwarded else "")
    else:
        at = len(forwarded) - 1
        while at > 0 and _trusted(_host(forwarded[at]), trusted_proxies):
            at -= 1
        named = forwarded[at] if forwarded else ""
    return _host(named)[:64] or UNKNOWN


def budget_key(address: str) -> str:
    """What a per-client budget counts: an IPv6 address as its /64 (`2001:db8:1:2::/64`), an
    IPv4-mapped one as its IPv4 address, anything else as it is. The audit keeps the address itself."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 4:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((ip, 64), strict=False))


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    if not proxies:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)
