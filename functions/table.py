"""The operation table: every HTTP route, written once.

An entry is a handler with `@ROUTES.route(method, path, ...)` over it, naming who may call it, what
it takes (the JSON model its body is validated into, its query and header parameters) and what it
answers (its success answers and the domain errors it can raise). From the table alone come:
- the functions the host indexes, by plane (`ROUTES.blueprint(role)`, function_app.py), each behind
  the one error boundary, its principal authenticated and checked, its path ids and body validated
  before the handler runs;
- the whole OpenAPI document (functions/openapi/document.py), error answers included: the boundary's
  own and the slugs of the route's error types;
- the flows the health model's queries group functions by (`flow`; tests/unit/functions/test_table.py
  checks infra/monitoring/*.kql against it).

A handler takes a `Call` and returns the response: it parses what is particular to it, calls one
service and shapes the answer. Adding a route is one entry here and its use case in shared/.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from pydantic import BaseModel

from functions.http import body, failure_response, mailbox_id, message_id, tenant_id
from functions.provider import APP
from shared.bootstrap import App
from shared.domain import tenancy
from shared.domain.audit import PLATFORM_STREAM, AuditRecord, actor
from shared.domain.client import client_address
from shared.domain.errors import DomainError, Forbidden, MailboxNotFound, TenantNotFound
from shared.domain.model import iso, utcnow
from shared.domain.principal import Principal
from shared.domain.tenancy import DEFAULT
from shared.telemetry import in_tenant

Schema = dict[str, Any]
logger = logging.getLogger(__name__)
PLATFORM, SUBSCRIBER, OPERATOR = "platform", "subscriber", "operator"
ANYONE: tuple[str, ...] = ()  # no credential looked at
PLATFORM_ONLY = (PLATFORM,)
PLATFORM_OR_SUBSCRIBER = (PLATFORM, SUBSCRIBER)
OPERATOR_ONLY = (OPERATOR,)
OPERATOR_OR_PLATFORM = (OPERATOR, PLATFORM)  # the operator, or the path's tenant's own platform key
MAILBOX_ROUTES = "mailboxes/{mailboxId}"  # each also under tenants/{tenantId}/ (shared/domain/tenancy.py)
IN_TENANT = "_in_tenant"  # a mailbox route's operation under its tenant: its name with this after it
PLANES = {"api": ("api", "both"), "management": ("management", "both"), "all": ("api", "management", "both")}


@dataclass(frozen=True)
class Answer:
    """A success answer: JSON of `body` (a response model, a component's name, or a schema) with
    these headers (components' names), or `raw` (the OpenAPI response as written: audio, redirects)."""

    description: str
    body: type[BaseModel] | str | Schema | None = None
    headers: tuple[str, ...] = ()
    links: Mapping[str, Schema] = field(default_factory=dict)
    raw: Schema | None = None


@dataclass(frozen=True)
class Operation:
    name: str  # the function's name and the operationId
    method: str
    path: str  # under /api, as the host's route template
    handler: Callable[..., Any]
    tag: str
    summary: str
    principals: tuple[str, ...]
    answers: Mapping[int, Answer]
    errors: tuple[type[DomainError], ...] = ()  # beyond the boundary's (400, 401, 403, 413, 500, 503)
    request: type[BaseModel] | None = None  # the JSON body, validated before the handler runs
    audio: bool = False  # an audio body is taken (beside `request`, if any: the handler chooses)
    at_least_one: bool = False  # the body must give one of its fields
    parameters: tuple[Schema, ...] = ()  # query and header parameters; path ones only to override
    description: str | None = None
    plane: str = "api"  # "api", "management" or "both" (function_app.py, "Two planes")
    flow: str = "manage"  # the health model's flow (infra/monitoring/*.kql)
    durable: bool = False  # takes a Durable client (`call.client`)
    boundary: bool = True  # False: the handler answers everything itself (the health probes)
    audited: tuple[str, ...] = (PLATFORM,)  # whose calls the audit trail records (logins: SUBSCRIBER)

    @property
    def path_names(self) -> tuple[str, ...]:
        return tuple(part[1:-1] for part in self.path.split("/") if part.startswith("{"))


class Call:
    """What a handler gets: the request; once the boundary has checked them, the principal, the
    mailbox and message ids of the path and the validated body; the app on first use."""

    def __init__(self, req: func.HttpRequest, client: Any = None):
        self.req, self.client = req, client
        in_tenant(None)  # nothing of the thread's previous invocation
        self.who: Principal | None = None
        self.tenant: str = DEFAULT  # the path's tenant (tenant `default` for paths without one)
        self.mailbox: str = ""  # the path's mailbox, as its key in its tenant (shared/domain/tenancy.py)
        self.message: str = ""
        self.body: Any = None

    @functools.cached_property
    def app(self) -> App:  # the process's, or the stand-in a test put in its place
        return APP()

    @property
    def address(self) -> str:
        """The caller's address as the budgets count it (shared/domain/client.py)."""
        auth = self.app.settings.auth
        return client_address(self.req.headers, auth.front_door_id, auth.trusted_proxies)

    @property
    def principal(self) -> Principal:
        assert self.who is not None, "an anonymous route has no principal"
        return self.who


def prepare(operation: Operation, call: Call) -> Call:
    """Validate the path's tenant; authenticate, check the principal's kind and tenant; then validate
    the path's ids, then the body."""
    req = call.req
    names = operation.path_names
    if "tenantId" in names:
        call.tenant = tenant_id(req)
    in_tenant(call.tenant)  # the health model reads every flow per tenant (shared/telemetry.py)
    if operation.principals:
        call.who = call.app.auth.authenticate(req.headers)
        if call.who.kind not in operation.principals:
            raise Forbidden(f"this route is for the {' or '.join(operation.principals)} only")
        if call.who.kind != OPERATOR and call.who.tenant_id != call.tenant:
            # Another tenant's key or token: what an unknown mailbox (or tenant) answers, nothing more.
            if "mailboxId" in names:
                raise MailboxNotFound("mailbox not found")
            if "tenantId" in names:
                raise TenantNotFound("tenant not found")
            raise Forbidden("this route is for tenant default's platform keys only")
    if call.who is None or call.who.kind != OPERATOR:
        call.app.budgets.request(call.tenant)  # the tenant's requestsPerSecond (shared/services/budgets.py)
    if "mailboxId" in names:
        call.mailbox = tenancy.key(call.tenant, mailbox_id(req))
    if "messageId" in operation.path_names:
        call.message = message_id(req)
    if operation.request is not None and not operation.audio:
        call.body = body(req, operation.request)
    return call


def _function(operation: Operation) -> Callable[..., Any]:
    """The function the host calls for this operation, behind the one error boundary."""
    handler = operation.handler
    if operation.durable:
        async def run(req: func.HttpRequest, client) -> func.HttpResponse:  # the SDK builds `client`
            call = Call(req, client)
            try:
                response = await handler(prepare(operation, call))
            except Exception as error:  # noqa: BLE001 - the boundary: nothing gets past it
                response = failure_response(req, error)
            return audited(operation, call, response)
    elif operation.boundary:
        def run(req: func.HttpRequest) -> func.HttpResponse:
            call = Call(req)
            try:
                response = handler(prepare(operation, call))
            except Exception as error:  # noqa: BLE001 - the boundary: nothing gets past it
                response = failure_response(req, error)
            return audited(operation, call, response)
    else:
        def run(req: func.HttpRequest) -> func.HttpResponse:
            return handler(Call(req))
    run.__name__ = run.__qualname__ = operation.name
    run.__doc__ = handler.__doc__
    return run


def audited(operation: Operation, call: Call, response: func.HttpResponse) -> func.HttpResponse:
    """The response, once the audit trail has the call if the operation records its caller's kind
    (API.md, "Audit"): platform calls, logins (right or wrong), audio reads and links, whatever the
    answer. Recording never fails the call (shared/services/audit.py buffers it)."""
    kind = call.who.kind if call.who is not None else (SUBSCRIBER if not operation.principals else None)
    if kind is None or kind not in operation.audited:
        return response
    try:
        app = call.app
        params = call.req.route_params or {}
        target = "/".join(params.get(part[1:-1], "")[:200] if part.startswith("{") else part
                          for part in operation.path.split("/"))
        app.audit.record(AuditRecord.new(
            at=iso(utcnow()), actor=actor(call.who), action=operation.name, target=target,
            region=app.settings.region, client=call.address,
            status=response.status_code, mailbox_id=call.mailbox or PLATFORM_STREAM))
    except Exception:
        logger.exception("%s: the audit record was not taken", operation.name)
    return response


class Table:
    """The operations, in the order they were declared."""

    def __init__(self) -> None:
        self._operations: dict[str, Operation] = {}

    def route(self, method: str, path: str, **spec: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare the decorated handler's operation (see `Operation` for the fields)."""

        def declare(handler: Callable[..., Any]) -> Callable[..., Any]:
            operation = Operation(name=spec.pop("name", handler.__name__), method=method, path=path,
                                  handler=handler, **spec)
            for declared in (operation, *self._in_tenant(operation)):
                if declared.name in self._operations:
                    raise ValueError(f"operation {declared.name} is declared twice")
                self._operations[declared.name] = declared
            return handler

        return declare

    @staticmethod
    def _in_tenant(operation: Operation) -> tuple[Operation, ...]:
        """A mailbox route's twin under its tenant (`tenants/{tenantId}/mailboxes/...`): one entry, two paths."""
        if not operation.path.startswith(MAILBOX_ROUTES):
            return ()
        return (replace(operation, name=operation.name + IN_TENANT, path=f"tenants/{{tenantId}}/{operation.path}"),)

    def __iter__(self) -> Iterator[Operation]:
        return iter(self._operations.values())

    def __getitem__(self, name: str) -> Operation:
        return self._operations[name]

    def blueprint(self, role: str) -> df.Blueprint:
        """The functions of the role's operations (a Durable blueprint: some take its client)."""
        bp = df.Blueprint()
        for operation in self:
            if operation.plane not in PLANES[role]:
                continue
            function = _function(operation)
            if operation.durable:
                function = bp.durable_client_input(client_name="client")(function)
            function = bp.route(route=operation.path, methods=[operation.method],
                                auth_level=func.AuthLevel.ANONYMOUS)(function)
            bp.function_name(operation.name)(function)
        return bp


ROUTES = Table()
