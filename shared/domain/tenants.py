"""A tenant and its platform keys (API.md, "Tenants and classes of service").

A tenant key is `vm.{tenantId}.{keyId}.{secret}`: its tenant and id are in it, so authenticating it
is one point read of its record (never a scan of every tenant's keys), and the record holds only the
key's SHA-256 (a key is 256 random bits: a slow hash would add nothing but latency). The key itself
is shown once, when it is issued.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.model import iso
from shared.domain.tenancy import TENANT_ID

KEY_PREFIX = "vm"
KEY_ID = re.compile(r"^[0-9a-f]{12}$")
CLASS_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")  # a class of service's name (`standard`: everyone's default)
MAX_LIVE_KEYS = 10  # several at once, for rotation; a leak is revoked, not outnumbered


class Budgets(BaseModel):
    """What a tenant may use (API.md, "Budgets"); absent: no tenant-wide limit."""

    model_config = ConfigDict(extra="forbid")
    requestsPerSecond: int | None = Field(None, ge=1, le=100_000)
    notificationsPerHour: int | None = Field(None, ge=1, le=10_000_000)


class PutTenant(BaseModel):
    """The body of `PUT /api/tenants/{tenantId}`."""

    model_config = ConfigDict(extra="forbid")
    displayName: str = Field(min_length=1, max_length=100)
    budgets: Budgets | None = None


@dataclass(frozen=True)
class Tenant:
    id: str
    display_name: str
    budgets: Budgets | None
    created_at: datetime
    updated_at: datetime
    etag: str | None = None

    def to_api(self) -> dict[str, object]:
        return {"id": self.id, "displayName": self.display_name,
                "budgets": self.budgets.model_dump(exclude_none=True) if self.budgets else None,
                "createdAt": iso(self.created_at), "updatedAt": iso(self.updated_at)}


@dataclass(frozen=True)
class TenantKey:
    tenant: str
    key_id: str
    hash: str  # SHA-256 of the whole key, hex
    created_at: datetime

    def to_api(self) -> dict[str, object]:
        return {"keyId": self.key_id, "createdAt": iso(self.created_at)}


def mint_key(tenant: str, now: datetime) -> tuple[TenantKey, str]:
    """A new key for the tenant: its record and the key (shown once)."""
    key_id = secrets.token_hex(6)
    key = f"{KEY_PREFIX}.{tenant}.{key_id}.{secrets.token_urlsafe(32)}"
    return TenantKey(tenant, key_id, hash_key(key), now), key


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_key(key: str) -> tuple[str, str] | None:
    """(tenant, keyId) of a key shaped as a tenant key, else None (a configured platform key)."""
    prefix, _, rest = key.partition(".")
    tenant, _, rest = rest.partition(".")
    key_id, _, secret = rest.partition(".")
    if prefix != KEY_PREFIX or not TENANT_ID.fullmatch(tenant) or not KEY_ID.fullmatch(key_id) or not secret:
        return None
    return tenant, key_id


def key_matches(key: str, stored_hash: str | None) -> bool:
    """Constant time; False when there is no record (unknown or revoked)."""
    presented = hash_key(key)
    return hmac.compare_digest(presented, stored_hash if stored_hash is not None else "0" * len(presented)) \
        and stored_hash is not None
