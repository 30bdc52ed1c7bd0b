"""Health probes for Front Door / Traffic Manager (anonymous): liveness and readiness."""

from __future__ import annotations

import math
import os

import azure.functions as func

from functions.http import json_response
from functions.table import ANYONE, ROUTES, Answer, Call
from shared import build_info
from shared.config import app_version, settings, settings_error
from shared.domain.errors import NotConfigured
from shared.services.health import not_configured

PROBE = {"tag": "health", "principals": ANYONE, "plane": "both", "flow": "health", "boundary": False}
READY = {"allOf": [{"$ref": "#/components/schemas/Readiness"}], "properties": {"status": {"const": "ready"}},
         "not": {"required": ["type"]}}
NOT_READY = {"allOf": [{"$ref": "#/components/schemas/Readiness"}], "required": ["type", "title", "detail"],
             "properties": {"status": {"const": "unavailable"}}}


@ROUTES.route("GET", "health", summary="Liveness: the process answers (no I/O)",
              answers={200: Answer("alive", "Health")}, **PROBE)
def health(call: Call) -> func.HttpResponse:
    """Alive: the process answers, whatever its settings (readiness says what is wrong with them).
    No I/O, so a slow dependency never takes a live instance out. `build` is the deployed code's id."""
    region = settings().region if settings_error() is None else os.environ.get("REGION")
    return json_response({"status": "ok", "region": region, "version": app_version(),
                          "build": build_info.current()})


@ROUTES.route("GET", "health/ready", summary="Readiness: dependencies answer and the region is not drained",
              answers={200: Answer("ready", READY),
                       503: Answer("not ready, or drained by an operator", NOT_READY, ("Retry-After",))}, **PROBE)
def health_ready(call: Call) -> func.HttpResponse:
    """Ready: dependencies answer and the region is not drained; else 503 naming what failed."""
    error = settings_error()
    if error is not None:
        readiness, retry_after = not_configured(os.environ.get("REGION"), error.public), NotConfigured.retry_after_s
    else:
        app = call.app
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
