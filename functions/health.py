"""Health probes for Front Door / Traffic Manager (anonymous): liveness and readiness."""

from __future__ import annotations

import math

import azure.functions as func

from functions.http import json_response
from shared.bootstrap import bootstrap
from shared.config import settings

bp = func.Blueprint()


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Alive: the process answers. No I/O, so a slow dependency never takes a live instance out."""
    config = settings()
    return json_response({"status": "ok", "region": config.region, "version": config.version})


@bp.function_name("health_ready")
@bp.route(route="health/ready", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health_ready(req: func.HttpRequest) -> func.HttpResponse:
    """Ready: dependencies answer and the region is not drained; else 503 naming what failed."""
    app = bootstrap()
    readiness = app.readiness.check()
    body = readiness.as_dict()
    if readiness.ready:
        return json_response(body)
    # The probe's documented body (status "unavailable" + checks), with the problem's slug and detail
    # beside it; not application/problem+json, whose `status` member must be the HTTP status.
    reasons = (["drained by operator"] if readiness.drained else []) + [f"{name} failed" for name in readiness.failed]
    body.update({"type": "not-ready", "title": "Instance not ready", "detail": "; ".join(reasons)})
    retry_after = max(1, math.ceil(app.settings.health_cache_s))
    return json_response(body, status=503, headers={"Retry-After": str(retry_after)})
