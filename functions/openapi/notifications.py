"""The notification routes (functions/notifications.py): a mailbox's targets, and the dead letters
operators list and replay. Target schemas come from the pydantic command that validates them."""

from __future__ import annotations

from functions.openapi.operations import (
    BOOLEAN,
    ETAG,
    FORBIDDEN,
    MAILBOX_NOT_FOUND,
    PLATFORM_ONLY,
    PLATFORM_OR_SUBSCRIBER,
    answer,
    errors,
    json_body,
    operation,
)
from functions.openapi.schemas import COUNT, NULLABLE_TIME, TIME, Schema, param_ref, query, ref, rewrite_refs
from shared.domain.model import MAILBOX_ID
from shared.domain.notifications import PutNotifications
from shared.domain.verification import VerifyTarget


def notification_schemas() -> dict[str, Schema]:
    """PutNotifications and its targets (from the pydantic models), the answer, and a dead letter."""
    raw = PutNotifications.model_json_schema(by_alias=True)
    schemas = {name: rewrite_refs(definition) for name, definition in raw.pop("$defs", {}).items()}
    schemas["PutNotifications"] = rewrite_refs(raw)
    schemas["VerifyTarget"] = VerifyTarget.model_json_schema(by_alias=True)
    secret = {"type": "string", "pattern": "^whsec_[A-Za-z0-9+/]{43}=$",
              "description": "the signing secret: only in the answer of the PUT that created this webhook"}
    schemas["NotificationTargets"] = {
        "type": "object", "required": ["targets", "deleteAfterEmail"], "additionalProperties": False,
        "properties": {
            "targets": {"type": "array", "items": {"oneOf": [
                {"type": "object", "required": ["kind", "url"], "additionalProperties": False,
                 "properties": {"kind": {"const": "webhook"}, "url": {"type": "string"}, "secret": secret}},
                ref("EmailTarget"), ref("SmsTarget")]}},
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


def notification_paths() -> dict[str, Schema]:
    targets = answer("the mailbox's targets (webhook secrets only when just created)", ref("NotificationTargets"))
    event_id = {"name": "eventId", "in": "path", "required": True, "description": "a dead-lettered event's id",
                "schema": {"type": "string", "pattern": "^evt_[0-9a-f]{32}$"}}
    return {
        "/mailboxes/{mailboxId}/notifications": {
            "parameters": [param_ref("mailboxId")],
            "put": operation(
                "put_notifications", "notifications", "Set the mailbox's notification targets",
                PLATFORM_OR_SUBSCRIBER, body=json_body(PutNotifications),
                description="Webhook targets are the platform's; subscribers manage their e-mail and SMS "
                            "targets (their PUT keeps the webhooks). Events: message.ready, message.failed, "
                            "mwi.changed, signed by Standard Webhooks. An e-mail or SMS target a subscriber "
                            "sets is `verified: false` and gets one message, a 6-digit code, and nothing else "
                            "until the code is confirmed (`verify_notification_target`); at most 3 codes a "
                            "day per target (429 beyond). The platform's targets are verified.",
                responses={"200": targets, **errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND, e412=ETAG,
                                                    e422=("invalid-webhook-url",), e429=("too-many-requests",))}),
            "get": operation(
                "get_notifications", "notifications", "The mailbox's notification targets, without secrets",
                PLATFORM_OR_SUBSCRIBER,
                responses={"200": targets, **errors(e403=FORBIDDEN, e404=MAILBOX_NOT_FOUND)}),
        },
        "/mailboxes/{mailboxId}/notifications/verify": {
            "parameters": [param_ref("mailboxId")],
            "post": operation(
                "verify_notification_target", "notifications", "Confirm an e-mail or SMS target with its code",
                PLATFORM_OR_SUBSCRIBER, body=json_body(VerifyTarget),
                description="The target then gets `message.ready`. A code lives 30 minutes and allows 5 wrong "
                            "tries; a target already verified answers 204 again.",
                responses={"204": {"description": "the target is verified"},
                           **errors(e403=FORBIDDEN, e404=(*MAILBOX_NOT_FOUND, "not-found"),
                                    e412=ETAG, e422=("verification-failed",), e429=("too-many-requests",))}),
        },
        "/admin/notifications/dead-letters": {
            "get": operation(
                "list_dead_letters", "admin", "Events that kept failing past the retry horizon", PLATFORM_ONLY,
                parameters=[query("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                                  "at most this many, newest first"),
                            query("mailboxId", {"type": "string", "pattern": MAILBOX_ID.pattern},
                                  "only this mailbox's")],
                responses={"200": answer("dead letters", {"type": "object", "required": ["items"], "properties": {
                    "items": {"type": "array", "items": ref("DeadLetter")}}}), **errors(e403=FORBIDDEN)}),
        },
        "/admin/notifications/dead-letters/{eventId}/replay": {
            "parameters": [event_id],
            "post": operation(
                "replay_dead_letter", "admin", "Send a dead-lettered event again (same webhook-id)", PLATFORM_ONLY,
                responses={"202": answer("queued again", ref("DeadLetter")),
                           **errors(e403=FORBIDDEN, e404=("not-found",), e409=("event-not-dead-lettered",))}),
        },
    }
