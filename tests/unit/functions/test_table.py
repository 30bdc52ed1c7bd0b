"""The operation table: one entry per route registers its function and documents it; the boundary
checks the entry's principals and the path's ids before any service is asked; the health model's
queries group the functions as the table says."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from types import SimpleNamespace

import azure.functions as func
import pytest

from functions.catalog import ROUTES
from functions.openapi.document import TAGS, openapi_document
from functions.provider import APP
from functions.table import (
    ANYONE,
    OPERATOR_ONLY,
    OPERATOR_OR_PLATFORM,
    PLATFORM_ONLY,
    PLATFORM_OR_SUBSCRIBER,
    SUBSCRIBER,
    Answer,
    Call,
    Table,
)
from shared.domain.errors import DomainError, InvalidCredentials, MailboxNotFound
from shared.domain.principal import PLATFORM, Principal
from tests.support import ROOT, route_functions

FLOWS = {"deposit", "playback", "query", "manage", "admin", "health"}
ROUTE_PARAMS = {"tenantId": "default", "mailboxId": "+15550001", "messageId": "m1", "kind": "busy",
                "instanceId": "retention-r1", "keyId": "0" * 12, "className": "gold",
                "eventId": "evt_" + "0" * 32, "exportId": "0" * 32}


class Guarded:
    """An app of an authenticator, settings and an audit recorder: a service asked for fails the test."""

    def __init__(self, who: Principal | None):
        self.who = who
        self.recorded: list = []
        self.settings = SimpleNamespace(region="r1", auth=SimpleNamespace(front_door_id=None, trusted_proxies=()))
        self.audit = SimpleNamespace(record=self.recorded.append)
        self.budgets = SimpleNamespace(request=lambda tenant: None)  # the tenants' requestsPerSecond

    @property
    def auth(self):
        def authenticate(headers):
            assert self.who is not None, "an anonymous route looked at credentials"
            return self.who
        return type("Auth", (), {"authenticate": staticmethod(authenticate)})()

    def __getattr__(self, name):
        pytest.fail(f"the service {name!r} was asked before the boundary's checks")


def request(operation, route_params=None, headers=None) -> func.HttpRequest:
    params = {name: ROUTE_PARAMS[name] for name in operation.path_names} if route_params is None else route_params
    return func.HttpRequest(operation.method, f"http://localhost/api/{operation.path}", headers=headers or {},
                            route_params=params, body=b"")


def invoke(function, req) -> func.HttpResponse:

    inner = getattr(function, "client_function", None)  # a Durable client's route: its own function
    result = inner(req, None) if inner is not None else function(req)
    return asyncio.run(result) if inspect.iscoroutine(result) else result


def problem(response: func.HttpResponse) -> tuple[int, str]:
    return response.status_code, json.loads(response.get_body())["type"]


def test_every_entry_is_complete():
    operations = list(ROUTES)
    assert len(operations) == len({(op.method, op.path) for op in operations}) >= 28
    for op in operations:
        assert op.flow in FLOWS and op.tag in TAGS and op.plane in ("api", "management", "both"), op.name
        assert op.principals in (ANYONE, PLATFORM_ONLY, PLATFORM_OR_SUBSCRIBER, OPERATOR_ONLY,
                                 OPERATOR_OR_PLATFORM), op.name
        # success answers; a route without the boundary (the readiness probe) documents its own 503
        assert op.answers and all(status < 400 or not op.boundary for status in op.answers), op.name
        assert all(issubclass(error, DomainError) and error.status >= 400 for error in op.errors), op.name
        assert not (op.durable and not op.boundary), op.name
    admin = {op.name for op in operations if op.path.startswith("admin/")}
    assert admin and all(ROUTES[name].plane == "management" for name in admin)


@pytest.mark.parametrize("name", [op.name for op in ROUTES if op.principals == PLATFORM_ONLY])
def test_a_subscriber_on_a_platform_route_is_403_before_any_service(name):
    op = ROUTES[name]
    with APP.override(Guarded(Principal("subscriber", ROUTE_PARAMS["mailboxId"]))):
        response = invoke(route_functions()[name], request(op))
    assert problem(response) == (403, "forbidden")


@pytest.mark.parametrize("name", [op.name for op in ROUTES if "mailboxId" in op.path_names and op.principals])
def test_a_malformed_mailbox_id_is_400_before_any_service(name):
    op = ROUTES[name]
    params = {**{n: ROUTE_PARAMS[n] for n in op.path_names}, "mailboxId": "no spaces allowed"}
    with APP.override(Guarded(PLATFORM)):
        response = invoke(route_functions()[name], request(op, params))
    assert problem(response) == (400, "validation-failed")


@pytest.mark.parametrize("name", [op.name for op in ROUTES if op.principals == ANYONE and op.boundary])
def test_anonymous_routes_never_look_at_credentials(name):
    op = ROUTES[name]
    params = {**{n: ROUTE_PARAMS[n] for n in op.path_names}, "mailboxId": "no spaces allowed"}
    with APP.override(Guarded(None)):
        response = invoke(route_functions()[name], request(op, params, {"x-api-key": "whatever"}))
    assert problem(response) == (400, "validation-failed")


def test_a_new_route_is_one_entry_registered_and_documented():
    table = Table()

    @table.route("GET", "mailboxes/{mailboxId}/echo", tag="mailboxes", summary="Echo", principals=PLATFORM_ONLY,
                 answers={200: Answer("the mailbox id", {"type": "string"})}, errors=(MailboxNotFound,))
    def echo(call: Call) -> func.HttpResponse:
        if call.mailbox == "+1999":
            raise MailboxNotFound("no such mailbox")
        return func.HttpResponse(call.mailbox, status_code=200)

    function = route_functions(table)["echo"]
    with APP.override(Guarded(PLATFORM)):
        assert function(request(table["echo"])).get_body() == ROUTE_PARAMS["mailboxId"].encode()
        assert problem(function(request(table["echo"], {"mailboxId": "+1999"}))) == (404, "mailbox-not-found")
    documented = openapi_document("1", table)["paths"]["/api/mailboxes/{mailboxId}/echo"]["get"]
    assert documented["operationId"] == "echo" and documented["security"] == [{"platformKey": []}]
    assert set(documented["responses"]) == {"200", "400", "401", "403", "404", "500", "503"}
    assert documented["responses"]["404"]["content"]["application/problem+json"]["schema"]["properties"]["type"] == {
        "enum": ["mailbox-not-found"]}


def _flow_of(query: str):
    """The `flowOf` of a health-model query, as a Python function of a function's name."""
    body = re.search(r"let flowOf = \(fn: string\) \{\s*case\((.*?)\)\s*\};", query, re.DOTALL).group(1)
    clauses = re.findall(r'((?:fn contains "\w+"(?:\s+or\s+)?)+),\s*"(\w+)"', body)
    default = re.findall(r'"(\w+)"\s*$', body.strip())[0]
    rules = [(re.findall(r'fn contains "(\w+)"', condition), flow) for condition, flow in clauses]
    return lambda name: next((flow for needles, flow in rules if any(n in name.lower() for n in needles)), default)


