"""The OpenAPI document: valid OpenAPI 3.1, in step with the routes the app registers, and saying
what the code does (request models, problem answers, security, nullable fields)."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import azure.functions as func
import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from devstack.localhost.loader import HostConfig
from functions.catalog import ROUTES
from functions.openapi import openapi_document, request_models
from functions.table import IN_TENANT
from shared import config
from shared.domain import errors
from shared.domain.verification import VerifyTarget
from tests.functions.test_health_functions import ENV
from tests.support import route_functions

REQUEST_MODELS = request_models(ROUTES)
ROOT = Path(__file__).resolve().parents[3]
METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")
ANONYMOUS_OPERATIONS = {"health", "health_ready", "openapi", "create_session"}
PLATFORM_ONLY_OPERATIONS = {"put_mailbox", "delete_mailbox", "deposit_message", "active_greeting", "start_sweep",
                            "sweep_status", "reconcile_counts", "list_dead_letters", "replay_dead_letter", "get_audit",
                            "get_erasure", "put_hold", "release_hold", "request_export", "get_export"}
OPERATOR_OPERATIONS = {"put_tenant", "get_tenant", "issue_tenant_key", "list_tenant_keys", "revoke_tenant_key"}
OPERATOR_OR_TENANT_OPERATIONS = {"get_tenant_usage", "put_class", "get_class"}


@pytest.fixture
def settings(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    config.settings.cache_clear()
    yield config.settings()
    config.settings.cache_clear()


@pytest.fixture
def document():
    return openapi_document("9.9.9")


def operations(document):
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item, item[method]


def resolve(document, ref: str):
    assert ref.startswith("#/"), ref
    node = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def walk(node, trail=()):
    if isinstance(node, dict):
        yield node, trail
        for key, value in node.items():
            yield from walk(value, (*trail, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*trail, index))


def registered_routes(monkeypatch) -> dict[tuple[str, str], str]:
    """(path as the document spells it, method) -> function name, from the app's own bindings."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    config.settings.cache_clear()
    function_app = importlib.import_module("function_app")
    prefix = HostConfig.read(ROOT / "host.json").route_prefix
    routes = {}
    for function in function_app.app.get_functions():
        for binding in json.loads(function.get_function_json())["bindings"]:
            if binding["type"] != "httpTrigger" or binding["route"] == "{*path}":
                continue
            for method in binding["methods"]:
                routes[(f"/{prefix}/{binding['route']}", method.lower())] = function.get_function_name()
    config.settings.cache_clear()
    return routes


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    assert document["info"]["version"] == "9.9.9"
    problems = [str(error) for error in OPENAPI_31_VALIDATOR.iter_errors(document)]
    assert problems == []
    assert json.loads(json.dumps(document)) == document  # plain JSON, nothing Python-only


def test_every_reference_resolves_and_no_pydantic_defs_are_left(document):
    refs = [node["$ref"] for node, _ in walk(document) if "$ref" in node]
    mappings = [target for node, _ in walk(document) if "propertyName" in node.get("discriminator", {})
                for target in node["discriminator"].get("mapping", {}).values()]
    assert refs and mappings  # a discriminator's mapping is a reference too (it once pointed at $defs)
    refs += mappings
    for ref in refs:
        assert isinstance(resolve(document, ref), dict), ref
    assert not [trail for node, trail in walk(document) if "$defs" in node]


def test_every_registered_route_is_documented_and_nothing_else(monkeypatch, document):
    routes = registered_routes(monkeypatch)
    documented = {(path, method): operation["operationId"] for path, method, _, operation in operations(document)}
    assert set(documented) == set(routes)
    assert documented == routes  # operationId is the function's name
    assert len(set(documented.values())) == len(documented)


