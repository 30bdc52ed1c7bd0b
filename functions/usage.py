"""A tenant's usage per day (API.md, "Tenants and classes of service"; docs/usage.md): what a
carrier bills its wholesale customers from, for the operator or the tenant's own platform key."""

from __future__ import annotations

import azure.functions as func

from functions.http import json_response
from functions.openapi.schemas import query
from functions.table import OPERATOR, OPERATOR_OR_PLATFORM, PLATFORM, ROUTES, Answer, Call
from shared.domain.errors import TenantNotFound
from shared.domain.usage import FIELDS, MAX_RANGE_DAYS, SECONDS

DAY = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
USAGE_SCHEMA = {
    "type": "object", "required": ["days"], "additionalProperties": False,
    "properties": {"days": {"type": "array", "items": {
        "type": "object", "required": ["date", *FIELDS], "additionalProperties": False,
        "properties": {"date": DAY, **{name: {"type": "number", "minimum": 0} if name in SECONDS
                                        else {"type": "integer", "minimum": 0} for name in FIELDS}}}}},
}


@ROUTES.route("GET", "tenants/{tenantId}/usage", tag="tenants", summary="The tenant's usage per day",
              principals=OPERATOR_OR_PLATFORM, audited=(OPERATOR, PLATFORM),
              description="Every UTC day from `from` to `to` (both included, at most "
                          f"{MAX_RANGE_DAYS} days): deposits, audio seconds, transcription seconds, e-mails, SMS "
                          "and webhooks delivered. Exact once replication between regions catches up; an "
                          "idempotent retry is never counted twice. A message's deposit, audio and transcript "
                          "count on the day it was received; a notification on the day it was delivered.",
              parameters=(query("from", DAY, "the first day (UTC), YYYY-MM-DD"),
                          query("to", DAY, "the last day (UTC), YYYY-MM-DD")),
              answers={200: Answer("the days, each with its sums", USAGE_SCHEMA)}, errors=(TenantNotFound,))
def get_tenant_usage(call: Call) -> func.HttpResponse:
    params = call.req.params
    return json_response(call.app.usage.report(call.principal, call.tenant, params.get("from"), params.get("to")))
