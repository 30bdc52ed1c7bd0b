"""The OpenAPI 3.1 document of the HTTP API: what the routes in `functions/` really accept and answer.

Request bodies come from the pydantic commands (so they cannot drift from what `body()` validates);
responses are written out by hand from `Mailbox.as_api`, `Message.as_api`, the services and the
error boundary. Every 4xx/5xx names the problem `type` slugs the route can really produce.
`tests/unit/test_openapi.py` keeps the paths in step with the registered routes, and
`tests/integration/test_openapi_live.py` checks the live API against this document.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from shared.domain.commands import (
    PHONE,
    ChangePin,
    CreateSession,
    ForwardMessage,
    PatchMailbox,
    PatchMessage,
    PutMailbox,
    RequestUpload,
)
from shared.domain.model import (
    AUDIO_FORMATS,
    FOLDERS,
    GREETING_KINDS,
    MAILBOX_ID,
    MAX_INLINE_AUDIO_BYTES,
    MESSAGE_ID,
    RENDITIONS,
)

Schema = dict[str, Any]

PREFIX = "/api"
PLATFORM = "platformKey"
SUBSCRIBER = "subscriberToken"
ANONYMOUS: list[dict[str, list[str]]] = []
PLATFORM_ONLY = [{PLATFORM: []}]
PLATFORM_OR_SUBSCRIBER = [{PLATFORM: []}, {SUBSCRIBER: []}]

REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    PutMailbox, PatchMailbox, CreateSession, ChangePin, RequestUpload, PatchMessage, ForwardMessage)


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _rewrite_refs(node: Any) -> Any:
    """pydantic's `#/$defs/X` references, pointed at `#/components/schemas/X`."""
    if isinstance(node, dict):
        return {key: (value.replace("#/$defs/", "#/components/schemas/") if key == "$ref" and isinstance(value, str)
                      else _rewrite_refs(value)) for key, value in node.items()}
    if isinstance(node, list):
        return [_rewrite_refs(item) for item in node]
    return node


def request_schemas() -> dict[str, Schema]:
    """Each command's JSON schema, its `$defs` hoisted beside it (one name, one definition)."""
    schemas: dict[str, Schema] = {}
    for model in REQUEST_MODELS:
        schema = model.model_json_schema(by_alias=True)
        for name, raw in schema.pop("$defs", {}).items():
            definition = _rewrite_refs(raw)
            if schemas.setdefault(name, definition) != definition:
                raise ValueError(f"two request models define {name} differently")
        if model.__name__ in schemas:
            raise ValueError(f"{model.__name__} is defined twice")
        schemas[model.__name__] = _rewrite_refs(schema)
    return schemas


# -- responses written out from the code that builds them --------------------------------------

NULLABLE_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}
TIME: Schema = {"type": "string", "format": "date-time"}
COUNT: Schema = {"type": "integer", "minimum": 0}

