"""The API's own OpenAPI 3.1 document (anonymous), built once per process."""

from __future__ import annotations

import functools

import azure.functions as func

from functions.http import json_response
from functions.openapi import openapi_document
from shared.config import app_version

bp = func.Blueprint()


@functools.cache
def document() -> dict[str, object]:
    return openapi_document(app_version())


@bp.function_name("openapi")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    """What every route under /api accepts and answers."""
    return json_response(document())
