"""Cosmos DB: the repositories over the app's one container (the client and the probe: `cosmos_client.py`).

Everything of one mailbox shares the logical partition `/mailboxId`: the mailbox document (id
`mailbox`) and its messages (id = message id). Every query here names the partition.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.cosmos import ContainerProxy
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosResourceNotFoundError

from shared.adapters.cosmos_client import CosmosContainer
from shared.adapters.cosmos_docs import (
    MAILBOX_DOC_ID,
    RECENT_KINDS,
    greeting_from_doc,
    greeting_to_doc,
    mailbox_from_doc,
    mailbox_to_doc,
    message_from_doc,
    message_to_doc,
    pin_from_doc,
    pin_to_doc,
    recent_from_doc,
    recent_to_doc,
    tally_doc_id,
    tally_from_doc,
    tally_to_doc,
)
from shared.adapters.cosmos_erasure import CosmosErasures
from shared.adapters.errors import db_translated
from shared.adapters.outbox import event_to_doc
from shared.adapters.usage import usage_to_doc
from shared.deadline import remaining
from shared.domain.errors import DatabaseUnavailable, EtagMismatch, NotFound
from shared.domain.model import (
    Greeting,
    ListQuery,
    Mailbox,
    Message,
    iso,
)
from shared.domain.notifications import Event
from shared.domain.replicated import PinRecord, RecentEvents, RegionTally
from shared.domain.tenancy import tenant_of
from shared.domain.usage import UsageFact
from shared.ports import AlreadyExists, Snapshot, TallyMoved

# A mailbox, its tallies, PIN lockouts and forwards, and (@id) the message of an idempotent retry:
# one query of one partition (bench.deposit_cost times it against the mailbox's size).
SNAPSHOT_SQL = ("SELECT * FROM c WHERE c.mailboxId = @m AND (c.id = 'mailbox' OR c.type = 'tally' "
                "OR c.type = 'pins' OR c.type = 'forwards' OR c.type = 'write' OR c.id = @id)")


class CosmosStore(CosmosErasures):
    """Mailbox and message repositories over the one container."""

    def __init__(self, container: CosmosContainer, timeout_s: float):
        self._container = container
        self._timeout_s = timeout_s  # a bound on each whole operation, retries included

    @property
    def _c(self) -> ContainerProxy:
        return self._container.get()

    def _limits(self) -> dict[str, float]:
        """Each call's bound: the store's timeout, or what is left of the request's budget
        (shared/deadline.py), for the whole call (`timeout`) and each wait for an answer."""
        seconds = remaining(self._timeout_s)
        if seconds < 0.05:
            raise DatabaseUnavailable("the time allowed for the database ran out")
        return {"timeout": seconds, "read_timeout": seconds}

    def _read(self, mailbox_id: str, doc_id: str, what: str) -> dict[str, Any] | None:
        with db_translated(what):
            try:
                return self._c.read_item(doc_id, partition_key=mailbox_id, **self._limits())
            except CosmosResourceNotFoundError:
                return None

    def _create(self, doc: dict[str, Any], what: str) -> dict[str, Any]:
        with db_translated(what):
            return self._c.create_item(doc, **self._limits())

    def _replace(self, doc: dict[str, Any], etag: str | None, what: str) -> dict[str, Any]:
        with db_translated(what):
            try:
                return self._c.replace_item(doc["id"], doc, etag=etag, match_condition=MatchConditions.IfNotModified,
                                            **self._limits())
            except CosmosResourceNotFoundError:  # deleted since it was read (a purge won the race)
                raise NotFound("it was deleted meanwhile") from None

    def _query(self, mailbox_id: str, sql: str, parameters: list[dict[str, Any]], what: str) -> list[dict[str, Any]]:
        with db_translated(what):
            for attempt in range(3):
                try:
                    return list(self._c.query_items(sql, parameters=parameters, partition_key=mailbox_id,
                                                    **self._limits()))
                except RuntimeError as error:
                    # azure-cosmos 4.17.1 shares one response-headers dict between the threads that
                    # share a client; a query may see it change under it ("OrderedDict mutated
                    # during iteration", seen once in 485 deposits). A read: ask again.
                    if "mutated during iteration" not in str(error) or attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def get_mailbox(self, mailbox_id: str) -> Mailbox | None:
        doc = self._read(mailbox_id, MAILBOX_DOC_ID, "reading a mailbox")
        return mailbox_from_doc(doc) if doc else None

    def create_mailbox(self, mailbox: Mailbox) -> Mailbox:
        return mailbox_from_doc(self._create(mailbox_to_doc(mailbox), "creating a mailbox"))

    def replace_mailbox(self, mailbox: Mailbox) -> Mailbox:
        return mailbox_from_doc(self._replace(mailbox_to_doc(mailbox), mailbox.etag, "updating a mailbox"))

    def get_message(self, mailbox_id: str, message_id: str) -> Message | None:
        if message_id == MAILBOX_DOC_ID or message_id.startswith(("tally-", "pins-", "greeting-")):
            return None
        doc = self._read(mailbox_id, message_id, "reading a message")
        return message_from_doc(doc) if doc and doc.get("type") == "message" else None

    def snapshot(self, mailbox_id: str, message_id: str | None = None) -> Snapshot:
        docs = self._query(mailbox_id, SNAPSHOT_SQL, [{"name": "@m", "value": mailbox_id},
                                             {"name": "@id", "value": message_id or MAILBOX_DOC_ID}],
                           "reading a mailbox")
        mailbox, message, tallies, pins, recent = None, None, {}, {}, {}
        for doc in docs:
            kind = doc.get("type")
            if kind in RECENT_KINDS:
                recent[(kind, doc["region"])] = recent_from_doc(doc)
            elif kind == "mailbox":
                mailbox = mailbox_from_doc(doc)
            elif kind == "tally":
                tallies[doc["region"]] = tally_from_doc(doc)
            elif kind == "pins":
                pins[doc["region"]] = pin_from_doc(doc)
            elif kind == "message" and doc["id"] == message_id:
                message = message_from_doc(doc)
        return Snapshot(mailbox, tallies, pins, message, recent)

    def write_message(self, message: Message, tally: RegionTally | None, events: Sequence[Event] = (),
                      usage: Sequence[UsageFact] = ()) -> Message:
        doc = message_to_doc(message)
        if tally is None and not events and not usage:
            if message.etag is None:
                return message_from_doc(self._create(doc, "storing a message"))
            return message_from_doc(self._replace(doc, message.etag, "updating a message"))
        operations: list[tuple[Any, ...]] = [
            ("create", (doc,)) if message.etag is None
            else ("replace", (doc["id"], doc), {"if_match_etag": message.etag}),
            *_tally_operation(tally),
            # The outbox: the events this change causes, in the same batch (ids are deterministic).
            *[("upsert", (event_to_doc(event),)) for event in events],
            *[("upsert", (usage_to_doc(fact),)) for fact in usage],  # shared/domain/usage.py: ids are deterministic
        ]
        with db_translated("updating a message and its counts"):
            try:
                results = self._c.execute_item_batch(operations, partition_key=message.mailbox_id,
                                                     **self._limits())
            except CosmosBatchOperationError as failed:
                raise _batch_failure(failed, message, tally is not None) from None
        return message_from_doc(results[0]["resourceBody"])

    def create_messages(self, messages: Sequence[Message], tally: RegionTally | None,
                        events: Sequence[Event] = (), usage: Sequence[UsageFact] = ()) -> list[Message]:
        operations: list[tuple[Any, ...]] = [
            *[("create", (message_to_doc(message),)) for message in messages],
            *_tally_operation(tally),
            *[("upsert", (event_to_doc(event),)) for event in events],
            *[("upsert", (usage_to_doc(fact),)) for fact in usage],
        ]
        with db_translated("storing messages and their counts"):
            try:
                results = self._c.execute_item_batch(operations, partition_key=messages[0].mailbox_id, **self._limits())
            except CosmosBatchOperationError as failed:
                if failed.error_index == len(messages):
                    raise TallyMoved(messages[0].mailbox_id) from None
                if failed.status_code == 409:
                    raise AlreadyExists(messages[failed.error_index].id) from None
                raise
        return [message_from_doc(result["resourceBody"]) for result in results[:len(messages)]]

    def all_messages(self, mailbox_id: str) -> list[Message]:
        sql = "SELECT * FROM c WHERE c.mailboxId = @m AND c.type = 'message'"
        return [message_from_doc(d) for d in self._query(mailbox_id, sql, [{"name": "@m", "value": mailbox_id}],
                                                         "reading every message of a mailbox")]

    def mailboxes_of_class(self, tenant: str, name: str) -> list[str]:
        with db_translated("listing a class's mailboxes"):
            keys = self._c.query_items("SELECT VALUE c.mailboxId FROM c WHERE c.id = 'mailbox' AND c.type = 'mailbox' "
                                       "AND c.classOfService = @n AND c.status = 'active'",
                                       parameters=[{"name": "@n", "value": name}], enable_cross_partition_query=True,
                                       timeout=self._timeout_s)
            return sorted(key for key in keys if tenant_of(key) == tenant)

    def save_tally(self, tally: RegionTally) -> RegionTally:
        try:
            return tally_from_doc(self._save(tally_to_doc(tally), tally.etag, "updating counts"))
        except (EtagMismatch, AlreadyExists, NotFound):
            raise TallyMoved(tally.region) from None

    def save_pin_record(self, record: PinRecord) -> PinRecord:
        try:
            return pin_from_doc(self._save(pin_to_doc(record), record.etag, "counting a PIN guess"))
        except (AlreadyExists, NotFound):
            raise EtagMismatch("the PIN record changed") from None

    def save_recent(self, record: RecentEvents) -> RecentEvents:
        try:
            return recent_from_doc(self._save(recent_to_doc(record), record.etag, "counting an event"))
        except (AlreadyExists, NotFound):
            raise EtagMismatch("the record changed") from None

    def expired_promises(self, mailbox_id: str, now: datetime) -> list[Message]:
        sql = ("SELECT * FROM c WHERE c.mailboxId = @m AND c.type = 'message' AND c.uploadPending = true "
               "AND c.status = 'processing' AND c.expiresAt < @now")
        return [message_from_doc(d) for d in self._query(
            mailbox_id, sql, [{"name": "@m", "value": mailbox_id}, {"name": "@now", "value": iso(now)}],
            "finding expired upload promises")]

    def _save(self, doc: dict[str, Any], etag: str | None, what: str) -> dict[str, Any]:
        return self._create(doc, what) if etag is None else self._replace(doc, etag, what)

    def delete_message(self, mailbox_id: str, message_id: str) -> None:
        with db_translated("deleting a message"), contextlib.suppress(CosmosResourceNotFoundError):
            self._c.delete_item(message_id, partition_key=mailbox_id, **self._limits())

    def list_messages(self, mailbox_id: str, query: ListQuery) -> list[Message]:
        where = ["c.mailboxId = @m", "c.type = 'message'", "c.uploadPending = false", "c.status != 'purged'"]
        parameters: list[dict[str, Any]] = [{"name": "@m", "value": mailbox_id}]

        def condition(clause: str, name: str, value: Any) -> None:
            where.append(clause)
            parameters.append({"name": name, "value": value})

        if query.folder is None:
            where.append("c.folder != 'trash'")
        else:
            condition("c.folder = @folder", "@folder", query.folder)
        if query.heard is not None:
            condition("c.heard = @heard", "@heard", query.heard)
        if query.urgent is not None:
            condition("c.urgent = @urgent", "@urgent", query.urgent)
        if query.since is not None:
            condition("c.receivedAt >= @since", "@since", iso(query.since))
        if query.until is not None:
            condition("c.receivedAt < @until", "@until", iso(query.until))
        if query.after_key is not None:
            condition(f"c.sortKey {'<' if query.descending else '>'} @after", "@after", query.after_key)
        order = "DESC" if query.descending else "ASC"
        # Only fixed clauses are joined here; every value travels as a parameter.
        clauses = " AND ".join(where)
        sql = f"SELECT TOP {int(query.limit) + 1} * FROM c WHERE {clauses} ORDER BY c.sortKey {order}"  # noqa: S608
        return [message_from_doc(doc) for doc in self._query(mailbox_id, sql, parameters, "listing messages")]

    def expired(self, before: str, limit: int, exclude: list[str],
                spared: list[str] | None = None) -> list[dict[str, str]]:
        """Documents whose `expiresAt` is before `before`, oldest first: the retention sweep's one
        cross-partition query, on the indexed `expiresAt` (its cost follows the work, not the
        population). `exclude`: ids that failed to purge earlier in this sweep; `spared`: mailboxes
        under a legal hold or being erased (nothing of theirs is found)."""
        sql = (f"SELECT TOP {int(limit)} c.id, c.mailboxId, c.type FROM c "  # noqa: S608 - limit is an int
               "WHERE c.expiresAt < @before AND NOT ARRAY_CONTAINS(@exclude, c.id) "
               "AND NOT ARRAY_CONTAINS(@spared, c.mailboxId) ORDER BY c.expiresAt")
        parameters = [{"name": "@before", "value": before}, {"name": "@exclude", "value": exclude},
                      {"name": "@spared", "value": list(spared or ())}]
        with db_translated("finding expired documents"):
            return [{"id": d["id"], "mailboxId": d["mailboxId"], "type": d["type"]} for d in self._c.query_items(
                sql, parameters=parameters, enable_cross_partition_query=True, **self._limits())]

    def held_mailboxes(self) -> list[str]:
        sql = "SELECT VALUE c.mailboxId FROM c WHERE c.type = 'mailbox' AND IS_OBJECT(c.hold)"
        with db_translated("finding held mailboxes"):
            return sorted(self._c.query_items(sql, enable_cross_partition_query=True, **self._limits()))

    def under_replicated(self, count: int, limit: int, exclude: list[str],
                         regions: list[str]) -> list[dict[str, str]]:
        """Ready messages held by fewer than `count` regions and deposited in one of `regions` (whose
        storage this deployment can reach): the replication sweep's indexed query."""
        sql = (f"SELECT TOP {int(limit)} c.id, c.mailboxId FROM c "  # noqa: S608 - limit is an int
               "WHERE c.type = 'message' AND c.status = 'ready' AND c.replicaTotal < @count "
               "AND ARRAY_CONTAINS(@regions, c.depositRegion) AND NOT ARRAY_CONTAINS(@exclude, c.id)")
        parameters = [{"name": "@count", "value": count}, {"name": "@exclude", "value": exclude},
                      {"name": "@regions", "value": regions}]
        with db_translated("finding under-replicated messages"):
            return [{"id": d["id"], "mailboxId": d["mailboxId"]} for d in self._c.query_items(
                sql, parameters=parameters, enable_cross_partition_query=True, **self._limits())]

    def stalled_processing(self, after: str, before: str, region: str, limit: int,
                           exclude: list[str]) -> list[dict[str, str]]:
        """Messages another region acknowledged and has not finished, received after `after` (the
        sweep's cursor: one taken over stays `processing` until transcoded, so a page must not
        return it again) and before `before`, oldest first: the takeover's indexed query."""
        sql = (f"SELECT TOP {int(limit)} c.id, c.mailboxId, c.receivedAt FROM c "  # noqa: S608 - limit is an int
               "WHERE c.type = 'message' AND c.status = 'processing' AND c.receivedAt > @after "
               "AND c.receivedAt < @before AND c.depositRegion != @region AND NOT ARRAY_CONTAINS(@exclude, c.id) "
               "ORDER BY c.receivedAt")
        parameters = [{"name": "@after", "value": after}, {"name": "@before", "value": before},
                      {"name": "@region", "value": region}, {"name": "@exclude", "value": exclude}]
        with db_translated("finding stalled messages"):
            return [{"id": d["id"], "mailboxId": d["mailboxId"], "receivedAt": d["receivedAt"]}
                    for d in self._c.query_items(sql, parameters=parameters, enable_cross_partition_query=True,
                                                 **self._limits())]

    def partition_documents(self, mailbox_id: str) -> list[dict[str, str]]:
        """Every document of a mailbox (id and type): what purging a mailbox has to delete."""
        sql = "SELECT c.id, c.type FROM c WHERE c.mailboxId = @m"
        return [{"id": d["id"], "type": d.get("type", "")}
                for d in self._query(mailbox_id, sql, [{"name": "@m", "value": mailbox_id}], "listing a mailbox")]

    def delete_mailbox(self, mailbox_id: str) -> None:
        with db_translated("deleting a mailbox"), contextlib.suppress(CosmosResourceNotFoundError):
            self._c.delete_item(MAILBOX_DOC_ID, partition_key=mailbox_id, **self._limits())

    def get_greeting(self, mailbox_id: str, kind: str) -> Greeting | None:
        doc = self._read(mailbox_id, f"greeting-{kind}", "reading a greeting")
        return greeting_from_doc(doc) if doc else None

    def greetings(self, mailbox_id: str) -> dict[str, Greeting]:
        sql = "SELECT * FROM c WHERE c.mailboxId = @m AND c.type = 'greeting'"
        docs = self._query(mailbox_id, sql, [{"name": "@m", "value": mailbox_id}], "reading greetings")
        return {doc["kind"]: greeting_from_doc(doc) for doc in docs}

    def save_greeting(self, greeting: Greeting) -> Greeting:
        """Create, or replace the current one only if greeting.etag is still current."""
        doc = greeting_to_doc(greeting)
        if greeting.etag is None:
            with db_translated("storing a greeting"):
                return greeting_from_doc(self._c.upsert_item(doc, **self._limits()))
        return greeting_from_doc(self._replace(doc, greeting.etag, "updating a greeting"))

    def delete_greeting(self, mailbox_id: str, kind: str) -> None:
        with db_translated("deleting a greeting"), contextlib.suppress(CosmosResourceNotFoundError):
            self._c.delete_item(f"greeting-{kind}", partition_key=mailbox_id, **self._limits())



def _tally_operation(tally: RegionTally | None) -> list[tuple[Any, ...]]:
    """The batch operation that writes the region's tally: created, or replaced while its ETag is current."""
    if tally is None:
        return []
    if tally.etag is None:
        return [("create", (tally_to_doc(tally),))]
    return [("replace", (tally_doc_id(tally.region), tally_to_doc(tally)), {"if_match_etag": tally.etag})]


def _batch_failure(failed: CosmosBatchOperationError, message: Message, with_tally: bool) -> Exception:
    """What a failed batch (message first, tally second if any) means for the caller."""
    status = failed.status_code
    if failed.error_index == 1 and with_tally:
        return TallyMoved(message.mailbox_id)
    if status == 409:
        return AlreadyExists(message.id)
    if status in (404, 412):
        return NotFound("it was deleted meanwhile") if status == 404 else EtagMismatch("the message changed")
    return failed
