"""Keeps local Cosmos DB emulators in step, as Cosmos DB multi-region writes keep regions in step.

Test infrastructure, never a part of the product (nothing in shared/ or functions/ imports it):
`make run REGIONS=2` runs one between the local regions' emulators (tools/localstack.py starts
it); a test runs its own, with a state folder of its own.

    python -m tools.replicator --endpoints http://127.0.0.1:8081/,http://127.0.0.1:8082/ [--state-dir DIR]
    python -m tools.replicator partition | heal | status [--state-dir DIR]   (`make partition`, `make heal`)

Every ~150 ms it reads every document of every container of every emulator and replicates what
changed, per document and asynchronously:
- a database or container that exists in one region is created in the others (same partition key,
  same conflict resolution policy); one deleted in a region is deleted in all;
- a create, replace or delete accepted in one region reaches the others. Per region it remembers
  the `_etag` it last accounted for, so its own copies are never seen as new changes;
- a document changed (or deleted) in two or more regions since it was last in step is a conflict,
  resolved by the container's declared `conflictResolutionPolicy`:
  * LastWriterWins (path `/_ts` unless another numeric path is declared): the highest value wins in
    every region, a delete wins over any create or replace, losers vanish;
  * Custom: the latest write (by origin `_ts`, a delete included) is committed in every region and
    each losing version is written to the conflicts feed of every region's emulator, for the
    application to read and resolve (`ContainerProxy.list_conflicts()`).
  `_ts` is compared at its origin: the time the region that accepted the write accepted it (a
  copy's own `_ts` is the time of the copy). Ties (`_ts` is in seconds) go to the write seen later
  by the replicator, which keeps watching while partitioned, then to the lower region number.

The switch: while the file `<state-dir>/partition` exists nothing crosses between regions (each
keeps accepting writes; the replicator only watches, to date each change); once it is gone the
regions converge within seconds. `<state-dir>/status.json` tells whether the last cycle found every
region in step (`wait_converged` waits on it and on the documents themselves).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ServiceRequestError, ServiceResponseError
from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey
from azure.cosmos.exceptions import CosmosHttpResponseError, CosmosResourceNotFoundError
from azure.cosmos.partition_key import NonePartitionKeyValue

from tools.localstack import COSMOS_KEY as EMULATOR_KEY
from tools.localstack import REPLICATOR_STATE as DEFAULT_STATE_DIR
from tools.localstack import ROOT

logger = logging.getLogger("tools.replicator")

SWITCH = "partition"
STATUS = "status.json"
# What Cosmos DB sets on every document: stripped from a copy, which gets its own.
SYSTEM_PROPERTIES = frozenset({"_rid", "_self", "_etag", "_attachments", "_ts"})
TOPOLOGY_EVERY_S = 1.0
# Concurrent changes between our read and our write: retried next cycle, not reported.
RACE_STATUSES = frozenset({404, 409, 412})

DocKey = tuple[str, str]  # (partition key value as JSON, id)
ContainerKey = tuple[str, str]  # (database id, container id)


# --- the switch and the status: files in the state folder ----------------------------------------

def partition(state_dir: Path | str = DEFAULT_STATE_DIR) -> None:
    """Cut replication: both regions keep accepting writes, nothing crosses until `heal`."""
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    (Path(state_dir) / SWITCH).write_text(f"partitioned at {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")


def heal(state_dir: Path | str = DEFAULT_STATE_DIR) -> None:
    """Restore replication; the regions converge within seconds."""
    (Path(state_dir) / SWITCH).unlink(missing_ok=True)


def is_partitioned(state_dir: Path | str = DEFAULT_STATE_DIR) -> bool:
    return (Path(state_dir) / SWITCH).exists()


def read_status(state_dir: Path | str = DEFAULT_STATE_DIR) -> dict[str, Any] | None:
    try:
        return json.loads((Path(state_dir) / STATUS).read_text())
    except (OSError, ValueError):
        return None


def is_running(state_dir: Path | str = DEFAULT_STATE_DIR, fresh_s: float = 5.0) -> bool:
    """A replicator process is alive and wrote its status lately."""
    status = read_status(state_dir)
    if not status or time.time() - status.get("updated", 0) > fresh_s:
        return False
    try:
        os.kill(int(status["pid"]), 0)
    except (KeyError, ValueError, ProcessLookupError, PermissionError):
        return False
    return True


def wait_converged(endpoints: Sequence[str], timeout: float = 15.0, *, state_dir: Path | str | None = None,
                   key: str = EMULATOR_KEY, databases: Iterable[str] | None = None) -> dict:
    """Return once every emulator holds the same databases, containers and documents (system
    properties aside), and, given the replicator's state folder, once a cycle that began after
    this call found every region in step. Raises TimeoutError with what still differs."""
    wanted = set(databases) if databases is not None else None
    after = (read_status(state_dir) or {}).get("cycle", 0) if state_dir is not None else None
    clients = [_client(endpoint, key) for endpoint in endpoints]
    deadline = time.monotonic() + timeout
    difference = "nothing read yet"
    while True:
        try:
            snapshots = [_snapshot(client, wanted) for client in clients]
            difference = _difference(endpoints, snapshots)
        except AzureError as error:
            difference = f"an emulator did not answer: {error}"
        if difference is None and after is not None:
            status = read_status(state_dir) or {}
            if not (status.get("cycle", 0) > after and status.get("converged")):
                difference = f"the replicator has not reported a cycle in step yet: {status}"
        if difference is None:
            return snapshots[0]
        if time.monotonic() >= deadline:
            raise TimeoutError(f"regions not converged within {timeout:.0f} s: {difference}")
        time.sleep(0.1)


def _snapshot(client: CosmosClient, wanted: set[str] | None) -> dict:
    snapshot: dict[ContainerKey, dict[DocKey, dict]] = {}
    for database in client.list_databases():
        if wanted is not None and database["id"] not in wanted:
            continue
        db = client.get_database_client(database["id"])
        for properties in db.list_containers():
            paths = partition_key_paths(properties)
            container = db.get_container_client(properties["id"])
            snapshot[(database["id"], properties["id"])] = {
                doc_key(doc, paths): strip(doc) for doc in container.read_all_items()}
    return snapshot


def _difference(endpoints: Sequence[str], snapshots: list[dict]) -> str | None:
    first = snapshots[0]
    for endpoint, other in zip(endpoints[1:], snapshots[1:], strict=True):
        if set(other) != set(first):
            return f"containers differ: {endpoints[0]} {sorted(first)} vs {endpoint} {sorted(other)}"
        for container, docs in first.items():
            if other[container] != docs:
                differing = sorted({k for k in set(docs) | set(other[container])
                                    if docs.get(k) != other[container].get(k)})
                return f"{len(differing)} documents differ in {container}, e.g. {differing[:3]}"
    return None


# --- documents ---------------------------------------------------------------------------------

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


# --- one emulator ------------------------------------------------------------------------------

class RegionDown(Exception):
    """The emulator did not answer (connection refused, timed out): skip it for a while."""


def _client(endpoint: str, key: str) -> CosmosClient:
    # retry_total=0: a region that does not answer is retried next cycle, not inside one.
    return CosmosClient(endpoint, credential=key, enable_endpoint_discovery=False,
                        connection_timeout=2, read_timeout=3, retry_total=0)


class Region:
    def __init__(self, index: int, endpoint: str, key: str):
        self.index, self.endpoint, self.key = index, endpoint, key
        self.name = f"region {index + 1} ({endpoint})"
        self.up = False
        self.instance: str | None = None
        self.topology: dict[str, dict[str, dict]] | None = None  # database -> container -> properties
        self._client: CosmosClient | None = None
        self._containers: dict[ContainerKey, ContainerProxy] = {}
        self._retry_at = 0.0
        self._backoff = 0.5
        self._reported: str | None = None

    # availability
    def available(self, now: float) -> bool:
        return self.up or now >= self._retry_at

    def failed(self, error: BaseException) -> None:
        message = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        if self.up or self._reported != message:
            logger.warning("%s does not answer (%s); retrying", self.name, message)
        self._reported = message
        self.up = False
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, 5.0)

    def answered(self) -> None:
        if not self.up:
            logger.info("%s answers", self.name)
        self.up, self._backoff, self._reported = True, 0.5, None

    def forget_client(self) -> None:
        self._client, self._containers = None, {}

    # reads
    def client(self) -> CosmosClient:
        if self._client is None:
            self._client = _client(self.endpoint, self.key)
        return self._client

    def container(self, database: str, container: str) -> ContainerProxy:
        proxy = self._containers.get((database, container))
        if proxy is None:
            proxy = self.client().get_database_client(database).get_container_client(container)
            self._containers[(database, container)] = proxy
        return proxy

    def read_instance(self) -> str:
        """The emulator's instance id (new at every start: a restart empties it)."""
        try:
            with urllib.request.urlopen(self.endpoint, timeout=2) as response:  # noqa: S310 - loopback
                return str(json.loads(response.read()).get("localInstanceId", ""))
        except (OSError, ValueError) as error:
            raise RegionDown(str(error)) from error

    def read_topology(self) -> dict[str, dict[str, dict]]:
        client = self.client()
        topology: dict[str, dict[str, dict]] = {}
        for database in client.list_databases():
            db = client.get_database_client(database["id"])
            topology[database["id"]] = {properties["id"]: properties for properties in db.list_containers()}
        return topology

    def read_all(self, state: ContainerState) -> dict[DocKey, dict]:
        paths = state.paths
        return {doc_key(doc, paths): doc
                for doc in self.container(state.database, state.container).read_all_items()}

    # writes
    def write(self, state: ContainerState, body: dict, current: dict | None) -> dict:
        container = self.container(state.database, state.container)
        if current is None:
            return container.create_item(body)
        return container.replace_item(current["id"], body, etag=current["_etag"],
                                      match_condition=MatchConditions.IfNotModified)

    def delete(self, state: ContainerState, current: dict) -> None:
        self.container(state.database, state.container).delete_item(
            current["id"], partition_key=partition_key_value(current, state.paths),
            etag=current["_etag"], match_condition=MatchConditions.IfNotModified)

    def record_conflict(self, state: ContainerState, conflict: dict) -> None:
        """The emulator's non-standard POST .../conflicts (patches/@vercel+cosmosdb-server+1.0.1.patch)."""
        database, container = (urllib.parse.quote(part, safe="") for part in (state.database, state.container))
        url = urllib.parse.urljoin(self.endpoint, f"dbs/{database}/colls/{container}/conflicts")
        request = urllib.request.Request(  # noqa: S310 - the configured emulator, http only
            url, data=json.dumps(conflict).encode(), method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=3):  # noqa: S310 - loopback only
                return
        except urllib.error.HTTPError as error:
            raise CosmosHttpResponseError(status_code=error.code, message=error.read().decode(errors="replace")) \
                from None
        except OSError as error:
            raise RegionDown(str(error)) from error

    def create_container(self, database: str, properties: dict) -> None:
        db = self.client().create_database_if_not_exists(database)
        paths = partition_key_paths(properties)
        kind = (properties.get("partitionKey") or {}).get("kind", "Hash")
        options: dict[str, Any] = {"conflict_resolution_policy": properties.get("conflictResolutionPolicy")}
        for name, option in (("indexingPolicy", "indexing_policy"), ("uniqueKeyPolicy", "unique_key_policy"),
                             ("defaultTtl", "default_ttl")):
            if properties.get(name) is not None:
                options[option] = properties[name]
        db.create_container(properties["id"], partition_key=PartitionKey(
            path=paths if len(paths) > 1 else paths[0], kind=kind), **options)


