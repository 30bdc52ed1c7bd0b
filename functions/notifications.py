"""Notification routes (a mailbox's targets; the dead letters for operators) and the dispatcher's
timer, which sends the outbox's due events every few seconds."""

from __future__ import annotations

import logging
import re

import azure.functions as func

from functions.http import body, endpoint, integer, json_response, mailbox_id, principal
from shared.bootstrap import App, bootstrap
from shared.domain.errors import ValidationFailed
from shared.domain.model import MAILBOX_ID
from shared.domain.notifications import PutNotifications

bp = func.Blueprint()
logger = logging.getLogger(__name__)
_EVENT_ID = re.compile(r"^evt_[0-9a-f]{32}$")


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


@bp.function_name("list_dead_letters")
@bp.route(route="admin/notifications/dead-letters", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def list_dead_letters(req: func.HttpRequest, app: App) -> func.HttpResponse:
    who = principal(req, app)
    mailbox = req.params.get("mailboxId")
    if mailbox is not None and not MAILBOX_ID.fullmatch(mailbox):
        raise ValidationFailed("mailboxId is not a mailbox id")
    return json_response(app.notifications.dead_letters(who, integer(req, "limit", 50, 1, 200), mailbox))


@bp.function_name("replay_dead_letter")
@bp.route(route="admin/notifications/dead-letters/{eventId}/replay", methods=["POST"],
          auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def replay_dead_letter(req: func.HttpRequest, app: App) -> func.HttpResponse:
    who = principal(req, app)
    event = req.route_params.get("eventId", "")
    if not _EVENT_ID.fullmatch(event):
        raise ValidationFailed("eventId is not an event id")
    return json_response(app.notifications.replay(who, event), status=202)


@bp.function_name("dispatch_notifications")
@bp.timer_trigger(schedule="*/5 * * * * *", arg_name="timer", run_on_startup=False)
def dispatch_notifications(timer: func.TimerRequest) -> None:
    """Every 5 s: the due events of this region (and those another region left undelivered)."""
    totals = bootstrap().notifications.dispatch()
    if totals:
        logger.info("notifications: %s", totals)