RESPONSE_SCHEMAS: dict[str, Schema] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details; `type` is a stable slug.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
        },
    },
    "Counts": {
        "type": "object",
        "description": "Message-waiting counts: inbox unheard (`new`), `saved`, unheard urgent, and all held "
                       "(inbox and saved; not the trash, not failed messages).",
        "required": ["new", "saved", "urgentNew", "total"],
        "additionalProperties": False,
        "properties": {"new": COUNT, "saved": COUNT, "urgentNew": COUNT, "total": COUNT},
    },
    "Drift": {
        "type": "object",
        "required": ["new", "saved", "urgentNew", "heard", "pending"],
        "additionalProperties": False,
        "properties": {"new": {"type": "integer"}, "saved": {"type": "integer"}, "urgentNew": {"type": "integer"},
                       "heard": {"type": "integer"}, "pending": {"type": "integer"}},
    },
    "Reconciled": {
        "type": "object",
        "required": ["mailboxId", "messagesSettled", "drift", "counts", "region"],
        "additionalProperties": False,
        "properties": {
            "mailboxId": {"type": "string"},
            "messagesSettled": {"type": "integer", "minimum": 0,
                                "description": "messages whose regional shares were made to add up again"},
            "drift": {"allOf": [_ref("Drift")], "description": "what the recorded counts were off by, now "
                                                               "corrected (all zero: nothing to repair)"},
            "counts": {"allOf": [_ref("Drift")], "description": "the counts recounted from the messages"},
            "region": {"type": "string", "description": "the region whose tally took the correction"},
        },
    },
    "Mailbox": {
        "type": "object",
        "required": ["id", "displayName", "settings", "greeting", "pinSet", "counts", "createdAt", "updatedAt",
                     "etag"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": MAILBOX_ID.pattern},
            "displayName": {"type": "string", "minLength": 1, "maxLength": 100},
            "settings": {"allOf": [_ref("MailboxSettings")],
                         "required": ["maxMessages", "maxMessageSeconds", "minMessageSeconds", "retentionDays",
                                      "trashRetentionDays", "language"]},
            "greeting": {"type": "string", "enum": ["personal", "name", "default"]},
            "pinSet": {"type": "boolean"},
            "counts": _ref("Counts"),
            "createdAt": TIME,
            "updatedAt": TIME,
            "etag": {"type": "string"},
        },
    },
    "Deprovisioning": {
        "type": "object",
        "required": ["mailboxId", "status"],
        "additionalProperties": False,
        "properties": {"mailboxId": {"type": "string", "pattern": MAILBOX_ID.pattern},
                       "status": {"const": "deprovisioned"}},
    },
    "Session": {
        "type": "object",
        "required": ["token", "expiresAt"],
        "additionalProperties": False,
        "properties": {"token": {"type": "string", "minLength": 1}, "expiresAt": TIME},
    },
    "Message": {
        "type": "object",
        "required": ["id", "mailboxId", "folder", "heard", "urgent", "from", "receivedAt", "durationMs", "status",
                     "error", "formats", "depositRegion", "expiresAt", "truncated", "etag"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": MESSAGE_ID.pattern},
            "mailboxId": {"type": "string", "pattern": MAILBOX_ID.pattern},
            "folder": {"type": "string", "enum": list(FOLDERS)},
            "heard": {"type": "boolean"},
            "urgent": {"type": "boolean"},
            "from": {
                "type": "object",
                "required": ["number", "name"],
                "additionalProperties": False,
                "properties": {"number": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]}},
            },
            "receivedAt": TIME,
            "durationMs": {"type": ["integer", "null"], "minimum": 0},
            "status": {"type": "string", "enum": ["processing", "ready", "failed"]},
            "error": {"type": ["string", "null"],
                      "description": "why a `failed` message failed, e.g. `too-large` (an upload bigger than its "
                                     "`sizeBytes`), `too-short`, `silent`, `invalid-audio`"},
            "formats": {"type": "array", "items": {"type": "string", "enum": list(RENDITIONS)}},
            "depositRegion": {"type": "string"},
            "expiresAt": {**NULLABLE_TIME, "description": "when retention may delete it; null: kept"},
            "truncated": {"type": "boolean",
                          "description": "longer than the mailbox's maxMessageSeconds: only the start is kept"},
            "etag": {"type": "string"},
        },
    },
    "Greeting": {
        "type": "object",
        "required": ["mailboxId", "kind", "status", "error", "durationMs", "formats", "updatedAt", "etag"],
        "additionalProperties": False,
        "properties": {
            "mailboxId": {"type": "string", "pattern": MAILBOX_ID.pattern},
            "kind": {"type": "string", "enum": list(GREETING_KINDS)},
            "status": {"type": "string", "enum": ["processing", "ready", "failed"]},
            "error": {"type": ["string", "null"]},
            "durationMs": {"type": ["integer", "null"], "minimum": 0},
            "formats": {"type": "array", "items": {"type": "string", "enum": list(RENDITIONS)}},
            "updatedAt": TIME,
            "etag": {"type": ["string", "null"]},
        },
    },
    "MessageList": {
        "type": "object",
        "required": ["items", "continuation"],
        "additionalProperties": False,
        "properties": {
            "items": {"type": "array", "items": _ref("Message"), "maxItems": 200},
            "continuation": {"type": ["string", "null"],
                             "description": "pass as `continuation` for the next page; null on the last page"},
        },
    },
    "UploadRequestResult": {
        "type": "object",
        "required": ["message", "upload"],
        "additionalProperties": False,
        "properties": {
            "message": _ref("Message"),
            "upload": {
                "type": "object",
                "required": ["url", "method", "headers", "expiresAt"],
                "additionalProperties": False,
                "properties": {
                    "url": {"type": "string", "format": "uri",
                            "description": "write-only link to the message's one blob"},
                    "method": {"const": "PUT"},
                    "headers": {"type": "object", "required": ["x-ms-blob-type", "Content-Type"],
                                "additionalProperties": {"type": "string"},
                                "properties": {"x-ms-blob-type": {"const": "BlockBlob"}}},
                    "expiresAt": TIME,
                },
            },
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "region", "version"],
        "additionalProperties": False,
        "properties": {"status": {"const": "ok"}, "region": {"type": "string"}, "version": {"type": "string"}},
    },
    "Check": {
        "type": "object",
        "required": ["status", "durationMs"],
        "additionalProperties": False,
        "properties": {"status": {"type": "string", "enum": ["ok", "failed"]}, "durationMs": COUNT,
                       "error": {"type": "string"}},
    },
    "Readiness": {
        "type": "object",
        "description": "Readiness probe. When not ready (503) it also carries the problem members "
                       "`type`/`title`/`detail`, but stays application/json: its `status` is the probe's.",
        "required": ["status", "region", "drained", "checks"],
        "additionalProperties": False,
        "properties": {
            "status": {"type": "string", "enum": ["ready", "unavailable"]},
            "region": {"type": "string"},
            "drained": {"type": "boolean"},
            "checks": {"type": "object", "required": ["cosmos", "blob"], "additionalProperties": _ref("Check"),
                       "properties": {"cosmos": _ref("Check"), "blob": _ref("Check")}},
            "type": {"const": "not-ready"},
            "title": {"type": "string"},
            "detail": {"type": "string"},
        },
    },
}


