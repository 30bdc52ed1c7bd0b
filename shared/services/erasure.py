"""Erasure: a deprovisioned mailbox's every copy, in every region, gone; and what the backups keep.

The API plane records the request when it deprovisions (`MailboxService.deprovision`); each region's
management plane finds running requests (`pending`) and runs the erasure orchestration
(functions/erasure.py), whose activities are the steps here, each idempotent:

- `erase_blobs`: one page of one target (a container and prefix in one region's account: this
  region's own, journal included, and each peer's). Listing by prefix, not by what documents record,
  is what finds the copies nobody recorded: an original the takeover region no longer lists, an MP3
  made on its first request in another region, a greeting uploaded in another region;
- `erase_documents`: one page of the mailbox's documents (all but its tombstone and the erasure's
  records);
- `finish`: this region's record of what it removed; the request is `done` once every region of the
  deployment (as the request recorded it) recorded its part. A region takes up only the requests
  that name it: a store shared with another deployment (the local test stack's) never has one
  deployment's region mark another's erasure done.

Every step first checks that the mailbox is still the deprovisioned one whose erasure runs (no step
ever touches a mailbox provisioned again: `MailboxService.put` refuses that while an erasure runs).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from shared.backups import BackupWindows
from shared.domain.audio import Containers
from shared.domain.erasure import (
    BLOB_PAGE,
    DOCUMENT_PAGE,
    Erasure,
    ErasureRequest,
    RegionErasure,
    Target,
    message_copies,
    own_targets,
    peer_targets,
)
from shared.domain.errors import NotFound, Unavailable
from shared.domain.model import iso, parse_time, utcnow
from shared.domain.principal import Principal, require_platform
from shared.ports import ErasureRepository, MailboxRepository
from shared.services.replication import Regions

logger = logging.getLogger(__name__)


class Store(ErasureRepository, MailboxRepository):
    """The erasure's records and the mailbox share a partition, and one store."""


