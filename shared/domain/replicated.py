"""State that every region writes, shaped so that replication cannot lose it.

Cosmos DB with multi-region writes lets two regions change the same document at once; the
container declares a Custom conflict policy, so the losing version reaches the conflicts feed and
the app merges it with the committed one using the functions below. Each merge is commutative,
associative and idempotent (tests/unit/domain/test_replicated.py checks it with hypothesis), so the
order in which versions meet never matters:

- a message's fields are registers with a clock `(time, region)` per field group: the later change
  wins, changes to different groups both survive; `status` only moves forward (processing, then
  ready or failed, then purged: a purge wins over any concurrent change); so does `transcript`
  (none, pending, then ready or failed);
- the regions holding a message's audio are a set: the union;
- a message's share of the counts is kept per region (`shares`): each region's entry is written by
  that region only, so the entry with the higher sequence number wins;
- the counts themselves live in one document per region (`RegionTally`), written by that region
  only and summed on read: O(1) per change and per read, however many messages a mailbox holds;
- wrong PINs live in one document per region too (`PinRecord`): the failures of every region add up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.domain.model import Mailbox, Message

Clock = tuple[str, str]  # (RFC 3339 time with microseconds, region): later time wins, then region
NO_CLOCK: Clock = ("", "")


def clock(moment: datetime, region: str) -> Clock:
    return (moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), region)


@dataclass(frozen=True)
class Tally:
    """Counters of a mailbox, or one message's or one region's share of them (may be negative)."""

    new: int = 0
    saved: int = 0
    urgent_new: int = 0
    heard: int = 0  # heard, still in the inbox
    pending: int = 0  # uploads promised and not landed: they hold room, they are not shown

    def __add__(self, other: Tally) -> Tally:
        return Tally(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def __sub__(self, other: Tally) -> Tally:
        return Tally(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    @property
    def total(self) -> int:
        """Messages held and shown: the inbox (heard or not) and saved; not the trash."""
        return self.new + self.heard + self.saved

    @property
    def held(self) -> int:
        """What `maxMessages` limits: messages held, and uploads that were promised room."""
        return self.total + self.pending

    def as_api(self) -> dict[str, int]:
        """The MWI counts of the contract."""
        return {"new": self.new, "saved": self.saved, "urgentNew": self.urgent_new, "total": self.total}

    def as_tuple(self) -> tuple[int, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))


ZERO = Tally()


def total_of(tallies: Iterable[Tally]) -> Tally:
    result = ZERO
    for tally in tallies:
        result = result + tally
    return result


@dataclass(frozen=True)
class Share:
    """One region's part of one message's tally, and how many times that region set it."""

    tally: Tally = ZERO
    seq: int = 0


def merge_shares(a: Mapping[str, Share], b: Mapping[str, Share]) -> dict[str, Share]:
    """Per region, the entry that region wrote last (entries only their own region writes)."""
    merged = dict(a)
    for region, share in b.items():
        mine = merged.get(region)
        if mine is None or (share.seq, share.tally.as_tuple()) > (mine.seq, mine.tally.as_tuple()):
            merged[region] = share
    return dict(sorted(merged.items()))


def settle(shares: Mapping[str, Share], target: Tally, region: str) -> tuple[dict[str, Share], Tally]:
    """Set `region`'s share so that all shares add up to `target` (the message's tally now):
    the new shares, and what the region's own counters must change by.

    Shares that already add up are left as they are (no new sequence number): a write that changes
    no count must not rewrite the region's share from the version it read, which after a conflict
    may be the committed one holding an older share of this region than the one its counters hold
    (its own version is in the conflicts feed). Rewriting it under the next sequence number gave
    two versions of the share the same number, and the merge kept the stale one (CI, 2026-12-07)."""
    if total_of(s.tally for s in shares.values()) == target:
        return dict(shares), ZERO
    others = total_of(s.tally for r, s in shares.items() if r != region)
    own = shares.get(region, Share())
    wanted = target - others
    return {**shares, region: Share(wanted, own.seq + 1)}, wanted - own.tally


# -- messages -----------------------------------------------------------------------------------

STATUS_RANK = {"processing": 0, "ready": 1, "failed": 1, "purged": 2}
# A message's registers: the fields that change together, and the clock that orders their versions.
# `status` only moves forward (its rank comes before its clock); a purged version's expiry wins too,
# so its tombstone is deleted on time.
MESSAGE_REGISTERS = {
    "folder": ("folder", "trashed_at"),
    "heard": ("heard",),
    "urgent": ("urgent",),
    "expiry": ("expires_at",),
    "status": ("status", "error", "duration_ms", "formats", "blobs", "truncated", "upload_pending", "size_bytes"),
    "transcript": ("transcript",),
}
# A transcript only moves forward too (none, pending, then settled): written by whichever region
# transcribes; between two settled versions the later one wins. A purge's (none) wins over all.
TRANSCRIPT_RANK = {None: 0, "pending": 1, "ready": 2, "failed": 2}


def _group(document: object, names: tuple[str, ...]) -> tuple[object, ...]:
    return tuple(getattr(document, name) for name in names)


def _order(value: object) -> str:
    return repr(value)  # a total order for tie-breaks between values under the same clock


def _message_key(message: Message, register: str) -> tuple[object, ...]:
    """How versions of one register are ordered: each version by its own data only (so the merge
    is associative); the winner's clock goes with its values."""
    at = message.clocks.get(register, NO_CLOCK)
    values = _order(_group(message, MESSAGE_REGISTERS[register]))
    if register == "status":
        return (STATUS_RANK.get(message.status, 0), at, values)
    if register == "expiry":
        return (message.status == "purged", at, values)
    if register == "transcript":
        rank = TRANSCRIPT_RANK[message.transcript.status if message.transcript is not None else None]
        return (message.status == "purged", rank, at, values)
    return (at, values)