def test_path_parameters_are_declared_with_the_code_patterns(document):
    patterns = {"mailboxId": r"^\+?[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", "messageId": r"^[A-Za-z0-9_-]{1,64}$",
                "kind": None, "instanceId": None, "eventId": r"^evt_[0-9a-f]{32}$",
                "exportId": r"^[0-9a-f]{32}$", "tenantId": r"^[a-z0-9][a-z0-9-]{1,31}$",
                "keyId": r"^[0-9a-f]{12}$", "className": r"^[a-z0-9][a-z0-9-]{0,31}$"}
    for path, _, item, operation in operations(document):
        declared = {}
        for given in [*item.get("parameters", []), *operation.get("parameters", [])]:
            parameter = resolve(document, given["$ref"]) if "$ref" in given else given
            if parameter["in"] == "path":
                assert parameter["required"] is True
                declared[parameter["name"]] = parameter["schema"].get("pattern")
        assert set(declared) == set(re.findall(r"\{(\w+)\}", path)), path
        for name, pattern in declared.items():
            assert pattern == patterns[name]
        if "kind" in declared:  # an enum, not a pattern
            parameter = resolve(document, "#/components/parameters/kind")
            assert parameter["schema"]["enum"] == ["unavailable", "busy", "name", "temporary"]


def test_request_bodies_are_the_pydantic_models(document):
    schemas = document["components"]["schemas"]
    for model in REQUEST_MODELS:
        expected = json.loads(json.dumps(model.model_json_schema(by_alias=True)).replace("#/$defs/",
                                                                                          "#/components/schemas/"))
        for name, definition in expected.pop("$defs", {}).items():
            assert schemas[name] == definition
        assert schemas[model.__name__] == expected
    bodies = {operation["operationId"]: operation["requestBody"] for *_, operation in operations(document)
              if "requestBody" in operation and not operation["operationId"].endswith(IN_TENANT)}
    assert {name.removesuffix(IN_TENANT) for *_, operation in operations(document) if "requestBody" in operation
            for name in [operation["operationId"]]} == set(bodies)  # a twin takes its route's body
    assert set(bodies) == {"put_mailbox", "patch_mailbox", "create_session", "change_pin", "deposit_message",
                           "patch_message", "forward_message", "put_greeting", "put_notifications",
                           "verify_notification_target", "put_hold", "put_tenant", "put_class"}
    assert schemas["VerifyTarget"] == VerifyTarget.model_json_schema(by_alias=True)  # one of address or number
    assert set(bodies["put_greeting"]["content"]) == {"audio/*", "application/octet-stream"}
    assert set(bodies["deposit_message"]["content"]) == {"audio/*", "application/octet-stream", "application/json"}
    for body in bodies.values():
        assert body["required"] is True
    bodies.pop("put_greeting")
    for name, model in (("patch_mailbox", "PatchMailbox"), ("patch_message", "PatchMessage")):
        schema = bodies[name]["content"]["application/json"]["schema"]  # and one field given, not null
        assert schema["allOf"] == [{"$ref": f"#/components/schemas/{model}"}]
        assert {alternative["required"][0] for alternative in schema["anyOf"]} == set(
            document["components"]["schemas"][model]["properties"])