# -- parameters and headers --------------------------------------------------------------------

def _path_param(name: str, pattern: str, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "pattern": pattern}}


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _header_param(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "header", "required": False, "description": description, "schema": schema}


PARAMETERS: dict[str, Schema] = {
    "mailboxId": _path_param("mailboxId", MAILBOX_ID.pattern,
                             "mailbox id; E.164 numbers fit, the `+` may be sent as `%2B`"),
    "messageId": _path_param("messageId", MESSAGE_ID.pattern, "message id"),
    "kind": {"name": "kind", "in": "path", "required": True, "description": "greeting kind",
             "schema": {"type": "string", "enum": list(GREETING_KINDS)}},
    "ifMatch": _header_param("If-Match", {"type": "string"},
                             "apply only if the resource's ETag still matches (`*` or absent: unconditionally)"),
}

HEADERS: dict[str, Schema] = {
    "ETag": {"description": "the resource's current entity tag (quoted)", "required": True,
             "schema": {"type": "string"}},
    "Location": {"description": "where the resource lives", "required": True,
                 "schema": {"type": "string", "format": "uri-reference"}},
    "Retry-After": {"description": "seconds to wait before retrying", "required": True,
                    "schema": {"type": "integer", "minimum": 0}},
    "WWW-Authenticate": {"description": "the challenge", "required": True,
                         "schema": {"const": 'Bearer realm="voicemail"'}},
}


def _headers(*names: str) -> dict[str, Schema]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _param(name: str) -> Schema:
    return {"$ref": f"#/components/parameters/{name}"}


# -- responses ---------------------------------------------------------------------------------

STATUS_TEXT = {400: "Request is not valid", 401: "Credentials are missing or not valid",
               403: "Not allowed for this principal", 404: "Not found", 409: "Conflict",
               412: "Precondition failed", 413: "Request body is too large", 415: "Unsupported media type",
               416: "Range not satisfiable", 423: "Locked", 429: "Too many requests", 500: "Internal error",
               503: "Service temporarily unavailable"}
PROBLEM_HEADERS = {401: ("WWW-Authenticate",), 423: ("Retry-After",), 429: ("Retry-After",),
                   503: ("Retry-After",)}


def _problem(status: int, *slugs: str) -> Schema:
    """A problem+json answer with exactly these `type` slugs."""
    response: Schema = {
        "description": f"{STATUS_TEXT[status]}: " + ", ".join(f"`{slug}`" for slug in slugs),
        "content": {"application/problem+json": {"schema": {
            "allOf": [_ref("Problem")],
            "properties": {"type": {"enum": list(slugs)}, "status": {"const": status}},
        }}},
    }
    if status in PROBLEM_HEADERS:
        response["headers"] = _headers(*PROBLEM_HEADERS[status])
    return response


def _json(description: str, schema: Schema, *headers: str) -> Schema:
    response: Schema = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = _headers(*headers)
    return response


def _link(operation_id: str, description: str, request_body: Schema | None = None, **parameters: str) -> Schema:
    """An OpenAPI link: where an id this answer creates can be used next (runtime expressions)."""
    link: Schema = {"operationId": operation_id, "description": description, "parameters": parameters}
    if request_body is not None:
        link["requestBody"] = request_body
    return link


def _linked(response: Schema, links: dict[str, Schema]) -> Schema:
    return {**response, "links": links}


THIS_MESSAGE = {"mailboxId": "$response.body#/mailboxId", "messageId": "$response.body#/id"}
MESSAGE_LINKS: dict[str, Schema] = {
    "GetMessage": _link("get_message", "read this message", **THIS_MESSAGE),
    "PatchMessage": _link("patch_message", "mark this message heard or urgent, or move it", **THIS_MESSAGE),
    "DeleteMessage": _link("delete_message", "move this message to the trash, or purge it", **THIS_MESSAGE),
    "ForwardMessage": _link("forward_message", "forward a copy of this message", **THIS_MESSAGE),
    "GetMessageAudio": _link("get_message_audio", "fetch this message's audio", **THIS_MESSAGE),
}
THIS_MAILBOX = {"mailboxId": "$response.body#/id"}
MAILBOX_LINKS: dict[str, Schema] = {
    "GetMailbox": _link("get_mailbox", "read this mailbox and its counts", **THIS_MAILBOX),
    "ListMessages": _link("list_messages", "list this mailbox's messages", **THIS_MAILBOX),
    "DepositMessage": _link("deposit_message", "deposit a message in this mailbox", **THIS_MAILBOX),
    "CreateSession": _link("create_session", "log in to this mailbox with the PIN just set",
                           request_body={"pin": "$request.body#/pin"}, **THIS_MAILBOX),
}
_BEARER = "; send the session's `token` as `Authorization: Bearer <token>` (it names only this mailbox)"
SESSION_LINKS: dict[str, Schema] = {
    "GetMailbox": _link("get_mailbox", "read the mailbox" + _BEARER, mailboxId="$request.path.mailboxId"),
    "ListMessages": _link("list_messages", "list the mailbox's messages" + _BEARER,
                          mailboxId="$request.path.mailboxId"),
}
SWEEP_LINKS: dict[str, Schema] = {
    "GetSweepStatus": _link("sweep_status", "follow this sweep (also at `statusUrl` and `Location`)",
                            instanceId="$response.body#/instanceId"),
}