@pytest.mark.parametrize("query", ["health-model.kql", "availability-latency.kql"])
def test_the_health_model_groups_every_route_as_the_table_says(query):
    flow_of = _flow_of((ROOT / "infra" / "monitoring" / query).read_text(encoding="utf-8"))
    assert {op.name: flow_of(op.name) for op in ROUTES} == {op.name: op.flow for op in ROUTES}


def test_the_boundary_records_the_callers_the_entry_audits_whatever_the_answer():
    table = Table()
    spec = {"tag": "mailboxes", "summary": "s", "answers": {200: Answer("ok")}}

    @table.route("GET", "mailboxes/{mailboxId}/thing", principals=PLATFORM_OR_SUBSCRIBER, **spec)
    def thing(call: Call) -> func.HttpResponse:
        return func.HttpResponse(status_code=200)

    @table.route("GET", "mailboxes/{mailboxId}/read", principals=PLATFORM_OR_SUBSCRIBER,
                 audited=PLATFORM_OR_SUBSCRIBER, **spec)
    def read(call: Call) -> func.HttpResponse:
        raise MailboxNotFound("no such mailbox")

    @table.route("POST", "mailboxes/{mailboxId}/login", principals=ANYONE, audited=(SUBSCRIBER,), **spec)
    def login(call: Call) -> func.HttpResponse:
        raise InvalidCredentials("wrong PIN")

    functions = route_functions(table)
    forwarded = {"x-forwarded-for": "203.0.113.9, 198.51.100.7:5000"}  # the peer is the last entry
    platform = Guarded(Principal("platform", key_id="0123456789ab"))
    with APP.override(platform):
        assert functions["thing"](request(table["thing"], headers=forwarded)).status_code == 200
    [record] = platform.recorded
    assert (record.actor, record.action, record.target, record.status, record.client, record.mailbox_id) == (
        "platform:0123456789ab", "thing", "mailboxes/+15550001/thing", 200, "198.51.100.7", "+15550001")
    assert record.region == "r1" and record.at.endswith("Z") and record.id

    subscriber = Guarded(Principal("subscriber", ROUTE_PARAMS["mailboxId"]))
    with APP.override(subscriber):
        functions["thing"](request(table["thing"]))  # a subscriber's reads of metadata are not audited
        assert problem(functions["read"](request(table["read"]))) == (404, "mailbox-not-found")
    assert [(r.actor, r.action, r.status) for r in subscriber.recorded] == [("subscriber", "read", 404)]

    anonymous = Guarded(None)
    with APP.override(anonymous):
        assert problem(functions["login"](request(table["login"]))) == (401, "invalid-credentials")
    assert [(r.actor, r.action, r.status) for r in anonymous.recorded] == [("subscriber", "login", 401)]


def test_logins_audio_reads_and_every_platform_call_are_audited():
    assert ROUTES["create_session"].audited == (SUBSCRIBER,)
    assert {"platform", "subscriber"} <= set(ROUTES["get_message_audio"].audited)
    assert {"platform", "subscriber"} <= set(ROUTES["get_greeting_audio"].audited)
    assert all("platform" in op.audited for op in ROUTES if op.boundary and "platform" in op.principals)
