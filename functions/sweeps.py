"""Maintenance: the retention sweep as a Durable orchestration, its activities, its timer, and the
admin routes that start a sweep now or report on one.

The orchestrator is deterministic and does no I/O: it pages through expired documents (one
indexed query per page), fans out one idempotent activity per document, then pages through the
blob containers for orphans, and continues as new between batches so its history stays small.
It makes no spans either: the starter's trace context (`trace`, W3C headers) rides in its input
and in each activity's, and the activities continue that trace and count what they did.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TypeVar

import azure.durable_functions as df
import azure.functions as func

from functions.http import durable_endpoint, json_response, principal
from shared.bootstrap import App, bootstrap
from shared.domain.errors import Forbidden, NotFound, SweepRunning, Unavailable
from shared.domain.model import iso
from shared.domain.sweeps import (
    BATCH,
    FAILED_IDS_KEPT,
    PAGES_PER_EXECUTION,
    SWEEPS,
    instance_id,
    new_totals,
)
from shared.telemetry import trace_headers

bp = df.Blueprint()
logger = logging.getLogger(__name__)
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=5)
T = TypeVar("T")
ACTIVE = {df.OrchestrationRuntimeStatus.Running, df.OrchestrationRuntimeStatus.Pending,
          df.OrchestrationRuntimeStatus.ContinuedAsNew}


# -- orchestrator (deterministic: no I/O, no clock but the context's) -----------------------------

def fan_out(context: df.DurableOrchestrationContext, activity: str, page: list[dict], totals: dict[str, int],
            failed_ids: list[str]):
    """One activity per item, in parallel: (their results, whether the page was retried one by one).
    An item that fails for good
    (after its retries) is found by going through the page one by one, counted as failed and left
    out of later pages, so one bad item neither stops the sweep nor loops it."""
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
    find, act, counted = {"copying": ("replication_find", "replication_copy", "copied"),
                          "takeover": ("replication_find_stalled", "replication_take_over", "takenOver")}[phase]
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
# Each continues the sweep's trace and counts its items (voicemail.sweep.items): an activity's
# result is recorded in the history, so replays do not run it, or count it, again.

@bp.activity_trigger(input_name="request")
def retention_find_expired(request: dict) -> list[dict[str, str]]:
    app = bootstrap()
    with app.telemetry.sweep_step("retention", "find expired", request.get("trace")):
        page = app.retention.find_expired(request["before"], request["limit"], request["exclude"])
    app.telemetry.sweep_items("retention", "examined", len(page))
    return page


@bp.activity_trigger(input_name="item")
def retention_purge(item: dict) -> dict:
    app = bootstrap()
    with app.telemetry.sweep_step("retention", "purge", item.get("trace")):
        result = app.retention.purge(item)
    app.telemetry.sweep_items("retention", "deleted", result["deleted"])  # 0 when a retry finds it gone
    return result


@bp.activity_trigger(input_name="mailboxes")
def retention_publish_counts(mailboxes: list) -> None:
    bootstrap().retention.publish_counts(mailboxes)


@bp.activity_trigger(input_name="request")
def retention_orphans(request: dict) -> dict | None:
    app = bootstrap()
    containers = (app.settings.incoming_container, app.settings.audio_container)
    if request["container"] >= len(containers):
        return None
    with app.telemetry.sweep_step("retention", "orphans", request.get("trace")):
        page = app.retention.orphans_page(containers[request["container"]], request["marker"],
                                          datetime.fromisoformat(request["now"].replace("Z", "+00:00")), BATCH)
    app.telemetry.sweep_items("retention", "blobs_examined", page["examined"])
    app.telemetry.sweep_items("retention", "orphans_deleted", page["deleted"])
    return page


@bp.activity_trigger(input_name="request")
def replication_find(request: dict) -> list[dict[str, str]]:
    app = bootstrap()
    with app.telemetry.sweep_step("replication", "find under-replicated", request.get("trace")):
        page = app.replication.find_under_replicated(request["limit"], request["exclude"])
    app.telemetry.sweep_items("replication", "examined", len(page))
    return page


@bp.activity_trigger(input_name="item")
def replication_copy(item: dict) -> int:
    app = bootstrap()
    with app.telemetry.sweep_step("replication", "copy", item.get("trace")):
        copied = app.replication.replicate(item["mailboxId"], item["id"])
    app.telemetry.sweep_items("replication", "copied", copied)
    return copied


@bp.activity_trigger(input_name="request")
def replication_find_stalled(request: dict) -> list[dict[str, str]]:
    app = bootstrap()
    with app.telemetry.sweep_step("replication", "find stalled", request.get("trace")):
        page = app.takeover.find_stalled(request.get("after"), request["limit"], request["exclude"])
    app.telemetry.sweep_items("replication", "stalled", len(page))
    return page


@bp.activity_trigger(input_name="item")
def replication_take_over(item: dict) -> int:
    app = bootstrap()
    with app.telemetry.sweep_step("replication", "take over", item.get("trace")):
        taken = app.takeover.take_over(item["mailboxId"], item["id"])
    app.telemetry.sweep_items("replication", "taken_over", taken)
    return taken


@bp.function_name("replication_requested")
@bp.queue_trigger(arg_name="request", queue_name="%REPLICATION_QUEUE%", connection="AzureWebJobsStorage")
def replication_requested(request: func.QueueMessage) -> None:
    """The fast path: copy a message's audio to other regions right after it is transcoded."""
    body = request.get_json()
    app = bootstrap()
    with app.telemetry.span("replication requested", body.get("trace")):
        app.replication.replicate(body["mailboxId"], body["messageId"])


