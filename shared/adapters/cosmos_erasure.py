"""An erasure's documents in Cosmos DB (shared/domain/erasure.py), in the mailbox's partition:
`erasure` (the request) and `erasure-{region}` (what that region removed). A mixin of CosmosStore."""

from __future__ import annotations

import contextlib
from typing import Any

from azure.cosmos.exceptions import CosmosResourceNotFoundError

from shared.adapters.errors import db_translated
from shared.domain.erasure import ERASURE_TYPE, KEPT_TYPES, Erasure, ErasureRequest, RegionErasure
from shared.domain.model import iso, parse_time

REQUEST_ID = "erasure"


def request_to_doc(request: ErasureRequest) -> dict[str, Any]:
    return {"id": REQUEST_ID, "mailboxId": request.mailbox_id, "type": ERASURE_TYPE, "status": request.status,
            "requestedAt": iso(request.requested_at), "regions": list(request.regions)}


def part_to_doc(part: RegionErasure) -> dict[str, Any]:
    return {"id": f"{REQUEST_ID}-{part.region}", "mailboxId": part.mailbox_id, "type": ERASURE_TYPE,
            "region": part.region, "requestedAt": iso(part.requested_at), "blobs": part.blobs,
            "documents": part.documents, "doneAt": iso(part.done_at)}


def erasure_from_docs(docs: list[dict[str, Any]]) -> Erasure | None:
    request = next((d for d in docs if d["id"] == REQUEST_ID), None)
    if request is None:
        return None
    parts = tuple(RegionErasure(d["mailboxId"], d["region"], parse_time(d["requestedAt"]), int(d["blobs"]),
                                int(d["documents"]), parse_time(d["doneAt"]))
                  for d in docs if d["id"] != REQUEST_ID and d.get("requestedAt") == request["requestedAt"])
    return Erasure(ErasureRequest(request["mailboxId"], parse_time(request["requestedAt"]), request["status"],
                                  request.get("_etag"), tuple(request.get("regions") or ())), parts)


class CosmosErasures:
    """ErasureRepository over the store's container (CosmosStore's `_c`, `_query`, `_limits`)."""

    def get_erasure(self, mailbox_id: str) -> Erasure | None:
        sql = "SELECT * FROM c WHERE c.mailboxId = @m AND c.type = @t"
        return erasure_from_docs(self._query(mailbox_id, sql, [{"name": "@m", "value": mailbox_id},
                                                               {"name": "@t", "value": ERASURE_TYPE}],
                                             "reading an erasure"))

    def save_erasure_request(self, request: ErasureRequest) -> None:
        with db_translated("recording an erasure"):
            self._c.upsert_item(request_to_doc(request), **self._limits())

    def save_region_erasure(self, part: RegionErasure) -> None:
        with db_translated("recording an erasure"):
            self._c.upsert_item(part_to_doc(part), **self._limits())

    def running_erasures(self, limit: int, region: str | None = None) -> list[str]:
        sql = (f"SELECT TOP {int(limit)} c.mailboxId FROM c "  # noqa: S608 - limit is an int
               "WHERE c.type = @t AND c.id = @id AND c.status = 'running'")
        parameters = [{"name": "@t", "value": ERASURE_TYPE}, {"name": "@id", "value": REQUEST_ID}]
        if region is not None:
            sql += " AND (NOT IS_DEFINED(c.regions) OR ARRAY_LENGTH(c.regions) = 0 OR ARRAY_CONTAINS(c.regions, @r))"
            parameters.append({"name": "@r", "value": region})
        with db_translated("finding erasures"):
            return [d["mailboxId"] for d in self._c.query_items(
                sql, parameters=parameters, enable_cross_partition_query=True, **self._limits())]

    def erase_documents(self, mailbox_id: str, limit: int) -> int:
        sql = f"SELECT TOP {int(limit)} c.id FROM c WHERE c.mailboxId = @m AND NOT ARRAY_CONTAINS(@kept, c.type)"  # noqa: S608
        docs = self._query(mailbox_id, sql, [{"name": "@m", "value": mailbox_id},
                                             {"name": "@kept", "value": sorted(KEPT_TYPES)}], "listing a mailbox")
        deleted = 0
        for doc in docs:
            with db_translated("erasing a document"), contextlib.suppress(CosmosResourceNotFoundError):
                self._c.delete_item(doc["id"], partition_key=mailbox_id, **self._limits())
                deleted += 1
        return deleted
