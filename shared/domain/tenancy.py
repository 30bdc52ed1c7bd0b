"""Tenants: one deployment, many customers (API.md, "Tenants and classes of service").

A mailbox is named inside the system by its *key*: the mailbox id itself for tenant `default`, and
`{tenantId}~{mailboxId}` for every other tenant (`~` is in neither a tenant id nor a mailbox id, so
keys never collide and a key names its tenant). The key is what every store, blob path, queue
payload, token and lock already carried as "the mailbox id", so:

- tenant `default`'s data (everything written before tenants existed) is read where it lies: an
  existing deployment upgrades in place, with nothing copied;
- two tenants' `+15551234567` are two partitions, two blob prefixes, two token subjects, two sets of
  counters and idempotency keys: nothing one does touches the other;
- the boundary (functions/table.py) turns a path's tenant and mailbox id into the key, and the views
  turn a key back into the id (`local_id`) and its API path (`api_path`), so a client never sees one.

The tenants' own records (the tenant, its keys, its classes and usage) live in a partition of their
own, `tenant_partition(tenantId)`.
"""

from __future__ import annotations

import re
from urllib.parse import quote

DEFAULT = "default"
SEPARATOR = "~"
TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
_MAILBOX = r"\+?[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
MAILBOX_KEY = re.compile(rf"^(?:[a-z0-9][a-z0-9-]{{1,31}}{SEPARATOR})?{_MAILBOX}$")
TENANT_PARTITION_PREFIX = "_tenant:"


def key(tenant: str, mailbox_id: str) -> str:
    """The mailbox's key: its id in tenant `default`, `{tenant}~{id}` in any other."""
    return mailbox_id if tenant == DEFAULT else f"{tenant}{SEPARATOR}{mailbox_id}"


def tenant_of(mailbox_key: str) -> str:
    tenant, separator, _ = mailbox_key.partition(SEPARATOR)
    return tenant if separator else DEFAULT


def local_id(mailbox_key: str) -> str:
    """The mailbox id a client knows (the key without its tenant)."""
    return mailbox_key.rpartition(SEPARATOR)[2]


def api_path(mailbox_key: str) -> str:
    """The mailbox's URL path: `/api/mailboxes/{id}` in tenant `default`, else under its tenant."""
    tenant, mailbox_id = tenant_of(mailbox_key), quote(local_id(mailbox_key), safe="")
    if tenant == DEFAULT:
        return f"/api/mailboxes/{mailbox_id}"
    return f"/api/tenants/{tenant}/mailboxes/{mailbox_id}"


def public(mailbox_key: str) -> dict[str, str]:
    """How an event names the mailbox to its consumers (the MWI queue, webhooks, dead letters):
    `mailboxId` as the client knows it, and `tenantId` (tenant `default`'s events read as before)."""
    tenant = tenant_of(mailbox_key)
    return {"mailboxId": local_id(mailbox_key), **({"tenantId": tenant} if tenant != DEFAULT else {})}


def tenant_partition(tenant: str) -> str:
    """The partition of a tenant's own records (not a mailbox key: it has no valid mailbox id)."""
    return f"{TENANT_PARTITION_PREFIX}{tenant}"
