"""The notification dispatcher and its dead letters: the management plane's (function_app.py).

Events are written with the change that causes them (the outbox); the Cosmos DB change feed hands
them to `notifications_changed` as they are committed, which sends those due now. A timer sweeps
for what the feed does not bring when it is due: retries, events that waited for a transcript,
and events another region left undelivered. Locally the host serves the change-feed trigger by
polling (devstack/localhost/cosmos_triggers.py)."""

from __future__ import annotations

import logging
import re

import azure.functions as func

from functions.http import endpoint, integer, json_response, principal
from shared.bootstrap import App, bootstrap
from shared.domain.errors import ValidationFailed
from shared.domain.model import MAILBOX_ID

bp = func.Blueprint()
logger = logging.getLogger(__name__)
_EVENT_ID = re.compile(r"^evt_[0-9a-f]{32}$")


@bp.function_name("notifications_changed")
@bp.cosmos_db_trigger(arg_name="documents", connection="COSMOS", database_name="%COSMOS_DATABASE%",
                      container_name="%COSMOS_CONTAINER%", lease_container_name="%COSMOS_LEASE_CONTAINER%",
                      lease_container_prefix="%COSMOS_LEASE_PREFIX%", create_lease_container_if_not_exists=False)
def notifications_changed(documents: func.DocumentList) -> None:
    """Documents just written (any kind): the outbox events among them that are due, sent now."""
    totals = bootstrap().notifications.dispatch_changed([document.to_dict() for document in documents])
    if totals:
        logger.info("notifications (change feed): %s", totals)


@bp.function_name("dispatch_notifications")
@bp.timer_trigger(schedule="%NOTIFICATIONS_SWEEP_SCHEDULE%", arg_name="timer", run_on_startup=False)
def dispatch_notifications(timer: func.TimerRequest) -> None:
    """The sweep: the due events of this region (and those another region left undelivered)."""
    totals = bootstrap().notifications.dispatch()
    if totals:
        logger.info("notifications: %s", totals)


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
