"""Taking over messages a region acknowledged and then could not transcode.

A deposit is acknowledged once its original is in the deposit region's storage and its document
is written; that region's blob trigger then transcodes it. If the region's compute is lost in
between (its storage is not: storage accounts outlive a function app), the message would stay
`processing` until the region came back. The replication sweep of every other region therefore
looks for messages still `processing` well after they were received in another region, copies the
original into its own `incoming/` container, and its own blob trigger finishes the job. Should the
first region come back and transcode too, the ETag-guarded finish keeps one result and one MWI
event; copying again is harmless (same blob, same bytes).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from shared.domain.errors import AudioNotFound
from shared.domain.model import iso, utcnow
from shared.ports import MessageRepository
from shared.services.replication import LINK_TTL, Regions

logger = logging.getLogger(__name__)


class ProcessingTakeover:
    def __init__(self, messages: MessageRepository, regions: Regions, stalled_after: timedelta):
        self._messages = messages
        self._regions = regions
        self._stalled_after = stalled_after

    def find_stalled(self, after: str | None, limit: int, exclude: list[str]) -> list[dict[str, str]]:
        """Messages received in another region more than `stalled_after` ago (and after `after`, the
        sweep's cursor: the `receivedAt` of the last one of its previous page) and still processing."""
        before = iso(utcnow() - self._stalled_after)
        return self._messages.stalled_processing(after or "", before, self._regions.region, limit, exclude)

    def take_over(self, mailbox_id: str, message_id: str) -> int:
        """Copy the message's original here for this region to transcode; 1 if copied, else 0."""
        message = self._messages.get_message(mailbox_id, message_id)
        if message is None or message.status != "processing" or "original" not in message.blobs:
            return 0
        path = message.blobs["original"]
        local = self._regions.local
        if local.size(path) is not None:
            return 0  # already here: this region's blob trigger has it
        try:
            source, _ = self._regions.read_anywhere(path, (message.deposit_region, *message.replica_regions))
        except AudioNotFound:
            return 0  # a promised upload that never landed: its message stays hidden and expires
        local.copy_from_url(source.read_url(path, LINK_TTL), path)
        logger.warning("took over %s/%s from %s: processing since %s", mailbox_id, message_id,
                       message.deposit_region, iso(message.received_at))
        return 1