class ErasureService:
    def __init__(self, store: Store, regions: Regions, containers: Containers, journal_container: str,
                 expected: tuple[str, ...], backups: BackupWindows):
        self._store = store
        self._regions = regions
        self._containers = containers
        self._journal_container = journal_container
        self._expected = expected or (regions.region,)  # every region of the deployment
        self._backups = backups

    # -- the route ------------------------------------------------------------------------------

    def status(self, principal: Principal, mailbox_id: str) -> dict[str, object]:
        require_platform(principal)
        erasure = self._store.get_erasure(mailbox_id)
        if erasure is None:
            raise NotFound(f"no erasure of mailbox {mailbox_id} was requested")
        done = erasure.request.status == "done" or erasure.done(self._expected_of(erasure))
        removed = {"blobs": sum(part.blobs for part in erasure.regions),
                   "documents": sum(part.documents for part in erasure.regions)}
        expires = self._backups.expire_at(erasure.done_at) if done and erasure.done_at else None
        return {"status": "done" if done else "running", "removed": removed, "backupsExpireAt": iso(expires)}

    # -- the management plane's trigger --------------------------------------------------------

    def pending(self, limit: int = 50) -> list[dict[str, str]]:
        """The running erasures this region has yet to do ({mailboxId, requestedAt}); those every
        region has done are marked `done` on the way."""
        due = []
        for mailbox_id in self._store.running_erasures(limit, self._regions.region):  # those naming this region
            erasure = self._store.get_erasure(mailbox_id)
            if erasure is None or erasure.request.status != "running":
                continue
            if erasure.done(self._expected_of(erasure)):
                self._mark_done(erasure)
            elif not erasure.done_in(self._regions.region) and not self._held(mailbox_id):
                due.append({"mailboxId": mailbox_id, "requestedAt": iso(erasure.request.requested_at)})
        return due

    # -- the orchestration's steps (idempotent) --------------------------------------------------

    def plan(self, mailbox_id: str) -> list[dict[str, str]]:
        """Every target of this region's erasure: its own account (the journal too), then each peer's."""
        here = self._regions.region
        targets = own_targets(here, self._containers, self._journal_container, mailbox_id)
        for peer in self._regions.peers:
            targets += peer_targets(peer, self._containers, mailbox_id)
        return [{"region": t.region, "container": t.container, "prefix": t.prefix} for t in targets]

    def erase_blobs(self, mailbox_id: str, target: dict[str, str], marker: str | None) -> dict[str, object]:
        """One page of a target's blobs deleted: {"deleted", "marker"} (marker None: the target is done)."""
        store = self._regions.store(target["region"])
        if store is None or not self._erasable(mailbox_id):
            return {"deleted": 0, "marker": None}
        found = Target(target["region"], target["container"], target["prefix"])
        page, next_marker = store.list_page(found.container, marker, BLOB_PAGE, prefix=found.prefix)
        for path, _modified in page:
            store.delete(path)
        return {"deleted": len(page), "marker": next_marker}

    def erase_documents(self, mailbox_id: str) -> int:
        """One page of the mailbox's documents deleted; fewer than a page: none is left."""
        if not self._erasable(mailbox_id):
            return 0
        return self._store.erase_documents(mailbox_id, DOCUMENT_PAGE)

    def finish(self, mailbox_id: str, requested_at: str, blobs: int, documents: int) -> None:
        erasure = self._store.get_erasure(mailbox_id)
        if erasure is None or iso(erasure.request.requested_at) != requested_at:
            return  # another request meanwhile: its own run records it
        if self._held(mailbox_id):
            return  # put under legal hold while it ran: not done; it runs again after the release
        if not erasure.done_in(self._regions.region):
            self._store.save_region_erasure(RegionErasure(mailbox_id, self._regions.region,
                                                          parse_time(requested_at), blobs, documents, utcnow()))
        logger.info("erasure of %s done in %s: %d blobs, %d documents", mailbox_id, self._regions.region,
                    blobs, documents)
        erasure = self._store.get_erasure(mailbox_id)
        if erasure is not None and erasure.done(self._expected_of(erasure)):
            self._mark_done(erasure)

    def _expected_of(self, erasure: Erasure) -> tuple[str, ...]:
        """The regions that must each record their part: those the request names, else this deployment's."""
        return erasure.request.regions or self._expected

    def _mark_done(self, erasure: Erasure) -> None:
        if erasure.request.status != "done":
            self._store.save_erasure_request(replace(erasure.request, status="done"))

    def _erasable(self, mailbox_id: str) -> bool:
        """A running erasure of a mailbox that is not active and not under legal hold. A running
        erasure whose mailbox this region still reads as active is the deprovision not replicated
        here yet (the id cannot be provisioned again while its erasure runs): the step fails and is
        retried, so the region never records as erased what it did not erase."""
        erasure = self._store.get_erasure(mailbox_id)
        if erasure is None or erasure.request.status != "running":
            return False  # a late step: nothing of a new owner is ever touched
        mailbox = self._store.get_mailbox(mailbox_id)
        if mailbox is not None and mailbox.active:
            raise Unavailable(f"the erasure of {mailbox_id}: its deprovision has not reached this region yet")
        return mailbox is None or mailbox.hold is None

    def _held(self, mailbox_id: str) -> bool:
        mailbox = self._store.get_mailbox(mailbox_id)
        return mailbox is not None and mailbox.hold is not None


def request(store: ErasureRepository, mailbox_id: str, regions: tuple[str, ...]) -> ErasureRequest:
    """What a deprovision records: the API plane's part (the management plane does the rest), with
    the deployment's regions, each of which must erase its part."""
    made = ErasureRequest(mailbox_id, utcnow(), regions=regions)
    store.save_erasure_request(made)
    return made


def erase_message_copies(regions: Regions, containers: Containers, mailbox_id: str, message_id: str) -> int:
    """A purged message's audio in every region this deployment reaches, by name, not by what its
    document records (an original the takeover region no longer lists, an MP3 made where nobody
    recorded): how many blobs went."""
    original, renditions = message_copies(containers, mailbox_id, message_id)
    container, prefix = renditions.split("/", 1)
    deleted = 0
    for region in regions.all:
        store = regions.store(region)
        if store is None:
            continue
        if store.size(original) is not None:
            deleted += 1
        store.delete(original)
        marker: str | None = None
        while True:
            page, marker = store.list_page(container, marker, BLOB_PAGE, prefix=prefix)
            for path, _modified in page:
                store.delete(path)
            deleted += len(page)
            if marker is None:
                break
    return deleted
