"""The components of the OpenAPI document: request bodies from the pydantic commands, answers from
the response models in shared/domain/views.py (the same models serialise them), the rest written
out from the code that answers them; shared parameters and headers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from shared.domain.model import (
    GREETING_KINDS,
    MAILBOX_ID,
    MESSAGE_ID,
)
from shared.domain.tenancy import TENANT_ID
from shared.domain.tenants import CLASS_NAME, KEY_ID
from shared.domain.views import RESPONSE_MODELS

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def rewrite_refs(node: Any) -> Any:
    """pydantic's `#/$defs/X` references, pointed at `#/components/schemas/X`: `$ref`s and a
    discriminator's mapping alike."""
    if isinstance(node, dict):
        return {key: (value.replace("#/$defs/", "#/components/schemas/") if isinstance(value, str)
                      and value.startswith("#/$defs/") else rewrite_refs(value)) for key, value in node.items()}
    if isinstance(node, list):
        return [rewrite_refs(item) for item in node]
    return node


def request_schemas(models: tuple[type[BaseModel], ...]) -> dict[str, Schema]:
    """Each command's JSON schema, its `$defs` hoisted beside it (one name, one definition)."""
    schemas: dict[str, Schema] = {}
    for model in models:
        schema = model.model_json_schema(by_alias=True)
        for name, raw in schema.pop("$defs", {}).items():
            definition = rewrite_refs(raw)
            if schemas.setdefault(name, definition) != definition:
                raise ValueError(f"two request models define {name} differently")
        if model.__name__ in schemas:
            raise ValueError(f"{model.__name__} is defined twice")
        schemas[model.__name__] = rewrite_refs(schema)
    return schemas


# -- answers: the response models that serialise them -------------------------------------------

