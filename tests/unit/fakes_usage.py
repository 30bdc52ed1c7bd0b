"""Usage facts in memory (UsageRecords), kept in the fake store beside the documents whose batches
write them, as the Cosmos adapter keeps them in the mailbox's partition."""

from __future__ import annotations

from shared.domain.usage import UsageFact


class FakeUsage:
    def __init__(self, store) -> None:
        self.store = store  # FakeStore: its `usage` holds every fact, by (mailbox, fact id)

    def facts(self, tenant: str, start: str, end: str) -> list[UsageFact]:
        return [fact for fact in self.store.usage.values() if fact.tenant == tenant and start <= fact.day <= end]
