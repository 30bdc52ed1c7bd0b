"""Classes of service (API.md, "Tenants and classes of service"): a tenant's policy for many mailboxes.

A class holds `defaults` (the settings a mailbox of the class does not set itself), `limits` (how far
a mailbox's own settings may go), `allow` (the features its mailboxes may use) and `pin` (the PIN
rules). `standard` exists in every tenant without a record: today's defaults, no limits, everything
allowed, PINs of 4 digits or more; it is built in and cannot be replaced.

How a class reaches its mailboxes without rewriting them: a mailbox stores the settings it set
itself and their names (`Mailbox.settings_set`), and its class by name. Its *effective* settings are
made when it is read (`effective_settings`): the class's defaults under the mailbox's own settings,
then held to the class (a limit caps a setting, a feature not allowed is off). A class change thus
reaches every mailbox of the class as soon as each process's copy of the class is refreshed
(shared/services/classes.py, at most `CLASS_CACHE_S`).

What is checked when: a request that sets a setting beyond its class's limit answers `beyond-class`,
one that turns on a feature the class does not allow `not-allowed` (only what the request itself
sets: a mailbox moved into a stricter class keeps its own values, held to the class at read time).
A PIN shorter than the class's `minLength`, or weak under `refuseWeak`, answers `weak-pin` (the
contract has one slug for "too easy to guess"; a short PIN is exactly that).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.domain.commands import PatchMailboxSettings
from shared.domain.errors import BeyondClass, ClassNotFound, NotAllowed, WeakPin
from shared.domain.model import Mailbox, MailboxSettings
from shared.domain.tenancy import local_id

STANDARD = "standard"
CLASS_CACHE_S = 20.0  # a class change reaches every process within this (the contract: 60 s)
FEATURES = ("transcription", "email", "sms", "webhook", "forward")
Feature = Literal["transcription", "email", "sms", "webhook", "forward"]
LIMITED = ("maxMessages", "maxMessageSeconds", "retentionDays")
MIN_PIN, MAX_PIN = 4, 12
# What a mailbox's provisioning can answer because of its class (the routes' documented errors).
PROVISIONING_ERRORS = (ClassNotFound, BeyondClass, NotAllowed, WeakPin)
_TODAY = MailboxSettings()  # today's defaults: what `standard` gives


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ClassDefaults(PatchMailboxSettings):
    """The settings of the class's mailboxes that set none of their own (absent: today's default):
    what a mailbox's PATCH may set, and whether its messages are transcribed."""

    transcription: bool | None = None


class ClassLimits(_Body):
    """The most a mailbox of the class may set (absent: no limit). `retentionDays` 0 (keep) is
    beyond any retention limit."""

    maxMessages: int | None = Field(None, ge=1, le=10_000)
    maxMessageSeconds: int | None = Field(None, ge=1, le=3_600)
    retentionDays: int | None = Field(None, ge=1, le=3_650)


class ClassAllow(_Body):
    transcription: bool = True
    email: bool = True
    sms: bool = True
    webhook: bool = True
    forward: bool = True


class PinRules(_Body):
    minLength: int = Field(MIN_PIN, ge=MIN_PIN, le=MAX_PIN)
    refuseWeak: bool = False


class ClassOfService(_Body):
    """The body of `PUT /api/tenants/{tenantId}/classes/{className}`, and the class itself."""

    defaults: ClassDefaults = Field(default_factory=ClassDefaults)
    limits: ClassLimits = Field(default_factory=ClassLimits)
    allow: ClassAllow = Field(default_factory=ClassAllow)
    pin: PinRules = Field(default_factory=PinRules)

    @model_validator(mode="after")
    def _defaults_within_the_class(self) -> ClassOfService:
        """A class's own defaults keep its limits and allow list (else every mailbox would break them)."""
        for name in LIMITED:  # a default left unset and beyond a limit is capped, like a mailbox's own
            if getattr(self.defaults, name) is not None and beyond(self.limits, name, getattr(self.defaults, name)):
                raise ValueError(f"defaults.{name} is beyond limits.{name}")
        if self.defaults.transcription and not self.allow.transcription:
            raise ValueError("defaults.transcription is on while allow.transcription is false")
        return self

    def settings(self) -> MailboxSettings:
        """Today's defaults under this class's defaults: what a mailbox that sets nothing has."""
        return MailboxSettings(**self.defaults.model_dump(exclude_none=True))

    def allows(self, feature: Feature) -> bool:
        return bool(getattr(self.allow, feature))

    def allowed(self) -> frozenset[str]:
        return frozenset(feature for feature in FEATURES if getattr(self.allow, feature))


@dataclass(frozen=True)
class ClassRecord:
    """A tenant's class as stored."""

    tenant: str
    name: str
    rules: ClassOfService
    created_at: datetime
    updated_at: datetime
    etag: str | None = None
    # The last change of what the class says of retention, and the last one its mailboxes' stored
    # messages were given (their `expiresAt` derived again: the retention sweep's first step).
    retention_changed_at: datetime | None = None
    retention_applied_at: datetime | None = None

    def to_api(self) -> dict[str, object]:
        return as_api(self.rules)

    @property
    def retention_pending(self) -> bool:
        return self.retention_changed_at is not None and self.retention_changed_at != self.retention_applied_at