def _merge_registers(a: Any, b: Any, registers: dict[str, tuple[str, ...]],
                     key: Callable[[Any, str], tuple[object, ...]]) -> tuple[dict[str, object], dict[str, Clock]]:
    """Each register from the version its key orders last, with that version's clock."""
    changes: dict[str, object] = {}
    clocks: dict[str, Clock] = {}
    for name, names in registers.items():
        pick = max((a, b), key=lambda d, n=name: key(d, n))
        changes.update({f: getattr(pick, f) for f in names})
        if name in pick.clocks:
            clocks[name] = pick.clocks[name]
    return changes, clocks


def merge_messages(a: Message, b: Message) -> Message:
    """Two versions of one message (the committed one and a conflicting one) as one."""
    if a == b:
        return a
    # Immutable facts (id, sender, receivedAt, depositRegion, ...) are the same in both versions;
    # start from a deterministic one so the merge is commutative.
    first, second = sorted((a, b), key=_order)
    changes, clocks = _merge_registers(first, second, MESSAGE_REGISTERS, _message_key)
    changes["replica_regions"] = tuple(sorted(set(first.replica_regions) | set(second.replica_regions)))
    changes["shares"] = merge_shares(first.shares, second.shares)
    changes["clocks"] = dict(sorted(clocks.items()))
    changes["etag"] = None
    return replace(first, **changes)


def consistent(message: Message) -> bool:
    """Whether the regions' shares of the message add up to what it counts for now."""
    return total_of(s.tally for s in message.shares.values()) == message.tally


# -- mailboxes ----------------------------------------------------------------------------------

MAILBOX_REGISTERS = {"displayName": ("display_name",),
                     "settings": ("settings", "settings_set", "class_of_service"), "pin": ("pin_hash",),
                     "greeting": ("greeting",), "hold": ("hold",)}
MAILBOX_STATUS_RANK = {"active": 0, "deprovisioned": 1}


