"""Tenants and their keys: what the operator manages (API.md, "Tenants and classes of service").

The operator creates tenants and issues, lists and revokes their keys; it never reaches a mailbox
(the boundary refuses it every mailbox route). A revoked key's record is deleted; every process
looks keys up through `TenantKeys`, which remembers an answer at most `KEY_CACHE_S`, so a revoked
key answers 401 within that time plus replication lag in every region (the contract: 5 s).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

from shared.domain.errors import EtagMismatch, Forbidden, NotFound, TenantNotFound, TooManyKeys
from shared.domain.model import utcnow
from shared.domain.principal import Principal
from shared.domain.tenancy import DEFAULT
from shared.domain.tenants import MAX_LIVE_KEYS, PutTenant, Tenant, mint_key
from shared.ports import TenantRepository

KEY_CACHE_S = 2.0  # under the contract's 5 s, leaving room for replication between regions


def require_operator(principal: Principal) -> None:
    if principal.kind != "operator":
        raise Forbidden("this route is for the operator only")


class TenantKeys:
    """A tenant key's live hash by (tenant, keyId), each answer (None too) remembered briefly."""

    def __init__(self, read: Callable[[str, str], str | None], ttl_s: float = KEY_CACHE_S,
                 clock: Callable[[], float] = time.monotonic, max_entries: int = 10_000):
        self._read, self._ttl_s, self._clock, self._max_entries = read, ttl_s, clock, max_entries
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, str | None]] = {}

    def hash_of(self, tenant: str, key_id: str) -> str | None:
        now = self._clock()
        with self._lock:
            cached = self._cache.get((tenant, key_id))
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        found = self._read(tenant, key_id)
        self.forget(tenant, key_id, found, now)
        return found

    def forget(self, tenant: str, key_id: str, found: str | None = None, at: float | None = None) -> None:
        """What this process now knows of the key (a revoke here takes effect here at once)."""
        with self._lock:
            if len(self._cache) >= self._max_entries:
                self._cache.clear()
            self._cache[(tenant, key_id)] = (self._clock() if at is None else at, found)


class TenantService:
    def __init__(self, store: TenantRepository, keys: TenantKeys):
        self._store = store
        self._keys = keys

    def put(self, principal: Principal, tenant_id: str, command: PutTenant) -> tuple[dict[str, object], bool]:
        """Create or update: (the tenant, created?)."""
        require_operator(principal)
        for _ in range(3):
            found = self._store.get_tenant(tenant_id)
            now = utcnow()
            if found is None:
                wanted = Tenant(tenant_id, command.displayName, command.budgets, now, now)
            else:
                wanted = replace(found, display_name=command.displayName, budgets=command.budgets, updated_at=now)
            try:
                return self._store.save_tenant(wanted).to_api(), found is None
            except EtagMismatch:
                continue
        raise EtagMismatch("the tenant kept changing; try again")

    def get(self, principal: Principal, tenant_id: str) -> dict[str, object]:
        require_operator(principal)
        return self.existing(tenant_id).to_api()

    def existing(self, tenant_id: str) -> Tenant:
        """The tenant; tenant `default` exists without a record (its keys are the configured ones)."""
        found = self._store.get_tenant(tenant_id)
        if found is None:
            if tenant_id == DEFAULT:
                return Tenant(DEFAULT, "Default", None, utcnow().replace(year=2026, month=1, day=1), utcnow())
            raise TenantNotFound(f"no tenant {tenant_id}")
        return found

    def issue_key(self, principal: Principal, tenant_id: str) -> dict[str, object]:
        require_operator(principal)
        if tenant_id == DEFAULT:
            raise Forbidden("tenant default's keys are configured (PLATFORM_KEY_HASHES), not issued")
        self.existing(tenant_id)
        if len(self._store.list_keys(tenant_id)) >= MAX_LIVE_KEYS:
            raise TooManyKeys(f"a tenant has at most {MAX_LIVE_KEYS} live keys; revoke one first")
        record, key = mint_key(tenant_id, utcnow())
        self._store.save_key(record)
        return {"keyId": record.key_id, "key": key, "createdAt": record.to_api()["createdAt"]}

    def list_keys(self, principal: Principal, tenant_id: str) -> dict[str, object]:
        require_operator(principal)
        self.existing(tenant_id)
        return {"items": [key.to_api() for key in self._store.list_keys(tenant_id)]}

    def revoke_key(self, principal: Principal, tenant_id: str, key_id: str) -> None:
        require_operator(principal)
        self.existing(tenant_id)
        if not self._store.delete_key(tenant_id, key_id):
            raise NotFound(f"tenant {tenant_id} has no live key {key_id}")
        self._keys.forget(tenant_id, key_id)
