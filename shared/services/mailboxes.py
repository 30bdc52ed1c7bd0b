"""Mailboxes: provisioning, reading with MWI counts, settings, PIN sessions and PIN changes."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from shared.domain.classes import STANDARD, ClassOfService, check_pin, check_settings, own_names
from shared.domain.client import budget_key
from shared.domain.commands import ChangePin, CreateSession, PatchMailbox, PutMailbox
from shared.domain.errors import (
    ConflictsPending,
    EtagMismatch,
    Forbidden,
    Held,
    InvalidCredentials,
    MailboxDeprovisioning,
    MailboxNotFound,
    NotFound,
    PinLocked,
    PinMismatch,
    TooManyRequests,
    Unavailable,
    ValidationFailed,
)
from shared.domain.holds import new_incarnation
from shared.domain.model import Mailbox, MailboxSettings, Message, expiry, same_etag, utcnow
from shared.domain.principal import Principal, require_mailbox, require_platform
from shared.domain.replicated import PinRecord, clock, lockout, login_rate_wait, mailbox_tally
from shared.domain.security import PIN_PATTERN, hash_pin, pin_hash_outdated, pin_matches
from shared.domain.tenancy import tenant_of
from shared.ports import AlreadyExists, ErasureRepository, MailboxRepository, MessageRepository, Snapshot
from shared.services import erasure
from shared.services.auth import Authenticator
from shared.services.classes import ClassService
from shared.services.ledger import Ledger
from shared.services.mwi import Mwi
from shared.services.rate import SlidingWindow
from shared.services.writes import WriteBudget

logger = logging.getLogger(__name__)
_CONFLICT_RETRIES = 5


_GUESS_RETRIES = 20  # parallel guesses take turns on the region's PIN record


class Store(MailboxRepository, MessageRepository, ErasureRepository):
    """The mailbox, its messages and its erasure's records share a partition, and one store."""


