"""Helpers the HTTP blueprints share: JSON and problem+json responses."""

from __future__ import annotations

import json

import azure.functions as func

from shared.domain.problems import Problem

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, separators=(",", ":")), status_code=status, mimetype=JSON,
                             headers={"Cache-Control": "no-store", **(headers or {})})


def problem_response(problem: Problem) -> func.HttpResponse:
    headers = {"Cache-Control": "no-store"}
    if problem.retry_after_s is not None:
        headers["Retry-After"] = str(problem.retry_after_s)
    return func.HttpResponse(json.dumps(problem.as_dict()), status_code=problem.status, mimetype=PROBLEM_JSON,
                             headers=headers)
