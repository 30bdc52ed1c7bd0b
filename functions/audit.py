"""A mailbox's audit trail (API.md, "Audit"): who did what to it, from where, over every region.
What is recorded is decided per operation in the table (`audited`), at its boundary."""

from __future__ import annotations

import azure.functions as func

from functions.http import json_response, timestamp
from functions.openapi.schemas import TIME, query
from functions.table import PLATFORM_ONLY, ROUTES, Answer, Call

AUDIT_PAGE: dict[str, object] = {
    "type": "object", "required": ["items", "continuation"],
    "properties": {
        "items": {"type": "array", "items": {
            "type": "object", "required": ["at", "actor", "action", "target", "region", "client", "status"],
            "properties": {
                "at": TIME,
                "actor": {"type": "string", "pattern": "^(platform(:[0-9a-f]{12})?|operator|subscriber)$"},
                "action": {"type": "string", "description": "the operation (operationId) called"},
                "target": {"type": "string", "description": "the route's path with its ids"},
                "region": {"type": "string"}, "client": {"type": "string"},
                "status": {"type": "integer", "description": "the HTTP status answered"}}}},
        "continuation": {"type": ["string", "null"]}}}


@ROUTES.route("GET", "mailboxes/{mailboxId}/audit", tag="mailboxes", summary="The mailbox's audit trail",
              principals=PLATFORM_ONLY,
              description="Every platform action on the mailbox, every subscriber login (right or wrong), every "
                          "audio read and link, oldest first, from every region; a page of at most 100 with a "
                          "`continuation` for the next. Records hold no audio, transcript or caller names, are "
                          "append-only and outlive the mailbox's erasure. A record reaches the trail within a "
                          "second of its answer.",
              parameters=(query("since", TIME, "records at or after (RFC 3339 with zone)"),
                          query("continuation", {"type": "string"}, "from the previous page")),
              answers={200: Answer("a page of the trail", AUDIT_PAGE)})
def get_audit(call: Call) -> func.HttpResponse:
    since, continuation = timestamp(call.req, "since"), call.req.params.get("continuation") or None
    return json_response(call.app.audit.query(call.principal, call.mailbox, since, continuation))
