"""The outage journal's replay: every 10 s, the deposits this region journaled while the database
did not answer become messages (shared/services/journal.py). A run over an empty journal is one
blob listing in the region's own account; while the database is still down a run stops at its
first record."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.provider import APP

bp = func.Blueprint()
logger = logging.getLogger(__name__)


@bp.function_name("replay_journal")
@bp.timer_trigger(schedule="*/10 * * * * *", arg_name="timer", run_on_startup=False)
def replay_journal(timer: func.TimerRequest) -> None:
    totals = APP().journal.replay()
    if any(totals.values()):
        logger.warning("outage journal: %s", totals)