def _errors(*, auth: bool = True, **extra: tuple[str, ...]) -> dict[str, Schema]:
    """The error answers of a route behind the error boundary: 400, 401 (if it authenticates), the
    route's own (`e404=("mailbox-not-found",)`), and the boundary's 500 and 503."""
    answers: dict[int, tuple[str, ...]] = {400: ("validation-failed",)}
    if auth:
        answers[401] = ("unauthorized", "invalid-token")
    for key, slugs in extra.items():
        answers[int(key.removeprefix("e"))] = slugs
    answers[500] = ("internal-error",)
    answers[503] = ("service-unavailable",)
    return {str(status): _problem(status, *answers[status]) for status in sorted(answers)}


FORBIDDEN = ("forbidden",)
MAILBOX_NOT_FOUND = ("mailbox-not-found",)
ETAG = ("etag-mismatch",)
BOOLEAN: Schema = {"type": "boolean"}


def _operation(operation_id: str, tag: str, summary: str, security: list[dict[str, list[str]]],
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
    operation["responses"] = responses
    return operation


def _json_body(model: type[BaseModel], *, at_least_one: bool = False) -> Schema:
    """The model as the body; `at_least_one`: the service also wants one field given and not null."""
    schema = _ref(model.__name__)
    if at_least_one:
        fields = list(model.model_json_schema(by_alias=True)["properties"])
        schema = {"allOf": [schema], "anyOf": [{"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                                               for name in fields]}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _mailbox_paths() -> dict[str, Schema]:
    mailbox = _json("the mailbox, with its message-waiting counts", _ref("Mailbox"), "ETag")
    return {
        "/mailboxes/{mailboxId}": {
            "parameters": [_param("mailboxId")],
            "put": _operation(
                "put_mailbox", "mailboxes", "Create or replace a mailbox", PLATFORM_ONLY,
                body=_json_body(PutMailbox),
                description="Replacing keeps the PIN when the body has none; settings not given take defaults.",
                responses={
                    "200": _linked(_json("replaced", _ref("Mailbox"), "ETag", "Location"), MAILBOX_LINKS),
                    "201": _linked(_json("created", _ref("Mailbox"), "ETag", "Location"), MAILBOX_LINKS),
                    **_errors(e403=FORBIDDEN, e409=("mailbox-deprovisioning",), e412=ETAG),
                }),
            "get": _operation(
                "get_mailbox", "mailboxes", "Read a mailbox and its counts (MWI)", PLATFORM_OR_SUBSCRIBER,
                responses={"200": mailbox, **_errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND)}),
            "patch": _operation(
                "patch_mailbox", "mailboxes", "Change display name, greeting choice or settings",
                PLATFORM_OR_SUBSCRIBER, parameters=[_param("ifMatch")],
                body=_json_body(PatchMailbox, at_least_one=True),
                description="Give at least one of displayName, greeting, settings. Subscribers may change their "
                            "own displayName and greeting only.",
                responses={"200": mailbox, **_errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND, e412=ETAG)}),
            "delete": _operation(
                "delete_mailbox", "mailboxes", "Deprovision a mailbox", PLATFORM_ONLY,
                description="Deposits stop at once; messages, greetings and audio are purged in the background.",
                responses={"202": _json("deprovisioning", _ref("Deprovisioning")),
                           **_errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND, e412=ETAG)}),
        },
        "/mailboxes/{mailboxId}/counts/reconcile": {
            "parameters": [_param("mailboxId")],
            "post": _operation(
                "reconcile_counts", "mailboxes", "Recount the mailbox and repair its counts", PLATFORM_ONLY,
                description="Operators: counts are kept in O(1) per change (one tally per region, merged on "
                            "read); this recounts them from the messages, settles any message whose regional "
                            "shares do not add up (after a write conflict between regions) and corrects this "
                            "region's tally by the drift left. The answer says what was repaired.",
                responses={"200": _json("what was recounted and repaired", _ref("Reconciled")),
                           **_errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND)}),
        },
        "/mailboxes/{mailboxId}/sessions": {
            "parameters": [_param("mailboxId")],
            "post": _operation(
                "create_session", "sessions", "Log in with the PIN", ANONYMOUS, body=_json_body(CreateSession),
                description="No other credential is needed or looked at. An unknown mailbox and a wrong PIN "
                            "look alike (401, then 423 after 5 wrong PINs in a row, for 15 minutes), so logins never "
                            "reveal which mailboxes exist. Each guess is counted before its PIN is checked. Logins "
                            "faster than 20 a minute per mailbox or 60 a minute per client answer 429 with "
                            "`Retry-After`, before any PIN is hashed.",
                responses={"201": _linked(_json("a session token for this mailbox", _ref("Session")), SESSION_LINKS),
                           **_errors(auth=False, e401=("invalid-credentials",), e423=("pin-locked",),
                                     e429=("too-many-requests",))}),
        },
        "/mailboxes/{mailboxId}/pin": {
            "parameters": [_param("mailboxId")],
            "put": _operation(
                "change_pin", "sessions", "Change the PIN", PLATFORM_OR_SUBSCRIBER, body=_json_body(ChangePin),
                description="Subscribers must give `currentPin`; the platform need not.",
                responses={"204": {"description": "changed"},
                           **_errors(e403=("forbidden", "pin-mismatch"), e404=MAILBOX_NOT_FOUND, e412=ETAG,
                                     e423=("pin-locked",))}),
        },
    }


