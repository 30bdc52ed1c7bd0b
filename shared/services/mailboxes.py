"""Mailboxes: provisioning, reading with MWI counts, settings, PIN sessions and PIN changes."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from shared.domain.commands import ChangePin, CreateSession, PatchMailbox, PutMailbox
from shared.domain.errors import (
    EtagMismatch,
    Forbidden,
    InvalidCredentials,
    MailboxDeprovisioning,
    MailboxNotFound,
    PinLocked,
    PinMismatch,
    ValidationFailed,
)
from shared.domain.model import Mailbox, MailboxSettings, same_etag, utcnow
from shared.domain.principal import Principal, require_mailbox, require_platform
from shared.domain.security import PIN_PATTERN, hash_pin, pin_matches
from shared.ports import AlreadyExists, MailboxRepository
from shared.services.auth import Authenticator
from shared.services.mwi import Mwi

logger = logging.getLogger(__name__)
_CONFLICT_RETRIES = 5


class MailboxService:
    def __init__(self, mailboxes: MailboxRepository, mwi: Mwi, auth: Authenticator,
                 purge_after: timedelta = timedelta(0)):
        self._purge_after = purge_after  # a grace period before the retention sweep purges
        self._mailboxes = mailboxes
        self._mwi = mwi
        self._auth = auth

    def active(self, mailbox_id: str) -> Mailbox:
        mailbox = self._mailboxes.get_mailbox(mailbox_id)
        if mailbox is None or not mailbox.active:
            raise MailboxNotFound(f"no mailbox {mailbox_id}")
        return mailbox

    def put(self, principal: Principal, mailbox_id: str, command: PutMailbox) -> tuple[dict[str, object], bool]:
        """Create or replace; True when created. The PIN is kept when the body has none."""
        require_platform(principal)
        pin_hash = hash_pin(command.pin) if command.pin else None
        settings = command.settings or MailboxSettings()
        for _ in range(_CONFLICT_RETRIES):
            existing = self._mailboxes.get_mailbox(mailbox_id)
            now = utcnow()
            if existing is None:
                try:
                    created = self._mailboxes.create_mailbox(
                        Mailbox(id=mailbox_id, display_name=command.displayName, settings=settings,
                                pin_hash=pin_hash, created_at=now, updated_at=now))
                except AlreadyExists:
                    continue  # created meanwhile: replace it instead
                return created.as_api(self._mwi.counts(mailbox_id)), True
            if not existing.active:
                raise MailboxDeprovisioning("this mailbox is being purged; provision it again when that is done")
            try:
                replaced = self._mailboxes.replace_mailbox(replace(
                    existing, display_name=command.displayName, settings=settings,
                    pin_hash=pin_hash or existing.pin_hash, updated_at=now))
            except EtagMismatch:
                continue
            return replaced.as_api(self._mwi.counts(mailbox_id)), False
        raise EtagMismatch("the mailbox kept changing; try again")

    def get(self, principal: Principal, mailbox_id: str) -> dict[str, object]:
        require_mailbox(principal, mailbox_id)
        return self.active(mailbox_id).as_api(self._mwi.counts(mailbox_id))

    def patch(self, principal: Principal, mailbox_id: str, command: PatchMailbox,
              if_match: str | None) -> dict[str, object]:
        require_mailbox(principal, mailbox_id)
        if command.settings is not None and not principal.is_platform:
            raise Forbidden("subscribers may change their display name and greeting choice only")
        if command.model_dump(exclude_none=True) == {}:
            raise ValidationFailed("nothing to change: give displayName, greeting or settings")
        for _ in range(_CONFLICT_RETRIES):
            mailbox = self.active(mailbox_id)
            if if_match is not None and not same_etag(if_match, mailbox.etag):
                raise EtagMismatch("the mailbox changed since it was read")
            settings = mailbox.settings
            if command.settings is not None:
                changes = command.settings.model_dump(exclude_none=True)
                settings = MailboxSettings(**{**settings.model_dump(), **changes})
            try:
                updated = self._mailboxes.replace_mailbox(replace(
                    mailbox, display_name=command.displayName or mailbox.display_name,
                    greeting=command.greeting or mailbox.greeting, settings=settings, updated_at=utcnow()))
            except EtagMismatch:
                if if_match is not None:
                    raise
                continue
            return updated.as_api(self._mwi.counts(mailbox_id))
        raise EtagMismatch("the mailbox kept changing; try again")

    def deprovision(self, principal: Principal, mailbox_id: str) -> None:
        """Stop deposits at once; the purge of messages, greetings and audio runs in the background."""
        require_platform(principal)
        for _ in range(_CONFLICT_RETRIES):
            mailbox = self.active(mailbox_id)
            try:
                now = utcnow()
                self._mailboxes.replace_mailbox(replace(mailbox, status="deprovisioned",
                                                        expires_at=now + self._purge_after,
                                                        updated_at=now))
            except EtagMismatch:
                continue
            return
        raise EtagMismatch("the mailbox kept changing; try again")

    def login(self, mailbox_id: str, command: CreateSession) -> dict[str, object]:
        """A session token for the PIN. Unknown mailbox and wrong PIN look alike (401)."""
        for _ in range(_CONFLICT_RETRIES):
            mailbox = self._mailboxes.get_mailbox(mailbox_id)
            now = utcnow()
            if mailbox is not None and mailbox.locked(now):
                raise PinLocked("too many wrong PINs; try again later",
                                retry_after_s=int((mailbox.locked_until - now).total_seconds()) + 1)
            valid = pin_matches(command.pin, mailbox.pin_hash if mailbox and mailbox.active else None)
            if mailbox is None or not mailbox.active:
                raise InvalidCredentials("mailbox or PIN is wrong")
            try:
                if not valid:
                    # Counted with the ETag, so concurrent guesses cannot slip past the limit.
                    self._mailboxes.replace_mailbox(mailbox.after_wrong_pin(now))
                    raise InvalidCredentials("mailbox or PIN is wrong")
                if mailbox.pin_failures or mailbox.locked_until:
                    self._mailboxes.replace_mailbox(replace(mailbox, pin_failures=0, locked_until=None))
            except EtagMismatch:
                continue
            token, expires_at = self._auth.issue(mailbox_id)
            return {"token": token, "expiresAt": datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        raise InvalidCredentials("mailbox or PIN is wrong")

    def change_pin(self, principal: Principal, mailbox_id: str, command: ChangePin) -> None:
        require_mailbox(principal, mailbox_id)
        if not principal.is_platform and command.currentPin is None:
            raise ValidationFailed("currentPin is required")
        if not PIN_PATTERN.fullmatch(command.newPin):
            raise ValidationFailed("newPin must be 4-12 digits")
        for _ in range(_CONFLICT_RETRIES):
            mailbox = self.active(mailbox_id)
            now = utcnow()
            if not principal.is_platform:
                if mailbox.locked(now):
                    raise PinLocked("too many wrong PINs; try again later",
                                    retry_after_s=int((mailbox.locked_until - now).total_seconds()) + 1)
                if not pin_matches(command.currentPin or "", mailbox.pin_hash):
                    try:
                        self._mailboxes.replace_mailbox(mailbox.after_wrong_pin(now))
                    except EtagMismatch:
                        continue
                    raise PinMismatch("currentPin is wrong")
            try:
                self._mailboxes.replace_mailbox(replace(mailbox, pin_hash=hash_pin(command.newPin), pin_failures=0,
                                                        locked_until=None, updated_at=now))
            except EtagMismatch:
                continue
            return
        raise EtagMismatch("the mailbox kept changing; try again")
