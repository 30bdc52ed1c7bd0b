"""Tenants and their keys in Cosmos DB: each tenant's records in a partition of its own
(`_tenant:{tenantId}`, shared/domain/tenancy.py): `tenant`, `key-{keyId}` (a key's SHA-256;
revoking deletes it, so a key is live exactly while its record exists) and `class-{name}` (a class of
service, shared/domain/classes.py)."""

from __future__ import annotations

import contextlib
from typing import Any

from azure.cosmos.exceptions import CosmosResourceNotFoundError

from shared.adapters.cosmos_client import Documents
from shared.adapters.errors import db_translated
from shared.domain.classes import ClassOfService, ClassRecord
from shared.domain.model import iso, parse_time
from shared.domain.tenancy import tenant_partition
from shared.domain.tenants import Budgets, Tenant, TenantKey

TENANT_DOC_ID = "tenant"


def tenant_to_doc(tenant: Tenant) -> dict[str, Any]:
    return {"id": TENANT_DOC_ID, "mailboxId": tenant_partition(tenant.id), "type": "tenant", "tenantId": tenant.id,
            "displayName": tenant.display_name,
            "budgets": tenant.budgets.model_dump(exclude_none=True) if tenant.budgets else None,
            "createdAt": iso(tenant.created_at), "updatedAt": iso(tenant.updated_at)}


def tenant_from_doc(doc: dict[str, Any]) -> Tenant:
    budgets = doc.get("budgets")
    return Tenant(doc["tenantId"], doc["displayName"], Budgets(**budgets) if budgets is not None else None,
                  parse_time(doc["createdAt"]), parse_time(doc["updatedAt"]), doc.get("_etag"))


def class_to_doc(record: ClassRecord) -> dict[str, Any]:
    return {"id": f"class-{record.name}", "mailboxId": tenant_partition(record.tenant), "type": "class",
            "tenantId": record.tenant, "name": record.name, "rules": record.rules.model_dump(),
            "createdAt": iso(record.created_at), "updatedAt": iso(record.updated_at),
            "retentionChangedAt": iso(record.retention_changed_at),
            "retentionAppliedAt": iso(record.retention_applied_at)}


def class_from_doc(doc: dict[str, Any]) -> ClassRecord:
    return ClassRecord(doc["tenantId"], doc["name"], ClassOfService.model_validate(doc["rules"]),
                       parse_time(doc["createdAt"]), parse_time(doc["updatedAt"]), doc.get("_etag"),
                       parse_time(doc.get("retentionChangedAt")), parse_time(doc.get("retentionAppliedAt")))


class CosmosTenants(Documents):
    """TenantRepository over the app's one container."""

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        doc = self._read_doc(tenant_partition(tenant_id), TENANT_DOC_ID, "reading a tenant")
        return tenant_from_doc(doc) if doc is not None else None

    def save_tenant(self, tenant: Tenant) -> Tenant:
        return tenant_from_doc(self._save_doc(tenant_to_doc(tenant), tenant.etag, "storing a tenant"))

    def save_key(self, key: TenantKey) -> None:
        self._save_doc({"id": f"key-{key.key_id}", "mailboxId": tenant_partition(key.tenant), "type": "tenant-key",
                        "tenantId": key.tenant, "keyId": key.key_id, "hash": key.hash,
                        "createdAt": iso(key.created_at)}, None, "storing a key")

    def get_key_hash(self, tenant_id: str, key_id: str) -> str | None:
        doc = self._read_doc(tenant_partition(tenant_id), f"key-{key_id}", "reading a key")
        return doc["hash"] if doc is not None and doc.get("type") == "tenant-key" else None

    def list_keys(self, tenant_id: str) -> list[TenantKey]:
        with db_translated("listing keys"):
            docs = self._c.query_items("SELECT * FROM c WHERE c.type = 'tenant-key' ORDER BY c.createdAt",
                                       partition_key=tenant_partition(tenant_id), timeout=self._timeout_s)
            return [TenantKey(d["tenantId"], d["keyId"], d["hash"], parse_time(d["createdAt"])) for d in docs]

    def delete_key(self, tenant_id: str, key_id: str) -> bool:
        with db_translated("revoking a key"), contextlib.suppress(CosmosResourceNotFoundError):
            self._c.delete_item(f"key-{key_id}", partition_key=tenant_partition(tenant_id), timeout=self._timeout_s)
            return True
        return False

    def get_class(self, tenant_id: str, name: str) -> ClassRecord | None:
        doc = self._read_doc(tenant_partition(tenant_id), f"class-{name}", "reading a class of service")
        return class_from_doc(doc) if doc is not None and doc.get("type") == "class" else None

    def save_class(self, record: ClassRecord) -> ClassRecord:
        return class_from_doc(self._save_doc(class_to_doc(record), record.etag, "storing a class of service"))

    def classes_with_retention_changed(self) -> list[ClassRecord]:
        with db_translated("listing classes whose retention changed"):
            docs = self._c.query_items("SELECT * FROM c WHERE c.type = 'class' AND IS_DEFINED(c.retentionChangedAt) "
                                       "AND NOT IS_NULL(c.retentionChangedAt)", enable_cross_partition_query=True,
                                       timeout=self._timeout_s)
            return [record for record in map(class_from_doc, docs) if record.retention_pending]
