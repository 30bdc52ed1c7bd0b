"""Tenant isolation at the boundary, generated from the operation table: every mailbox route, under
every tenant, refuses another tenant's key and token as it refuses an unknown mailbox (404, before
any service is asked) and refuses the operator (403); the twins take the same checks as their routes."""

from __future__ import annotations

import pytest

from functions.catalog import ROUTES
from functions.provider import APP
from functions.table import IN_TENANT, OPERATOR_ONLY, PLATFORM_ONLY
from shared.domain import tenancy
from shared.domain.principal import OPERATOR, Principal
from tests.support import route_functions
from tests.unit.functions.test_table import ROUTE_PARAMS, Guarded, invoke, problem, request

MAILBOX_ROUTES = [op.name for op in ROUTES if "mailboxId" in op.path_names and op.principals]
ACME_KEY = Principal("platform", key_id="0123456789ab", tenant="acme")
ACME_TOKEN = Principal("subscriber", tenancy.key("acme", ROUTE_PARAMS["mailboxId"]))
DEFAULT_TOKEN = Principal("subscriber", ROUTE_PARAMS["mailboxId"])


def params(op, tenant: str | None = None) -> dict[str, str]:
    found = {n: ROUTE_PARAMS[n] for n in op.path_names}
    return {**found, "tenantId": tenant} if tenant is not None and "tenantId" in found else found


def test_every_mailbox_route_has_its_twin_under_a_tenant_with_the_same_entry():
    for op in ROUTES:
        if op.path.startswith("mailboxes/{mailboxId}"):
            twin = ROUTES[op.name + IN_TENANT]
            assert twin.path == f"tenants/{{tenantId}}/{op.path}" and twin.handler is op.handler
            assert (twin.method, twin.principals, twin.errors, twin.request) == (
                op.method, op.principals, op.errors, op.request)
    assert len([op for op in ROUTES if op.name.endswith(IN_TENANT)]) >= 27


@pytest.mark.parametrize(("name", "who"), [(name, who) for name in MAILBOX_ROUTES for who in (ACME_KEY, ACME_TOKEN)
                                           if who.kind in ROUTES[name].principals])
def test_another_tenants_key_or_token_is_an_unknown_mailbox(name, who):
    op = ROUTES[name]
    tenant = "beta" if name.endswith(IN_TENANT) else None  # beta's path, or tenant default's (no tenant)
    with APP.override(Guarded(who)):
        response = invoke(route_functions()[name], request(op, params(op, tenant)))
    assert problem(response) == (404, "mailbox-not-found")


@pytest.mark.parametrize("name", [n for n in MAILBOX_ROUTES if n.endswith(IN_TENANT)])
def test_default_tenants_key_and_token_are_unknown_under_another_tenant(name):
    op = ROUTES[name]
    for who in ("platform", "subscriber"):
        if who not in op.principals:
            continue
        with APP.override(Guarded(Principal("platform") if who == "platform" else DEFAULT_TOKEN)):
            response = invoke(route_functions()[name], request(op, params(op, "acme")))
        assert problem(response) == (404, "mailbox-not-found")


@pytest.mark.parametrize("name", MAILBOX_ROUTES)
def test_the_operator_never_reaches_a_mailbox(name):
    op = ROUTES[name]
    with APP.override(Guarded(OPERATOR)):
        response = invoke(route_functions()[name], request(op, params(op, "acme")))
    assert problem(response) == (403, "forbidden")


@pytest.mark.parametrize("name", [op.name for op in ROUTES if "tenantId" in op.path_names])
def test_a_malformed_tenant_id_is_400_before_credentials(name):
    op = ROUTES[name]
    with APP.override(Guarded(None)):  # an authenticator asked for fails the test
        response = invoke(route_functions()[name], request(op, {**params(op), "tenantId": "Not_A_Tenant"}))
    assert problem(response) == (400, "validation-failed")


@pytest.mark.parametrize("name", [op.name for op in ROUTES if op.principals == OPERATOR_ONLY])
def test_tenant_routes_are_the_operators(name):
    op = ROUTES[name]
    for who in (Principal("platform"), ACME_KEY):
        with APP.override(Guarded(who)):
            response = invoke(route_functions()[name], request(op, params(op, "acme")))
        assert problem(response) == (403, "forbidden")


@pytest.mark.parametrize("name", [op.name for op in ROUTES if op.path.startswith("admin/")])
def test_admin_routes_are_tenant_defaults_platform_keys_only(name):
    op = ROUTES[name]
    assert op.principals == PLATFORM_ONLY
    with APP.override(Guarded(ACME_KEY)):
        response = invoke(route_functions()[name], request(op))
    assert problem(response) == (403, "forbidden")


def test_a_token_names_its_tenant_and_the_key_its_own():
    assert ACME_TOKEN.tenant_id == "acme" and DEFAULT_TOKEN.tenant_id == "default"
    assert ACME_KEY.tenant_id == "acme" and OPERATOR.tenant_id is None
