"""Mailboxes, sessions and PIN routes: parse, call the mailbox service, answer."""

from __future__ import annotations

import azure.functions as func

from functions.http import body, endpoint, if_match, json_response, mailbox_id, principal
from shared.bootstrap import App
from shared.domain.client import client_address
from shared.domain.commands import ChangePin, CreateSession, PatchMailbox, PutMailbox

bp = func.Blueprint()
ROUTE = "mailboxes/{mailboxId}"


@bp.function_name("put_mailbox")
@bp.route(route=ROUTE, methods=["PUT"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def put_mailbox(req: func.HttpRequest, app: App) -> func.HttpResponse:
    who, mailbox = principal(req, app), mailbox_id(req)
    result, created = app.mailboxes.put(who, mailbox, body(req, PutMailbox))
    headers = {"ETag": result["etag"], "Location": f"/api/mailboxes/{mailbox}"}
    return json_response(result, status=201 if created else 200, headers=headers)


@bp.function_name("get_mailbox")
@bp.route(route=ROUTE, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def get_mailbox(req: func.HttpRequest, app: App) -> func.HttpResponse:
    result = app.mailboxes.get(principal(req, app), mailbox_id(req))
    return json_response(result, headers={"ETag": result["etag"]})


@bp.function_name("patch_mailbox")
@bp.route(route=ROUTE, methods=["PATCH"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def patch_mailbox(req: func.HttpRequest, app: App) -> func.HttpResponse:
    who, mailbox = principal(req, app), mailbox_id(req)
    result = app.mailboxes.patch(who, mailbox, body(req, PatchMailbox), if_match(req))
    return json_response(result, headers={"ETag": result["etag"]})


@bp.function_name("delete_mailbox")
@bp.route(route=ROUTE, methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def delete_mailbox(req: func.HttpRequest, app: App) -> func.HttpResponse:
    mailbox = mailbox_id(req)
    app.mailboxes.deprovision(principal(req, app), mailbox)
    return json_response({"mailboxId": mailbox, "status": "deprovisioned"}, status=202)


@bp.function_name("reconcile_counts")
@bp.route(route=f"{ROUTE}/counts/reconcile", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def reconcile_counts(req: func.HttpRequest, app: App) -> func.HttpResponse:
    """Operators: recount the mailbox from its messages; the answer says what drift was repaired."""
    return json_response(app.mailboxes.reconcile(principal(req, app), mailbox_id(req)))


@bp.function_name("create_session")
@bp.route(route=f"{ROUTE}/sessions", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def create_session(req: func.HttpRequest, app: App) -> func.HttpResponse:
    """Log in with the PIN: no other credential is needed (or looked at)."""
    client = client_address(req.headers, app.settings.auth.front_door_id)
    return json_response(app.mailboxes.login(mailbox_id(req), body(req, CreateSession), client), status=201)


@bp.function_name("change_pin")
@bp.route(route=f"{ROUTE}/pin", methods=["PUT"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def change_pin(req: func.HttpRequest, app: App) -> func.HttpResponse:
    who, mailbox = principal(req, app), mailbox_id(req)
    app.mailboxes.change_pin(who, mailbox, body(req, ChangePin))
    return func.HttpResponse(status_code=204, headers={"Cache-Control": "no-store"})
