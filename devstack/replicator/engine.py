"""The replicator's loop: every cycle it reads every region's topology and documents, replicates what
changed, resolves conflicts by the container's policy and writes its status (see devstack/replicator)."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from azure.core.exceptions import AzureError
from azure.cosmos.exceptions import CosmosHttpResponseError, CosmosResourceNotFoundError

from devstack.localstack import COSMOS_KEY as EMULATOR_KEY
from devstack.localstack import REPLICATOR_STATE as DEFAULT_STATE_DIR
from devstack.replicator import STATUS, is_partitioned
from devstack.replicator.conflicts import PendingConflicts
from devstack.replicator.documents import (
    ContainerKey,
    ContainerState,
    DocKey,
    DocState,
    Version,
    resolve,
    strip,
)
from devstack.replicator.region import Region, RegionDown, is_down

logger = logging.getLogger("devstack.replicator")
TOPOLOGY_EVERY_S = 1.0
MAX_REST_S = 1.0
WRITERS = 8  # documents brought in step side by side (each document by one thread)
# Concurrent changes between our read and our write: retried next cycle, not reported.
RACE_STATUSES = frozenset({404, 409, 412})


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
        self.pending_conflicts = PendingConflicts(self.regions)
        self.cycle = 0
        self.converged = False
        self._topology_at = 0.0
        self._status: tuple = ()
        self._stopping = False
        self._cycle_started = time.monotonic()
        self._writers = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="replicate")

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
            # Half the time at most while cycles are short; a long cycle (catching up after a heal,
            # on a loaded machine) is followed by a short rest, not by as long again.
            time.sleep(max(self.interval - elapsed, min(elapsed, MAX_REST_S)))
        self._writers.shutdown(wait=False)
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
        self._cycle_started = time.monotonic()
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
            self.pending_conflicts.flush(self.containers, self._cut)
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
            if key not in state.docs:
                state.docs[key] = DocState.new(len(self.regions))

        def sync(key: DocKey) -> None:
            doc = state.docs[key]
            try:
                self._sync_document(state, key, doc, current, partitioned)
            except Exception as error:  # one odd document must not stop the others
                self.converged = False
                if doc.problem != repr(error):
                    logger.exception("cannot replicate %s %s", state.name, key[1])
                doc.problem = repr(error)

        # Each document is one thread's (its DocState too); what they share is append-only or a flag.
        list(self._writers.map(sync, keys))
        for key in keys:
            if state.docs[key].forgotten():
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
        custom = str(state.policy.get("mode", "")).lower() == "custom"
        if losers:
            logger.info("conflict on %s %s: %s from region %d wins over %s%s", state.name, key[1],
                        winner.operation, winner.region + 1,
                        ", ".join(f"{v.operation} from region {v.region + 1}" for v in losers),
                        " (losers to the conflicts feed)" if custom else "")
            if custom:
                for loser in losers:
                    self.pending_conflicts.record(state, loser)
        # The committed version first, then the losers to the feeds (as Cosmos DB commits before it
        # reports): an application reading its feed then finds the committed version to merge with.
        self._apply(state, key, doc, winner, current)
        if losers and custom:
            self.pending_conflicts.flush(self.containers, self._cut)

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
                if is_down(error):
                    region.failed(error)
                else:
                    logger.warning("cannot replicate %s %s to %s: %s", state.name, key[1], region.name, error)
                    doc.retry_at[index] = now + 5.0
            except Exception as error:  # noqa: BLE001 - a document the SDK refuses: say so, retry slowly
                logger.warning("cannot replicate %s %s to %s: %r", state.name, key[1], region.name, error)
                doc.retry_at[index] = now + 5.0

    # status
    def _write_status(self, partitioned: bool) -> None:
        regions = {region.endpoint: "up" if region.up else "down" for region in self.regions}
        summary = (partitioned, self.converged, tuple(regions.values()))
        status = {"pid": os.getpid(), "cycle": self.cycle, "updated": time.time(), "partitioned": partitioned,
                  "converged": self.converged, "regions": regions,
                  "cycleSeconds": round(time.monotonic() - self._cycle_started, 3),
                  "documents": sum(len(state.docs) for state in self.containers.values())}
        temporary = self.state_dir / f".{STATUS}.{os.getpid()}"
        temporary.write_text(json.dumps(status))
        os.replace(temporary, self.state_dir / STATUS)
        if self._status and summary[0] != self._status[0]:
            logger.info("%s", "partitioned: nothing crosses" if partitioned else "healed: replicating")
        if summary[1:] != self._status[1:]:
            logger.debug("%s", "in step" if self.converged else "catching up")
        self._status = summary
