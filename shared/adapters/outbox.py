"""The notification outbox in Cosmos DB: event documents (type `event`) and each mailbox's targets
(id `notifications`), both in the mailbox's partition.

An event is written by the same transactional batch as the change that causes it
(`CosmosStore.write_message`); the change feed hands it to the dispatcher as it is committed
(`events_in`), and the dispatcher's sweep finds due events with one indexed cross-partition query.
Dead letters are events with `status: dead` in the same container.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosResourceNotFoundError

from shared.adapters.cosmos_client import Documents
from shared.adapters.errors import db_translated
from shared.adapters.usage import usage_to_doc
from shared.domain.errors import EtagMismatch, NotFound
from shared.domain.model import iso, parse_time
from shared.domain.notifications import Delivery, Event, NotificationConfig
from shared.domain.usage import delivery_facts

CONFIG_DOC_ID = "notifications"
DONE_KEPT = timedelta(days=7)  # a delivered event stays (Cosmos TTL), so a late duplicate write finds it done


def event_to_doc(event: Event) -> dict[str, Any]:
    doc = {
        "id": event.id, "mailboxId": event.mailbox_id, "type": "event", "eventType": event.type,
        "messageId": event.message_id, "data": event.data, "createdAt": iso(event.created_at),
        "dueAt": iso(event.due_at), "owner": event.owner, "status": event.status, "deadAt": iso(event.dead_at),
        "deliveries": {key: {"attempts": d.attempts, "nextAt": iso(d.next_at), "lastError": d.last_error,
                             "done": d.done, "doneAt": iso(d.done_at)} for key, d in event.deliveries.items()},
    }
    if event.status == "done":
        doc["ttl"] = int(DONE_KEPT.total_seconds())
    return doc


def event_from_doc(doc: dict[str, Any]) -> Event:
    return Event(
        id=doc["id"], mailbox_id=doc["mailboxId"], type=doc["eventType"], created_at=parse_time(doc["createdAt"]),
        due_at=parse_time(doc["dueAt"]), owner=doc["owner"], message_id=doc.get("messageId"), data=doc.get("data"),
        status=doc.get("status", "pending"), dead_at=parse_time(doc.get("deadAt")),
        deliveries={key: Delivery(d["attempts"], parse_time(d.get("nextAt")), d.get("lastError"), d["done"],
                                      parse_time(d.get("doneAt")))
                    for key, d in (doc.get("deliveries") or {}).items()},
        etag=doc.get("_etag"))


def config_to_doc(config: NotificationConfig) -> dict[str, Any]:
    return {"id": CONFIG_DOC_ID, "mailboxId": config.mailbox_id, "type": "notifications",
            "targets": [dict(t) for t in config.targets], "deleteAfterEmail": config.delete_after_email,
            "verifications": dict(config.verifications)}


def config_from_doc(doc: dict[str, Any]) -> NotificationConfig:
    return NotificationConfig(doc["mailboxId"], tuple(doc.get("targets") or ()), doc.get("deleteAfterEmail", False),
                              doc.get("_etag"), dict(doc.get("verifications") or {}))


class CosmosOutbox(Documents):
    """Targets and events over the app's one container."""

    def get_config(self, mailbox_id: str) -> NotificationConfig:
        doc = self._read_doc(mailbox_id, CONFIG_DOC_ID, "reading notification targets")
        return NotificationConfig(mailbox_id) if doc is None else config_from_doc(doc)

    def save_config(self, config: NotificationConfig) -> NotificationConfig:
        """Create (etag None) or replace while config.etag is current; raises EtagMismatch."""
        return config_from_doc(self._save_doc(config_to_doc(config), config.etag, "storing notification targets"))

    def get_event(self, mailbox_id: str, event_id: str) -> Event | None:
        doc = self._read_doc(mailbox_id, event_id, "reading an event")
        return event_from_doc(doc) if doc is not None and doc.get("type") == "event" else None

    def save_event(self, event: Event) -> Event:
        """Replace while event.etag is current (create when None); raises EtagMismatch. The usage
        facts of its deliveries done go in the same transactional batch (shared/domain/usage.py)."""
        facts = delivery_facts(event)
        if not facts:
            return event_from_doc(self._save_doc(event_to_doc(event), event.etag, "updating an event"))
        doc = event_to_doc(event)
        operations: list[tuple[Any, ...]] = [
            ("create", (doc,)) if event.etag is None else ("replace", (doc["id"], doc), {"if_match_etag": event.etag}),
            *[("upsert", (usage_to_doc(fact),)) for fact in facts]]
        with db_translated("updating an event"):
            try:
                results = self._c.execute_item_batch(operations, partition_key=event.mailbox_id,
                                                     timeout=self._timeout_s)
            except CosmosBatchOperationError as failed:
                if failed.error_index == 0 and failed.status_code in (404, 409, 412):
                    raise EtagMismatch("updating an event: it changed meanwhile") from None
                raise
        return event_from_doc(results[0]["resourceBody"])

    def due(self, region: str, now: datetime, stale_before: datetime, limit: int,
            excluding: Sequence[str] = ()) -> list[Event]:
        """Pending events due now that this region dispatches, and those another region left
        undelivered since before stale_before (that region may be gone): oldest first; none of the
        mailboxes `excluding` names (those a round already has its share of)."""
        past = " AND NOT ARRAY_CONTAINS(@busy, c.mailboxId)" if excluding else ""
        sql = (f"SELECT TOP {int(limit)} * FROM c WHERE c.type = 'event' AND c.status = 'pending' "  # noqa: S608
               f"AND c.dueAt <= @now AND (c.owner = @region OR c.dueAt <= @stale){past} ORDER BY c.dueAt")
        parameters = [{"name": "@now", "value": iso(now)}, {"name": "@region", "value": region},
                      {"name": "@stale", "value": iso(stale_before)}]
        if excluding:
            parameters.append({"name": "@busy", "value": list(excluding)})
        with db_translated("finding due events"):
            return [event_from_doc(d) for d in self._c.query_items(
                sql, parameters=parameters, enable_cross_partition_query=True, timeout=self._timeout_s)]

    def events_in(self, documents: Iterable[Mapping[str, Any]]) -> list[Event]:
        return [event_from_doc(dict(d)) for d in documents if d.get("type") == "event" and "eventType" in d]

    def dead_letters(self, limit: int, mailbox_id: str | None = None) -> list[Event]:
        where = "c.type = 'event' AND c.status = 'dead'" + (" AND c.mailboxId = @m" if mailbox_id else "")
        sql = f"SELECT TOP {int(limit)} * FROM c WHERE {where} ORDER BY c.deadAt DESC"  # noqa: S608 - fixed clauses
        scope: dict[str, Any] = ({"partition_key": mailbox_id} if mailbox_id
                                 else {"enable_cross_partition_query": True})
        parameters = [{"name": "@m", "value": mailbox_id}] if mailbox_id else []
        with db_translated("listing dead letters"):
            return [event_from_doc(d) for d in self._c.query_items(
                sql, parameters=parameters, timeout=self._timeout_s, **scope)]

    def find_event(self, event_id: str) -> Event:
        """An event by id alone (an operator's replay; a cross-partition query)."""
        sql = "SELECT * FROM c WHERE c.type = 'event' AND c.id = @id"
        with db_translated("finding an event"):
            docs = list(self._c.query_items(sql, parameters=[{"name": "@id", "value": event_id}],
                                            enable_cross_partition_query=True, timeout=self._timeout_s))
        if not docs:
            raise NotFound("no such event")
        return event_from_doc(docs[0])

    def delete_event(self, event: Event) -> None:
        with db_translated("deleting an event"), contextlib.suppress(CosmosResourceNotFoundError):
            self._c.delete_item(event.id, partition_key=event.mailbox_id, timeout=self._timeout_s)
