"""The API's own OpenAPI 3.1 document (anonymous), built from the operation table once per process."""

from __future__ import annotations

import functools

import azure.functions as func

from functions.http import json_response
from functions.table import ANYONE, ROUTES, Answer, Call
from shared.config import app_version


@functools.cache
def document() -> dict[str, object]:
    from functions.openapi import openapi_document  # the table is whole by the time it is served

    return openapi_document(app_version())


@ROUTES.route("GET", "openapi.json", name="openapi", tag="meta", summary="This document", principals=ANYONE,
              flow="query", boundary=False,
              answers={200: Answer("the OpenAPI document", {"type": "object", "required": ["openapi"]})})
def openapi(call: Call) -> func.HttpResponse:
    """What every route under /api accepts and answers."""
    return json_response(document())
