"""Health probes for Front Door / Traffic Manager (anonymous): liveness and readiness."""

from __future__ import annotations

import math
import os

import azure.functions as func

from functions.http import json_response
from shared import build_info
from shared.bootstrap import bootstrap
from shared.config import app_version, settings, settings_error
from shared.domain.errors import NotConfigured
from shared.services.health import not_configured

bp = func.Blueprint()


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Alive: the process answers, whatever its settings (readiness says what is wrong with them).
    No I/O, so a slow dependency never takes a live instance out. `build` is the deployed code's id."""
    region = settings().region if settings_error() is None else os.environ.get("REGION")
    return json_response({"status": "ok", "region": region, "version": app_version(),
                          "build": build_info.current()})


@bp.function_name("health_ready")
@bp.route(route="health/ready", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health_ready(req: func.HttpRequest) -> func.HttpResponse:
    """Ready: dependencies answer and the region is not drained; else 503 naming what failed."""
    error = settings_error()
    if error is not None:
        readiness, retry_after = not_configured(os.environ.get("REGION"), error.public), NotConfigured.retry_after_s
    else:
        app = bootstrap()
        readiness, retry_after = app.readiness.check(), max(1, math.ceil(app.settings.health.cache_s))
    body = readiness.as_dict()
    if readiness.ready:
        return json_response(body)
    # The probe's documented body (status "unavailable" + checks), with the problem's slug and detail
    # beside it; not application/problem+json, whose `status` member must be the HTTP status.
    reasons = (["drained by operator"] if readiness.drained else []) + [
        f"{name} failed" + (f": {readiness.checks[name].error}" if name == "config" else "")
        for name in readiness.failed]
    body.update({"type": "not-ready", "title": "Instance not ready", "detail": "; ".join(reasons)})
    return json_response(body, status=503, headers={"Retry-After": str(retry_after)})
