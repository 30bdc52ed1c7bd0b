"""The operators' routes, on the management plane: start a region's sweep now and follow it; list and
replay the notifications that kept failing. Platform only."""

from __future__ import annotations

import json
import re

import azure.functions as func

from functions.http import integer, json_response
from functions.openapi.links import SWEEP_LINKS
from functions.openapi.schemas import Schema, query
from functions.sweeps.common import start_singleton, task_hub
from functions.table import PLATFORM_ONLY, ROUTES, Answer, Call
from shared.domain.errors import EventNotDeadLettered, NotFound, SweepRunning, ValidationFailed
from shared.domain.model import MAILBOX_ID
from shared.domain.sweeps import SWEEPS, instance_id

_EVENT_ID = re.compile(r"^evt_[0-9a-f]{32}$")
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
STARTED: Schema = {"type": "object", "required": ["instanceId", "statusUrl"],
                   "properties": {"instanceId": {"type": "string"}, "statusUrl": {"type": "string"}}}


def _path(name: str, description: str, schema: Schema | None = None) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or {"type": "string"}}


@ROUTES.route("POST", "admin/sweeps/{kind}", tag="admin", summary="Start this region's sweep now (a singleton)",
              principals=PLATFORM_ONLY, plane="management", flow="admin", durable=True,
              parameters=(_path("kind", "which sweep"),),
              answers={202: Answer("started", STARTED, ("Location",), SWEEP_LINKS)}, errors=(NotFound, SweepRunning))
async def start_sweep(call: Call) -> func.HttpResponse:
    kind = call.req.route_params.get("kind", "")
    if kind not in SWEEPS:
        raise NotFound(f"no such sweep; sweeps: {', '.join(SWEEPS)}")
    started = await start_singleton(call.client, kind)
    if started is None:
        raise SweepRunning("this region's sweep is still running; follow it at its status URL")
    status_url = f"/api/admin/sweeps/{started}"
    return json_response({"instanceId": started, "statusUrl": status_url}, status=202,
                         headers={"Location": status_url})


@ROUTES.route("GET", "admin/sweeps/{instanceId}", tag="admin", summary="A sweep's progress and outcome",
              principals=PLATFORM_ONLY, plane="management", flow="admin", durable=True,
              parameters=(_path("instanceId", "a sweep's id"),),
              answers={200: Answer("the sweep", SWEEP_STATUS)}, errors=(NotFound,))
async def sweep_status(call: Call) -> func.HttpResponse:
    instance = call.req.route_params.get("instanceId", "")
    # Only this region's sweeps are in its task hub: any other id (odd characters included, which
    # would otherwise travel into the task hub's RPC URL) is simply not there.
    if instance not in {instance_id(kind, call.app.settings.region) for kind in SWEEPS}:
        raise NotFound("no such sweep")
    status = await task_hub("reading the sweep's status", call.client.get_status(instance))
    if status is None or status.runtime_status is None:
        raise NotFound("no such sweep")
    output = status.output if not isinstance(status.output, str) else json.loads(status.output or "null")
    return json_response({"instanceId": instance, "runtimeStatus": status.runtime_status.name, "output": output,
                          "customStatus": status.custom_status,
                          "createdTime": status.created_time.isoformat() if status.created_time else None,
                          "lastUpdatedTime": status.last_updated_time.isoformat()
                          if status.last_updated_time else None})


@ROUTES.route("GET", "admin/notifications/dead-letters", tag="admin", principals=PLATFORM_ONLY, plane="management",
              summary="Events that kept failing past the retry horizon",
              parameters=(query("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                                "at most this many, newest first"),
                          query("mailboxId", {"type": "string", "pattern": MAILBOX_ID.pattern}, "only this mailbox's")),
              answers={200: Answer("dead letters", {"type": "object", "required": ["items"], "properties": {
                  "items": {"type": "array", "items": {"$ref": "#/components/schemas/DeadLetter"}}}})})
def list_dead_letters(call: Call) -> func.HttpResponse:
    mailbox = call.req.params.get("mailboxId")
    if mailbox is not None and not MAILBOX_ID.fullmatch(mailbox):
        raise ValidationFailed("mailboxId is not a mailbox id")
    limit = integer(call.req, "limit", 50, 1, 200)
    return json_response(call.app.notifications.dead_letters(call.principal, limit, mailbox))


@ROUTES.route("POST", "admin/notifications/dead-letters/{eventId}/replay", tag="admin", principals=PLATFORM_ONLY,
              summary="Send a dead-lettered event again (same webhook-id)", plane="management",
              parameters=(_path("eventId", "a dead-lettered event's id", {"type": "string",
                                                                         "pattern": _EVENT_ID.pattern}),),
              answers={202: Answer("queued again", "DeadLetter")}, errors=(NotFound, EventNotDeadLettered))
def replay_dead_letter(call: Call) -> func.HttpResponse:
    event = call.req.route_params.get("eventId", "")
    if not _EVENT_ID.fullmatch(event):
        raise ValidationFailed("eventId is not an event id")
    return json_response(call.app.notifications.replay(call.principal, event), status=202)
