"""The admin routes: start a region's sweep now (`POST admin/sweeps/{kind}`), report on one
(`GET admin/sweeps/{instanceId}`). Platform only; errors through the one boundary in functions/http.py."""

from __future__ import annotations

import json

import azure.durable_functions as df
import azure.functions as func

from functions.http import durable_endpoint, json_response, principal
from functions.sweeps.common import start_singleton, task_hub
from shared.bootstrap import App
from shared.domain.errors import Forbidden, NotFound, SweepRunning
from shared.domain.sweeps import SWEEPS, instance_id

bp = df.Blueprint()


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
