"""A subscriber's data request (platform): request an export of a mailbox, then read its status and,
once ready, a short-lived read link to its ZIP (shared/services/exports.py). The ZIP is built on
the management plane (functions/sweeps/exports.py)."""

from __future__ import annotations

import azure.functions as func

from functions.http import json_response
from functions.table import PLATFORM_ONLY, ROUTES, Answer, Call
from shared.domain import tenancy
from shared.domain.errors import MailboxNotFound, NotFound
from shared.domain.exports import EXPORT_ID as EXPORT_ID_PATTERN
from shared.domain.model import MAILBOX_ID

EXPORTS = "mailboxes/{mailboxId}/exports"
_TIME = {"type": ["string", "null"], "format": "date-time"}
STARTED = {"type": "object", "required": ["exportId", "statusUrl", "status"], "additionalProperties": False,
           "properties": {"exportId": {"type": "string"}, "statusUrl": {"type": "string"},
                          "status": {"const": "running"}}}
STATUS = {
    "type": "object", "required": ["exportId", "mailboxId", "status", "requestedAt", "url", "expiresAt"],
    "additionalProperties": False,
    "properties": {
        "exportId": {"type": "string"}, "mailboxId": {"type": "string", "pattern": MAILBOX_ID.pattern},
        "status": {"enum": ["running", "ready", "failed", "expired"]}, "requestedAt": _TIME,
        "url": {"type": ["string", "null"], "format": "uri",
                "description": "ready: a read-only link to the ZIP, minted for this answer"},
        "expiresAt": {**_TIME, "description": "when the link stops working (at most 15 minutes)"},
        "availableUntil": {**_TIME, "description": "when the ZIP is deleted (the record then says expired)"},
        "sizeBytes": {"type": ["integer", "null"]}, "reason": {"type": ["string", "null"]}}}
EXPORT_ID = {"name": "exportId", "in": "path", "required": True, "description": "an export's id",
             "schema": {"type": "string", "pattern": EXPORT_ID_PATTERN.pattern}}


def _status_url(mailbox_id: str, export_id: str) -> str:
    return f"{tenancy.api_path(mailbox_id)}/exports/{export_id}"


@ROUTES.route("POST", EXPORTS, tag="mailboxes", summary="Request an export of the mailbox (a data request)",
              principals=PLATFORM_ONLY,
              description="Built in the background: a ZIP with `mailbox.json`, `messages.json` and the original "
                          "audio of each message and greeting. Poll `statusUrl` until `ready`.",
              answers={202: Answer("requested", STARTED, ("Location",))}, errors=(MailboxNotFound,))
def request_export(call: Call) -> func.HttpResponse:
    export = call.app.exports.request(call.principal, call.mailbox)
    url = _status_url(export.mailbox_id, export.id)
    return json_response({"exportId": export.id, "statusUrl": url, "status": export.status}, status=202,
                         headers={"Location": url})


@ROUTES.route("GET", f"{EXPORTS}/{{exportId}}", tag="mailboxes", summary="An export's status and, once ready, its link",
              principals=PLATFORM_ONLY, parameters=(EXPORT_ID,),
              answers={200: Answer("the export", STATUS)}, errors=(NotFound,))
def get_export(call: Call) -> func.HttpResponse:
    export_id = call.req.route_params.get("exportId", "")
    return json_response(call.app.exports.status(call.principal, call.mailbox, export_id))
