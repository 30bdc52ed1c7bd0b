"""The building blocks of the document's operations: security, problem answers (with the slugs a
route can really produce), JSON answers, links between operations, request bodies."""

from __future__ import annotations

from pydantic import BaseModel

from functions.openapi.schemas import Schema, header_refs, ref

PREFIX = "/api"
PLATFORM = "platformKey"
SUBSCRIBER = "subscriberToken"
ANONYMOUS: list[dict[str, list[str]]] = []
PLATFORM_ONLY = [{PLATFORM: []}]
PLATFORM_OR_SUBSCRIBER = [{PLATFORM: []}, {SUBSCRIBER: []}]

# -- responses ---------------------------------------------------------------------------------

STATUS_TEXT = {400: "Request is not valid", 401: "Credentials are missing or not valid",
               403: "Not allowed for this principal", 404: "Not found", 409: "Conflict",
               412: "Precondition failed", 413: "Request body is too large", 415: "Unsupported media type",
               416: "Range not satisfiable", 422: "Unprocessable content", 423: "Locked",
               429: "Too many requests", 500: "Internal error", 503: "Service temporarily unavailable"}
PROBLEM_HEADERS = {401: ("WWW-Authenticate",), 423: ("Retry-After",), 429: ("Retry-After",),
                   503: ("Retry-After",)}


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


def answer(description: str, schema: Schema, *headers: str) -> Schema:
    response: Schema = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = header_refs(*headers)
    return response


def link(operation_id: str, description: str, request_body: Schema | None = None, **parameters: str) -> Schema:
    """An OpenAPI link: where an id this answer creates can be used next (runtime expressions)."""
    link: Schema = {"operationId": operation_id, "description": description, "parameters": parameters}
    if request_body is not None:
        link["requestBody"] = request_body
    return link


def linked(response: Schema, links: dict[str, Schema]) -> Schema:
    return {**response, "links": links}


THIS_MESSAGE = {"mailboxId": "$response.body#/mailboxId", "messageId": "$response.body#/id"}
MESSAGE_LINKS: dict[str, Schema] = {
    "GetMessage": link("get_message", "read this message", **THIS_MESSAGE),
    "PatchMessage": link("patch_message", "mark this message heard or urgent, or move it", **THIS_MESSAGE),
    "DeleteMessage": link("delete_message", "move this message to the trash, or purge it", **THIS_MESSAGE),
    "ForwardMessage": link("forward_message", "forward a copy of this message", **THIS_MESSAGE),
    "GetMessageAudio": link("get_message_audio", "fetch this message's audio", **THIS_MESSAGE),
}
THIS_MAILBOX = {"mailboxId": "$response.body#/id"}
MAILBOX_LINKS: dict[str, Schema] = {
    "GetMailbox": link("get_mailbox", "read this mailbox and its counts", **THIS_MAILBOX),
    "ListMessages": link("list_messages", "list this mailbox's messages", **THIS_MAILBOX),
    "DepositMessage": link("deposit_message", "deposit a message in this mailbox", **THIS_MAILBOX),
    "CreateSession": link("create_session", "log in to this mailbox with the PIN just set",
                           request_body={"pin": "$request.body#/pin"}, **THIS_MAILBOX),
}
_BEARER = "; send the session's `token` as `Authorization: Bearer <token>` (it names only this mailbox)"
SESSION_LINKS: dict[str, Schema] = {
    "GetMailbox": link("get_mailbox", "read the mailbox" + _BEARER, mailboxId="$request.path.mailboxId"),
    "ListMessages": link("list_messages", "list the mailbox's messages" + _BEARER,
                          mailboxId="$request.path.mailboxId"),
}
SWEEP_LINKS: dict[str, Schema] = {
    "GetSweepStatus": link("sweep_status", "follow this sweep (also at `statusUrl` and `Location`)",
                            instanceId="$response.body#/instanceId"),
}


def errors(*, auth: bool = True, **extra: tuple[str, ...]) -> dict[str, Schema]:
    """The error answers of a route behind the error boundary: 400, 401 (if it authenticates), the
    route's own (`e404=("mailbox-not-found",)`), and the boundary's 500 and 503."""
    answers: dict[int, tuple[str, ...]] = {400: ("validation-failed",)}
    if auth:
        answers[401] = ("unauthorized", "invalid-token")
    for key, slugs in extra.items():
        answers[int(key.removeprefix("e"))] = slugs
    answers[500] = ("internal-error",)
    answers[503] = ("service-unavailable", "not-configured")
    return {str(status): problem(status, *answers[status]) for status in sorted(answers)}


FORBIDDEN = ("forbidden",)
MAILBOX_NOT_FOUND = ("mailbox-not-found",)
ETAG = ("etag-mismatch",)
TOO_MANY = ("too-many-requests",)  # a subscriber's writes beyond 60 a minute to its mailbox, among others
BOOLEAN: Schema = {"type": "boolean"}


def operation(operation_id: str, tag: str, summary: str, security: list[dict[str, list[str]]],
               responses: dict[str, Schema], parameters: list[Schema] | None = None,
               body: Schema | None = None, description: str | None = None) -> Schema:
    operation: Schema = {"operationId": operation_id, "tags": [tag], "summary": summary}
    if description:
        operation["description"] = description
    operation["security"] = security
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = body
        if "application/json" in body["content"] and "413" not in responses:  # functions/http.py `body`
            responses = dict(sorted({**responses, "413": problem(413, "payload-too-large")}.items(),
                                    key=lambda item: int(item[0]) if item[0].isdigit() else 0))
    operation["responses"] = responses
    return operation


def json_body(model: type[BaseModel], *, at_least_one: bool = False) -> Schema:
    """The model as the body; `at_least_one`: the service also wants one field given and not null."""
    schema = ref(model.__name__)
    if at_least_one:
        fields = list(model.model_json_schema(by_alias=True)["properties"])
        schema = {"allOf": [schema], "anyOf": [{"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                                               for name in fields]}
    return {"required": True, "content": {"application/json": {"schema": schema}}}

