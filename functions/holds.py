"""Legal hold routes: the platform holds a mailbox and releases it (shared/services/holds.py)."""

from __future__ import annotations

import azure.functions as func

from functions.http import json_response
from functions.table import PLATFORM_ONLY, ROUTES, Answer, Call
from shared.domain.errors import EtagMismatch, MailboxNotFound
from shared.domain.holds import PutHold

HOLD = "mailboxes/{mailboxId}/hold"
HOLD_SCHEMA = {
    "type": "object", "required": ["reason", "by", "at"], "additionalProperties": False,
    "properties": {"reason": {"type": "string"}, "by": {"type": "string", "description": "the actor: `platform`"},
                   "at": {"type": "string", "format": "date-time"}},
}


@ROUTES.route("PUT", HOLD, tag="mailboxes", summary="Put the mailbox under legal hold", principals=PLATFORM_ONLY,
              request=PutHold,
              description="While held, retention removes nothing of the mailbox (in every region) and a purge "
                          "or a deprovision answers 409 `held`; moving to the trash still works. Holding again "
                          "replaces the reason. A deprovisioned mailbox not purged yet may be held too.",
              answers={200: Answer("the hold: why, by whom, since when", HOLD_SCHEMA)},
              errors=(MailboxNotFound, EtagMismatch))
def put_hold(call: Call) -> func.HttpResponse:
    return json_response(call.app.holds.hold(call.principal, call.mailbox, call.body))


@ROUTES.route("DELETE", HOLD, tag="mailboxes", summary="Release the legal hold", principals=PLATFORM_ONLY,
              description="Retention catches up at its next run. Releasing a mailbox that is not held does nothing.",
              answers={204: Answer("released")}, errors=(MailboxNotFound, EtagMismatch))
def release_hold(call: Call) -> func.HttpResponse:
    call.app.holds.release(call.principal, call.mailbox)
    return func.HttpResponse(status_code=204, headers={"Cache-Control": "no-store"})
