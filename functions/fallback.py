"""Routes nobody serves answer problem+json too (the lowest-precedence route template)."""

from __future__ import annotations

import azure.functions as func

from functions.http import problem_response
from shared.domain.problems import Problem

bp = func.Blueprint()


@bp.function_name("not_found")
@bp.route(route="{*path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
          auth_level=func.AuthLevel.ANONYMOUS)
def not_found(req: func.HttpRequest) -> func.HttpResponse:
    return problem_response(Problem("not-found", "No such route", 404, "see /api/openapi.json for the routes"))