def retention_of(rules: ClassOfService) -> tuple[int | None, ...]:
    """What a class says of its mailboxes' retention: a change of it moves their messages' expiry."""
    settings = rules.settings()
    return settings.retentionDays, settings.trashRetentionDays, rules.limits.retentionDays


def as_api(rules: ClassOfService) -> dict[str, object]:
    """The class as `PUT` takes it and `GET` answers it: the defaults it sets, its limits, every feature
    and PIN rule (an absent default is today's, an absent limit none)."""
    return rules.model_dump(exclude_none=True)


def beyond(limits: ClassLimits, name: str, value: int) -> bool:
    limit = getattr(limits, name)
    if limit is None:
        return False
    return value > limit or (name == "retentionDays" and value == 0)


def own_names(stored: MailboxSettings, settings_set: Iterable[str] | None) -> frozenset[str]:
    """The settings a mailbox set itself. A mailbox stored before classes existed has no list: the
    settings that differ from today's defaults are its own (the others were the defaults anyway)."""
    if settings_set is not None:
        return frozenset(settings_set)
    return frozenset(name for name in MailboxSettings.model_fields if getattr(stored, name) != getattr(_TODAY, name))


def effective_settings(rules: ClassOfService, stored: MailboxSettings, own: Iterable[str]) -> MailboxSettings:
    """The class's defaults under the mailbox's own settings, held to the class: a limit caps a
    setting (a retention of 0, keep, becomes the limit), a feature the class does not allow is off."""
    values = rules.settings().model_dump()
    values.update({name: getattr(stored, name) for name in own if name in values})
    for name in LIMITED:
        if beyond(rules.limits, name, values[name]):
            values[name] = getattr(rules.limits, name)
    if not rules.allow.transcription:
        values["transcription"] = False
    return MailboxSettings.model_construct(**values)  # every value already validated


def as_stored(mailbox: Mailbox) -> Mailbox:
    """The mailbox to write, as read through its class (`Mailbox.read_as`): an own setting the write
    left as it was read keeps its stored value (a limit or a disallowed feature may have changed what
    was read: it is not the mailbox's to keep), a setting the write made its own takes the written
    value, and the others keep what was stored (the class's, not the mailbox's)."""
    if mailbox.read_as is None:
        return mailbox
    stored, resolved, own_before = mailbox.read_as
    own_now = frozenset(mailbox.settings_set) if mailbox.settings_set is not None else own_before
    values = {}
    for name in MailboxSettings.model_fields:
        written = getattr(mailbox.settings, name)
        untouched = name in own_before and written == getattr(resolved, name)
        values[name] = written if name in own_now and not untouched else getattr(stored, name)
    return replace(mailbox, settings=MailboxSettings.model_construct(**values), read_as=None)


def check_settings(rules: ClassOfService, settings: MailboxSettings, names: Iterable[str]) -> None:
    """The settings a request sets, against the class: BeyondClass, NotAllowed."""
    names = set(names)
    for name in LIMITED:
        if name in names and beyond(rules.limits, name, getattr(settings, name)):
            limit = getattr(rules.limits, name)
            raise BeyondClass(f"settings.{name} is beyond this class's limit of {limit}"
                              + (" (0 keeps messages forever)" if name == "retentionDays" else ""))
    if "transcription" in names and settings.transcription and not rules.allow.transcription:
        raise NotAllowed("this mailbox's class of service does not allow transcription")


def require(rules: ClassOfService, feature: Feature) -> None:
    if not rules.allows(feature):
        raise NotAllowed(f"this mailbox's class of service does not allow {feature}")


def weak_pin(pin: str, mailbox_key: str) -> bool:
    """One digit repeated (0000), a run up or down (1234, 9876, 3456789), or the mailbox id's last
    digits (4567 for +15551234567)."""
    digits = [int(c) for c in pin]
    steps = {b - a for a, b in itertools.pairwise(digits)}
    if steps in ({0}, {1}, {-1}):
        return True
    number = "".join(c for c in local_id(mailbox_key) if c.isdigit())
    return len(number) >= len(pin) and number.endswith(pin)


def check_pin(rules: ClassOfService, pin: str, mailbox_key: str) -> None:
    """WeakPin when the class's PIN rules refuse the PIN."""
    if len(pin) < rules.pin.minLength:
        raise WeakPin(f"this mailbox's class of service wants PINs of at least {rules.pin.minLength} digits")
    if rules.pin.refuseWeak and weak_pin(pin, mailbox_key):
        raise WeakPin("the PIN is too easy to guess: no repeated digit, run of digits or the mailbox number's end")


STANDARD_CLASS = ClassOfService()  # every tenant's `standard`: today's defaults, no limits, everything allowed
