"""The document's paths, one function a group of routes (as the blueprints in functions/ group them)."""

from __future__ import annotations

from functions.openapi.operations import (
    ANONYMOUS,
    BOOLEAN,
    ETAG,
    FORBIDDEN,
    MAILBOX_LINKS,
    MAILBOX_NOT_FOUND,
    MESSAGE_LINKS,
    PLATFORM_ONLY,
    PLATFORM_OR_SUBSCRIBER,
    SESSION_LINKS,
    SWEEP_LINKS,
    TOO_MANY,
    answer,
    errors,
    json_body,
    linked,
    operation,
)
from functions.openapi.schemas import TIME, Schema, header_param, param_ref, query, ref
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
    MAX_INLINE_AUDIO_BYTES,
)


def mailbox_paths() -> dict[str, Schema]:
    mailbox = answer("the mailbox, with its message-waiting counts", ref("Mailbox"), "ETag")
    return {
        "/mailboxes/{mailboxId}": {
            "parameters": [param_ref("mailboxId")],
            "put": operation(
                "put_mailbox", "mailboxes", "Create or replace a mailbox", PLATFORM_ONLY,
                body=json_body(PutMailbox),
                description="Replacing keeps the PIN when the body has none; settings not given take defaults.",
                responses={
                    "200": linked(answer("replaced", ref("Mailbox"), "ETag", "Location"), MAILBOX_LINKS),
                    "201": linked(answer("created", ref("Mailbox"), "ETag", "Location"), MAILBOX_LINKS),
                    **errors(e403=FORBIDDEN, e409=("mailbox-deprovisioning",), e412=ETAG),
                }),
            "get": operation(
                "get_mailbox", "mailboxes", "Read a mailbox and its counts (MWI)", PLATFORM_OR_SUBSCRIBER,
                responses={"200": mailbox, **errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND)}),
            "patch": operation(
                "patch_mailbox", "mailboxes", "Change display name, greeting choice or settings",
                PLATFORM_OR_SUBSCRIBER, parameters=[param_ref("ifMatch")],
                body=json_body(PatchMailbox, at_least_one=True),
                description="Give at least one of displayName, greeting, settings. Subscribers may change their "
                            "own displayName and greeting only.",
                responses={"200": mailbox, **errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND, e412=ETAG,
                                                     e429=TOO_MANY)}),
            "delete": operation(
                "delete_mailbox", "mailboxes", "Deprovision a mailbox", PLATFORM_ONLY,
                description="Deposits stop at once; messages, greetings and audio are purged in the background.",
                responses={"202": answer("deprovisioning", ref("Deprovisioning")),
                           **errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND, e412=ETAG)}),
        },
        "/mailboxes/{mailboxId}/counts/reconcile": {
            "parameters": [param_ref("mailboxId")],
            "post": operation(
                "reconcile_counts", "mailboxes", "Recount the mailbox and repair its counts", PLATFORM_ONLY,
                description="Operators: counts are kept in O(1) per change (one tally per region, merged on "
                            "read); this recounts them from the messages, settles any message whose regional "
                            "shares do not add up (after a write conflict between regions) and corrects this "
                            "region's tally by the drift left. The answer says what was repaired. While a "
                            "write conflict of the mailbox is still being merged in this region: 409 "
                            "`conflicts-pending` (retry in a few seconds).",
                responses={"200": answer("what was recounted and repaired", ref("Reconciled")),
                           **errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND, e409=("conflicts-pending",))}),
        },
        "/mailboxes/{mailboxId}/sessions": {
            "parameters": [param_ref("mailboxId")],
            "post": operation(
                "create_session", "sessions", "Log in with the PIN", ANONYMOUS, body=json_body(CreateSession),
                description="No other credential is needed or looked at. An unknown mailbox and a wrong PIN "
                            "look alike (401, then 423 after 5 wrong PINs in a row, for 15 minutes), so logins never "
                            "reveal which mailboxes exist. Each guess is counted before its PIN is checked. Logins "
                            "faster than 20 a minute per mailbox or 60 a minute per client answer 429 with "
                            "`Retry-After`, before any PIN is hashed.",
                responses={"201": linked(answer("a session token for this mailbox", ref("Session")), SESSION_LINKS),
                           **errors(auth=False, e401=("invalid-credentials",), e423=("pin-locked",),
                                     e429=("too-many-requests",))}),
        },
        "/mailboxes/{mailboxId}/pin": {
            "parameters": [param_ref("mailboxId")],
            "put": operation(
                "change_pin", "sessions", "Change the PIN", PLATFORM_OR_SUBSCRIBER, body=json_body(ChangePin),
                description="Subscribers must give `currentPin`; the platform need not.",
                responses={"204": {"description": "changed"},
                           **errors(e403=("forbidden", "pin-mismatch"), e404=MAILBOX_NOT_FOUND, e412=ETAG,
                                     e423=("pin-locked",), e429=TOO_MANY)}),
        },
    }