def _is_down(error: BaseException) -> bool:
    return isinstance(error, RegionDown | ServiceRequestError | ServiceResponseError)


# --- the replicator ----------------------------------------------------------------------------

class Replicator:
    def __init__(self, endpoints: Sequence[str], state_dir: Path | str = DEFAULT_STATE_DIR,
                 key: str = EMULATOR_KEY, interval: float = 0.15):
        if len(endpoints) < 2:
            raise ValueError("replication needs at least two endpoints")
        self.regions = [Region(index, endpoint, key) for index, endpoint in enumerate(endpoints)]
        self.state_dir = Path(state_dir)
        self.interval = interval
        self.containers: dict[ContainerKey, ContainerState] = {}
        # What each region has been seen to hold (added on sight, removed when deleted everywhere):
        # a database or container missing where it was seen was deleted there.
        self.seen_databases: list[set[str]] = [set() for _ in self.regions]
        self.seen_containers: list[set[ContainerKey]] = [set() for _ in self.regions]
        self.pending_conflicts: dict[tuple[int, ContainerKey], list[dict]] = {}
        self.cycle = 0
        self.converged = False
        self._topology_at = 0.0
        self._status: tuple = ()
        self._stopping = False

    # the loop
    def run(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        logger.info("replicating %s every %.0f ms%s", ", ".join(r.endpoint for r in self.regions),
                    self.interval * 1000, " (partitioned)" if is_partitioned(self.state_dir) else "")
        while not self._stopping:
            started = time.monotonic()
            try:
                self.run_cycle()
            except Exception:  # one bad cycle must not end replication
                logger.exception("replication cycle %d failed", self.cycle)
            elapsed = time.monotonic() - started
            # Never busier than half the time, however large the containers grow.
            time.sleep(max(self.interval - elapsed, elapsed))
        (self.state_dir / STATUS).unlink(missing_ok=True)

    def stop(self, *_: object) -> None:
        self._stopping = True

    def _cut(self) -> bool:
        """Asked again before every write to another region: once `partition()` returned, a change
        made after it cannot cross, even in a cycle that began before it."""
        if is_partitioned(self.state_dir):
            self.converged = False
            return True
        return False

    def run_cycle(self) -> None:
        self.cycle += 1
        partitioned = is_partitioned(self.state_dir)
        self.converged = not partitioned
        now = time.monotonic()
        reachable = [region for region in self.regions if region.available(now)]
        if any(not region.up for region in reachable) or now - self._topology_at >= TOPOLOGY_EVERY_S:
            self._topology_at = now
            self._read_topologies(reachable)
            if not partitioned:
                self._sync_topology()
        up = [region for region in self.regions if region.up and region.topology is not None]
        if len(up) < len(self.regions):
            self.converged = False
        for state in list(self.containers.values()):
            self._sync_container(state, up, partitioned)
        if not partitioned:
            self._flush_conflicts()
        if self.pending_conflicts:
            self.converged = False
        self._write_status(partitioned)

    # databases and containers
    def _read_topologies(self, regions: list[Region]) -> None:
        for region in regions:
            try:
                instance = region.read_instance()
                if region.instance is not None and instance != region.instance:
                    self._forget(region)
                region.instance = instance
                region.topology = region.read_topology()
                region.answered()
            except (RegionDown, AzureError) as error:
                region.failed(error)
                continue
            self.seen_databases[region.index] |= set(region.topology)
            self.seen_containers[region.index] |= {
                (db, coll) for db, colls in region.topology.items() for coll in colls}
            for db, colls in region.topology.items():
                for coll, properties in colls.items():
                    if (db, coll) not in self.containers:
                        self.containers[(db, coll)] = ContainerState(db, coll, properties)

    def _forget(self, region: Region) -> None:
        """The emulator restarted (it keeps data in memory only): it holds nothing now."""
        logger.warning("%s restarted empty: filling it from the other regions", region.name)
        index = region.index
        region.forget_client()
        self.seen_databases[index].clear()
        self.seen_containers[index].clear()
        for state in self.containers.values():
            for doc in state.docs.values():
                doc.known[index], doc.in_sync[index], doc.last[index] = None, False, None
                doc.seen[index] = (None, self.cycle, time.time())

    def _sync_topology(self) -> None:
        up = [region for region in self.regions if region.up and region.topology is not None]
        # Deletions: gone from a region that was seen to hold it.
        for region in up:
            for db in sorted(self.seen_databases[region.index] - set(region.topology)):
                self._delete_everywhere(up, db, None)
            for db, coll in sorted(self.seen_containers[region.index]):
                if db in region.topology and coll not in region.topology[db]:
                    self._delete_everywhere(up, db, coll)
        # Creations: wherever it is missing.
        for db in sorted(set().union(*(region.topology for region in up))):
            for region in up:
                if db not in region.topology and not self._cut():
                    try:
                        region.client().create_database_if_not_exists(db)
                        region.topology[db] = {}
                        logger.info("created database %s in %s", db, region.name)
                    except AzureError as error:
                        logger.warning("cannot create database %s in %s: %s", db, region.name, error)
                        self.converged = False
        for (db, coll), state in list(self.containers.items()):
            holders = [region for region in up if coll in (region.topology or {}).get(db, {})]
            if not holders:
                if all(region.up for region in self.regions):  # gone everywhere
                    del self.containers[(db, coll)]
                continue
            state.properties = holders[0].topology[db][coll]
            for region in up:
                if region in holders or self._cut():
                    continue
                try:
                    region.create_container(db, state.properties)
                    logger.info("created %s/%s in %s", db, coll, region.name)
                    region.topology.setdefault(db, {})[coll] = state.properties
                except CosmosHttpResponseError as error:
                    if error.status_code != 409:
                        logger.warning("cannot create %s/%s in %s: %s", db, coll, region.name, error.message)
                        self.converged = False
                except AzureError as error:
                    region.failed(error)

    def _delete_everywhere(self, regions: list[Region], db: str, coll: str | None) -> None:
        what = f"{db}/{coll}" if coll else db
        if self._cut():
            return
        for region in regions:
            if region.topology is None or db not in region.topology:
                continue
            if coll is not None and coll not in region.topology[db]:
                continue
            try:
                database = region.client().get_database_client(db)
                if coll is None:
                    region.client().delete_database(db)
                    del region.topology[db]
                else:
                    database.delete_container(coll)
                    del region.topology[db][coll]
                region.forget_client()
                logger.info("deleted %s in %s (deleted in another region)", what, region.name)
            except CosmosResourceNotFoundError:
                pass
            except AzureError as error:
                region.failed(error)
                self.converged = False
                return
        for index in range(len(self.regions)):
            if coll is None:
                self.seen_databases[index].discard(db)
            self.seen_containers[index] = {
                key for key in self.seen_containers[index] if key[0] != db or (coll is not None and key[1] != coll)}
        for key in [key for key in self.containers if key[0] == db and (coll is None or key[1] == coll)]:
            del self.containers[key]

    # documents
    def _sync_container(self, state: ContainerState, regions: list[Region], partitioned: bool) -> None:
        current: dict[int, dict[DocKey, dict]] = {}
        for region in regions:
            if state.container not in (region.topology or {}).get(state.database, {}):
                continue
            try:
                current[region.index] = region.read_all(state)
            except CosmosResourceNotFoundError:  # deleted since the last look at the topology
                self._topology_at = 0.0
            except AzureError as error:
                region.failed(error)
        if len(current) < len(self.regions):
            self.converged = False
        keys = set(state.docs)
        for docs in current.values():
            keys.update(docs)
        for key in keys:
            doc = state.docs.get(key)
            if doc is None:
                doc = state.docs[key] = DocState.new(len(self.regions))
            try:
                self._sync_document(state, key, doc, current, partitioned)
            except Exception as error:  # one odd document must not stop the others
                self.converged = False
                if doc.problem != repr(error):
                    logger.exception("cannot replicate %s %s", state.name, key[1])
                doc.problem = repr(error)
                continue
            if doc.forgotten():
                del state.docs[key]

    def _sync_document(self, state: ContainerState, key: DocKey, doc: DocState,
                       current: dict[int, dict[DocKey, dict]], partitioned: bool) -> None:
        changed = []
        for index, docs in current.items():
            present = docs.get(key)
            etag = present["_etag"] if present is not None else None
            if doc.seen[index][0] != etag:
                doc.seen[index] = (etag, self.cycle, time.time())
            if present is not None:
                doc.last[index] = present
            if etag != doc.known[index]:
                changed.append(index)
        if partitioned:  # watch only: the changes are dated, nothing crosses
            return
        real = []
        for index in changed:
            present = current[index].get(key)
            if doc.holds_committed(present):  # the same content (a copy whose answer we missed)
                doc.known[index] = present["_etag"] if present is not None else None
                doc.in_sync[index] = True
            else:
                real.append(index)
        if not real:
            if doc.committed is not None and not all(doc.in_sync[index] for index in current):
                self._apply(state, key, doc, doc.committed, current)
            if not all(doc.in_sync):
                self.converged = False
            return
        self.converged = False
        versions = [self._version(doc, index, current[index].get(key)) for index in real]
        competitors = list(versions)
        # A change made without having seen the committed version competes with it.
        if doc.committed is not None and not any(doc.in_sync[index] for index in real):
            competitors.append(doc.committed)
        winner = resolve(state.policy, competitors)
        losers = [version for version in competitors if version is not winner and version.body != winner.body]
        if losers:
            custom = str(state.policy.get("mode", "")).lower() == "custom"
            logger.info("conflict on %s %s: %s from region %d wins over %s%s", state.name, key[1],
                        winner.operation, winner.region + 1,
                        ", ".join(f"{v.operation} from region {v.region + 1}" for v in losers),
                        " (losers to the conflicts feed)" if custom else "")
            if custom:
                for loser in losers:
                    self._record_conflict(state, loser)
                self._flush_conflicts()
        self._apply(state, key, doc, winner, current)

    def _version(self, doc: DocState, index: int, present: dict | None) -> Version:
        _, cycle, seen_at = doc.seen[index]
        if present is not None:
            return Version(strip(present), present, int(present.get("_ts", 0)), cycle, index, present["_etag"],
                           "create" if doc.known[index] is None else "replace")
        body = doc.last[index] or (doc.committed.doc if doc.committed else None)
        return Version(None, body, int(seen_at), cycle, index, "", "delete")

    def _apply(self, state: ContainerState, key: DocKey, doc: DocState, winner: Version,
               current: dict[int, dict[DocKey, dict]]) -> None:
        """Bring every region that answered to `winner`; the others stay out of step, for later."""
        doc.committed = winner
        now = time.monotonic()
        for region in self.regions:
            index = region.index
            if index not in current:
                doc.in_sync[index] = False
                continue
            present = current[index].get(key)
            if doc.holds_committed(present):
                doc.known[index] = present["_etag"] if present is not None else None
                doc.in_sync[index], doc.error[index] = True, None
                continue
            doc.known[index] = present["_etag"] if present is not None else None  # accounted for: it lost
            doc.in_sync[index] = False
            if now < doc.retry_at[index] or not region.up or self._cut():
                continue
            try:
                if winner.body is None:
                    region.delete(state, present)
                    doc.known[index] = None
                else:
                    written = region.write(state, winner.body, present)
                    doc.known[index] = written["_etag"]
                    doc.seen[index] = (written["_etag"], self.cycle, time.time())
                    doc.last[index] = written
                doc.in_sync[index], doc.error[index], doc.retry_at[index] = True, None, 0.0
            except CosmosHttpResponseError as error:
                if error.status_code == 404 and winner.body is None:  # already gone
                    doc.known[index], doc.in_sync[index] = None, True
                elif error.status_code not in RACE_STATUSES:  # cannot be written: say so once, retry slowly
                    message = f"{error.status_code} {(error.message or '').splitlines()[0][:200]}"
                    if doc.error[index] != message:
                        logger.warning("cannot replicate %s %s to %s: %s", state.name, key[1], region.name, message)
                    doc.error[index] = message
                    doc.retry_at[index] = now + 5.0
            except AzureError as error:
                if _is_down(error):
                    region.failed(error)
                else:
                    logger.warning("cannot replicate %s %s to %s: %s", state.name, key[1], region.name, error)
                    doc.retry_at[index] = now + 5.0
            except Exception as error:  # noqa: BLE001 - a document the SDK refuses: say so, retry slowly
                logger.warning("cannot replicate %s %s to %s: %r", state.name, key[1], region.name, error)
                doc.retry_at[index] = now + 5.0

    # the conflicts feed
    def _record_conflict(self, state: ContainerState, loser: Version) -> None:
        conflict = {
            "resourceId": (loser.doc or {}).get("_rid", ""),
            "resourceType": "document",
            "operationType": loser.operation,
            "content": json.dumps(loser.doc if loser.doc is not None else {}),
        }
        for region in self.regions:  # each region's application resolves from its own region
            self.pending_conflicts.setdefault((region.index, (state.database, state.container)), []).append(conflict)

    def _flush_conflicts(self) -> None:
        if self._cut():
            return
        for (index, (db, coll)), conflicts in list(self.pending_conflicts.items()):
            region = self.regions[index]
            state = self.containers.get((db, coll))
            if state is None:  # the container is gone: so are its conflicts
                del self.pending_conflicts[(index, (db, coll))]
                continue
            if not region.up or coll not in (region.topology or {}).get(db, {}):
                continue
            while conflicts:
                try:
                    region.record_conflict(state, conflicts[0])
                except RegionDown as error:
                    region.failed(error)
                    break
                except CosmosHttpResponseError as error:
                    logger.warning("cannot record a conflict of %s in %s: %s", state.name, region.name,
                                   error.message)
                    if error.status_code != 404:
                        conflicts.pop(0)
                    break
                conflicts.pop(0)
            if not conflicts:
                del self.pending_conflicts[(index, (db, coll))]

    # status
    def _write_status(self, partitioned: bool) -> None:
        regions = {region.endpoint: "up" if region.up else "down" for region in self.regions}
        summary = (partitioned, self.converged, tuple(regions.values()))
        status = {"pid": os.getpid(), "cycle": self.cycle, "updated": time.time(), "partitioned": partitioned,
                  "converged": self.converged, "regions": regions}
        temporary = self.state_dir / f".{STATUS}.{os.getpid()}"
        temporary.write_text(json.dumps(status))
        os.replace(temporary, self.state_dir / STATUS)
        if self._status and summary[0] != self._status[0]:
            logger.info("%s", "partitioned: nothing crosses" if partitioned else "healed: replicating")
        if summary[1:] != self._status[1:]:
            logger.debug("%s", "in step" if self.converged else "catching up")
        self._status = summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.replicator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", nargs="?", default="run", choices=["run", "partition", "heal", "status"])
    parser.add_argument("--endpoints", help="run: the emulators, comma-separated, region 1 first")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                        help=f"the switch and the status (default {DEFAULT_STATE_DIR.relative_to(ROOT)})")
    parser.add_argument("--key", default=EMULATOR_KEY, help="the emulators' key (the well-known one by default)")
    parser.add_argument("--interval", type=float, default=0.15, help="seconds between cycles (default 0.15)")
    parser.add_argument("--start-healed", action="store_true", help="run: clear a partition left from before")
    args = parser.parse_args(argv)
    if args.action in {"partition", "heal"}:
        (partition if args.action == "partition" else heal)(args.state_dir)
        running = is_running(args.state_dir)
        print(f"replication {'cut: regions partitioned' if args.action == 'partition' else 'restored'}"
              + ("" if running else f" (no replicator is running with state in {args.state_dir})"))
        return 0
    if args.action == "status":
        print(json.dumps({**(read_status(args.state_dir) or {}), "running": is_running(args.state_dir),
                          "switch": "partitioned" if is_partitioned(args.state_dir) else "healed"}, indent=2))
        return 0
    if not args.endpoints:
        parser.error("run needs --endpoints")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s replicator %(levelname)s %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    if args.start_healed:
        heal(args.state_dir)
    replicator = Replicator([e.strip() for e in args.endpoints.split(",") if e.strip()], args.state_dir,
                            args.key, args.interval)
    signal.signal(signal.SIGTERM, replicator.stop)
    signal.signal(signal.SIGINT, replicator.stop)
    with contextlib.suppress(KeyboardInterrupt):
        replicator.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
