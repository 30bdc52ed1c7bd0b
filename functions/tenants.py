"""Tenant routes: the operator's tenants and their keys (shared/services/tenants.py)."""

from __future__ import annotations

import azure.functions as func

from functions.http import json_response
from functions.table import OPERATOR, OPERATOR_ONLY, ROUTES, Answer, Call
from shared.domain.errors import EtagMismatch, NotFound, TenantNotFound, TooManyKeys
from shared.domain.tenants import KEY_ID, PutTenant

TENANT = "tenants/{tenantId}"
KEYS = f"{TENANT}/keys"
TENANT_SCHEMA = {
    "type": "object", "required": ["id", "displayName", "budgets", "createdAt", "updatedAt"],
    "additionalProperties": False,
    "properties": {"id": {"type": "string"}, "displayName": {"type": "string"},
                   "budgets": {"type": ["object", "null"], "properties": {
                       "requestsPerSecond": {"type": "integer"}, "notificationsPerHour": {"type": "integer"}}},
                   "createdAt": {"type": "string", "format": "date-time"},
                   "updatedAt": {"type": "string", "format": "date-time"}},
}
KEY_SCHEMA = {"type": "object", "required": ["keyId", "createdAt"], "additionalProperties": False,
              "properties": {"keyId": {"type": "string", "pattern": KEY_ID.pattern},
                             "createdAt": {"type": "string", "format": "date-time"}}}
ISSUED_SCHEMA = {"type": "object", "required": ["keyId", "key", "createdAt"], "additionalProperties": False,
                 "properties": {**KEY_SCHEMA["properties"], "key": {
                     "type": "string", "description": "the key itself, as `x-api-key`: shown only here"}}}


@ROUTES.route("PUT", TENANT, tag="tenants", summary="Create or update a tenant", principals=OPERATOR_ONLY,
              audited=(OPERATOR,),
              request=PutTenant,
              answers={201: Answer("created", TENANT_SCHEMA), 200: Answer("updated", TENANT_SCHEMA)},
              errors=(EtagMismatch,))
def put_tenant(call: Call) -> func.HttpResponse:
    tenant, created = call.app.tenants.put(call.principal, call.tenant, call.body)
    return json_response(tenant, status=201 if created else 200)


@ROUTES.route("GET", TENANT, tag="tenants", summary="Read a tenant", principals=OPERATOR_ONLY,
              audited=(OPERATOR,),
              answers={200: Answer("the tenant", TENANT_SCHEMA)}, errors=(TenantNotFound,))
def get_tenant(call: Call) -> func.HttpResponse:
    return json_response(call.app.tenants.get(call.principal, call.tenant))


@ROUTES.route("POST", KEYS, tag="tenants", summary="Issue a platform key for the tenant", principals=OPERATOR_ONLY,
              audited=(OPERATOR,),
              description="The key is in this answer only; only its SHA-256 is kept. Several keys may be live at "
                          "once (rotation: issue, move the clients, revoke the old one).",
              answers={201: Answer("the new key", ISSUED_SCHEMA)}, errors=(TenantNotFound, TooManyKeys))
def issue_tenant_key(call: Call) -> func.HttpResponse:
    return json_response(call.app.tenants.issue_key(call.principal, call.tenant), status=201)


@ROUTES.route("GET", KEYS, tag="tenants", summary="List the tenant's live keys", principals=OPERATOR_ONLY,
              audited=(OPERATOR,),
              answers={200: Answer("ids and creation times, never the keys", {
                  "type": "object", "required": ["items"], "additionalProperties": False,
                  "properties": {"items": {"type": "array", "items": KEY_SCHEMA}}})},
              errors=(TenantNotFound,))
def list_tenant_keys(call: Call) -> func.HttpResponse:
    return json_response(call.app.tenants.list_keys(call.principal, call.tenant))


@ROUTES.route("DELETE", f"{KEYS}/{{keyId}}", tag="tenants", summary="Revoke a tenant key", principals=OPERATOR_ONLY,
              audited=(OPERATOR,),
              description="The key answers 401 within 5 s in every region.",
              answers={204: Answer("revoked")}, errors=(TenantNotFound, NotFound))
def revoke_tenant_key(call: Call) -> func.HttpResponse:
    key_id = call.req.route_params.get("keyId", "")
    if not KEY_ID.fullmatch(key_id):
        raise NotFound(f"tenant {call.tenant} has no live key {key_id[:40]}")
    call.app.tenants.revoke_key(call.principal, call.tenant, key_id)
    return func.HttpResponse(status_code=204, headers={"Cache-Control": "no-store"})