def _message_paths() -> dict[str, Schema]:
    message = _json("the message", _ref("Message"), "ETag", "Location")
    audio_body: Schema = {"schema": {"type": "string", "format": "binary"}}
    deposit_body: Schema = {"required": True, "content": {
        "audio/*": audio_body,
        "application/octet-stream": audio_body,
        "application/json": {"schema": _ref(RequestUpload.__name__)},
    }}
    return {
        "/mailboxes/{mailboxId}/messages": {
            "parameters": [_param("mailboxId")],
            "post": _operation(
                "deposit_message", "messages", "Deposit a message", PLATFORM_ONLY,
                description="An audio body (`audio/*` or `application/octet-stream`, at most "
                            f"{MAX_INLINE_AUDIO_BYTES} bytes) → 202 message in `processing`. A JSON body → 201 "
                            "message and a short-lived write-only upload link; the message appears once the "
                            "upload lands. The query parameters apply to audio bodies only (JSON carries them).",
                parameters=[
                    _query("from", {"type": "string", "pattern": PHONE}, "caller number or SIP user part"),
                    _query("fromName", {"type": "string", "maxLength": 100}, "caller name"),
                    _query("urgent", BOOLEAN, "mark urgent"),
                    _header_param("Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 200,
                                                      "pattern": "^[\\x20-\\x7E]+$"},
                                  "a retry with the same key yields the same message, never a second one"),
                ],
                body=deposit_body,
                responses={
                    "201": _json("upload requested", _ref("UploadRequestResult"), "Location"),
                    "202": _linked(_json("accepted: the message, `processing`", _ref("Message"), "ETag", "Location"),
                                   MESSAGE_LINKS),
                    **_errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND, e409=("mailbox-full", "idempotency-key-reused"),
                              e413=("payload-too-large",), e415=("invalid-audio",)),
                }),
            "get": _operation(
                "list_messages", "messages", "List messages", PLATFORM_OR_SUBSCRIBER,
                description="Without `folder`: inbox and saved. Keyset paging by `continuation`.",
                parameters=[
                    _query("folder", {"type": "string", "enum": list(FOLDERS)}, "only this folder"),
                    _query("heard", BOOLEAN, "only heard (true) or unheard (false)"),
                    _query("urgent", BOOLEAN, "only urgent (true) or not (false)"),
                    _query("since", TIME, "received at or after (RFC 3339 with zone)"),
                    _query("until", TIME, "received before (RFC 3339 with zone); after `since`"),
                    _query("order", {"type": "string", "enum": ["asc", "desc"], "default": "desc"},
                           "by time received"),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "page size"),
                    _query("continuation", {"type": "string"}, "from the previous page, with the same `order`"),
                ],
                responses={"200": _json("a page of messages", _ref("MessageList")),
                           **_errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND)}),
        },
        "/mailboxes/{mailboxId}/messages/{messageId}": {
            "parameters": [_param("mailboxId"), _param("messageId")],
            "get": _operation(
                "get_message", "messages", "Read a message", PLATFORM_OR_SUBSCRIBER,
                responses={"200": message, **_errors(e403=FORBIDDEN, e404=("message-not-found",))}),
            "patch": _operation(
                "patch_message", "messages", "Mark heard, urgent, or move between folders", PLATFORM_OR_SUBSCRIBER,
                description="Give at least one of heard, folder, urgent; moving to `trash` is undone by moving back.",
                parameters=[_param("ifMatch")], body=_json_body(PatchMessage, at_least_one=True),
                responses={"200": message, **_errors(e403=FORBIDDEN, e404=("message-not-found", "mailbox-not-found"),
                                                     e412=ETAG)}),
            "delete": _operation(
                "delete_message", "messages", "Move to trash, or purge", PLATFORM_OR_SUBSCRIBER,
                parameters=[_query("purge", BOOLEAN, "delete for good, audio included")],
                responses={"204": {"description": "trashed (or purged)"},
                           **_errors(e403=FORBIDDEN, e404=("message-not-found", "mailbox-not-found"), e412=ETAG)}),
        },
        "/mailboxes/{mailboxId}/messages/{messageId}/audio": {
            "parameters": [_param("mailboxId"), _param("messageId")],
            "get": _operation(
                "get_message_audio", "messages", "Fetch the audio", PLATFORM_OR_SUBSCRIBER,
                description="Without `format`: the first rendition (409 while `processing`; `original` is "
                            "served meanwhile). One `bytes=` range is honoured (206).",
                parameters=[
                    _query("format", {"type": "string", "enum": list(AUDIO_FORMATS)}, "rendition"),
                    _query("redirect", BOOLEAN, "302 to a read-only link for this one blob instead"),
                    _header_param("Range", {"type": "string"}, "one `bytes=first-last` or `bytes=-suffix` range"),
                ],
                responses={
                    **AUDIO_ANSWERS,
                    "302": {"description": "a short-lived read-only link to the audio",
                            "headers": {"Location": {"required": True,
                                                     "schema": {"type": "string", "format": "uri"}}}},
                    **_errors(e403=FORBIDDEN, e404=("message-not-found", "audio-not-found"),
                              e409=("message-processing",), e416=("range-not-satisfiable",)),
                }),
        },
        "/mailboxes/{mailboxId}/messages/{messageId}/forward": {
            "parameters": [_param("mailboxId"), _param("messageId")],
            "post": _operation(
                "forward_message", "messages", "Forward a copy to another mailbox", PLATFORM_OR_SUBSCRIBER,
                body=_json_body(ForwardMessage),
                description="Forwarding the same message to the same mailbox again yields the same copy. A forward "
                            "never takes the last 20 % of the target's `maxMessages` (kept for callers), and a "
                            "subscriber forwards at most 20 messages an hour. Every refusal (target unknown, full "
                            "or refusing; the hourly limit) answers the same 409 `forward-refused`, never another "
                            "mailbox's counts.",
                responses={
                    "202": _linked(_json("the new message in the target mailbox", _ref("Message"), "ETag",
                                         "Location"), MESSAGE_LINKS),
                    **_errors(e403=FORBIDDEN, e404=("message-not-found", "audio-not-found", "mailbox-not-found"),
                              e409=("message-processing", "forward-refused")),
                }),
        },
    }


