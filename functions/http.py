"""What the HTTP blueprints share: the error boundary, request parsing, JSON and problem responses."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from typing import TypeVar

import azure.functions as func
from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from shared.domain.errors import DomainError, PayloadTooLarge, Unavailable, ValidationFailed
from shared.domain.model import MAILBOX_ID, MESSAGE_ID, parse_time
from shared.domain.problems import Problem
from shared.domain.tenancy import TENANT_ID

logger = logging.getLogger(__name__)
JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
MAX_DETAIL = 500
MAX_JSON_BYTES = 64 * 1024
Model = TypeVar("Model", bound=BaseModel)
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})", re.ASCII)
# An entity tag as RFC 9110 spells it (quoted, optionally weak), or bare as older clients send it.
_ENTITY_TAG = re.compile(r'(?:W/)?"[\x21\x23-\x7e]{0,200}"|[\x21\x23-\x7e]{1,200}')


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, separators=(",", ":")), status_code=status, mimetype=JSON,
                             headers={"Cache-Control": "no-store", **(headers or {})})


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> func.HttpResponse:
    extra = {"Cache-Control": "no-store", **(headers or {})}
    if problem.retry_after_s is not None:
        extra["Retry-After"] = str(problem.retry_after_s)
    if problem.status == 401:
        extra["WWW-Authenticate"] = 'Bearer realm="voicemail"'
    body = problem.as_dict()
    if len(problem.detail) > MAX_DETAIL:  # a detail that quotes the caller's value stays readable
        body["detail"] = problem.detail[:MAX_DETAIL - 3] + "..."
    return func.HttpResponse(json.dumps(body), status_code=problem.status, mimetype=PROBLEM_JSON, headers=extra)


INTERNAL = Problem("internal-error", "Internal error", 500, "the request failed; it is safe to retry")


def failure_response(req: func.HttpRequest, error: Exception) -> func.HttpResponse:
    """What the boundary answers for error: a domain error its problem; a dependency that did not
    answer (timeouts, refused connections the adapters did not translate) 503 with Retry-After;
    anything else a 500 with no detail."""
    if isinstance(error, DomainError):
        return problem_response(error.problem())
    if isinstance(error, (TimeoutError, ConnectionError)):
        logger.warning("%s %s: a dependency did not answer: %r", req.method, req.url, error)
        return problem_response(Unavailable("a dependency did not answer").problem())
    logger.error("%s %s failed", req.method, req.url, exc_info=error)
    return problem_response(INTERNAL)


def mailbox_id(req: func.HttpRequest) -> str:
    value = req.route_params.get("mailboxId", "")
    if not MAILBOX_ID.fullmatch(value):
        raise ValidationFailed("mailboxId must match ^\\+?[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    return value


def tenant_id(req: func.HttpRequest) -> str:
    value = req.route_params.get("tenantId", "")
    if not TENANT_ID.fullmatch(value):
        raise ValidationFailed(f"tenantId must match {TENANT_ID.pattern}")
    return value


def message_id(req: func.HttpRequest) -> str:
    value = req.route_params.get("messageId", "")
    if not MESSAGE_ID.fullmatch(value):
        raise ValidationFailed("messageId is not a message id")
    return value


def body(req: func.HttpRequest, model: type[Model]) -> Model:
    """The JSON body as model; unknown fields, wrong types and bad values are 400 validation-failed,
    a body over 64 KiB 413 before anything parses it (logins included: it comes before their rate)."""
    declared = req.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"JSON bodies are limited to {MAX_JSON_BYTES} bytes")
    raw = req.get_body()
    if len(raw) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"JSON bodies are limited to {MAX_JSON_BYTES} bytes")
    if not raw:
        raise ValidationFailed("a JSON body is required")
    try:
        return model.model_validate_json(raw)
    except PydanticError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                             for e in error.errors(include_url=False, include_input=False))
        raise ValidationFailed(problems[:500]) from None


def flag(req: func.HttpRequest, name: str) -> bool | None:
    value = req.params.get(name)
    if value is None or value == "":
        return None
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise ValidationFailed(f"{name} must be true or false")


def timestamp(req: func.HttpRequest, name: str) -> datetime | None:
    value = req.params.get(name)
    if value is None or value == "":
        return None
    text = value.upper()  # RFC 3339 allows a lower-case t and z
    if not _RFC3339.fullmatch(text):
        raise ValidationFailed(f"{name} must be an RFC 3339 time with a zone, such as 2026-11-27T08:00:00Z")
    try:
        return parse_time(text)
    except (ValueError, OverflowError):  # e.g. a day that does not exist, or year 1 at +01:00
        raise ValidationFailed(f"{name} is not a valid time") from None


def choice(req: func.HttpRequest, name: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
    value = req.params.get(name)
    if value is None or value == "":
        return default
    if value not in allowed:
        raise ValidationFailed(f"{name} must be one of {', '.join(allowed)}")
    return value


def integer(req: func.HttpRequest, name: str, default: int, low: int, high: int) -> int:
    value = req.params.get(name)
    if value is None or value == "":
        return default
    if not re.fullmatch(r"[0-9]{1,6}", value) or not low <= int(value) <= high:
        raise ValidationFailed(f"{name} must be a whole number from {low} to {high}")
    return int(value)


def if_match(req: func.HttpRequest) -> str | None:
    """The ETag a change is conditional on; None when absent or `*` (unconditionally)."""
    value = req.headers.get("if-match")
    if value is None or value.strip() == "*":
        return None
    value = value.strip()
    if not _ENTITY_TAG.fullmatch(value):
        raise ValidationFailed('If-Match must be * or one entity tag as the ETag header gave it, such as "1a2b"')
    return value
