"""The replication sweep (anti-entropy) as a Durable orchestration, its activities and its timer;
and the fast path, the queue trigger that copies a message's audio right after it is transcoded.

The orchestrator is deterministic and does no I/O; like the retention sweep it pages, fans out one
idempotent activity per message, and continues as new between batches.
"""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from functions.provider import APP
from functions.sweeps.common import RETRY, fan_out, start_on_schedule, sweep_step
from shared.domain.sweeps import BATCH, FAILED_IDS_KEPT, new_totals

bp = df.Blueprint()
# Each phase: the activity that finds a page, the one that acts on an item, the total it adds to.
PHASES = {"copying": ("replication_find", "replication_copy", "copied"),
          "takeover": ("replication_find_stalled", "replication_take_over", "takenOver")}


# -- orchestrator (deterministic: no I/O, no clock but the context's) -----------------------------

@bp.orchestration_trigger(context_name="context")
def replication_sweep(context: df.DurableOrchestrationContext):
    return (yield from replication_steps(context))


def replication_steps(context: df.DurableOrchestrationContext):
    """Anti-entropy: copy audio of messages held by too few regions, a page at a time; then take
    over messages another region acknowledged and has not transcoded (its compute lost)."""
    state = context.get_input() or {}
    trace = state.get("trace", {})
    totals = {**new_totals(), **state.get("totals", {})}
    failed_ids: list[str] = state.get("failedIds", [])
    phase = state.get("phase", "copying")
    find, act, counted = PHASES[phase]
    after = state.get("after")  # takeover: the cursor (a message taken over stays processing a while)
    page = yield context.call_activity_with_retry(
        find, RETRY, {"limit": BATCH, "exclude": failed_ids, "after": after, "trace": trace})
    results, _ = yield from fan_out(context, act, [{**item, "trace": trace} for item in page], totals, failed_ids)
    totals["examined"] += len(page)
    totals[counted] += sum(results)
    context.set_custom_status({"phase": phase, **totals})
    if len(page) == BATCH:
        context.continue_as_new({"phase": phase, "totals": totals, "failedIds": failed_ids[-FAILED_IDS_KEPT:],
                                 "after": page[-1].get("receivedAt"), "trace": trace})
        return None
    if phase == "copying":
        context.continue_as_new({"phase": "takeover", "totals": totals, "failedIds": failed_ids[-FAILED_IDS_KEPT:],
                                 "trace": trace})
        return None
    return totals


# -- activities (idempotent; they raise on failure so the retry policy works) ---------------------

@bp.activity_trigger(input_name="request")
def replication_find(request: dict) -> list[dict[str, str]]:
    return sweep_step("replication", "find under-replicated", request,
                      lambda app: app.replication.find_under_replicated(request["limit"], request["exclude"]),
                      examined=len)


@bp.activity_trigger(input_name="item")
def replication_copy(item: dict) -> int:
    return sweep_step("replication", "copy", item,
                      lambda app: app.replication.replicate(item["mailboxId"], item["id"]), copied=int)


@bp.activity_trigger(input_name="request")
def replication_find_stalled(request: dict) -> list[dict[str, str]]:
    return sweep_step("replication", "find stalled", request,
                      lambda app: app.takeover.find_stalled(request.get("after"), request["limit"], request["exclude"]),
                      stalled=len)


@bp.activity_trigger(input_name="item")
def replication_take_over(item: dict) -> int:
    return sweep_step("replication", "take over", item,
                      lambda app: app.takeover.take_over(item["mailboxId"], item["id"]), taken_over=int)


# -- triggers --------------------------------------------------------------------------------------

@bp.function_name("replication_requested")
@bp.queue_trigger(arg_name="request", queue_name="%REPLICATION_QUEUE%", connection="AzureWebJobsStorage")
def replication_requested(request: func.QueueMessage) -> None:
    """The fast path: copy a message's audio to other regions right after it is transcoded."""
    body = request.get_json()
    app = APP()
    with app.telemetry.span("replication requested", body.get("trace")):
        app.replication.replicate(body["mailboxId"], body["messageId"])


@bp.function_name("replication_timer")
@bp.timer_trigger(schedule="%REPLICATION_SCHEDULE%", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def replication_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await start_on_schedule(client, "replication")
