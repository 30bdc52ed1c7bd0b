"""Classes of service: a tenant's platform key, or the operator, puts and reads its classes
(shared/services/classes.py)."""

from __future__ import annotations

import azure.functions as func

from functions.http import json_response
from functions.table import OPERATOR, OPERATOR_OR_PLATFORM, PLATFORM, ROUTES, Answer, Call
from shared.domain.classes import ClassOfService
from shared.domain.errors import EtagMismatch, NotFound, TenantNotFound, ValidationFailed
from shared.domain.tenants import CLASS_NAME

CLASS = "tenants/{tenantId}/classes/{className}"
DESCRIPTION = ("A mailbox names its class (`classOfService`, default `standard`: today's defaults, no limits, "
               "everything allowed; built in, not replaced). A setting the mailbox does not set takes the class's "
               "default; one beyond a limit answers 422 `beyond-class`, a feature not allowed 422 `not-allowed`; "
               "with `pin.refuseWeak`, a repeated digit, a run or the mailbox number's end 422 `weak-pin`. A "
               "change reaches every mailbox of the class within 60 s, without rewriting them.")


def class_name(call: Call) -> str:
    name = call.req.route_params.get("className", "")
    if not CLASS_NAME.fullmatch(name):
        raise ValidationFailed(f"className must match {CLASS_NAME.pattern}")
    return name


@ROUTES.route("PUT", CLASS, tag="tenants", summary="Create or replace a class of service",
              principals=OPERATOR_OR_PLATFORM, audited=(OPERATOR, PLATFORM), description=DESCRIPTION,
              request=ClassOfService, answers={200: Answer("the class", "ClassOfService")},
              errors=(EtagMismatch, TenantNotFound))
def put_class(call: Call) -> func.HttpResponse:
    return json_response(call.app.classes.put(call.principal, call.tenant, class_name(call), call.body))


@ROUTES.route("GET", CLASS, tag="tenants", summary="Read a class of service",
              principals=OPERATOR_OR_PLATFORM, audited=(OPERATOR, PLATFORM), description=DESCRIPTION,
              answers={200: Answer("the class", "ClassOfService")}, errors=(NotFound, TenantNotFound))
def get_class(call: Call) -> func.HttpResponse:
    return json_response(call.app.classes.get(call.principal, call.tenant, class_name(call)))
