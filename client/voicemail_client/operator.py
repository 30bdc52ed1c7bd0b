"""The operator's calls (tenants, their keys and usage) and a tenant's classes of service, as
`VoicemailClient` makes them (API.md, "Tenants and classes of service")."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote


class NoOperatorKey(Exception):
    """An operator's call without the operator's key: nothing was sent."""


def tenant_path(tenant: str) -> str:
    return f"/tenants/{quote(tenant, safe='')}"


class OperatorCalls:
    """Mixed into VoicemailClient: its `_json`, `api_key` and `operator_key`."""

    api_key: str | None
    operator_key: str | None
    _json: Any

    def _as_operator(self, method: str, path: str, expect: tuple[int, ...], **kwargs: Any) -> Any:
        """A call of the operator's: its key, whatever this client otherwise authenticates with."""
        if not self.operator_key:
            raise NoOperatorKey("the operator's key is needed: give --operator-key or set VOICEMAIL_OPERATOR_KEY")
        return self._json(method, path, expect, headers={"x-api-key": self.operator_key}, auth=False, **kwargs)

    def put_tenant(self, tenant: str, display_name: str, budgets: dict | None = None) -> dict:
        body = {"displayName": display_name, **({"budgets": budgets} if budgets else {})}
        return self._as_operator("PUT", tenant_path(tenant), (200, 201), json=body)

    def get_tenant(self, tenant: str) -> dict:
        return self._as_operator("GET", tenant_path(tenant), (200,))

    def issue_key(self, tenant: str) -> dict:
        """A new platform key for the tenant: {"keyId","key","createdAt"}; the key is shown only now."""
        return self._as_operator("POST", f"{tenant_path(tenant)}/keys", (201,))

    def list_keys(self, tenant: str) -> list[dict]:
        return self._as_operator("GET", f"{tenant_path(tenant)}/keys", (200,))["items"]

    def revoke_key(self, tenant: str, key_id: str) -> None:
        self._as_operator("DELETE", f"{tenant_path(tenant)}/keys/{quote(key_id, safe='')}", (204,))

    def usage(self, tenant: str, start: str, end: str) -> list[dict]:
        """Every UTC day from `start` to `end` (YYYY-MM-DD, both included) with its sums: with the
        operator's key, or else the tenant's own platform key."""
        answer = self._json("GET", f"{tenant_path(tenant)}/usage", (200,), params={"from": start, "to": end},
                            headers=self._key(self.operator_key, self.api_key), auth=False)
        return answer["days"]

    def put_class(self, tenant: str, name: str, body: dict) -> dict:
        """A class of service (API.md: `defaults`, `limits`, `allow`, `pin`), with the tenant's key
        (the operator's when this client has no platform key)."""
        return self._json("PUT", f"{tenant_path(tenant)}/classes/{quote(name, safe='')}", (200, 201), json=body,
                          headers=self._key(self.api_key, self.operator_key), auth=False)

    def get_class(self, tenant: str, name: str) -> dict:
        return self._json("GET", f"{tenant_path(tenant)}/classes/{quote(name, safe='')}", (200,),
                          headers=self._key(self.api_key, self.operator_key), auth=False)

    @staticmethod
    def _key(*keys: str | None) -> dict[str, str]:
        """`x-api-key` with the first key given (none: the call goes without, and the API says 401)."""
        key = next((k for k in keys if k), None)
        return {"x-api-key": key} if key else {}
