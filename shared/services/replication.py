"""Replication: message audio lives in each region's own storage account; copy it until
`replicaCount` regions hold it. Metadata needs nothing: Cosmos DB replicates it.

Triggered right after transcoding (a queue message) and, as the safety net, by the replication
sweep over messages held by too few regions (an indexed query on `replicaTotal`). Each copy is
server-side, from a region that holds the audio, and idempotent: copying again overwrites the same
blob with the same bytes; the document is updated with its ETag.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from shared.domain.audio import LAZY_RENDITIONS
from shared.domain.errors import AudioNotFound, EtagMismatch, NotFound
from shared.domain.model import utcnow
from shared.ports import AudioStore, MessageRepository
from shared.services.ledger import Ledger
from shared.telemetry import Telemetry

logger = logging.getLogger(__name__)
LINK_TTL = timedelta(minutes=15)
_CONFLICT_RETRIES = 5


class Regions:
    """This region's audio store and the other regions' (those configured)."""

    def __init__(self, region: str, local: AudioStore, peers: dict[str, AudioStore]):
        self.region = region
        self.local = local
        self.peers = peers

    def store(self, region: str) -> AudioStore | None:
        return self.local if region == self.region else self.peers.get(region)

    @property
    def all(self) -> list[str]:
        return [self.region, *self.peers]

    def holders(self, regions: tuple[str, ...]) -> list[AudioStore]:
        """This region's store and those of the given regions that this deployment can reach."""
        stores = [self.store(region) for region in dict.fromkeys([self.region, *regions])]
        return [store for store in stores if store is not None]

    def read_anywhere(self, path: str, holders: tuple[str, ...]) -> tuple[AudioStore, int]:
        """A store that has path, this region first, then the regions recorded as holding it."""
        for region in dict.fromkeys([self.region, *holders]):
            store = self.store(region)
            size = store.size(path) if store is not None else None
            if size is not None:
                return store, size
        raise AudioNotFound("the audio is in no region reachable from here")


class ReplicationService:
    def __init__(self, messages: MessageRepository, regions: Regions, replica_count: int, telemetry: Telemetry,
                 ledger: Ledger):
        self._telemetry = telemetry
        self._ledger = ledger
        self._messages = messages
        self._regions = regions
        self._wanted = min(replica_count, len(regions.all))

    @property
    def wanted(self) -> int:
        return self._wanted

    def find_under_replicated(self, limit: int, exclude: list[str]) -> list[dict[str, str]]:
        return self._messages.under_replicated(self._wanted, limit, exclude, self._regions.all)

    def replicate(self, mailbox_id: str, message_id: str) -> int:
        """Copy the message's audio to regions that lack it, up to replicaCount. Returns copies made."""
        with self._telemetry.span("replicate audio"):
            return self._replicate(mailbox_id, message_id)

    def _replicate(self, mailbox_id: str, message_id: str) -> int:
        message = self._messages.get_message(mailbox_id, message_id)
        if message is None or message.status != "ready" or len(message.replica_regions) >= self._wanted:
            return 0
        missing = [r for r in self._regions.all if r not in message.replica_regions]
        targets = missing[: self._wanted - len(message.replica_regions)]
        copied = 0
        for target in targets:
            target_store = self._regions.store(target)
            for name, path in message.blobs.items():
                try:
                    source, _ = self._regions.read_anywhere(path, message.replica_regions)
                except AudioNotFound:
                    if name in LAZY_RENDITIONS:  # not made yet: the target makes its own from the original
                        continue
                    raise
                target_store.copy_from_url(source.read_url(path, LINK_TTL), path)
            copied += 1
            self._telemetry.replicated(message.received_at, utcnow(), target)
        for _ in range(_CONFLICT_RETRIES):
            try:
                self._ledger.write(replace(
                    message, replica_regions=tuple(dict.fromkeys([*message.replica_regions, *targets]))))
                break
            except (EtagMismatch, NotFound):
                message = self._messages.get_message(mailbox_id, message_id)
                if message is None or message.purged:
                    return copied
        logger.info("replicated %s/%s to %s", mailbox_id, message_id, targets)
        return copied
