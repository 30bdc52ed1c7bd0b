"""The api side's storage calls made straight on the SDKs: the second baseline of `bench.api_throughput`.

The goal's baseline (the `sdk` side) makes 4 calls an iteration: what a deposit, a list and a get
need at the least. The product makes more, each for a rule of the contract (`docs/benchmarks.md`,
"Storage round trips per request, counted"):

- deposit: 1. the partition's snapshot query (the mailbox active, its settings, every region's
  tally for room, an Idempotency-Key's message); 2. the blob upload; 3. one transactional batch
  (the message, the region's tally, its `mwi.changed` outbox event, its usage fact); 4. the MWI
  queue post;
- the dispatcher settling that event: 5. the mailbox's notification targets (a point read);
  6. the event replaced, settled;
- list: 7. the mailbox's point read (a deprovisioned mailbox answers 404 at once); 8. the list query;
- get: 9. the snapshot query with the message.

This side makes those 9 calls, with the app's SQL and documents of the app's sizes, in the bench
process, with no host, no HTTP front end and no app code: `api / same-calls` is then what the host
and the app cost beyond their storage work. The tally and the event are upserted without an ETag
(the app's ETag-guarded replace retries when two clients of a mailbox collide; this side never
does), so this side does slightly less than the app.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from azure.cosmos import ContainerProxy
from azure.storage.blob import BlobServiceClient, ContentSettings
from azure.storage.queue import QueueClient

from devstack import localstack
from shared.adapters.cosmos import SNAPSHOT_SQL

MAILBOX_DOC_ID, CONFIG_DOC_ID = "mailbox", "notifications"
CALLS_PER_ITERATION = 9


def mailbox_doc(mailbox: str) -> dict[str, Any]:
    """A provisioned mailbox's document, of the app's size (shared/adapters/cosmos_docs.py)."""
    return {"id": MAILBOX_DOC_ID, "mailboxId": mailbox, "type": "mailbox", "displayName": "bench",
            "pinHash": "v2$scrypt$" + "0" * 96, "settings": {"maxMessages": 10_000}, "active": True,
            "greeting": "standard", "incarnation": uuid.uuid4().hex, "classOfService": "standard",
            "createdAt": datetime.now(UTC).isoformat(), "updatedAt": datetime.now(UTC).isoformat()}


def event_doc(mailbox: str, message_id: str, status: str) -> dict[str, Any]:
    return {"id": f"evt-{message_id}", "mailboxId": mailbox, "type": "event", "eventType": "mwi.changed",
            "status": status, "owner": "bench", "dueAt": datetime.now(UTC).isoformat(),
            "payload": {"mailboxId": mailbox, "newMessages": 1, "total": 1, "lamp": "on"}, "attempts": []}


def same_calls_iteration(blobs: BlobServiceClient, container: ContainerProxy, mailboxes: list[str], payload: bytes,
                         message_doc: Callable[[str, str, datetime, int], dict[str, Any]], original: Callable[..., str],
                         split: Callable[[str], tuple[str, str]], list_sql: str, queue: str, timeout_s: float,
                         failed: Callable[[str, Exception], Exception]):
    """(setup, iteration) for `bench.api_throughput`'s Driver: the product's 9 calls an iteration."""
    mwi = QueueClient.from_connection_string(localstack.storage_connection_string(), queue)
    for mailbox in mailboxes:
        container.upsert_item(mailbox_doc(mailbox))

    def timed(op: str, action: Callable[[], Any]) -> tuple[Any, float]:
        started = time.perf_counter()
        try:
            result = action()
        except Exception as error:  # noqa: BLE001 - every SDK failure is counted, by type
            raise failed(op, error) from None
        return result, time.perf_counter() - started

    def snapshot(mailbox: str, doc_id: str) -> list[dict[str, Any]]:
        return list(container.query_items(SNAPSHOT_SQL, parameters=[{"name": "@m", "value": mailbox},
                                                                    {"name": "@id", "value": doc_id}],
                                          partition_key=mailbox, timeout=timeout_s))

    def iteration(index: int, _: Any) -> tuple[float, float, float, bool]:
        mailbox = mailboxes[index % len(mailboxes)]
        message_id = uuid.uuid4().hex

        def deposit() -> None:
            snapshot(mailbox, MAILBOX_DOC_ID)
            blobs.get_blob_client(*split(original(mailbox, message_id))).upload_blob(
                payload, overwrite=True, metadata={"mailboxId": mailbox, "messageId": message_id},
                content_settings=ContentSettings(content_type="audio/wav"))
            day = datetime.now(UTC).strftime("%Y-%m-%d")
            container.execute_item_batch([
                ("create", (message_doc(mailbox, message_id, datetime.now(UTC), len(payload)),)),
                ("upsert", ({"id": "tally-bench", "mailboxId": mailbox, "type": "tally", "region": "bench",
                             "inbox": index, "unheard": index, "total": index, "bytes": index * len(payload)},)),
                ("upsert", (event_doc(mailbox, message_id, "pending"),)),
                ("upsert", ({"id": f"usage-deposit-{message_id}", "mailboxId": mailbox, "type": "usage",
                             "tenant": "default", "date": day, "field": "deposits", "amount": 1},)),
            ], partition_key=mailbox, timeout=timeout_s)
            mwi.send_message(f'{{"mailboxId":"{mailbox}","newMessages":1,"total":1}}')
            # The dispatcher's settling of the event (on its own thread in the app; here in line).
            try:
                container.read_item(CONFIG_DOC_ID, partition_key=mailbox, timeout=timeout_s)
            except Exception as error:
                if getattr(error, "status_code", None) != 404:
                    raise
            container.upsert_item(event_doc(mailbox, message_id, "done"), timeout=timeout_s)

        _, deposit_s = timed("deposit", deposit)

        def listing() -> list[dict[str, Any]]:
            container.read_item(MAILBOX_DOC_ID, partition_key=mailbox, timeout=timeout_s)
            return list(container.query_items(list_sql, parameters=[{"name": "@m", "value": mailbox}],
                                              partition_key=mailbox, timeout=timeout_s))

        items, list_s = timed("list", listing)
        _, get_s = timed("get", lambda: snapshot(mailbox, message_id))
        return deposit_s, list_s, get_s, any(item["id"] == message_id for item in items)

    return (lambda _: None), iteration
