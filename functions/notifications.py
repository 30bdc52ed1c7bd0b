"""A mailbox's notification targets (the subscriber's and the platform's routes). The dispatcher and
the dead letters are the management plane's: functions/dispatcher.py."""

from __future__ import annotations

import azure.functions as func

from functions.http import body, endpoint, json_response, mailbox_id, principal
from shared.bootstrap import App
from shared.domain.notifications import PutNotifications
from shared.domain.verification import VerifyTarget

bp = func.Blueprint()


@bp.function_name("put_notifications")
@bp.route(route="mailboxes/{mailboxId}/notifications", methods=["PUT"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def put_notifications(req: func.HttpRequest, app: App) -> func.HttpResponse:
    who, mailbox = principal(req, app), mailbox_id(req)
    return json_response(app.notifications.configure(who, mailbox, body(req, PutNotifications)))


@bp.function_name("get_notifications")
@bp.route(route="mailboxes/{mailboxId}/notifications", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def get_notifications(req: func.HttpRequest, app: App) -> func.HttpResponse:
    who, mailbox = principal(req, app), mailbox_id(req)
    return json_response(app.notifications.show(who, mailbox))


@bp.function_name("verify_notification_target")
@bp.route(route="mailboxes/{mailboxId}/notifications/verify", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def verify_notification_target(req: func.HttpRequest, app: App) -> func.HttpResponse:
    who, mailbox = principal(req, app), mailbox_id(req)
    app.notifications.verify(who, mailbox, body(req, VerifyTarget))
    return func.HttpResponse(status_code=204, headers={"Cache-Control": "no-store"})