# -- starters ------------------------------------------------------------------------------------

async def start_singleton(client: df.DurableOrchestrationClient, kind: str) -> str | None:
    """Start the region's sweep of this kind unless one is running; its instance id, or None.
    The sweep's input carries this trace's context, for its activities to continue."""
    app = bootstrap()
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


@bp.function_name("retention_timer")
@bp.timer_trigger(schedule="%RETENTION_SCHEDULE%", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def retention_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    started = await start_singleton(client, "retention")
    logger.info("retention sweep %s", started or "still running: not started again")


@bp.function_name("replication_timer")
@bp.timer_trigger(schedule="%REPLICATION_SCHEDULE%", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def replication_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    started = await start_singleton(client, "replication")
    logger.info("replication sweep %s", started or "still running: not started again")


def _platform(req: func.HttpRequest, app: App) -> None:
    if not principal(req, app).is_platform:
        raise Forbidden("sweeps are for the platform only")


@bp.function_name("start_sweep")
@bp.route(route="admin/sweeps/{kind}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@durable_endpoint
async def start_sweep(req: func.HttpRequest, client: df.DurableOrchestrationClient, app: App) -> func.HttpResponse:
    _platform(req, app)
    kind = req.route_params.get("kind", "")
    if kind not in SWEEPS:
        raise NotFound(f"no such sweep; sweeps: {', '.join(SWEEPS)}")
    started = await start_singleton(client, kind)
    if started is None:
        raise SweepRunning("this region's sweep is still running; follow it at its status URL")
    status_url = f"/api/admin/sweeps/{started}"
    return json_response({"instanceId": started, "statusUrl": status_url}, status=202,
                         headers={"Location": status_url})


@bp.function_name("sweep_status")
@bp.route(route="admin/sweeps/{instanceId}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@durable_endpoint
async def sweep_status(req: func.HttpRequest, client: df.DurableOrchestrationClient, app: App) -> func.HttpResponse:
    _platform(req, app)
    instance = req.route_params.get("instanceId", "")
    # Only this region's sweeps are in its task hub: any other id (odd characters included, which
    # would otherwise travel into the task hub's RPC URL) is simply not there.
    if instance not in {instance_id(kind, app.settings.region) for kind in SWEEPS}:
        raise NotFound("no such sweep")
    status = await task_hub("reading the sweep's status", client.get_status(instance))
    if status is None or status.runtime_status is None:
        raise NotFound("no such sweep")
    output = status.output if not isinstance(status.output, str) else json.loads(status.output or "null")
    return json_response({"instanceId": instance, "runtimeStatus": status.runtime_status.name, "output": output,
                          "customStatus": status.custom_status,
                          "createdTime": status.created_time.isoformat() if status.created_time else None,
                          "lastUpdatedTime": status.last_updated_time.isoformat()
                          if status.last_updated_time else None})
