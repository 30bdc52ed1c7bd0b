"""The retention sweep as a Durable orchestration, its activities and its timer.

The orchestrator is deterministic and does no I/O: it pages through expired documents (one
indexed query per page), fans out one idempotent activity per document, then pages through the
blob containers for orphans, and continues as new between batches so its history stays small.
It makes no spans either: the starter's trace context (`trace`, W3C headers) rides in its input
and in each activity's, and the activities continue that trace and count what they did.
"""

from __future__ import annotations

from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from functions.provider import APP
from functions.sweeps.common import RETRY, fan_out, start_on_schedule, sweep_step
from shared.domain.model import iso
from shared.domain.sweeps import BATCH, FAILED_IDS_KEPT, PAGES_PER_EXECUTION, new_totals

bp = df.Blueprint()


# -- orchestrator (deterministic: no I/O, no clock but the context's) -----------------------------

@bp.orchestration_trigger(context_name="context")
def retention_sweep(context: df.DurableOrchestrationContext):
    return (yield from retention_steps(context))


def retention_steps(context: df.DurableOrchestrationContext):
    """The orchestrator's body, a plain generator (so tests can step it with the SDK's wrapper)."""
    state = context.get_input() or {}
    trace = state.get("trace", {})
    totals = {**new_totals(), **state.get("totals", {})}
    before = state.get("before") or iso(context.current_utc_datetime.replace(tzinfo=UTC))
    failed_ids: list[str] = state.get("failedIds", [])
    if "phase" not in state:  # first: the classes whose retention changed give their messages their expiry
        totals["classMailboxes"] = yield context.call_activity_with_retry("retention_classes", RETRY, {"trace": trace})
    if state.get("phase", "expired") == "expired":
        page = yield context.call_activity_with_retry(
            "retention_find_expired", RETRY, {"before": before, "limit": BATCH, "exclude": failed_ids, "trace": trace})
        results, retried = yield from fan_out(context, "retention_purge", [{**item, "trace": trace} for item in page],
                                              totals, failed_ids)
        changed = sorted({r["countsChanged"] for r in results if r["countsChanged"]})
        if retried:
            # The page was retried item by item: what the first pass deleted reports nothing now,
            # so every mailbox of the page gets fresh counts.
            changed = sorted({item["mailboxId"] for item in page})
        if changed:
            yield context.call_activity_with_retry("retention_publish_counts", RETRY, changed)
        deleted = sum(r["deleted"] for r in results)
        totals["examined"] += len(page)
        totals["deleted"] += deleted
        context.set_custom_status({"phase": "expired", **totals})
        if len(page) == BATCH:
            context.continue_as_new({"before": before, "phase": "expired", "totals": totals,
                                     "failedIds": failed_ids[-FAILED_IDS_KEPT:], "trace": trace})
            return None
        state = {"container": 0, "marker": None}
    container, marker = state.get("container", 0), state.get("marker")
    for _ in range(PAGES_PER_EXECUTION):
        page = yield context.call_activity_with_retry(
            "retention_orphans", RETRY, {"container": container, "marker": marker, "now": before, "trace": trace})
        if page is None:  # every container is done
            context.set_custom_status({"phase": "done", **totals})
            return totals
        totals["blobsExamined"] += page["examined"]
        totals["orphansDeleted"] += page["deleted"]
        container, marker = (container, page["marker"]) if page["marker"] else (container + 1, None)
        context.set_custom_status({"phase": "orphans", **totals})
    context.continue_as_new({"before": before, "phase": "orphans", "totals": totals, "container": container,
                             "marker": marker, "trace": trace})
    return None


# -- activities (idempotent; they raise on failure so the retry policy works) ---------------------

@bp.activity_trigger(input_name="request")
def retention_find_expired(request: dict) -> list[dict[str, str]]:
    return sweep_step("retention", "find expired", request,
                      lambda app: app.retention.find_expired(request["before"], request["limit"], request["exclude"]),
                      examined=len)


@bp.activity_trigger(input_name="request")
def retention_classes(request: dict) -> int:
    return sweep_step("retention", "classes", request, lambda app: app.mailboxes.apply_class_retention(),
                      class_mailboxes=lambda passed: passed)


@bp.activity_trigger(input_name="item")
def retention_purge(item: dict) -> dict:
    return sweep_step("retention", "purge", item, lambda app: app.retention.purge(item),
                      deleted=lambda result: result["deleted"])  # 0 when a retry finds it gone


@bp.activity_trigger(input_name="mailboxes")
def retention_publish_counts(mailboxes: list) -> None:
    APP().retention.publish_counts(mailboxes)


@bp.activity_trigger(input_name="request")
def retention_orphans(request: dict) -> dict | None:
    settings = APP().settings
    containers = (settings.storage.incoming_container, settings.storage.audio_container)
    if request["container"] >= len(containers):
        return None
    now = datetime.fromisoformat(request["now"].replace("Z", "+00:00"))
    return sweep_step("retention", "orphans", request,
                      lambda app: app.retention.orphans_page(containers[request["container"]], request["marker"],
                                                             now, BATCH),
                      blobs_examined=lambda page: page["examined"], orphans_deleted=lambda page: page["deleted"])


# -- timer ----------------------------------------------------------------------------------------

@bp.function_name("retention_timer")
@bp.timer_trigger(schedule="%RETENTION_SCHEDULE%", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def retention_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await start_on_schedule(client, "retention")
