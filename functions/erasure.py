"""Erasure: the route that reports on a mailbox's erasure, and on the management plane its
orchestration, activities and timer (shared/services/erasure.py).

A deprovision (API plane) records the request; this region's timer (every 10 s) starts one
orchestration per mailbox whose erasure it has yet to do (a singleton: its instance id is the
mailbox's). The orchestration pages through every target (each container and prefix of the
mailbox, in this region's account and each peer's), then the mailbox's documents, each page one
idempotent activity under the sweeps' retry policy, and records what it removed. An orchestration
that failed for good is started again by the timer: the request stays `running` until every region
recorded its part.
"""

from __future__ import annotations

import asyncio
import logging

import azure.durable_functions as df
import azure.functions as func

from functions.http import json_response
from functions.provider import APP
from functions.sweeps.common import ACTIVE, RETRY, sweep_step, task_hub
from functions.table import PLATFORM_ONLY, ROUTES, Answer, Call
from shared.domain.erasure import DOCUMENT_PAGE
from shared.domain.errors import NotFound

bp = df.Blueprint()
logger = logging.getLogger(__name__)

ERASURE_SCHEMA = {
    "type": "object",
    "required": ["status", "removed", "backupsExpireAt"],
    "additionalProperties": False,
    "properties": {
        "status": {"enum": ["running", "done"],
                   "description": "done: no live copy of the mailbox is left in any region"},
        "removed": {"type": "object", "required": ["blobs", "documents"], "additionalProperties": False,
                    "properties": {"blobs": {"type": "integer", "minimum": 0},
                                   "documents": {"type": "integer", "minimum": 0}}},
        "backupsExpireAt": {"type": ["string", "null"], "format": "date-time",
                            "description": "when the last backup copy (blob versions, soft delete, "
                                           "point-in-time restore) is gone too; null while running"},
    },
}


@ROUTES.route("GET", "mailboxes/{mailboxId}/erasure", tag="mailboxes", summary="The erasure of a deprovisioned mailbox",
              principals=PLATFORM_ONLY,
              description="After a deprovision: whether every copy of the mailbox is gone from every region "
                          "(`done`), what was removed, and when the backups' copies expire (docs/compliance.md). "
                          "404 `not-found` when no erasure was requested.",
              answers={200: Answer("the erasure", ERASURE_SCHEMA)}, errors=(NotFound,))
def get_erasure(call: Call) -> func.HttpResponse:
    return json_response(call.app.erasure.status(call.principal, call.mailbox))


# -- orchestrator (deterministic: no I/O, no clock but the context's) -----------------------------

@bp.orchestration_trigger(context_name="context")
def erasure_orchestration(context: df.DurableOrchestrationContext):
    return (yield from erasure_steps(context))


def erasure_steps(context: df.DurableOrchestrationContext):
    """The orchestrator's body, a plain generator (tests step it with the SDK's wrapper)."""
    job = context.get_input()
    mailbox_id, trace = job["mailboxId"], job.get("trace", {})
    targets = yield context.call_activity_with_retry("erasure_plan", RETRY, {"mailboxId": mailbox_id, "trace": trace})
    blobs = documents = 0
    for target in targets:
        marker = None
        while True:
            page = yield context.call_activity_with_retry(
                "erasure_blobs", RETRY, {"mailboxId": mailbox_id, "target": target, "marker": marker, "trace": trace})
            blobs += page["deleted"]
            marker = page["marker"]
            if marker is None:
                break
        context.set_custom_status({"blobs": blobs, "documents": documents})
    while True:
        deleted = yield context.call_activity_with_retry(
            "erasure_documents", RETRY, {"mailboxId": mailbox_id, "trace": trace})
        documents += deleted
        if deleted < DOCUMENT_PAGE:
            break
    yield context.call_activity_with_retry(
        "erasure_finish", RETRY, {"mailboxId": mailbox_id, "requestedAt": job["requestedAt"], "blobs": blobs,
                                  "documents": documents, "trace": trace})
    return {"blobs": blobs, "documents": documents}


# -- activities (idempotent; they raise on failure so the retry policy works) ---------------------

@bp.activity_trigger(input_name="request")
def erasure_plan(request: dict) -> list[dict[str, str]]:
    return sweep_step("erasure", "plan", request, lambda app: app.erasure.plan(request["mailboxId"]))


@bp.activity_trigger(input_name="request")
def erasure_blobs(request: dict) -> dict:
    return sweep_step("erasure", "blobs", request,
                      lambda app: app.erasure.erase_blobs(request["mailboxId"], request["target"], request["marker"]),
                      deleted=lambda page: page["deleted"])


@bp.activity_trigger(input_name="request")
def erasure_documents(request: dict) -> int:
    return sweep_step("erasure", "documents", request, lambda app: app.erasure.erase_documents(request["mailboxId"]),
                      deleted=lambda deleted: deleted)


@bp.activity_trigger(input_name="request")
def erasure_finish(request: dict) -> None:
    sweep_step("erasure", "finish", request, lambda app: app.erasure.finish(
        request["mailboxId"], request["requestedAt"], request["blobs"], request["documents"]))


# -- timer ----------------------------------------------------------------------------------------

@bp.function_name("erasure_timer")
@bp.timer_trigger(schedule="*/10 * * * * *", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def erasure_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    # A query: in a thread, never on the event loop the host's other async functions share.
    for job in await asyncio.to_thread(APP().erasure.pending):
        try:
            await start_erasure(client, job)
        except Exception:  # one that does not start now is tried again in 10 s; the others start
            logger.exception("erasure of %s: not started", job["mailboxId"])


async def start_erasure(client: df.DurableOrchestrationClient, job: dict[str, str]) -> None:
    """One orchestration per mailbox: not started again while one runs; started again after one ended
    without this region's record (a failure for good: every step is safe to repeat)."""
    instance = f"erasure-{job['mailboxId']}"
    status = await task_hub("reading the erasure's status", client.get_status(instance))
    if status is not None and status.runtime_status in ACTIVE:
        return
    try:
        await client.start_new("erasure_orchestration", instance, job)
    except Exception as error:  # the host refuses an id that is running: another start won
        if "already exists" not in str(error):
            raise
        return
    logger.info("erasure of %s started", job["mailboxId"])