def deposit_answer() -> Schema:
    """202 to an audio deposit: its ETag is absent when it was journaled through a database outage."""
    accepted = answer("accepted: the message, `processing`", ref("Message"), "Location")
    accepted["headers"]["ETag"] = {"$ref": "#/components/headers/DepositETag"}
    return accepted


def message_paths() -> dict[str, Schema]:
    message = answer("the message", ref("Message"), "ETag", "Location")
    audio_body: Schema = {"schema": {"type": "string", "format": "binary"}}
    deposit_body: Schema = {"required": True, "content": {
        "audio/*": audio_body,
        "application/octet-stream": audio_body,
        "application/json": {"schema": ref(RequestUpload.__name__)},
    }}
    return {
        "/mailboxes/{mailboxId}/messages": {
            "parameters": [param_ref("mailboxId")],
            "post": operation(
                "deposit_message", "messages", "Deposit a message", PLATFORM_ONLY,
                description="An audio body (`audio/*` or `application/octet-stream`, at most "
                            f"{MAX_INLINE_AUDIO_BYTES} bytes) → 202 message in `processing`. A JSON body → 201 "
                            "message and a short-lived write-only upload link; the message appears once the "
                            "upload lands. The query parameters apply to audio bodies only (JSON carries them). "
                            "While the database does not answer (a few seconds), an audio deposit is journaled "
                            "with its audio and still answers 202, with no `ETag`: the message is listed and "
                            "counted, under the same id, once the database answers again.",
                parameters=[
                    query("from", {"type": "string", "pattern": PHONE}, "caller number or SIP user part"),
                    query("fromName", {"type": "string", "maxLength": 100}, "caller name"),
                    query("urgent", BOOLEAN, "mark urgent"),
                    header_param("Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 200,
                                                      "pattern": "^[\\x20-\\x7E]+$"},
                                  "a retry with the same key yields the same message, never a second one"),
                ],
                body=deposit_body,
                responses={
                    "201": answer("upload requested", ref("UploadRequestResult"), "Location"),
                    "202": linked(deposit_answer(), MESSAGE_LINKS),
                    **errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND, e409=("mailbox-full", "idempotency-key-reused"),
                              e413=("payload-too-large",), e415=("invalid-audio",)),
                }),
            "get": operation(
                "list_messages", "messages", "List messages", PLATFORM_OR_SUBSCRIBER,
                description="Without `folder`: inbox and saved. Keyset paging by `continuation`.",
                parameters=[
                    query("folder", {"type": "string", "enum": list(FOLDERS)}, "only this folder"),
                    query("heard", BOOLEAN, "only heard (true) or unheard (false)"),
                    query("urgent", BOOLEAN, "only urgent (true) or not (false)"),
                    query("since", TIME, "received at or after (RFC 3339 with zone)"),
                    query("until", TIME, "received before (RFC 3339 with zone); after `since`"),
                    query("order", {"type": "string", "enum": ["asc", "desc"], "default": "desc"},
                           "by time received"),
                    query("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "page size"),
                    query("continuation", {"type": "string"}, "from the previous page, with the same `order`"),
                ],
                responses={"200": answer("a page of messages", ref("MessageList")),
                           **errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND)}),
        },
        "/mailboxes/{mailboxId}/messages/{messageId}": {
            "parameters": [param_ref("mailboxId"), param_ref("messageId")],
            "get": operation(
                "get_message", "messages", "Read a message", PLATFORM_OR_SUBSCRIBER,
                responses={"200": message, **errors(e403=FORBIDDEN, e404=("message-not-found",))}),
            "patch": operation(
                "patch_message", "messages", "Mark heard, urgent, or move between folders", PLATFORM_OR_SUBSCRIBER,
                description="Give at least one of heard, folder, urgent; moving to `trash` is undone by moving back.",
                parameters=[param_ref("ifMatch")], body=json_body(PatchMessage, at_least_one=True),
                responses={"200": message, **errors(e403=FORBIDDEN, e404=("message-not-found", "mailbox-not-found"),
                                                     e412=ETAG, e429=TOO_MANY)}),
            "delete": operation(
                "delete_message", "messages", "Move to trash, or purge", PLATFORM_OR_SUBSCRIBER,
                parameters=[query("purge", BOOLEAN, "delete for good, audio included")],
                responses={"204": {"description": "trashed (or purged)"},
                           **errors(e403=FORBIDDEN, e404=("message-not-found", "mailbox-not-found"), e412=ETAG,
                                     e429=TOO_MANY)}),
        },
        "/mailboxes/{mailboxId}/messages/{messageId}/audio": {
            "parameters": [param_ref("mailboxId"), param_ref("messageId")],
            "get": operation(
                "get_message_audio", "messages", "Fetch the audio", PLATFORM_OR_SUBSCRIBER,
                description="Without `format`: the first rendition (409 while `processing`; `original` is "
                            "served meanwhile). One `bytes=` range is honoured (206).",
                parameters=[
                    query("format", {"type": "string", "enum": list(AUDIO_FORMATS)}, "rendition"),
                    query("redirect", BOOLEAN, "302 to a read-only link for this one blob instead"),
                    header_param("Range", {"type": "string"}, "one `bytes=first-last` or `bytes=-suffix` range"),
                ],
                responses={
                    **AUDIO_ANSWERS,
                    "302": {"description": "a short-lived read-only link to the audio",
                            "headers": {"Location": {"required": True,
                                                     "schema": {"type": "string", "format": "uri"}}}},
                    **errors(e403=FORBIDDEN, e404=("message-not-found", "audio-not-found"),
                              e409=("message-processing",), e416=("range-not-satisfiable",)),
                }),
        },
        "/mailboxes/{mailboxId}/messages/{messageId}/forward": {
            "parameters": [param_ref("mailboxId"), param_ref("messageId")],
            "post": operation(
                "forward_message", "messages", "Forward a copy to another mailbox", PLATFORM_OR_SUBSCRIBER,
                body=json_body(ForwardMessage),
                description="Forwarding the same message to the same mailbox again yields the same copy. A forward "
                            "never takes the last 20 % of the target's `maxMessages` (kept for callers), and a "
                            "subscriber forwards at most 20 messages an hour. Every refusal (target unknown, full "
                            "or refusing; the hourly limit) answers the same 409 `forward-refused`, never another "
                            "mailbox's counts.",
                responses={
                    "202": linked(answer("the new message in the target mailbox", ref("Message"), "ETag",
                                         "Location"), MESSAGE_LINKS),
                    **errors(e403=FORBIDDEN, e404=("message-not-found", "audio-not-found", "mailbox-not-found"),
                              e409=("message-processing", "forward-refused"), e429=TOO_MANY),
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
FORMAT = query("format", {"type": "string", "enum": list(AUDIO_FORMATS)}, "rendition")


def greeting_paths() -> dict[str, Schema]:
    return {
        "/mailboxes/{mailboxId}/greetings/{kind}": {
            "parameters": [param_ref("mailboxId"), param_ref("kind")],
            "put": operation(
                "put_greeting", "greetings", "Upload a greeting (transcoded like messages)", PLATFORM_OR_SUBSCRIBER,
                body=AUDIO_BODY,
                responses={"202": answer("the greeting, processing", ref("Greeting")),
                           **errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND, e413=("payload-too-large",),
                                     e415=("invalid-audio",), e429=TOO_MANY)}),
            "delete": operation(
                "delete_greeting", "greetings", "Delete a greeting", PLATFORM_OR_SUBSCRIBER,
                responses={"204": {"description": "deleted (or there was none)"},
                           **errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND, e429=TOO_MANY)}),
        },
        "/mailboxes/{mailboxId}/greetings/{kind}/audio": {
            "parameters": [param_ref("mailboxId"), param_ref("kind")],
            "get": operation(
                "get_greeting_audio", "greetings", "Fetch a greeting's audio", PLATFORM_OR_SUBSCRIBER,
                parameters=[FORMAT, header_param("Range", {"type": "string"}, "one `bytes=` range")],
                responses={**AUDIO_ANSWERS,
                           **errors(e403=FORBIDDEN, e404=("not-found", "audio-not-found", "mailbox-not-found"),
                                     e409=("message-processing",), e416=("range-not-satisfiable",))}),
        },
        "/mailboxes/{mailboxId}/greeting": {
            "parameters": [param_ref("mailboxId")],
            "get": operation(
                "active_greeting", "greetings", "The greeting to play now", PLATFORM_ONLY,
                description="`temporary` if set, else the one for the reason, else `name`, else 404 (the "
                            "platform plays its default). The subscriber's `greeting` choice can narrow this.",
                parameters=[query("reason", {"type": "string", "enum": ["busy", "unavailable"]},
                                   "why the call was not answered (default unavailable)"), FORMAT],
                responses={"200": AUDIO_ANSWERS["200"],
                           **errors(e403=FORBIDDEN, e404=("not-found", "mailbox-not-found", "audio-not-found"),
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


def admin_paths() -> dict[str, Schema]:
    return {
        "/admin/sweeps/{kind}": {
            "parameters": [{"name": "kind", "in": "path", "required": True, "description": "which sweep",
                            "schema": {"type": "string"}}],
            "post": operation(
                "start_sweep", "admin", "Start this region's sweep now (a singleton)", PLATFORM_ONLY,
                responses={
                    "202": linked(answer("started", {"type": "object", "required": ["instanceId", "statusUrl"],
                                                     "properties": {"instanceId": {"type": "string"},
                                                                    "statusUrl": {"type": "string"}}}, "Location"),
                                   SWEEP_LINKS),
                    **errors(e403=FORBIDDEN, e404=("not-found",), e409=("sweep-running",)),
                }),
        },
        "/admin/sweeps/{instanceId}": {
            "parameters": [{"name": "instanceId", "in": "path", "required": True, "description": "a sweep's id",
                            "schema": {"type": "string"}}],
            "get": operation(
                "sweep_status", "admin", "A sweep's progress and outcome", PLATFORM_ONLY,
                responses={"200": answer("the sweep", SWEEP_STATUS), **errors(e403=FORBIDDEN, e404=("not-found",))}),
        },
    }


def operational_paths() -> dict[str, Schema]:
    return {
        "/health": {"get": operation(
            "health", "health", "Liveness: the process answers (no I/O)", ANONYMOUS,
            responses={"200": answer("alive", ref("Health"))})},
        "/health/ready": {"get": operation(
            "health_ready", "health", "Readiness: dependencies answer and the region is not drained", ANONYMOUS,
            responses={
                "200": answer("ready", {"allOf": [ref("Readiness")], "properties": {"status": {"const": "ready"}},
                                       "not": {"required": ["type"]}}),
                "503": answer("not ready, or drained by an operator",
                             {"allOf": [ref("Readiness")], "required": ["type", "title", "detail"],
                              "properties": {"status": {"const": "unavailable"}}}, "Retry-After"),
            })},
        "/openapi.json": {"get": operation(
            "openapi", "meta", "This document", ANONYMOUS,
            responses={"200": answer("the OpenAPI document", {"type": "object", "required": ["openapi"]})})},
    }