class AnswerSchema(GenerateJsonSchema):
    """The models' schemas as this document spells them: no generated titles, `T | None` as
    `type: [T, "null"]` (what OpenAPI 3.1 tools read best)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def model_schema(self, schema: Any) -> Schema:
        generated = super().model_schema(schema)
        generated.pop("title", None)
        if "description" in generated:  # a docstring's line breaks are not the text's
            generated["description"] = " ".join(generated["description"].split())
        return generated

    def nullable_schema(self, schema: Any) -> Schema:
        inner = self.generate_inner(schema["schema"])
        if isinstance(inner.get("type"), str) and "$ref" not in inner:
            return {**inner, "type": [inner["type"], "null"]}
        return super().nullable_schema(schema)


def _inline(node: Any, defs: dict[str, Schema], published: set[str]) -> Any:
    """References to definitions that are not components of their own, replaced by the definition;
    a reference with more beside it (such as `required`) as `allOf`, as every tool reads it."""
    if isinstance(node, dict) and "$ref" in node:
        target = node["$ref"].removeprefix("#/$defs/")
        rest = {key: _inline(value, defs, published) for key, value in node.items() if key != "$ref"}
        if target in defs and target not in published:
            return _inline({**defs[target], **rest}, defs, published)
        return {"allOf": [{"$ref": node["$ref"]}], **rest} if rest else node
    if isinstance(node, dict):
        return {key: _inline(value, defs, published) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, defs, published) for item in node]
    return node


def answer_schemas(request_models: tuple[type[BaseModel], ...]) -> dict[str, Schema]:
    """Each response model's schema (`shared/domain/views.py`): a model it nests that is a component
    itself (another answer, MailboxSettings) by reference, anything else inline."""
    published = {model.__name__ for model in (*RESPONSE_MODELS, *request_models)} | {"MailboxSettings"}
    schemas: dict[str, Schema] = {}
    for model in RESPONSE_MODELS:
        schema = model.model_json_schema(by_alias=True, schema_generator=AnswerSchema)
        defs = schema.pop("$defs", {})
        schemas[model.__name__] = rewrite_refs(_inline(schema, defs, published))
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
            "drift": {"allOf": [ref("Drift")], "description": "what the recorded counts were off by, now "
                                                               "corrected (all zero: nothing to repair)"},
            "counts": {"allOf": [ref("Drift")], "description": "the counts recounted from the messages"},
            "region": {"type": "string", "description": "the region whose tally took the correction"},
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
    "UploadRequestResult": {
        "type": "object",
        "required": ["message", "upload"],
        "additionalProperties": False,
        "properties": {
            "message": ref("Message"),
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
        "required": ["status", "region", "version", "build"],
        "additionalProperties": False,
        "properties": {"status": {"const": "ok"}, "region": {"type": "string"}, "version": {"type": "string"},
                       "build": {"type": "string", "description": "the deployed code's id (a digest of its files): "
                                                                  "a rolling release waits until it changes"}},
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
        "required": ["status", "region", "drained", "deposits", "checks"],
        "additionalProperties": False,
        "properties": {
            "status": {"type": "string", "enum": ["ready", "unavailable"]},
            "region": {"type": "string"},
            "drained": {"type": "boolean"},
            "deposits": {"type": "string", "enum": ["stored", "journaled", "refused"],
                         "description": "what a deposit meets here now: `journaled` while only the database "
                                        "fails (202, made a message once it answers); `refused` when blob "
                                        "storage fails too (503)"},
            "checks": {"type": "object", "required": ["cosmos", "blob"], "additionalProperties": ref("Check"),
                       "properties": {"cosmos": ref("Check"), "blob": ref("Check")}},
            "type": {"const": "not-ready"},
            "title": {"type": "string"},
            "detail": {"type": "string"},
        },
    },
}


# -- parameters and headers --------------------------------------------------------------------

def path_param(name: str, pattern: str, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "pattern": pattern}}


def query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def header_param(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "header", "required": False, "description": description, "schema": schema}


PARAMETERS: dict[str, Schema] = {
    "mailboxId": path_param("mailboxId", MAILBOX_ID.pattern,
                             "mailbox id; E.164 numbers fit, the `+` may be sent as `%2B`"),
    "messageId": path_param("messageId", MESSAGE_ID.pattern, "message id"),
    "tenantId": path_param("tenantId", TENANT_ID.pattern, "tenant id; the paths without one are tenant `default`'s"),
    "keyId": path_param("keyId", KEY_ID.pattern, "a tenant key's id"),
    "className": path_param("className", CLASS_NAME.pattern, "class of service name"),
    "kind": {"name": "kind", "in": "path", "required": True, "description": "greeting kind",
             "schema": {"type": "string", "enum": list(GREETING_KINDS)}},
    "ifMatch": header_param("If-Match", {"type": "string"},
                             "apply only if the resource's ETag still matches (`*` or absent: unconditionally)"),
}

HEADERS: dict[str, Schema] = {
    "ETag": {"description": "the resource's current entity tag (quoted)", "required": True,
             "schema": {"type": "string"}},
    "DepositETag": {"description": "the message's entity tag (quoted); absent when the deposit was journaled "
                                   "through a database outage (no document yet)", "required": False,
                    "schema": {"type": "string"}},
    "Location": {"description": "where the resource lives", "required": True,
                 "schema": {"type": "string", "format": "uri-reference"}},
    "Retry-After": {"description": "seconds to wait before retrying", "required": True,
                    "schema": {"type": "integer", "minimum": 0}},
    "WWW-Authenticate": {"description": "the challenge", "required": True,
                         "schema": {"const": 'Bearer realm="voicemail"'}},
}


def header_refs(*names: str) -> dict[str, Schema]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def param_ref(name: str) -> Schema:
    return {"$ref": f"#/components/parameters/{name}"}



def notification_schemas() -> dict[str, Schema]:
    """A mailbox's targets as answered (webhook secrets only once), and a dead letter."""
    boolean: Schema = {"type": "boolean"}
    secret = {"type": "string", "pattern": "^whsec_[A-Za-z0-9+/]{43}=$",
              "description": "the signing secret: only in the answer of the PUT that created this webhook"}
    return {
        "NotificationTargets": {
            "type": "object", "required": ["targets", "deleteAfterEmail"], "additionalProperties": False,
            "properties": {
                "targets": {"type": "array", "items": {"oneOf": [
                    {"type": "object", "required": ["kind", "url"], "additionalProperties": False,
                     "properties": {"kind": {"const": "webhook"}, "url": {"type": "string"}, "secret": secret}},
                    ref("EmailTarget"), ref("SmsTarget")]}},
                "deleteAfterEmail": boolean}},
        "DeadLetter": {
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
                                   "done": boolean, "lastError": {"type": ["string", "null"]}}}}}},
    }
