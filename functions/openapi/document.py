"""The OpenAPI 3.1 document of the HTTP API, generated from the operation table (functions/table.py).

Request bodies come from the pydantic commands the boundary validates them into; the answers of
mailboxes, messages and greetings from the response models that serialise them
(`shared/domain/views.py`); the rest from the table's entries. Every 4xx/5xx names the problem
`type` slugs the route can produce: the boundary's own (validation, credentials, principal, body
size, internal and unavailable) and those of the domain errors its entry lists.
`tests/integration/test_openapi_live.py` checks the live API against it.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from functions.openapi.schemas import (
    HEADERS,
    PARAMETERS,
    RESPONSE_SCHEMAS,
    Schema,
    answer_schemas,
    header_refs,
    notification_schemas,
    param_ref,
    ref,
    request_schemas,
)
from functions.table import OPERATOR, PLATFORM, SUBSCRIBER, Answer, Operation, Table
from shared.domain import errors

PREFIX = "/api"
SCHEMES = {PLATFORM: "platformKey", SUBSCRIBER: "subscriberToken", OPERATOR: "operatorKey"}
TAGS = ("health", "mailboxes", "sessions", "messages", "greetings", "notifications", "tenants", "admin", "meta")
STATUS_TEXT = {400: "Request is not valid", 401: "Credentials are missing or not valid",
               403: "Not allowed for this principal", 404: "Not found", 409: "Conflict",
               412: "Precondition failed", 413: "Request body is too large", 415: "Unsupported media type",
               416: "Range not satisfiable", 422: "Unprocessable content", 423: "Locked",
               429: "Too many requests", 500: "Internal error", 503: "Service temporarily unavailable"}
PROBLEM_HEADERS = {401: ("WWW-Authenticate",), 423: ("Retry-After",), 429: ("Retry-After",),
                   503: ("Retry-After",)}
_BINARY: Schema = {"schema": {"type": "string", "format": "binary"}}


def openapi_document(version: str, table: Table | None = None) -> dict[str, Any]:
    """The whole document for API version `version` (a fresh dict on every call)."""
    if table is None:
        from functions.catalog import ROUTES  # every route module, imported

        table = ROUTES
    paths: dict[str, Schema] = {}
    for operation in table:
        item = paths.setdefault(f"{PREFIX}/{operation.path}", {})
        if operation.path_names and "parameters" not in item:
            given = {p["name"]: p for p in operation.parameters if p["in"] == "path"}
            item["parameters"] = [given.get(name) or param_ref(name) for name in operation.path_names]
        item[operation.method.lower()] = operation_object(operation)
    models = request_models(table)
    return copy.deepcopy({
        "openapi": "3.1.0",
        "info": {
            "title": "Voicemail API",
            "version": version,
            "description": "Voice platforms deposit messages; subscribers' apps list, play and manage them. "
                           "Every 4xx/5xx body is RFC 9457 `application/problem+json` with a stable `type` slug; "
                           "503 answers carry `Retry-After`.",
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": name} for name in TAGS],
        "paths": paths,
        "components": {
            "schemas": {**request_schemas(models), **answer_schemas(models), **RESPONSE_SCHEMAS,
                        **notification_schemas()},
            "parameters": PARAMETERS,
            "headers": HEADERS,
            "securitySchemes": {
                SCHEMES[PLATFORM]: {"type": "apiKey", "in": "header", "name": "x-api-key",
                                    "description": "platform key: every mailbox route of its tenant (the configured "
                                                   "keys: tenant `default`'s, and the admin routes)"},
                SCHEMES[OPERATOR]: {"type": "apiKey", "in": "header", "name": "x-api-key",
                                    "description": "operator key: tenants, their keys and usage; no mailbox"},
                SCHEMES[SUBSCRIBER]: {"type": "http", "scheme": "bearer",
                                      "description": "session token from POST /api/mailboxes/{mailboxId}/sessions: "
                                                     "that one mailbox only"},
            },
        },
    })


def request_models(table: Table) -> tuple[type[BaseModel], ...]:
    """The JSON bodies the table's operations take, each once, in the table's order."""
    return tuple(dict.fromkeys(op.request for op in table if op.request is not None))


def operation_object(operation: Operation) -> Schema:
    result: Schema = {"operationId": operation.name, "tags": [operation.tag], "summary": operation.summary}
    if operation.description:
        result["description"] = operation.description
    result["security"] = [{SCHEMES[principal]: []} for principal in operation.principals]
    parameters = [p for p in operation.parameters if p.get("in") != "path"]
    if parameters:
        result["parameters"] = parameters
    content: Schema = {}
    if operation.audio:
        content = {"audio/*": _BINARY, "application/octet-stream": _BINARY}
    if operation.request is not None:
        content["application/json"] = {"schema": _json_body(operation.request, operation.at_least_one)}
    if content:
        result["requestBody"] = {"required": True, "content": content}
    responses = {str(status): answer_object(answer) for status, answer in sorted(operation.answers.items())}
    result["responses"] = {**responses, **(error_answers(operation) if operation.boundary else {})}
    return result


def answer_object(answer: Answer) -> Schema:
    if answer.raw is not None:
        response = dict(answer.raw)
    else:
        response = {"description": answer.description}
        if answer.body is not None:
            schema = (ref(answer.body.__name__) if isinstance(answer.body, type)
                      else ref(answer.body) if isinstance(answer.body, str) else answer.body)
            response["content"] = {"application/json": {"schema": schema}}
        if answer.headers:
            response["headers"] = header_refs(*answer.headers)
    if answer.links:
        response["links"] = dict(answer.links)
    return response


def error_answers(operation: Operation) -> dict[str, Schema]:
    """The boundary's answers (functions/table.py `prepare`, functions/http.py `failure_response`)
    and the route's own errors, by status: each a problem+json with exactly those slugs."""
    raised: list[type[errors.DomainError]] = [errors.ValidationFailed]
    if operation.principals:
        raised += [errors.Unauthorized, errors.InvalidToken, errors.Forbidden]
        names = operation.path_names
        if "mailboxId" in names:  # another tenant's key or token: what an unknown mailbox answers
            raised.append(errors.MailboxNotFound)
        elif "tenantId" in names:
            raised.append(errors.TenantNotFound)
    if operation.boundary and operation.principals != (OPERATOR,):  # the path's tenant's requestsPerSecond
        raised.append(errors.TooManyRequests)
    if operation.request is not None:
        raised.append(errors.PayloadTooLarge)
    raised += [*operation.errors, errors.DomainError, errors.Unavailable, errors.NotConfigured]
    slugs: dict[int, list[str]] = {}
    for error in raised:
        if error.type not in slugs.setdefault(error.status, []):
            slugs[error.status].append(error.type)
    return {str(status): problem(status, *slugs[status]) for status in sorted(slugs)}


def problem(status: int, *slugs: str) -> Schema:
    """A problem+json answer with exactly these `type` slugs."""
    response: Schema = {
        "description": f"{STATUS_TEXT[status]}: " + ", ".join(f"`{slug}`" for slug in slugs),
        "content": {"application/problem+json": {"schema": {
            "allOf": [ref("Problem")],
            "properties": {"type": {"enum": list(slugs)}, "status": {"const": status}},
        }}},
    }
    if status in PROBLEM_HEADERS:
        response["headers"] = header_refs(*PROBLEM_HEADERS[status])
    return response


def _json_body(model: type[BaseModel], at_least_one: bool) -> Schema:
    """The model; `at_least_one`: the service also wants one field given and not null."""
    schema = ref(model.__name__)
    if at_least_one:
        fields = list(model.model_json_schema(by_alias=True)["properties"])
        schema = {"allOf": [schema], "anyOf": [{"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                                               for name in fields]}
    return schema