def test_security_anonymous_platform_and_subscriber_routes(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["platformKey"] == {**schemes["platformKey"], "type": "apiKey", "in": "header",
                                      "name": "x-api-key"}
    assert schemes["subscriberToken"] == {**schemes["subscriberToken"], "type": "http", "scheme": "bearer"}
    for *_, operation in operations(document):
        name, security = operation["operationId"].removesuffix(IN_TENANT), operation["security"]
        if name in ANONYMOUS_OPERATIONS:
            assert security == [], name
            assert "401" not in operation["responses"] or name == "create_session"
        elif name in PLATFORM_ONLY_OPERATIONS:
            assert security == [{"platformKey": []}], name
        elif name in OPERATOR_OPERATIONS:
            assert security == [{"operatorKey": []}], name
        elif name in OPERATOR_OR_TENANT_OPERATIONS:
            assert security == [{"operatorKey": []}, {"platformKey": []}], name
        else:
            assert security == [{"platformKey": []}, {"subscriberToken": []}], name
        if security:
            assert {"400", "401", "403", "500", "503"} <= set(operation["responses"]), name


def test_every_error_answer_is_a_problem_with_real_slugs(document):
    slugs = {error.type for error in vars(errors).values()
             if isinstance(error, type) and issubclass(error, errors.DomainError)}
    for path, method, _, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            if operation["operationId"] == "health_ready":
                # The probe document keeps `status: "unavailable"`, so it is application/json.
                assert status == "503"
                assert set(response["content"]) == {"application/json"}
                assert response["headers"] == {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
                continue
            assert set(response["content"]) == {"application/problem+json"}, (path, method, status)
            schema = response["content"]["application/problem+json"]["schema"]
            assert schema["allOf"] == [{"$ref": "#/components/schemas/Problem"}]
            assert schema["properties"]["status"] == {"const": int(status)}
            assert set(schema["properties"]["type"]["enum"]) <= slugs, (path, method, status)
            if status in ("503", "423"):
                assert "Retry-After" in response["headers"]
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}


def test_every_json_body_may_answer_413_payload_too_large(document):
    with_json = [op for *_, op in operations(document)
                 if "application/json" in op.get("requestBody", {}).get("content", {})]
    assert {"create_session", "put_notifications", "forward_message"} <= {op["operationId"] for op in with_json}
    for operation in with_json:
        answer = operation["responses"].get("413")
        assert answer, operation["operationId"]
        schema = answer["content"]["application/problem+json"]["schema"]
        assert "payload-too-large" in schema["properties"]["type"]["enum"], operation["operationId"]


def test_nullable_fields_admit_null(document):
    schemas = document["components"]["schemas"]
    message = schemas["Message"]["properties"]
    assert message["durationMs"]["type"] == ["integer", "null"]
    assert message["error"]["type"] == ["string", "null"]
    assert message["expiresAt"]["type"] == ["string", "null"]
    assert message["from"]["properties"]["number"]["type"] == ["string", "null"]
    assert message["from"]["properties"]["name"]["type"] == ["string", "null"]
    assert schemas["MessageList"]["properties"]["continuation"]["type"] == ["string", "null"]
    for name in ("Message", "Mailbox", "MessageList", "Session", "UploadRequestResult", "Problem", "Health",
                 "Readiness"):
        assert set(schemas[name]["required"]) <= set(schemas[name]["properties"]), name


def test_response_headers_where_the_code_sets_them(document):
    def headers(path, method, status):
        return set(document["paths"][path][method]["responses"][status].get("headers", {}))

    mailbox, message = "/api/mailboxes/{mailboxId}", "/api/mailboxes/{mailboxId}/messages/{messageId}"
    assert headers(mailbox, "put", "201") == headers(mailbox, "put", "200") == {"ETag", "Location"}
    assert headers(mailbox, "get", "200") == headers(mailbox, "patch", "200") == {"ETag"}
    assert headers(f"{mailbox}/messages", "post", "202") == {"ETag", "Location"}
    assert headers(f"{mailbox}/messages", "post", "201") == {"Location"}
    assert headers(message, "get", "200") == headers(message, "patch", "200") == {"ETag", "Location"}
    assert headers(f"{message}/forward", "post", "202") == {"ETag", "Location"}
    assert "Content-Range" in headers(f"{message}/audio", "get", "206")
    assert headers(f"{message}/audio", "get", "302") == {"Location"}
    assert headers(f"{mailbox}/sessions", "post", "423") == {"Retry-After"}
    assert headers("/api/health/ready", "get", "503") == {"Retry-After"}


def test_the_function_serves_the_document_built_once(settings):
    from functions import docs

    docs.document.cache_clear()
    try:
        handler = route_functions()["openapi"]
        response = handler(func.HttpRequest("GET", "http://localhost/api/openapi.json", body=b""))
        assert response.status_code == 200
        assert response.mimetype == "application/json"
        assert json.loads(response.get_body()) == openapi_document(settings.version)
        assert docs.document() is docs.document()
    finally:
        docs.document.cache_clear()