AUDIO_ANSWERS: dict[str, Schema] = {
    "200": {"description": "the audio", "headers": {"Accept-Ranges": {"required": True, "schema": {"const": "bytes"}}},
            "content": {"audio/*": {}, "application/octet-stream": {}}},
    "206": {"description": "the requested range of the audio",
            "headers": {"Accept-Ranges": {"required": True, "schema": {"const": "bytes"}},
                        "Content-Range": {"required": True, "schema": {
                            "type": "string", "pattern": "^bytes [0-9]+-[0-9]+/[0-9]+$"}}},
            "content": {"audio/*": {}, "application/octet-stream": {}}},
}
AUDIO_BODY: Schema = {"required": True, "content": {"audio/*": {"schema": {"type": "string", "format": "binary"}},
                                                    "application/octet-stream": {"schema": {"type": "string",
                                                                                            "format": "binary"}}}}
FORMAT = _query("format", {"type": "string", "enum": list(AUDIO_FORMATS)}, "rendition")


def _greeting_paths() -> dict[str, Schema]:
    return {
        "/mailboxes/{mailboxId}/greetings/{kind}": {
            "parameters": [_param("mailboxId"), _param("kind")],
            "put": _operation(
                "put_greeting", "greetings", "Upload a greeting (transcoded like messages)", PLATFORM_OR_SUBSCRIBER,
                body=AUDIO_BODY,
                responses={"202": _json("the greeting, processing", _ref("Greeting")),
                           **_errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND, e413=("payload-too-large",),
                                     e415=("invalid-audio",))}),
            "delete": _operation(
                "delete_greeting", "greetings", "Delete a greeting", PLATFORM_OR_SUBSCRIBER,
                responses={"204": {"description": "deleted (or there was none)"},
                           **_errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND)}),
        },
        "/mailboxes/{mailboxId}/greetings/{kind}/audio": {
            "parameters": [_param("mailboxId"), _param("kind")],
            "get": _operation(
                "get_greeting_audio", "greetings", "Fetch a greeting's audio", PLATFORM_OR_SUBSCRIBER,
                parameters=[FORMAT, _header_param("Range", {"type": "string"}, "one `bytes=` range")],
                responses={**AUDIO_ANSWERS,
                           **_errors(e403=FORBIDDEN, e404=("not-found", "audio-not-found", "mailbox-not-found"),
                                     e409=("message-processing",), e416=("range-not-satisfiable",))}),
        },
        "/mailboxes/{mailboxId}/greeting": {
            "parameters": [_param("mailboxId")],
            "get": _operation(
                "active_greeting", "greetings", "The greeting to play now", PLATFORM_ONLY,
                description="`temporary` if set, else the one for the reason, else `name`, else 404 (the "
                            "platform plays its default). The subscriber's `greeting` choice can narrow this.",
                parameters=[_query("reason", {"type": "string", "enum": ["busy", "unavailable"]},
                                   "why the call was not answered (default unavailable)"), FORMAT],
                responses={"200": AUDIO_ANSWERS["200"],
                           **_errors(e403=FORBIDDEN, e404=("not-found", "mailbox-not-found", "audio-not-found"),
                                     e409=("message-processing",))}),
        },
    }


