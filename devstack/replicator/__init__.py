"""Keeps local Cosmos DB emulators in step, as Cosmos DB multi-region writes keep regions in step.

Test infrastructure, never a part of the product (nothing in shared/ or functions/ imports it):
`make run REGIONS=2` runs one between the local regions' emulators (devstack/localstack.py starts
it); a test runs its own, with a state folder of its own.

    python -m devstack.replicator --endpoints http://127.0.0.1:8081/,http://127.0.0.1:8082/ [--state-dir DIR]
    python -m devstack.replicator partition | heal | status [--state-dir DIR]   (`make partition`, `make heal`)

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

Here: the switch, the status and `wait_converged`; `documents.py` (keys, versions, `resolve`),
`region.py` (one emulator: reads, writes, conflicts, back-off), `engine.py` (the `Replicator` loop),
`__main__.py` (the command line).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from azure.core.exceptions import AzureError
from azure.cosmos import CosmosClient

from devstack.localstack import COSMOS_KEY as EMULATOR_KEY
from devstack.localstack import REPLICATOR_STATE as DEFAULT_STATE_DIR
from devstack.replicator.documents import ContainerKey, DocKey, doc_key, partition_key_paths, strip
from devstack.replicator.region import client_for

logger = logging.getLogger("devstack.replicator")

SWITCH = "partition"
STATUS = "status.json"


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
    clients = [client_for(endpoint, key) for endpoint in endpoints]
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