def _mailbox_key(mailbox: Mailbox, register: str) -> tuple[object, ...]:
    return (mailbox.clocks.get(register, NO_CLOCK), _order(_group(mailbox, MAILBOX_REGISTERS[register])))


def merge_mailboxes(a: Mailbox, b: Mailbox) -> Mailbox:
    """Two versions of a mailbox: per-field registers (a legal hold and its release too: the later
    wins); deprovisioning wins; the session epoch is the highest either side reached (so a PIN change
    in any region ends the older sessions). Versions of two incarnations (the id created in two
    regions at once, or created anew while an old version still travelled) do not mix: the one
    created later wins whole, ties by the incarnation's id, so every region keeps the same one."""
    if a == b:
        return a
    if a.incarnation != b.incarnation:
        winner = max((a, b), key=lambda m: (m.created_at, m.incarnation))
        return replace(winner, etag=None)
    first, second = sorted((a, b), key=_order)
    changes, clocks = _merge_registers(first, second, MAILBOX_REGISTERS, _mailbox_key)
    status_pick = max((first, second), key=lambda m: (MAILBOX_STATUS_RANK[m.status], _order(m.expires_at)))
    changes.update(status=status_pick.status, expires_at=status_pick.expires_at)
    changes["session_epoch"] = max(first.session_epoch, second.session_epoch)
    changes["created_at"] = min(first.created_at, second.created_at)
    changes["updated_at"] = max(first.updated_at, second.updated_at)
    changes["clocks"] = dict(sorted(clocks.items()))
    changes["etag"] = None
    return replace(first, **changes)


# -- counts: one document per region --------------------------------------------------------------

@dataclass(frozen=True)
class RegionTally:
    """A region's counters of one mailbox: the sum of its shares of every message, plus any
    correction a reconcile made. Only `region` writes it; `seq` orders its versions."""

    mailbox_id: str
    region: str
    tally: Tally = ZERO
    seq: int = 0
    etag: str | None = None

    def add(self, delta: Tally) -> RegionTally:
        return replace(self, tally=self.tally + delta, seq=self.seq + 1)


def merge_region_tallies(a: RegionTally, b: RegionTally) -> RegionTally:
    """Single-writer: the later version of the region's own document."""
    return max((a, b), key=lambda t: (t.seq, t.tally.as_tuple(), t.etag or ""))


def mailbox_tally(tallies: Iterable[RegionTally]) -> Tally:
    return total_of(t.tally for t in tallies)


# -- wrong PINs: one document per region ---------------------------------------------------------

PIN_LOCK_AFTER = 5
PIN_LOCK_FOR = timedelta(minutes=15)
PIN_FAILURES_KEPT = 2 * PIN_LOCK_AFTER  # per region; older ones cannot change a lockout any more
LOGINS_PER_MINUTE = 20  # per mailbox, every region together: more answer 429 before any hashing
LOGIN_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class PinRecord:
    """A region's wrong PINs of one mailbox (each counted before the PIN was checked) and its last
    right one. Only `region` writes it."""

    mailbox_id: str
    region: str
    failures: tuple[datetime, ...] = ()
    succeeded_at: datetime | None = None
    attempts: tuple[datetime, ...] = ()  # every login attempt, right or wrong: the per-mailbox rate
    etag: str | None = field(default=None, compare=False)
    incarnation: str = ""  # the mailbox's (holds.py): a record of an earlier one never locks the new one

    def of(self, incarnation: str) -> PinRecord:
        """This record as the mailbox's current incarnation sees it: an earlier one's guesses are
        forgotten (the etag is kept: the next write replaces the document)."""
        if self.incarnation == incarnation:
            return self
        return PinRecord(self.mailbox_id, self.region, etag=self.etag, incarnation=incarnation)

    def with_failure(self, at: datetime) -> PinRecord:
        """A guess, counted as wrong until it is found right (then with_success clears it)."""
        return replace(self, failures=tuple(sorted({*self.failures, at}))[-PIN_FAILURES_KEPT:],
                       attempts=tuple(sorted({*self.attempts, at}))[-LOGINS_PER_MINUTE:])

    def with_success(self, at: datetime) -> PinRecord:
        return replace(self, succeeded_at=at if self.succeeded_at is None else max(self.succeeded_at, at),
                       failures=tuple(t for t in self.failures if t > at))


