"""The container's conflicts feed (the `ConflictFeed` port): what lost a write conflict between
regions, read for shared/services/conflicts.py to merge, then removed."""

from __future__ import annotations

import contextlib
import json

from azure.cosmos.exceptions import CosmosResourceNotFoundError

from shared.adapters.cosmos_client import CosmosContainer
from shared.adapters.cosmos_docs import document_from_doc
from shared.adapters.errors import db_translated
from shared.ports import Conflict


class CosmosConflictFeed:
    """The container's conflicts feed: versions that lost a write conflict between regions."""

    def __init__(self, container: CosmosContainer, timeout_s: float):
        self._container = container
        self._timeout_s = timeout_s

    def conflicts(self, limit: int) -> list[Conflict]:
        found = []
        with db_translated("reading the conflicts feed"):
            for item in self._container.get().list_conflicts(max_item_count=limit, timeout=self._timeout_s):
                content = item.get("content")
                doc = json.loads(content) if isinstance(content, str) else (content or {})
                loser = None if item.get("operationType", "").lower() == "delete" else document_from_doc(doc)
                found.append(Conflict(item["id"], doc.get("mailboxId", ""), doc.get("id", ""), loser, item.get("_ts")))
                if len(found) >= limit:
                    break
        return found

    def pending(self, mailbox_id: str) -> bool:
        # The feed is short (conflicts happen inside the replication lag, and a run merges them every
        # few seconds): read, not queried by partition, which the emulator's feed does not filter.
        return any(conflict.mailbox_id == mailbox_id for conflict in self.conflicts(1000))

    def resolved(self, conflict: Conflict) -> None:
        with db_translated("removing a resolved conflict"), contextlib.suppress(CosmosResourceNotFoundError):
            self._container.get().delete_conflict(conflict.id, partition_key=conflict.mailbox_id,
                                                  timeout=self._timeout_s)