class MailboxService:
    def __init__(self, mailboxes: Store, mwi: Mwi, auth: Authenticator, purge_after: timedelta, region: str,
                 clients: SlidingWindow, conflicts_pending: Callable[[str], bool], writes: WriteBudget,
                 ledger: Ledger, classes: ClassService, deployment: tuple[str, ...] = ()):
        self._classes = classes  # each mailbox's class of service: its limits, features and PIN rules
        self._clients = clients  # logins per client address in this instance (Front Door's WAF: globally)
        self._purge_after = purge_after  # a grace period before the retention sweep purges
        self._mailboxes = mailboxes
        self._mwi = mwi
        self._auth = auth
        self._region = region
        self._deployment = deployment or (region,)  # every region of the deployment, which an erasure names
        self._ledger = ledger  # expiries and reconciling: no change of counts to announce
        self._conflicts_pending = conflicts_pending
        self.writes = writes  # taken by every service a subscriber writes through

    def active(self, mailbox_id: str) -> Mailbox:
        return self.active_in(None, mailbox_id)

    def active_in(self, snapshot: Snapshot | None, mailbox_id: str) -> Mailbox:
        """The mailbox, from a snapshot already read (or read now); MailboxNotFound unless active."""
        mailbox = snapshot.mailbox if snapshot is not None else self._mailboxes.get_mailbox(mailbox_id)
        if mailbox is None or not mailbox.active:
            raise MailboxNotFound(f"no mailbox {mailbox_id}")
        return mailbox

    def _stamped(self, mailbox: Mailbox, *groups: str) -> Mailbox:
        stamp = clock(utcnow(), self._region)
        return replace(mailbox, clocks={**mailbox.clocks, **{group: stamp for group in groups}})

    def _class_for(self, mailbox_id: str, wanted: str | None, current: Mailbox | None) -> ClassOfService:
        """The class a mailbox has or is being given: ClassNotFound when its tenant has none so named
        (one just named is read afresh: it may have been made a moment ago in another process)."""
        name = wanted or (current.class_of_service if current is not None else STANDARD)
        fresh = wanted is not None and (current is None or wanted != current.class_of_service)
        return self._classes.rules(tenant_of(mailbox_id), name, fresh=fresh)

    def put(self, principal: Principal, mailbox_id: str, command: PutMailbox) -> tuple[dict[str, object], bool]:
        """Create or replace; True when created. The PIN and the class are kept when the body has none.
        The settings the body gives are the mailbox's own; the others take its class's defaults."""
        require_platform(principal)
        pin_hash: str | None = None
        settings = command.settings or MailboxSettings()
        own = tuple(sorted(command.settings.model_fields_set)) if command.settings else ()
        for _ in range(_CONFLICT_RETRIES):
            existing = self._mailboxes.get_mailbox(mailbox_id)
            rules = self._class_for(mailbox_id, command.classOfService, existing)
            check_settings(rules, settings, own)
            if command.pin and pin_hash is None:
                check_pin(rules, command.pin, mailbox_id)
                pin_hash = hash_pin(command.pin, self._auth.pin_pepper)
            class_name = command.classOfService or (existing.class_of_service if existing else STANDARD)
            now = utcnow()
            if existing is None:
                if self._erasing(mailbox_id):  # its tombstone is gone, not yet every copy: never the new owner's
                    raise MailboxDeprovisioning("this mailbox's erasure is still running; provision it again when done")
                try:
                    created = self._mailboxes.create_mailbox(self._stamped(
                        Mailbox(id=mailbox_id, display_name=command.displayName, settings=settings,
                                pin_hash=pin_hash, created_at=now, updated_at=now, incarnation=new_incarnation(),
                                class_of_service=class_name, settings_set=own),
                        "displayName", "settings", "pin"))
                except AlreadyExists:
                    continue  # created meanwhile: replace it instead
                self._sessions_changed(created)  # a new incarnation: this process knows it at once
                return created.as_api(self._mwi.counts(mailbox_id)), True
            if not existing.active:
                raise MailboxDeprovisioning("this mailbox is being purged; provision it again when that is done")
            groups = ["displayName", "settings", *(["pin"] if pin_hash else [])]
            try:
                replaced = self._mailboxes.replace_mailbox(self._stamped(replace(
                    existing, display_name=command.displayName, settings=settings,
                    pin_hash=pin_hash or existing.pin_hash, updated_at=now,
                    class_of_service=class_name, settings_set=own,
                    # A platform PIN reset ends every session opened with the old PIN.
                    session_epoch=existing.session_epoch + 1 if pin_hash else existing.session_epoch), *groups))
            except EtagMismatch:
                continue
            self._sessions_changed(replaced)
            self._settings_changed(existing, replaced)
            return replaced.as_api(self._mwi.counts(mailbox_id)), False
        raise EtagMismatch("the mailbox kept changing; try again")

    def get(self, principal: Principal, mailbox_id: str) -> dict[str, object]:
        require_mailbox(principal, mailbox_id)
        snapshot = self._mailboxes.snapshot(mailbox_id)  # the mailbox and its tallies: one query
        return self.active_in(snapshot, mailbox_id).as_api(mailbox_tally(snapshot.tallies.values()))

    def patch(self, principal: Principal, mailbox_id: str, command: PatchMailbox,
              if_match: str | None) -> dict[str, object]:
        require_mailbox(principal, mailbox_id)
        if (command.settings is not None or command.classOfService is not None) and not principal.is_platform:
            raise Forbidden("subscribers may change their display name and greeting choice only")
        if command.model_dump(exclude_none=True) == {}:
            raise ValidationFailed("nothing to change: give displayName, greeting, settings or classOfService")
        self.writes.take(principal, mailbox_id)
        for _ in range(_CONFLICT_RETRIES):
            mailbox = self.active(mailbox_id)
            if if_match is not None and not same_etag(if_match, mailbox.etag):
                raise EtagMismatch("the mailbox changed since it was read")
            settings, changes = mailbox.settings, {}
            if command.settings is not None:
                changes = command.settings.model_dump(exclude_none=True)
                settings = MailboxSettings(**{**settings.model_dump(), **changes})
            check_settings(self._class_for(mailbox_id, command.classOfService, mailbox), settings, changes)
            own = tuple(sorted(own_names(mailbox.settings, mailbox.settings_set) | set(changes)))
            groups = [name for name, given in (("displayName", command.displayName), ("greeting", command.greeting),
                                               ("settings", command.settings or command.classOfService))
                      if given is not None]
            try:
                updated = self._mailboxes.replace_mailbox(self._stamped(replace(
                    mailbox, display_name=command.displayName or mailbox.display_name,
                    greeting=command.greeting or mailbox.greeting, settings=settings, updated_at=utcnow(),
                    settings_set=own, class_of_service=command.classOfService or mailbox.class_of_service),
                    *groups))
            except EtagMismatch:
                if if_match is not None:
                    raise
                continue
            self._settings_changed(mailbox, updated)
            return updated.as_api(self._mwi.counts(mailbox_id))
        raise EtagMismatch("the mailbox kept changing; try again")

    def reconcile(self, principal: Principal, mailbox_id: str) -> dict[str, object]:
        """Recount the mailbox from its messages and repair any drift of its counts (operators). Not
        while a write conflict of the mailbox waits in this region's feed: a version that lost is
        not in the recount yet, while the counts already hold its change, and the "drift" corrected
        then would become real once the merge lands (CI, 2026-12-07)."""
        require_platform(principal)
        self.active(mailbox_id)
        if self._conflicts_pending(mailbox_id):
            raise ConflictsPending("a write conflict of this mailbox is still being merged; retry in a few seconds")
        return self._ledger.reconcile(mailbox_id)

    def deprovision(self, principal: Principal, mailbox_id: str) -> None:
        """Stop deposits at once; the purge of messages, greetings and audio runs in the background."""
        require_platform(principal)
        for _ in range(_CONFLICT_RETRIES):
            found = self._mailboxes.get_mailbox(mailbox_id)
            if found is not None and not found.active and self._mailboxes.get_erasure(mailbox_id) is None:
                # Deprovisioned before its erasure was recorded.
                erasure.request(self._mailboxes, mailbox_id, self._deployment)
                return
            mailbox = self.active_in(Snapshot(found), mailbox_id)
            if mailbox.hold is not None:
                raise Held(f"the mailbox is under legal hold ({mailbox.hold.reason}); release it first")
            try:
                now = utcnow()
                gone = self._mailboxes.replace_mailbox(replace(mailbox, status="deprovisioned",
                                                               expires_at=now + self._purge_after,
                                                               session_epoch=mailbox.session_epoch + 1,
                                                               updated_at=now))
            except EtagMismatch:
                continue
            self._sessions_changed(gone)
            # After the tombstone (never before: an erasure must not run on a mailbox still in use);
            # the management plane erases every copy in every region (shared/services/erasure.py).
            erasure.request(self._mailboxes, mailbox_id, self._deployment)
            return
        raise EtagMismatch("the mailbox kept changing; try again")

    def login(self, mailbox_id: str, command: CreateSession, client: str = "unknown") -> dict[str, object]:
        """A session token for the PIN. An unknown mailbox answers exactly as a known one does (401
        five times, then 423): its guesses are counted too, in a record that expires. Each guess is
        counted before the PIN is checked, so parallel guesses cannot pass the limit; logins beyond
        the per-client and per-mailbox rates answer 429 before any hashing."""
        wait = self._clients.wait(budget_key(client))
        if wait:
            raise TooManyRequests("too many logins from this client; slow down", retry_after_s=math.ceil(wait))
        snapshot = self._mailboxes.snapshot(mailbox_id)
        mailbox = snapshot.mailbox
        known = mailbox is not None and mailbox.active
        record, guessed_at = self._count_guess(snapshot, mailbox_id, mailbox.incarnation if known else "")
        if not pin_matches(command.pin, mailbox.pin_hash if known else None, self._auth.pin_pepper) or not known:
            raise InvalidCredentials("mailbox or PIN is wrong")
        self._clear_guesses(record, guessed_at)
        if mailbox.pin_hash and pin_hash_outdated(mailbox.pin_hash):
            self._upgrade_pin_hash(mailbox, command.pin)
        token, expires_at = self._auth.issue(mailbox_id, mailbox.session_epoch, mailbox.incarnation)
        return {"token": token, "expiresAt": datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}

    def _upgrade_pin_hash(self, mailbox: Mailbox, pin: str) -> None:
        """A hash from before PIN_PEPPER, replaced by a peppered one of the PIN just proven right:
        the same PIN, so no session ends and the register's clock is kept (a PIN change made
        meanwhile in another region wins the merge). Best effort: the next login tries again."""
        try:
            self._mailboxes.replace_mailbox(replace(mailbox, pin_hash=hash_pin(pin, self._auth.pin_pepper)))
        except Exception:  # the login stands; the old hash keeps working
            logger.warning("the PIN hash of %s was not upgraded", mailbox.id, exc_info=True)

    def _count_guess(self, snapshot: Snapshot, mailbox_id: str, incarnation: str) -> tuple[PinRecord, datetime]:
        """Record one wrong PIN in this region's record before the PIN is checked (a right one is
        cleared after); PinLocked when the regions' wrong PINs already lock the mailbox,
        TooManyRequests when its logins come faster than any person logs in. Only the records of the
        mailbox's incarnation count: an earlier owner's wrong PINs never lock the new one."""
        pins = {region: record.of(incarnation) for region, record in snapshot.pins.items()}
        for _ in range(_GUESS_RETRIES):
            now = utcnow()
            state = lockout(pins.values())
            if state.locked(now):
                raise PinLocked("too many wrong PINs; try again later",
                                retry_after_s=int((state.locked_until - now).total_seconds()) + 1)
            wait = login_rate_wait(pins.values(), now)
            if wait:
                raise TooManyRequests("too many logins to this mailbox; slow down", retry_after_s=math.ceil(wait))
            own = pins.get(self._region) or PinRecord(mailbox_id, self._region, incarnation=incarnation)
            try:
                return self._mailboxes.save_pin_record(own.with_failure(now)), now
            except EtagMismatch:  # another guess of this region was counted first: look again
                pins = {r: p.of(incarnation) for r, p in self._mailboxes.snapshot(mailbox_id).pins.items()}
        raise Unavailable("too many logins at once; retry")

    def _clear_guesses(self, record: PinRecord, guessed_at: datetime) -> None:
        """A right PIN ends the run of wrong ones (in every region, once this record replicates)."""
        for _ in range(_GUESS_RETRIES):
            try:
                self._mailboxes.save_pin_record(record.with_success(guessed_at))
                return
            except EtagMismatch:
                record = self._mailboxes.snapshot(record.mailbox_id).pins.get(self._region, record).of(
                    record.incarnation)
        logger.warning("a right PIN for %s could not clear the wrong ones", record.mailbox_id)

    def change_pin(self, principal: Principal, mailbox_id: str, command: ChangePin) -> None:
        require_mailbox(principal, mailbox_id)
        if not principal.is_platform and command.currentPin is None:
            raise ValidationFailed("currentPin is required")
        if not PIN_PATTERN.fullmatch(command.newPin):
            raise ValidationFailed("newPin must be 4-12 digits")
        check_pin(self._classes.for_mailbox(self.active(mailbox_id)), command.newPin, mailbox_id)
        self.writes.take(principal, mailbox_id)
        if not principal.is_platform:
            snapshot = self._mailboxes.snapshot(mailbox_id)
            mailbox = self.active_in(snapshot, mailbox_id)
            record, guessed_at = self._count_guess(snapshot, mailbox_id, mailbox.incarnation)
            if not pin_matches(command.currentPin or "", mailbox.pin_hash, self._auth.pin_pepper):
                raise PinMismatch("currentPin is wrong")
            self._clear_guesses(record, guessed_at)
        new_hash = hash_pin(command.newPin, self._auth.pin_pepper)
        for _ in range(_CONFLICT_RETRIES):
            mailbox = self.active(mailbox_id)
            try:
                changed = self._mailboxes.replace_mailbox(self._stamped(replace(
                    mailbox, pin_hash=new_hash, session_epoch=mailbox.session_epoch + 1, updated_at=utcnow()), "pin"))
            except EtagMismatch:
                continue
            self._sessions_changed(changed)
            return
        raise EtagMismatch("the mailbox kept changing; try again")

    def _erasing(self, mailbox_id: str) -> bool:
        found = self._mailboxes.get_erasure(mailbox_id)
        return found is not None and found.request.status == "running"

    def _sessions_changed(self, mailbox: Mailbox) -> None:
        """This process forgets its cached epoch at once; other processes within their cache time."""
        self._auth.epoch_changed(mailbox.id, (mailbox.incarnation, mailbox.session_epoch) if mailbox.active else None)

    def _settings_changed(self, before: Mailbox, after: Mailbox) -> None:
        """A retention change applies to the messages already stored: their `expiresAt` is derived
        again now (eagerly: one pass over the mailbox on a settings change, never on a deposit)."""
        old, new = before.settings, after.settings
        if (old.retentionDays, old.trashRetentionDays) == (new.retentionDays, new.trashRetentionDays):
            return
        self._rederive_all(after)

    def apply_class_retention(self) -> int:
        """The retention sweep's first step: every mailbox of a class whose retention changed has its
        stored messages' expiry derived again from what the class says now (idempotent: a message
        already right is not written). Returns how many mailboxes were passed over."""
        passed = 0
        for record in self._classes.retention_changed():
            self._classes.rules(record.tenant, record.name, fresh=True)  # not a copy cached before the change
            for key in self._mailboxes.mailboxes_of_class(record.tenant, record.name):
                mailbox = self._mailboxes.get_mailbox(key)
                if mailbox is not None and mailbox.active:
                    self._rederive_all(mailbox)
                    passed += 1
            self._classes.retention_applied(record)
        return passed

    def _rederive_all(self, mailbox: Mailbox) -> None:
        now = utcnow()
        for message in self._mailboxes.all_messages(mailbox.id):
            self._rederive(message, mailbox, now)

    def _rederive(self, message: Message, mailbox: Mailbox, now: datetime) -> None:
        for _ in range(_CONFLICT_RETRIES):
            if message.purged or message.status == "failed":
                return  # their expiry is not the mailbox's retention
            wanted = expiry(message, mailbox.settings, now)
            if wanted == message.expires_at:
                return
            try:
                self._ledger.write(replace(message, expires_at=wanted), ["expiry"])
                return
            except (EtagMismatch, NotFound):
                fresh = self._mailboxes.get_message(message.mailbox_id, message.id)
                if fresh is None:
                    return
                message = fresh
        logger.warning("expiry of %s/%s not derived again: it kept changing", message.mailbox_id, message.id)
