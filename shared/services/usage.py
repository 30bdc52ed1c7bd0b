"""Usage per tenant per day: the report (`GET /api/tenants/{tenantId}/usage`) and the port it reads.

What is counted, when, and why it is exact: shared/domain/usage.py and docs/usage.md. The facts of
messages are written by the batches that cause them (shared/services/ledger.py for deposits and
audio, shared/services/transcripts.py for transcripts), and deliveries' with the event that records
them done (the outbox's `save_event`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from shared.domain.principal import Principal
from shared.domain.usage import UsageFact, days, parse_range
from shared.services.tenants import TenantService


class UsageRecords(Protocol):
    """Usage facts, written by the batches that cause them (by id: a fact written twice is one), read
    by tenant and days."""

    def facts(self, tenant: str, start: str, end: str) -> Iterable[UsageFact]:
        """The tenant's facts dated `start` to `end` (YYYY-MM-DD, both included), every mailbox's."""
        ...


class UsageService:
    def __init__(self, records: UsageRecords, tenants: TenantService):
        self._records = records
        self._tenants = tenants

    def report(self, principal: Principal, tenant: str, start: str | None, end: str | None) -> dict[str, object]:
        """Every day of the range with its sums. The boundary has checked the principal: the operator,
        or a platform key of this very tenant (functions/table.py, OPERATOR_OR_PLATFORM)."""
        first, last = parse_range(start, end)
        if principal.kind == "operator":
            self._tenants.existing(tenant)  # an unknown tenant: 404 (its own key proves it exists)
        return {"days": days(self._records.facts(tenant, first, last), first, last)}