SWEEP_STATUS: Schema = {
    "type": "object",
    "required": ["instanceId", "runtimeStatus", "output", "customStatus", "createdTime", "lastUpdatedTime"],
    "properties": {
        "instanceId": {"type": "string"},
        "runtimeStatus": {"type": "string", "enum": ["Pending", "Running", "Completed", "ContinuedAsNew", "Failed",
                                                     "Terminated", "Canceled", "Suspended"]},
        "output": {"description": "when completed: examined, deleted, copied, failed (and blob counts)"},
        "customStatus": {"description": "progress while running"},
        "createdTime": {"type": ["string", "null"]},
        "lastUpdatedTime": {"type": ["string", "null"]},
    },
}


def _admin_paths() -> dict[str, Schema]:
    return {
        "/admin/sweeps/{kind}": {
            "parameters": [{"name": "kind", "in": "path", "required": True, "description": "which sweep",
                            "schema": {"type": "string"}}],
            "post": _operation(
                "start_sweep", "admin", "Start this region's sweep now (a singleton)", PLATFORM_ONLY,
                responses={
                    "202": _linked(_json("started", {"type": "object", "required": ["instanceId", "statusUrl"],
                                                     "properties": {"instanceId": {"type": "string"},
                                                                    "statusUrl": {"type": "string"}}}, "Location"),
                                   SWEEP_LINKS),
                    **_errors(e403=FORBIDDEN, e404=("not-found",), e409=("sweep-running",)),
                }),
        },
        "/admin/sweeps/{instanceId}": {
            "parameters": [{"name": "instanceId", "in": "path", "required": True, "description": "a sweep's id",
                            "schema": {"type": "string"}}],
            "get": _operation(
                "sweep_status", "admin", "A sweep's progress and outcome", PLATFORM_ONLY,
                responses={"200": _json("the sweep", SWEEP_STATUS), **_errors(e403=FORBIDDEN, e404=("not-found",))}),
        },
    }


def _operational_paths() -> dict[str, Schema]:
    return {
        "/health": {"get": _operation(
            "health", "health", "Liveness: the process answers (no I/O)", ANONYMOUS,
            responses={"200": _json("alive", _ref("Health"))})},
        "/health/ready": {"get": _operation(
            "health_ready", "health", "Readiness: dependencies answer and the region is not drained", ANONYMOUS,
            responses={
                "200": _json("ready", {"allOf": [_ref("Readiness")], "properties": {"status": {"const": "ready"}},
                                       "not": {"required": ["type"]}}),
                "503": _json("not ready, or drained by an operator",
                             {"allOf": [_ref("Readiness")], "required": ["type", "title", "detail"],
                              "properties": {"status": {"const": "unavailable"}}}, "Retry-After"),
            })},
        "/openapi.json": {"get": _operation(
            "openapi", "meta", "This document", ANONYMOUS,
            responses={"200": _json("the OpenAPI document", {"type": "object", "required": ["openapi"]})})},
    }


# -- notifications (issue 15): one self-contained block -------------------------------------------

