"""An erasure: what a deprovision removes in every region, and how its progress is recorded.

The API plane records the request (`ErasureRequest`, status `running`) in the mailbox's partition;
each region's management plane erases by prefix (`blob_prefixes`: what documents record is not
enough: an MP3 made in another region or a greeting uploaded there is recorded nowhere) and then
records what it removed (`RegionErasure`, one document per region, so no two regions ever write
the same document). The erasure is `done` when every region of the deployment has done so for this
request. What stays: the mailbox's tombstone, these records and the usage facts (billing records, no content).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.domain import blobpaths
from shared.domain.audio import Containers
from shared.domain.journal import ASIDE, PENDING
from shared.domain.usage import USAGE_TYPE

ERASURE_TYPE = "erasure"  # the request's and each region's record
KEPT_TYPES = frozenset({"mailbox", ERASURE_TYPE, USAGE_TYPE})  # the documents an erasure leaves (usage: billing)
BLOB_PAGE = 200
DOCUMENT_PAGE = 100


@dataclass(frozen=True)
class ErasureRequest:
    mailbox_id: str
    requested_at: datetime
    status: str = "running"  # "done" once every region recorded its part (the management plane says so)
    etag: str | None = None
    # The deployment's regions when it was asked: those that must each record their part, and the
    # only ones that take it up. () in a record made before they were recorded: the reader's regions.
    regions: tuple[str, ...] = ()

    def for_region(self, region: str) -> bool:
        return not self.regions or region in self.regions


@dataclass(frozen=True)
class RegionErasure:
    """What one region removed for the request made at `requested_at`."""

    mailbox_id: str
    region: str
    requested_at: datetime
    blobs: int
    documents: int
    done_at: datetime


@dataclass(frozen=True)
class Erasure:
    request: ErasureRequest
    regions: tuple[RegionErasure, ...]  # those of this request only

    def done_in(self, region: str) -> bool:
        return any(part.region == region for part in self.regions)

    def done(self, expected: tuple[str, ...]) -> bool:
        return all(self.done_in(region) for region in expected)

    @property
    def done_at(self) -> datetime | None:
        return max((part.done_at for part in self.regions), default=None)


@dataclass(frozen=True)
class Target:
    """Every blob of a mailbox under one prefix of one container, in one region's account."""

    region: str
    container: str
    prefix: str


def own_targets(region: str, containers: Containers, journal_container: str, mailbox_id: str) -> list[Target]:
    """What a region erases in its own account: message audio, greetings, its outage journal, the
    exports it built (a region builds those asked of it, in its own account: shared/domain/exports.py)."""
    return [*peer_targets(region, containers, mailbox_id),
            Target(region, journal_container, f"{PENDING}{mailbox_id}/"),
            Target(region, journal_container, f"{ASIDE}{mailbox_id}/"),
            Target(region, blobpaths.EXPORTS_CONTAINER, f"{mailbox_id}/")]


def peer_targets(region: str, containers: Containers, mailbox_id: str) -> list[Target]:
    """What any region erases in `region`'s account: originals and renditions of messages and greetings
    (a peer's journal is its own: no other region may reach it)."""
    return [Target(region, container, prefix) for container in (containers.incoming, containers.audio)
            for prefix in (f"{mailbox_id}/", f"{blobpaths.GREETINGS}/{mailbox_id}/")]


def message_copies(containers: Containers, mailbox_id: str, message_id: str) -> tuple[str, str]:
    """A message's copies in any region, by name, wherever they were deposited, taken over or made:
    its original (one path) and the prefix of its renditions (MP3 made on first request included)."""
    return (blobpaths.message_original(containers, mailbox_id, message_id),
            blobpaths.join(containers.audio, f"{mailbox_id}/{message_id}/"))
