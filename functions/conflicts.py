"""Write conflicts between regions: a timer merges the conflicts feed (every 5 s locally, every
minute in Azure: CONFLICTS_SCHEDULE).

Conflicts happen only when two regions change one document inside the replication lag, so a
run is usually one empty read of the feed.
"""

from __future__ import annotations

import logging

import azure.functions as func

from functions.provider import APP

bp = func.Blueprint()
logger = logging.getLogger(__name__)


@bp.function_name("resolve_conflicts")
@bp.timer_trigger(schedule="%CONFLICTS_SCHEDULE%", arg_name="timer", run_on_startup=False)
def resolve_conflicts(timer: func.TimerRequest) -> None:
    totals = APP().conflicts.resolve()
    if totals["examined"]:
        logger.info("conflicts: %s", totals)
