"""Usage facts in Cosmos DB (shared/domain/usage.py): one document a billable occurrence, type `usage`,
in its mailbox's partition, written by the batch of the change that causes it
(`CosmosStore.write_message`, `CosmosOutbox.save_event`); a tenant's report is one
cross-partition query on `tenant` and `date`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shared.adapters.cosmos_client import Documents
from shared.adapters.errors import db_translated
from shared.domain.usage import KEPT_DAYS, USAGE_TYPE, UsageFact

REPORT_SQL = ("SELECT c.id, c.mailboxId, c.date, c.field, c.amount FROM c "
              "WHERE c.type = @type AND c.tenant = @tenant AND c.date >= @from AND c.date <= @to")


def usage_to_doc(fact: UsageFact) -> dict[str, Any]:
    return {"id": fact.id, "mailboxId": fact.mailbox_id, "type": USAGE_TYPE, "tenant": fact.tenant,
            "date": fact.day, "field": fact.field, "amount": fact.amount, "ttl": KEPT_DAYS * 86_400}


def usage_from_doc(doc: dict[str, Any]) -> UsageFact:
    return UsageFact(doc["id"], doc["mailboxId"], doc["date"], doc["field"], int(doc["amount"]))


class CosmosUsage(Documents):
    """UsageRecords over the app's one container."""

    def facts(self, tenant: str, start: str, end: str) -> Iterator[UsageFact]:
        parameters = [{"name": "@type", "value": USAGE_TYPE}, {"name": "@tenant", "value": tenant},
                      {"name": "@from", "value": start}, {"name": "@to", "value": end}]
        with db_translated("reading usage"):
            for doc in self._c.query_items(REPORT_SQL, parameters=parameters, enable_cross_partition_query=True,
                                           timeout=self._timeout_s):
                yield usage_from_doc(doc)
