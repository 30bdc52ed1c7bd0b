"""Losing versions on their way to every region's conflicts feed (a container whose policy is Custom):
kept until each region's emulator has taken them."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from azure.cosmos.exceptions import CosmosHttpResponseError

from devstack.replicator.documents import ContainerKey, ContainerState, Version
from devstack.replicator.region import Region, RegionDown

logger = logging.getLogger("devstack.replicator")


class PendingConflicts:
    """Documents' threads record side by side; one flushes at a time."""

    def __init__(self, regions: list[Region]):
        self._regions = regions
        self._pending: dict[tuple[int, ContainerKey], list[dict]] = {}
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._pending)

    def record(self, state: ContainerState, loser: Version) -> None:
        conflict = {
            "resourceId": (loser.doc or {}).get("_rid", ""),
            "resourceType": "document",
            "operationType": loser.operation,
            "content": json.dumps(loser.doc if loser.doc is not None else {}),
        }
        with self._lock:
            for region in self._regions:  # each region's application resolves from its own region
                self._pending.setdefault((region.index, (state.database, state.container)), []).append(conflict)

    def flush(self, containers: dict[ContainerKey, ContainerState], cut: Callable[[], bool]) -> None:
        """Hand each region's emulator its conflicts, unless replication is cut (`cut()` is asked)."""
        with self._lock:
            if cut():
                return
            for (index, (db, coll)), conflicts in list(self._pending.items()):
                region = self._regions[index]
                state = containers.get((db, coll))
                if state is None:  # the container is gone: so are its conflicts
                    del self._pending[(index, (db, coll))]
                    continue
                if not region.up or coll not in (region.topology or {}).get(db, {}):
                    continue
                self._send(region, state, conflicts)
                if not conflicts:
                    del self._pending[(index, (db, coll))]

    @staticmethod
    def _send(region: Region, state: ContainerState, conflicts: list[dict]) -> None:
        while conflicts:
            try:
                region.record_conflict(state, conflicts[0])
            except RegionDown as error:
                region.failed(error)
                return
            except CosmosHttpResponseError as error:
                logger.warning("cannot record a conflict of %s in %s: %s", state.name, region.name, error.message)
                if error.status_code != 404:
                    conflicts.pop(0)
                return
            conflicts.pop(0)