def _notification_schemas() -> dict[str, Schema]:
    """PutNotifications and its targets (from the pydantic models), the answer, and a dead letter."""
    from shared.domain.notifications import PutNotifications

    raw = PutNotifications.model_json_schema(by_alias=True)
    schemas = {name: _rewrite_refs(definition) for name, definition in raw.pop("$defs", {}).items()}
    schemas["PutNotifications"] = _rewrite_refs(raw)
    secret = {"type": "string", "pattern": "^whsec_[A-Za-z0-9+/]{43}=$",
              "description": "the signing secret: only in the answer of the PUT that created this webhook"}
    schemas["NotificationTargets"] = {
        "type": "object", "required": ["targets", "deleteAfterEmail"], "additionalProperties": False,
        "properties": {
            "targets": {"type": "array", "items": {"oneOf": [
                {"type": "object", "required": ["kind", "url"], "additionalProperties": False,
                 "properties": {"kind": {"const": "webhook"}, "url": {"type": "string"}, "secret": secret}},
                _ref("EmailTarget"), _ref("SmsTarget")]}},
            "deleteAfterEmail": BOOLEAN}}
    schemas["DeadLetter"] = {
        "type": "object", "required": ["id", "mailboxId", "type", "status", "createdAt", "deliveries"],
        "properties": {
            "id": {"type": "string", "description": "the event id, sent as `webhook-id`"},
            "mailboxId": {"type": "string"}, "messageId": {"type": ["string", "null"]},
            "type": {"type": "string", "enum": ["message.ready", "message.failed", "mwi.changed"]},
            "status": {"type": "string", "enum": ["pending", "done", "dead"]},
            "createdAt": TIME, "deadAt": NULLABLE_TIME,
            "deliveries": {"type": "array", "items": {
                "type": "object", "required": ["target", "kind", "attempts", "done", "lastError"],
                "properties": {"target": {"type": "string"}, "kind": {"type": "string"}, "attempts": COUNT,
                               "done": BOOLEAN, "lastError": {"type": ["string", "null"]}}}}}}
    return schemas


def _notification_paths() -> dict[str, Schema]:
    targets = _json("the mailbox's targets (webhook secrets only when just created)", _ref("NotificationTargets"))
    event_id = {"name": "eventId", "in": "path", "required": True, "description": "a dead-lettered event's id",
                "schema": {"type": "string", "pattern": "^evt_[0-9a-f]{32}$"}}
    return {
        "/mailboxes/{mailboxId}/notifications": {
            "parameters": [_param("mailboxId")],
            "put": _operation(
                "put_notifications", "notifications", "Set the mailbox's notification targets",
                PLATFORM_OR_SUBSCRIBER, body=_json_body(_notification_model()),
                description="Webhook targets are the platform's; subscribers manage their e-mail and SMS "
                            "targets (their PUT keeps the webhooks). Events: message.ready, message.failed, "
                            "mwi.changed, signed by Standard Webhooks.",
                responses={"200": targets, **_errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND, e412=ETAG)}),
            "get": _operation(
                "get_notifications", "notifications", "The mailbox's notification targets, without secrets",
                PLATFORM_OR_SUBSCRIBER,
                responses={"200": targets, **_errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND)}),
        },
        "/admin/notifications/dead-letters": {
            "get": _operation(
                "list_dead_letters", "admin", "Events that kept failing past the retry horizon", PLATFORM_ONLY,
                parameters=[_query("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                                   "at most this many, newest first"),
                            _query("mailboxId", {"type": "string", "pattern": MAILBOX_ID.pattern},
                                   "only this mailbox's")],
                responses={"200": _json("dead letters", {"type": "object", "required": ["items"], "properties": {
                    "items": {"type": "array", "items": _ref("DeadLetter")}}}), **_errors(e403=FORBIDDEN)}),
        },
        "/admin/notifications/dead-letters/{eventId}/replay": {
            "parameters": [event_id],
            "post": _operation(
                "replay_dead_letter", "admin", "Send a dead-lettered event again (same webhook-id)", PLATFORM_ONLY,
                responses={"202": _json("queued again", _ref("DeadLetter")),
                           **_errors(e403=FORBIDDEN, e404=("not-found",), e409=("event-not-dead-lettered",))}),
        },
    }


def _notification_model() -> type[BaseModel]:
    from shared.domain.notifications import PutNotifications

    return PutNotifications


def openapi_document(version: str) -> dict[str, Any]:
    """The whole document for API version `version` (a fresh dict on every call)."""
    paths = {**_operational_paths(), **_mailbox_paths(), **_message_paths(), **_greeting_paths(), **_admin_paths(),
             **_notification_paths()}
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
        "tags": [{"name": name}
                 for name in ("health", "mailboxes", "sessions", "messages", "greetings", "notifications", "admin",
                              "meta")],
        "paths": {f"{PREFIX}{path}": item for path, item in paths.items()},
        "components": {
            "schemas": {**request_schemas(), **RESPONSE_SCHEMAS, **_notification_schemas()},
            "parameters": PARAMETERS,
            "headers": HEADERS,
            "securitySchemes": {
                PLATFORM: {"type": "apiKey", "in": "header", "name": "x-api-key",
                           "description": "platform key: every route, every mailbox"},
                SUBSCRIBER: {"type": "http", "scheme": "bearer",
                             "description": "session token from POST /api/mailboxes/{mailboxId}/sessions: "
                                            "that one mailbox only"},
            },
        },
    })
