"""What the sweeps share: the retry policy, the fan-out over a page, the one way an activity runs
(a span in the sweep's trace, its items counted), and the singleton starter.

Activities are idempotent and raise on failure so the retry policy works. Each continues the
sweep's trace and counts its items (voicemail.sweep.items): an activity's result is recorded in the
history, so replays do not run it, or count it, again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import azure.durable_functions as df

from functions.provider import APP
from shared.bootstrap import App
from shared.domain.errors import Unavailable
from shared.domain.sweeps import instance_id
from shared.telemetry import trace_headers

logger = logging.getLogger(__name__)
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=5)
T = TypeVar("T")
ACTIVE = {df.OrchestrationRuntimeStatus.Running, df.OrchestrationRuntimeStatus.Pending,
          df.OrchestrationRuntimeStatus.ContinuedAsNew}


# -- orchestrators (deterministic: no I/O, no clock but the context's) ----------------------------

def fan_out(context: df.DurableOrchestrationContext, activity: str, page: list[dict], totals: dict[str, int],
            failed_ids: list[str]):
    """One activity per item, in parallel: (their results, whether the page was retried one by one).
    An item that fails for good (after its retries) is found by going through the page one by one,
    counted as failed and left out of later pages, so one bad item neither stops the sweep nor loops it."""
    if not page:
        return [], False
    try:
        tasks = [context.call_activity_with_retry(activity, RETRY, item) for item in page]
        return (yield context.task_all(tasks)), False
    except Exception:  # noqa: BLE001 - one failed for good: find which, one by one
        done = []
        for item in page:
            try:
                done.append((yield context.call_activity_with_retry(activity, RETRY, item)))
            except Exception:  # noqa: BLE001 - counted, and left out of the next pages
                failed_ids.append(item["id"])
                totals["failed"] += 1
        return done, True


# -- activities ------------------------------------------------------------------------------------

def sweep_step(sweep: str, step: str, request: Mapping, work: Callable[[App], T],
               **counted: Callable[[T], int]) -> T:
    """One activity's work in the sweep's trace (carried in request["trace"]); then each named
    count of its result, e.g. `examined=len`. A raise counts as failed and propagates (retried)."""
    app = APP()
    with app.telemetry.sweep_step(sweep, step, request.get("trace")):
        result = work(app)
    for name, count in counted.items():
        app.telemetry.sweep_items(sweep, name, count(result))
    return result


# -- starters ------------------------------------------------------------------------------------

async def start_singleton(client: df.DurableOrchestrationClient, kind: str) -> str | None:
    """Start the region's sweep of this kind unless one is running; its instance id, or None.
    The sweep's input carries this trace's context, for its activities to continue."""
    app = APP()
    instance = instance_id(kind, app.settings.region)
    status = await task_hub("reading the sweep's status", client.get_status(instance))
    if status is not None and status.runtime_status in ACTIVE:
        return None
    try:
        with app.telemetry.span(f"start {kind} sweep"):
            await client.start_new(f"{kind}_sweep", instance, {"trace": trace_headers()})
    except Exception as error:  # the host refuses an id that is running: another start won the race
        if "already exists" in str(error):
            return None
        raise task_hub_failed("starting the sweep", error) from error
    return instance


async def start_on_schedule(client: df.DurableOrchestrationClient, kind: str) -> None:
    """What a sweep's timer does: start the region's sweep unless it is still running."""
    started = await start_singleton(client, kind)
    logger.info("%s sweep %s", kind, started or "still running: not started again")


async def task_hub(what: str, call: Awaitable[T]) -> T:
    """A Durable client call; its failures (the task hub's storage, the host's RPC endpoint) are a
    dependency's: 503 with Retry-After, not a bare 500."""
    try:
        return await call
    except Exception as error:  # the SDK raises a bare Exception for every failure
        raise task_hub_failed(what, error) from error


def task_hub_failed(what: str, error: Exception) -> Unavailable:
    logger.warning("%s: the task hub did not answer: %r", what, error)
    return Unavailable(f"{what}: the task hub did not answer")
