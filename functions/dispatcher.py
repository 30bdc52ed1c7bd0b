"""The notification dispatcher: the management plane's (function_app.py).

Events are written with the change that causes them (the outbox); the Cosmos DB change feed hands
them to `notifications_changed` as they are committed, which sends those due now. A timer sweeps
for what the feed does not bring when it is due: retries, events that waited for a transcript,
and events another region left undelivered. Locally the host serves the change-feed trigger by
polling (devstack/localhost/cosmos_triggers.py)."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.provider import APP

bp = func.Blueprint()
logger = logging.getLogger(__name__)


@bp.function_name("notifications_changed")
@bp.cosmos_db_trigger(arg_name="documents", connection="COSMOS", database_name="%COSMOS_DATABASE%",
                      container_name="%COSMOS_CONTAINER%", lease_container_name="%COSMOS_LEASE_CONTAINER%",
                      lease_container_prefix="%COSMOS_LEASE_PREFIX%", create_lease_container_if_not_exists=False)
def notifications_changed(documents: func.DocumentList) -> None:
    """Documents just written (any kind): the outbox events among them that are due, sent now."""
    totals = APP().notifications.dispatch_changed([document.to_dict() for document in documents])
    if totals:
        logger.info("notifications (change feed): %s", totals)


@bp.function_name("dispatch_notifications")
@bp.timer_trigger(schedule="%NOTIFICATIONS_SWEEP_SCHEDULE%", arg_name="timer", run_on_startup=False)
def dispatch_notifications(timer: func.TimerRequest) -> None:
    """The sweep: the due events of this region (and those another region left undelivered)."""
    totals = APP().notifications.dispatch()
    if totals:
        logger.info("notifications: %s", totals)
