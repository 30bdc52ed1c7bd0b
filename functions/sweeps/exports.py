"""Exports (data requests) as Durable orchestrations on the management plane, and their timer.

The API records a request (an export, `running`); every 10 s the timer starts one orchestration per
running export (instance `export-{exportId}`: a singleton per export), ends `failed` any build
still running after BUILD_DEADLINE or whose orchestration stopped without settling it, and deletes
the ZIPs whose time is up (the stamp's lifecycle rule is the backstop). The orchestration writes the
ZIP (one activity, streamed into blob storage), then marks it ready; a build that fails for good
(after the retries) marks it failed with the reason. Nothing loops: every path ends the record.
"""

from __future__ import annotations

import asyncio
import logging

import azure.durable_functions as df
import azure.functions as func

from functions.provider import APP
from functions.sweeps.common import ACTIVE, RETRY, sweep_step, task_hub, task_hub_failed
from shared.domain.errors import DomainError, Unavailable
from shared.domain.model import utcnow
from shared.telemetry import trace_headers

bp = df.Blueprint()
logger = logging.getLogger(__name__)
PER_RUN = 20  # exports started, and expired ones deleted, per timer run


def instance_of(export_id: str) -> str:
    return f"export-{export_id}"


# -- orchestrator (deterministic: no I/O, no clock but the context's) -----------------------------

@bp.orchestration_trigger(context_name="context")
def export_build(context: df.DurableOrchestrationContext):
    return (yield from export_steps(context))


def export_steps(context: df.DurableOrchestrationContext):
    request = context.get_input() or {}
    try:
        built = yield context.call_activity_with_retry("export_write", RETRY, request)
    except Exception as error:  # noqa: BLE001 - failed for good, after its retries
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "the build failed"
        built = {"error": reason}
    if built is None:  # no longer running: nothing to do
        return {"status": "skipped"}
    if "error" in built:
        yield context.call_activity_with_retry("export_failed", RETRY, {**request, "reason": built["error"]})
        return {"status": "failed", "reason": built["error"]}
    yield context.call_activity_with_retry("export_ready", RETRY, {**request, "counts": built})
    return {"status": "ready", **built}


# -- activities (idempotent; they raise on failure so the retry policy works) ---------------------

@bp.activity_trigger(input_name="request")
def export_write(request: dict) -> dict | None:
    def write(app):
        try:
            return app.exports.build(request["mailboxId"], request["exportId"])
        except Unavailable:
            raise  # a dependency: retried
        except DomainError as error:  # never better on a retry (the mailbox is gone): settled at once
            return {"error": f"{error.type}: {error}"}

    return sweep_step("export", "write", request, write)


@bp.activity_trigger(input_name="request")
def export_ready(request: dict) -> str:
    export = APP().exports.finish(request["mailboxId"], request["exportId"], request.get("counts") or {})
    return export.status if export is not None else "gone"


@bp.activity_trigger(input_name="request")
def export_failed(request: dict) -> str:
    export = APP().exports.fail(request["mailboxId"], request["exportId"], request["reason"])
    return export.status if export is not None else "gone"


# -- timer ----------------------------------------------------------------------------------------

@bp.function_name("export_timer")
@bp.timer_trigger(schedule="*/10 * * * * *", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def export_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await start_exports(client)


async def start_exports(client: df.DurableOrchestrationClient) -> dict[str, int]:
    """Start the running exports' builds (each once), end the stuck ones, delete the expired ZIPs.
    Storage calls run in a thread: never on the event loop the host's other async functions share."""
    app = APP()
    done = {"started": 0, "failed": 0, "expired": 0}
    for export in await asyncio.to_thread(app.exports.pending, PER_RUN):
        instance = instance_of(export.id)
        if export.overdue(utcnow()):
            await asyncio.to_thread(app.exports.fail, export.mailbox_id, export.id, "the build took too long")
            done["failed"] += 1
            continue
        status = await task_hub("reading an export's build", client.get_status(instance))
        runtime = status.runtime_status if status is not None else None
        if runtime in ACTIVE:
            continue
        if runtime is not None:  # it ended and the record still says running: it never will be built
            await asyncio.to_thread(app.exports.fail, export.mailbox_id, export.id,
                                    f"the build stopped ({runtime.name})")
            done["failed"] += 1
            continue
        try:
            await client.start_new("export_build", instance,
                                   {"mailboxId": export.mailbox_id, "exportId": export.id, "trace": trace_headers()})
        except Exception as error:  # the host refuses an id that exists: another start won the race
            if "already exists" not in str(error):
                raise task_hub_failed("starting an export's build", error) from error
        done["started"] += 1
    done["expired"] = await asyncio.to_thread(app.exports.expire, PER_RUN)
    if any(done.values()):
        logger.info("exports: %s", done)
    return done
