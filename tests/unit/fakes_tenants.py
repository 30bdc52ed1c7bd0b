"""Tenants and their keys in memory (TenantRepository), as the Cosmos adapter keeps them."""

from __future__ import annotations

from dataclasses import replace

from shared.domain.classes import ClassRecord
from shared.domain.errors import EtagMismatch
from shared.domain.tenants import Tenant, TenantKey


class FakeTenants:
    def __init__(self) -> None:
        self.tenants: dict[str, Tenant] = {}
        self.keys: dict[tuple[str, str], TenantKey] = {}
        self.classes: dict[tuple[str, str], ClassRecord] = {}
        self.class_reads = 0  # class lookups that reached the store (the resolver's cache test counts them)
        self.reads = 0  # key lookups that reached the store (the cache's test counts them)
        self._version = 0

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        return self.tenants.get(tenant_id)

    def save_tenant(self, tenant: Tenant) -> Tenant:
        current = self.tenants.get(tenant.id)
        if (current.etag if current else None) != tenant.etag:
            raise EtagMismatch("storing a tenant: it changed meanwhile")
        self._version += 1
        self.tenants[tenant.id] = replace(tenant, etag=str(self._version))
        return self.tenants[tenant.id]

    def save_key(self, key: TenantKey) -> None:
        self.keys[(key.tenant, key.key_id)] = key

    def get_key_hash(self, tenant_id: str, key_id: str) -> str | None:
        self.reads += 1
        found = self.keys.get((tenant_id, key_id))
        return found.hash if found else None

    def list_keys(self, tenant_id: str) -> list[TenantKey]:
        return sorted((k for (t, _), k in self.keys.items() if t == tenant_id), key=lambda k: k.created_at)

    def delete_key(self, tenant_id: str, key_id: str) -> bool:
        return self.keys.pop((tenant_id, key_id), None) is not None

    def get_class(self, tenant_id: str, name: str) -> ClassRecord | None:
        self.class_reads += 1
        return self.classes.get((tenant_id, name))

    def save_class(self, record: ClassRecord) -> ClassRecord:
        current = self.classes.get((record.tenant, record.name))
        if (current.etag if current else None) != record.etag:
            raise EtagMismatch("storing a class: it changed meanwhile")
        self._version += 1
        self.classes[(record.tenant, record.name)] = replace(record, etag=str(self._version))
        return self.classes[(record.tenant, record.name)]

    def classes_with_retention_changed(self) -> list[ClassRecord]:
        return [record for record in self.classes.values() if record.retention_pending]
