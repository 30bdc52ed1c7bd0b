"""The request parsers every blueprint shares, the continuation token, and the one error boundary
(the admin routes' async one included): every malformed value is a 4xx problem, never a 500."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import json
from types import SimpleNamespace

import azure.functions as func
import pytest
from pydantic import BaseModel, ConfigDict

from functions import http
from functions.catalog import ROUTES
from functions.provider import APP
from functions.sweeps.common import ACTIVE
from functions.table import PLATFORM_ONLY, Answer, Table
from shared.domain.errors import MailboxFull, PayloadTooLarge, RangeNotSatisfiable, Unavailable, ValidationFailed
from shared.domain.model import decode_continuation, encode_continuation
from shared.domain.security import hash_api_key
from shared.services.auth import Authenticator

KEY = "platform-key"
SORT_KEY = "2026-11-27T08:00:00.123456Z|0123456789abcdef0123456789abcdef"


def request(params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
            route: dict[str, str] | None = None, body: bytes = b"", method: str = "GET") -> func.HttpRequest:
    return func.HttpRequest(method, "http://localhost/api/x", params=params or {}, headers=headers or {},
                            route_params=route or {}, body=body)


def refused(parse, *args) -> str:
    """The detail of the ValidationFailed that parse(*args) raises."""
    with pytest.raises(ValidationFailed) as raised:
        parse(*args)
    return raised.value.detail


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- query parameters ----------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    (None, None), ("", None), ("true", True), ("TRUE", True), ("1", True), ("false", False), ("0", False)])
def test_flag_reads_true_and_false(value, expected):
    assert http.flag(request({"heard": value} if value is not None else {}), "heard") is expected


@pytest.mark.parametrize("value", ["yes", "2", "tru\u0435", "\x00", "\ufffd", "true " * 1000, "\uff11"])
def test_flag_refuses_anything_else(value):
    assert refused(http.flag, request({"purge": value}), "purge") == "purge must be true or false"


def test_timestamp_reads_rfc3339_with_a_zone():
    assert http.timestamp(request({"since": "2026-11-27t08:00:00.5z"}), "since").isoformat() \
        == "2026-11-27T08:00:00.500000+00:00"
    assert http.timestamp(request({"since": "2026-11-27T09:00:00+01:00"}), "since").hour == 8
    assert http.timestamp(request(), "since") is None


@pytest.mark.parametrize("value", [
    "2026-11-27", "2026-11-27T08:00:00", "2026-11-27 08:00:00Z", "\uff12\uff10\uff12\uff16-11-27T08:00:00Z",
    "2026-11-27T08:00:00Z\n", "2026-11-27T08:00:00." + "1" * 10 + "Z", "2026-11-27T08:00:00Z" * 200, "\ufffd", "%FF"])
def test_timestamp_refuses_what_is_not_rfc3339(value):
    assert refused(http.timestamp, request({"until": value}), "until").startswith("until must be an RFC 3339 time")


@pytest.mark.parametrize("value", ["2026-02-30T00:00:00Z", "2026-11-27T24:00:00Z", "0000-01-01T00:00:00Z",
                                   "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_timestamp_refuses_times_that_do_not_exist(value):
    assert refused(http.timestamp, request({"since": value}), "since") == "since is not a valid time"


def test_choice_takes_only_the_listed_values():
    assert http.choice(request({"order": "asc"}), "order", ("asc", "desc"), "desc") == "asc"
    assert http.choice(request(), "order", ("asc", "desc"), "desc") == "desc"
    for value in ("ASC", "asc\x00", "a" * 5000, "\ufffd", " asc"):
        assert refused(http.choice, request({"order": value}), "order", ("asc", "desc")) \
            == "order must be one of asc, desc"


@pytest.mark.parametrize("value", ["0", "201", "-1", "1.0", "1e2", "\u00b2", "\u0661\u0660", " 5", "9" * 5000, "0x10",
                                   "\ufffd"])
def test_integer_refuses_what_is_not_a_whole_number_in_range(value):
    assert refused(http.integer, request({"limit": value}), "limit", 50, 1, 200) \
        == "limit must be a whole number from 1 to 200"


def test_integer_reads_its_range_and_default():
    assert http.integer(request({"limit": "200"}), "limit", 50, 1, 200) == 200
    assert http.integer(request({"limit": "007"}), "limit", 50, 1, 200) == 7
    assert http.integer(request(), "limit", 50, 1, 200) == 50


# -- headers -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    (None, None), ("*", None), (" * ", None), ('"abc-1"', '"abc-1"'), ('W/"abc"', 'W/"abc"'), ("abc", "abc"),
    (' "abc" ', '"abc"')])
def test_if_match_reads_one_entity_tag(value, expected):
    assert http.if_match(request(headers={"If-Match": value} if value is not None else {})) == expected


@pytest.mark.parametrize("value", ["", " ", '"a" "b"', '"a", "b"', "a b", '"a"b', "\xff\xfe", "\u00e9",
                                   '"' + "x" * 300 + '"', "x" * 8000, "a\tb"])
def test_if_match_refuses_what_is_not_an_entity_tag(value):
    assert refused(http.if_match, request(headers={"If-Match": value})).startswith("If-Match must be *")


# -- path parameters -----------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["+15551234567", "st-1", "a", "A.b_c-d", "+" + "a" * 64])
def test_mailbox_id_takes_the_documented_shape(value):
    assert http.mailbox_id(request(route={"mailboxId": value})) == value


@pytest.mark.parametrize("value", ["", "+", "++1", "%2B1", "a/b", "a\n", "a\x00", "\ufffd", "é", "-a", ".a",
                                   "a" * 65, "a" * 10_000, " a"])
def test_mailbox_id_refuses_odd_spellings(value):
    assert refused(http.mailbox_id, request(route={"mailboxId": value})).startswith("mailboxId must match")


@pytest.mark.parametrize("value", ["", "a.b", "a/b", "a\n", "\ufffd", "a" * 65, "%FF"])
def test_message_id_refuses_odd_spellings(value):
    assert refused(http.message_id, request(route={"messageId": value})) == "messageId is not a message id"


# -- JSON bodies ---------------------------------------------------------------------------------

class Pin(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pin: str


@pytest.mark.parametrize("raw", [
    b"", b"\xff\xfe", b"[" * 60_000, b'{"pin":' + b"[" * 60_000, b'{"pin":"\\ud800"}', b'{"pin":1234}',
    b'{"pin":"1","extra":1}', b"null", b'"pin"', b'{"pin":"1"}' + b" x"])
def test_body_refuses_what_is_not_the_model(raw):
    detail = refused(http.body, request(body=raw, method="POST"), Pin)
    assert len(detail) <= 500 and "\\ud800" not in detail


def test_body_reads_the_model():
    assert http.body(request(body=b'{"pin":"1234"}', method="POST"), Pin) == Pin(pin="1234")


def test_a_json_body_over_64_kib_is_413_before_it_is_parsed(monkeypatch):
    padded = b'{"pin":"1234"}'.ljust(64 * 1024, b" ")  # exactly 64 KiB: still read
    assert http.body(request(body=padded, method="POST"), Pin) == Pin(pin="1234")
    monkeypatch.setattr(Pin, "model_validate_json", lambda raw: pytest.fail("parsed a body over the limit"))
    for raw, headers in ((padded + b" ", {}), (b'{"pin":"1234"}', {"content-length": str(64 * 1024 + 1)})):
        with pytest.raises(PayloadTooLarge) as refused_:
            http.body(request(body=raw, method="POST", headers=headers), Pin)
        assert (refused_.value.status, refused_.value.type) == (413, "payload-too-large")


# -- continuation tokens -------------------------------------------------------------------------

@pytest.mark.parametrize("descending", [True, False])
def test_a_continuation_token_round_trips(descending):
    token = encode_continuation(SORT_KEY, descending)
    assert decode_continuation(token, descending) == SORT_KEY
    with pytest.raises(ValueError, match="this order"):
        decode_continuation(token, not descending)


@pytest.mark.parametrize("token", [
    b64(b"[" * 50_000 + b"]" * 50_000),  # was a RecursionError: a 500
    b64(b'{"k":' * 50),
    b64(b"[" * 150),
    "A" * 100_000,
    "",
    "é" + encode_continuation(SORT_KEY, True),
    encode_continuation(SORT_KEY, True) + "=",
    encode_continuation(SORT_KEY, True) + "A",  # trailing junk
    encode_continuation(SORT_KEY, True)[:-4] + "+/+/",
    b64(b"\xff\xfe\xfd"),
    b64(json.dumps({"k": SORT_KEY, "d": 1}).encode()),
    b64(json.dumps({"k": SORT_KEY, "d": True, "x": 1}).encode()),
    b64(json.dumps({"k": SORT_KEY}).encode()),
    b64(json.dumps([SORT_KEY, True]).encode()),
    b64(json.dumps({"k": 5, "d": True}).encode()),
    b64(json.dumps({"k": "\ud800", "d": True}).encode()),
    b64(json.dumps({"k": "x" * 150, "d": True}).encode()),
    b64(json.dumps({"k": SORT_KEY + "\n", "d": True}).encode()),
    b64(json.dumps({"k": SORT_KEY.replace("|", "' OR 1=1 --"), "d": True}).encode()),
    b64(json.dumps({"k": "2026-11-27T08:00:00Z|abc", "d": True}).encode()),
])
def test_a_continuation_token_not_shaped_as_issued_is_refused(token):
    with pytest.raises(ValueError) as raised:
        decode_continuation(token, True)
    assert type(raised.value) in (ValueError,)  # never a RecursionError, UnicodeError or JSONDecodeError


# -- the error boundary --------------------------------------------------------------------------

def problem(response: func.HttpResponse) -> dict:
    assert response.mimetype == "application/problem+json"
    body = json.loads(response.get_body())
    assert set(body) == {"type", "title", "status", "detail"} and body["status"] == response.status_code
    return body


def app() -> SimpleNamespace:
    return SimpleNamespace(auth=Authenticator((hash_api_key(KEY),), (b"s" * 32,), 60, epochs=None, tenant_keys=None),
                           settings=SimpleNamespace(region="fn1"),
                           telemetry=SimpleNamespace(span=lambda *args, **kwargs: contextlib.nullcontext()),
                           budgets=SimpleNamespace(request=lambda tenant: None))


@pytest.fixture
def booted():
    with APP.override(app()) as fake:
        yield fake


def functions(table: Table) -> dict[str, object]:
    """The user functions the host would index from the table, by name."""
    host = func.FunctionApp()
    host.register_functions(table.blueprint("all"))
    return {function.get_function_name(): function.get_user_function() for function in host.get_functions()}


@pytest.mark.parametrize(("raised", "status", "slug"), [
    (MailboxFull("full"), 409, "mailbox-full"),
    (Unavailable("cosmos: a dependency is unavailable"), 503, "service-unavailable"),
    (TimeoutError("read timed out"), 503, "service-unavailable"),
    (ConnectionRefusedError("refused"), 503, "service-unavailable"),
    (RecursionError("maximum recursion depth exceeded"), 500, "internal-error"),
    (KeyError("secret"), 500, "internal-error"),
])
def test_the_boundary_answers_every_failure_with_a_problem(booted, raised, status, slug):
    table = Table()

    @table.route("GET", "failing", principals=PLATFORM_ONLY, tag="t", summary="fails", answers={200: Answer("ok")})
    def failing(call):
        raise raised

    response = functions(table)["failing"](request(headers={"x-api-key": KEY}))
    body = problem(response)
    assert (response.status_code, body["type"]) == (status, slug)
    assert "secret" not in body["detail"] and "recursion" not in body["detail"]
    assert (response.headers.get("Retry-After") is not None) == (status == 503)


class Client:
    """A Durable client whose task hub answers as told."""

    def __init__(self, status=None, fails: Exception | None = None, start_fails: Exception | None = None):
        self.status, self.fails, self.start_fails, self.calls = status, fails, start_fails, []

    async def get_status(self, instance):
        self.calls.append(("get_status", instance))
        if self.fails:
            raise self.fails
        return self.status

    async def start_new(self, name, instance, given):
        self.calls.append(("start_new", instance))
        if self.start_fails:
            raise self.start_fails
        return instance


def call(name: str, req: func.HttpRequest, client: Client) -> func.HttpResponse:
    user_function = functions(ROUTES)[name]
    assert list(inspect.signature(user_function).parameters) == ["req", "client"]  # as the worker binds them
    return asyncio.run(user_function.client_function(req, client))


def admin(route: dict[str, str], headers: dict[str, str] | None = None, method: str = "POST") -> func.HttpRequest:
    return request(route=route, headers={"x-api-key": KEY} if headers is None else headers, method=method)


def test_a_sweep_starts_and_a_second_start_is_refused(booted):
    started = call("start_sweep", admin({"kind": "retention"}), Client())
    assert started.status_code == 202 and started.headers["Location"] == "/api/admin/sweeps/retention-fn1"
    running = SimpleNamespace(runtime_status=next(iter(ACTIVE)))
    refused_start = call("start_sweep", admin({"kind": "retention"}), Client(status=running))
    assert (refused_start.status_code, problem(refused_start)["type"]) == (409, "sweep-running")


@pytest.mark.parametrize(("route", "headers", "status", "slug"), [
    ({"kind": "anything"}, None, 404, "not-found"),
    ({"kind": "x" * 5000}, None, 404, "not-found"),
    ({"kind": "retention"}, {}, 401, "unauthorized"),
    ({"kind": "retention"}, {"x-api-key": "\xff" * 9000}, 401, "unauthorized"),
    ({"kind": "retention"}, {"authorization": "Bearer v1.e30.x"}, 401, "invalid-token"),
])
def test_a_start_that_is_not_allowed_answers_a_problem_before_the_task_hub(booted, route, headers, status, slug):
    client = Client()
    response = call("start_sweep", admin(route, headers), client)
    body = problem(response)
    assert (response.status_code, body["type"]) == (status, slug) and client.calls == []
    assert "x" * 100 not in body["detail"]  # the caller's value is not echoed back


@pytest.mark.parametrize("failure", [ConnectionResetError("reset"), Exception("unexpected status code 500"),
                                     TimeoutError()])
def test_a_task_hub_that_does_not_answer_is_a_503_with_retry_after(booted, failure):
    for response in (call("start_sweep", admin({"kind": "replication"}), Client(fails=failure)),
                     call("start_sweep", admin({"kind": "replication"}), Client(start_fails=failure)),
                     call("sweep_status", admin({"instanceId": "replication-fn1"}, method="GET"),
                          Client(fails=failure))):
        assert (response.status_code, problem(response)["type"]) == (503, "service-unavailable")
        assert int(response.headers["Retry-After"]) > 0


def test_a_start_that_loses_the_race_is_refused_as_running(booted):
    lost = Exception("An instance with ID 'retention-fn1' already exists.")
    response = call("start_sweep", admin({"kind": "retention"}), Client(start_fails=lost))
    assert (response.status_code, problem(response)["type"]) == (409, "sweep-running")


@pytest.mark.parametrize("instance", ["other-thing", "retention-", "retention-fn2", "retention-fn1?taskHub=x",
                                      "retention-fn1#", "retention-%2F..", "retention-" + "x" * 5000, "\ufffd"])
def test_the_status_of_anything_but_this_regions_sweeps_is_not_found_without_asking_the_task_hub(booted, instance):
    client = Client()
    response = call("sweep_status", admin({"instanceId": instance}, method="GET"), client)
    assert (response.status_code, problem(response)["type"]) == (404, "not-found") and client.calls == []


def test_a_sweeps_status_is_read_from_the_task_hub(booted):
    status = SimpleNamespace(runtime_status=SimpleNamespace(name="Completed"), output='{"examined": 3}',
                             custom_status=None, created_time=None, last_updated_time=None)
    response = call("sweep_status", admin({"instanceId": "retention-fn1"}, method="GET"), Client(status))
    assert response.status_code == 200
    assert json.loads(response.get_body())["output"] == {"examined": 3}
    subscriber = admin({"instanceId": "retention-fn1"}, headers={"authorization": "Bearer x"}, method="GET")
    assert call("sweep_status", subscriber, Client(status)).status_code == 401


def test_a_problem_detail_that_quotes_a_huge_value_is_cut_short():
    response = http.problem_response(RangeNotSatisfiable(f"bad range {'bytes=0-' + '9' * 5000!r}").problem())
    detail = problem(response)["detail"]
    assert len(detail) == http.MAX_DETAIL and detail.startswith("bad range 'bytes=0-999") and detail.endswith("...")