def merge_pin_records(a: PinRecord, b: PinRecord) -> PinRecord:
    if a.incarnation != b.incarnation:
        # Only its region writes a record, so two incarnations' versions meet only when that
        # region's own writes raced: one is kept whole, the same everywhere (the order of the ids);
        # if it is the earlier owner's, the new owner's next login starts the record afresh.
        return replace(max((a, b), key=lambda r: r.incarnation), etag=None)
    success = max((t for t in (a.succeeded_at, b.succeeded_at) if t is not None), default=None)
    failures = tuple(sorted(set(a.failures) | set(b.failures)))[-PIN_FAILURES_KEPT:]
    attempts = tuple(sorted(set(a.attempts) | set(b.attempts)))[-LOGINS_PER_MINUTE:]
    return PinRecord(a.mailbox_id, a.region, failures, success, attempts, incarnation=a.incarnation)


def login_rate_wait(records: Iterable[PinRecord], now: datetime) -> float:
    """Seconds until one more login of the mailbox fits under its rate (0: it fits now)."""
    return _room_wait({t for r in records for t in r.attempts}, now, LOGIN_WINDOW, LOGINS_PER_MINUTE)


def _room_wait(times: Iterable[datetime], now: datetime, window: timedelta, limit: int) -> float:
    """Seconds until one more event fits under `limit` in `window` (0: it fits now): until the
    oldest of the last `limit` events leaves the window."""
    recent = sorted(t for t in times if t > now - window)
    if len(recent) < limit:
        return 0.0
    return (recent[-limit] + window - now).total_seconds()


@dataclass(frozen=True)
class RecentEvents:
    """When one kind of event (forwards, a subscriber's writes) happened in a mailbox, as one region recorded it. Only
    `region` writes it; the events of every region add up."""

    mailbox_id: str
    region: str
    kind: str
    times: tuple[datetime, ...] = ()
    etag: str | None = field(default=None, compare=False)

    def with_event(self, at: datetime, keep: int) -> RecentEvents:
        return replace(self, times=tuple(sorted({*self.times, at}))[-keep:])


def merge_recent_events(a: RecentEvents, b: RecentEvents, keep: int = 64) -> RecentEvents:
    return RecentEvents(a.mailbox_id, a.region, a.kind, tuple(sorted(set(a.times) | set(b.times)))[-keep:])


def events_since(records: Iterable[RecentEvents], since: datetime) -> int:
    return len({t for r in records for t in r.times if t > since})


def events_wait(records: Iterable[RecentEvents], now: datetime, window: timedelta, limit: int) -> float:
    """`_room_wait` of every region's events together."""
    return _room_wait([t for r in records for t in r.times], now, window, limit)


@dataclass(frozen=True)
class Lockout:
    streak: int  # wrong PINs in a row, since the last right one or the last lockout
    locked_until: datetime | None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


def lockout(records: Iterable[PinRecord]) -> Lockout:
    """The mailbox's lockout from the wrong PINs of every region: five in a row (since the last
    right PIN anywhere) lock logins for 15 minutes from the fifth."""
    records = list(records)
    success = max((r.succeeded_at for r in records if r.succeeded_at is not None), default=None)
    streak, locked_until = 0, None
    for at in sorted({t for r in records for t in r.failures}):
        if success is not None and at <= success:
            continue
        if locked_until is not None:
            if at < locked_until:
                continue  # not checked: the mailbox was locked
            locked_until = None
        streak += 1
        if streak >= PIN_LOCK_AFTER:
            streak, locked_until = 0, at + PIN_LOCK_FOR
    return Lockout(streak, locked_until)
