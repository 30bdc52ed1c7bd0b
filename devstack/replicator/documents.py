"""The replicator's model of documents: a document's key and partition key value, the versions each
region holds, what the replicator remembers of a document and of a container, and `resolve`, the
winner of a conflict under the container's policy (Cosmos DB's documented semantics)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from azure.cosmos.partition_key import NonePartitionKeyValue

# What Cosmos DB sets on every document: stripped from a copy, which gets its own.
SYSTEM_PROPERTIES = frozenset({"_rid", "_self", "_etag", "_attachments", "_ts"})

DocKey = tuple[str, str]  # (partition key value as JSON, id)
ContainerKey = tuple[str, str]  # (database id, container id)


def strip(doc: dict) -> dict:
    return {name: value for name, value in doc.items() if name not in SYSTEM_PROPERTIES}


def partition_key_paths(container_properties: dict) -> list[str]:
    return list((container_properties.get("partitionKey") or {}).get("paths") or ["/id"])


_MISSING = object()


def _at_path(doc: dict | None, path: str) -> Any:
    value: Any = doc
    for part in path.strip("/").split("/"):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def partition_key_value(doc: dict, paths: list[str]) -> Any:
    """The value to hand the SDK as `partition_key` (NonePartitionKeyValue when the path is absent)."""
    values = [_at_path(doc, path) for path in paths]
    values = [NonePartitionKeyValue if value is _MISSING else value for value in values]
    return values[0] if len(values) == 1 else values


def doc_key(doc: dict, paths: list[str]) -> DocKey:
    values = [_at_path(doc, path) for path in paths]
    return json.dumps([None if value is _MISSING else value for value in values], sort_keys=True), doc["id"]


@dataclass
class Version:
    """One version of a document: its body (None once deleted) as the region that wrote it held it."""

    body: dict | None
    doc: dict | None  # with the origin's system properties: what a conflict shows as `content`
    ts: int  # origin _ts, in seconds
    cycle: int  # the cycle that first saw it
    region: int
    etag: str
    operation: str  # create | replace | delete

    def order(self) -> tuple:
        return (self.ts, self.cycle, -self.region, self.etag)


@dataclass
class DocState:
    """What the replicator knows of one document across regions (lists are indexed by region)."""

    committed: Version | None
    known: list[str | None]  # the etag of each region already accounted for (None: absent)
    in_sync: list[bool]  # the region holds `committed`
    seen: list[tuple[str | None, int, float]]  # each region's current etag, when first seen (cycle, time)
    last: list[dict | None]  # the last version seen in each region (the body of a later delete)
    retry_at: list[float]  # after a write that failed
    error: list[str | None]  # the last failure of a write, reported once
    problem: str | None = None  # the last failure of the replicator itself on this document

    @classmethod
    def new(cls, regions: int) -> DocState:
        return cls(None, [None] * regions, [True] * regions, [(None, 0, 0.0)] * regions, [None] * regions,
                   [0.0] * regions, [None] * regions)

    def holds_committed(self, doc: dict | None) -> bool:
        if self.committed is None:
            return False
        if doc is None:
            return self.committed.body is None
        return self.committed.body is not None and strip(doc) == self.committed.body

    def forgotten(self) -> bool:
        """Deleted everywhere and every region knows it: nothing left to remember."""
        return (self.committed is not None and self.committed.body is None and all(self.in_sync)
                and all(etag is None for etag in self.known))


@dataclass
class ContainerState:
    database: str
    container: str
    properties: dict
    docs: dict[DocKey, DocState] = field(default_factory=dict)

    @property
    def paths(self) -> list[str]:
        return partition_key_paths(self.properties)

    @property
    def policy(self) -> dict:
        return self.properties.get("conflictResolutionPolicy") or {"mode": "LastWriterWins"}

    @property
    def name(self) -> str:
        return f"{self.database}/{self.container}"


def resolve(policy: dict, versions: list[Version]) -> Version:
    """The winner of a conflict under the container's policy (Cosmos DB's documented semantics)."""
    if str(policy.get("mode", "LastWriterWins")).lower() == "lastwriterwins":
        deletes = [version for version in versions if version.body is None]
        if deletes:  # with last writer wins a delete always wins over a create or replace
            return max(deletes, key=Version.order)
        path = policy.get("conflictResolutionPath") or "/_ts"

        def value(version: Version) -> tuple:
            if path == "/_ts":
                return (1, version.ts)
            found = _at_path(version.body, path)
            numeric = isinstance(found, int | float) and not isinstance(found, bool)
            return (1, found) if numeric else (0, 0)

        return max(versions, key=lambda version: (value(version), version.order()))
    # Custom (with or without a procedure, which the emulator cannot run): the latest write is
    # committed, the others go to the conflicts feed.
    return max(versions, key=Version.order)
