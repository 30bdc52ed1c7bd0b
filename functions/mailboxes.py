"""Mailboxes, sessions and PIN routes: parse, call the mailbox service, answer."""

from __future__ import annotations

import azure.functions as func

from functions.http import if_match, json_response
from functions.openapi.links import MAILBOX_LINKS, SESSION_LINKS
from functions.openapi.schemas import param_ref
from functions.table import ANYONE, PLATFORM_ONLY, PLATFORM_OR_SUBSCRIBER, ROUTES, SUBSCRIBER, Answer, Call
from shared.domain import tenancy
from shared.domain.commands import ChangePin, CreateSession, PatchMailbox, PutMailbox
from shared.domain.errors import (
    ConflictsPending,
    EtagMismatch,
    Held,
    InvalidCredentials,
    MailboxDeprovisioning,
    MailboxNotFound,
    PinLocked,
    PinMismatch,
    TooManyRequests,
)
from shared.domain.views import Mailbox

ROUTE = "mailboxes/{mailboxId}"
IF_MATCH = param_ref("ifMatch")
MAILBOX = Answer("the mailbox, with its message-waiting counts", Mailbox, ("ETag",))


@ROUTES.route("PUT", ROUTE, tag="mailboxes", summary="Create or replace a mailbox", principals=PLATFORM_ONLY,
              request=PutMailbox,
              description="Replacing keeps the PIN when the body has none; settings not given take defaults.",
              answers={200: Answer("replaced", Mailbox, ("ETag", "Location"), MAILBOX_LINKS),
                       201: Answer("created", Mailbox, ("ETag", "Location"), MAILBOX_LINKS)},
              errors=(MailboxDeprovisioning, EtagMismatch))
def put_mailbox(call: Call) -> func.HttpResponse:
    result, created = call.app.mailboxes.put(call.principal, call.mailbox, call.body)
    headers = {"ETag": result["etag"], "Location": tenancy.api_path(call.mailbox)}
    return json_response(result, status=201 if created else 200, headers=headers)


@ROUTES.route("GET", ROUTE, tag="mailboxes", summary="Read a mailbox and its counts (MWI)",
              principals=PLATFORM_OR_SUBSCRIBER, answers={200: MAILBOX}, errors=(MailboxNotFound,), flow="query")
def get_mailbox(call: Call) -> func.HttpResponse:
    result = call.app.mailboxes.get(call.principal, call.mailbox)
    return json_response(result, headers={"ETag": result["etag"]})


@ROUTES.route("PATCH", ROUTE, tag="mailboxes", summary="Change display name, greeting choice or settings",
              principals=PLATFORM_OR_SUBSCRIBER, parameters=(IF_MATCH,), request=PatchMailbox, at_least_one=True,
              description="Give at least one of displayName, greeting, settings. Subscribers may change their "
                          "own displayName and greeting only.",
              answers={200: MAILBOX}, errors=(MailboxNotFound, EtagMismatch, TooManyRequests))
def patch_mailbox(call: Call) -> func.HttpResponse:
    result = call.app.mailboxes.patch(call.principal, call.mailbox, call.body, if_match(call.req))
    return json_response(result, headers={"ETag": result["etag"]})


@ROUTES.route("DELETE", ROUTE, tag="mailboxes", summary="Deprovision a mailbox", principals=PLATFORM_ONLY,
              description="Deposits stop at once; messages, greetings and audio are purged in the background.",
              answers={202: Answer("deprovisioning", "Deprovisioning")},
              errors=(MailboxNotFound, EtagMismatch, Held))
def delete_mailbox(call: Call) -> func.HttpResponse:
    call.app.mailboxes.deprovision(call.principal, call.mailbox)
    return json_response({"mailboxId": call.mailbox, "status": "deprovisioned"}, status=202)


@ROUTES.route("POST", f"{ROUTE}/counts/reconcile", tag="mailboxes",
              summary="Recount the mailbox and repair its counts", principals=PLATFORM_ONLY,
              description="Operators: counts are kept in O(1) per change (one tally per region, merged on "
                          "read); this recounts them from the messages, settles any message whose regional "
                          "shares do not add up (after a write conflict between regions) and corrects this "
                          "region's tally by the drift left. The answer says what was repaired. While a "
                          "write conflict of the mailbox is still being merged in this region: 409 "
                          "`conflicts-pending` (retry in a few seconds).",
              answers={200: Answer("what was recounted and repaired", "Reconciled")},
              errors=(MailboxNotFound, ConflictsPending))
def reconcile_counts(call: Call) -> func.HttpResponse:
    """Operators: recount the mailbox from its messages; the answer says what drift was repaired."""
    return json_response(call.app.mailboxes.reconcile(call.principal, call.mailbox))


@ROUTES.route("POST", f"{ROUTE}/sessions", tag="sessions", summary="Log in with the PIN", principals=ANYONE,
              request=CreateSession,
              description="No other credential is needed or looked at. An unknown mailbox and a wrong PIN "
                          "look alike (401, then 423 after 5 wrong PINs in a row, for 15 minutes), so logins never "
                          "reveal which mailboxes exist. Each guess is counted before its PIN is checked. Logins "
                          "faster than 20 a minute per mailbox or 60 a minute per client answer 429 with "
                          "`Retry-After`, before any PIN is hashed.",
              answers={201: Answer("a session token for this mailbox", "Session", links=SESSION_LINKS)},
              errors=(InvalidCredentials, PinLocked, TooManyRequests), audited=(SUBSCRIBER,))
def create_session(call: Call) -> func.HttpResponse:
    """Log in with the PIN: no other credential is needed (or looked at)."""
    return json_response(call.app.mailboxes.login(call.mailbox, call.body, call.address), status=201)


@ROUTES.route("PUT", f"{ROUTE}/pin", tag="sessions", summary="Change the PIN", principals=PLATFORM_OR_SUBSCRIBER,
              request=ChangePin, description="Subscribers must give `currentPin`; the platform need not.",
              answers={204: Answer("changed")},
              errors=(PinMismatch, MailboxNotFound, EtagMismatch, PinLocked, TooManyRequests))
def change_pin(call: Call) -> func.HttpResponse:
    call.app.mailboxes.change_pin(call.principal, call.mailbox, call.body)
    return func.HttpResponse(status_code=204, headers={"Cache-Control": "no-store"})
