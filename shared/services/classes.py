"""Classes of service: a tenant's key puts and reads them; every read of a mailbox is held to its class.

A class is one record in its tenant's partition; no mailbox is rewritten when it changes. Every
process resolves a class through `ClassService.rules`, which remembers each answer at most
`CLASS_CACHE_S` (20 s), so a change reaches every mailbox of the class, in every process, within
that plus replication lag (the contract: 60 s). A put in this process takes effect here at once.

`ClassedStore` is the metadata store as the use cases see it: each mailbox it reads carries its
effective settings (shared/domain/classes.py `effective_settings`) and the features its class allows
(`Mailbox.allowed`), so the deposit's limits, the transcript's request, a forward and a
notification all follow the class without a check of their own beyond `mailbox.allows(...)`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from shared.domain.classes import (
    CLASS_CACHE_S,
    STANDARD,
    STANDARD_CLASS,
    ClassOfService,
    ClassRecord,
    as_api,
    as_stored,
    effective_settings,
    own_names,
    retention_of,
)
from shared.domain.errors import ClassNotFound, EtagMismatch, Forbidden, NotFound, TenantNotFound, ValidationFailed
from shared.domain.model import Mailbox, utcnow
from shared.domain.principal import Principal
from shared.domain.tenancy import DEFAULT, tenant_of
from shared.ports import MailboxRepository, Snapshot, TenantRepository

logger = logging.getLogger(__name__)
_RETRIES = 3


def require_tenant_manager(principal: Principal, tenant: str, store: TenantRepository) -> None:
    """A class is its tenant's own: that tenant's platform key (the boundary checked the tenant too),
    or the operator who runs the tenant for its customer (the CLI's `classes`), on a tenant that exists."""
    if principal.kind == "operator":
        if tenant != DEFAULT and store.get_tenant(tenant) is None:
            raise TenantNotFound(f"no tenant {tenant}")
        return
    if not principal.is_platform or principal.tenant_id != tenant:
        raise Forbidden("classes of service are managed with the tenant's platform key or the operator's")


class ClassService:
    def __init__(self, store: TenantRepository, ttl_s: float = CLASS_CACHE_S,
                 clock: Callable[[], float] = time.monotonic, max_entries: int = 10_000):
        self._store, self._ttl_s, self._clock, self._max_entries = store, ttl_s, clock, max_entries
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, ClassOfService | None]] = {}

    # -- the routes ---------------------------------------------------------------------------------

    def put(self, principal: Principal, tenant: str, name: str, rules: ClassOfService) -> dict[str, object]:
        require_tenant_manager(principal, tenant, self._store)
        if name == STANDARD:
            raise ValidationFailed("`standard` is built in (today's defaults, no limits, everything allowed); "
                                   "put your policy in a class of its own")
        for _ in range(_RETRIES):
            found = self._store.get_class(tenant, name)
            now = utcnow()
            wanted = ClassRecord(tenant, name, rules, now, now) if found is None else \
                replace(found, rules=rules, updated_at=now)
            if found is not None and retention_of(found.rules) != retention_of(rules):
                # Read at once by every mailbox of it; its stored messages' expiry at the next retention sweep.
                wanted = replace(wanted, retention_changed_at=now)
            try:
                saved = self._store.save_class(wanted)
            except EtagMismatch:
                continue
            self._remember(tenant, name, saved.rules)
            return saved.to_api()
        raise EtagMismatch("the class kept changing; try again")

    def get(self, principal: Principal, tenant: str, name: str) -> dict[str, object]:
        require_tenant_manager(principal, tenant, self._store)
        if name == STANDARD:
            return as_api(STANDARD_CLASS)
        found = self._store.get_class(tenant, name)
        if found is None:
            raise NotFound(f"tenant {tenant} has no class of service {name}")
        return found.to_api()

    # -- the resolver ---------------------------------------------------------------------------------

    def retention_changed(self) -> list[ClassRecord]:
        """The classes whose retention changed since their mailboxes' messages were given it."""
        return self._store.classes_with_retention_changed()

    def retention_applied(self, record: ClassRecord) -> None:
        """Every mailbox of the class has its messages' expiry derived again, as of `record`'s change:
        recorded unless the class changed meanwhile (then the next sweep applies the newer change)."""
        with contextlib.suppress(EtagMismatch):
            self._store.save_class(replace(record, retention_applied_at=record.retention_changed_at))

    def rules(self, tenant: str, name: str, *, fresh: bool = False) -> ClassOfService:
        """The class by name: ClassNotFound when the tenant has none so named. `fresh` reads the
        store (a mailbox being put in a class just made elsewhere); else an answer at most `ttl_s` old."""
        found = self._lookup(tenant, name, fresh)
        if found is None:
            raise ClassNotFound(f"tenant {tenant} has no class of service {name}")
        return found

    def for_mailbox(self, mailbox: Mailbox) -> ClassOfService:
        """The mailbox's class; `standard` when its class is not (yet) in this region: a class made
        in another region and not replicated here yet, never a mailbox that cannot be read."""
        found = self._lookup(tenant_of(mailbox.id), mailbox.class_of_service, False)
        return found if found is not None else STANDARD_CLASS

    def resolved(self, mailbox: Mailbox | None) -> Mailbox | None:
        """The mailbox as its class makes it now: effective settings, the features allowed."""
        if mailbox is None:
            return None
        rules = self.for_mailbox(mailbox)
        own = own_names(mailbox.settings, mailbox.settings_set)
        settings = effective_settings(rules, mailbox.settings, own)
        return replace(mailbox, settings=settings, allowed=rules.allowed(), read_as=(mailbox.settings, settings, own))

    def _lookup(self, tenant: str, name: str, fresh: bool) -> ClassOfService | None:
        if name == STANDARD:
            return STANDARD_CLASS
        now = self._clock()
        with self._lock:
            cached = self._cache.get((tenant, name))
        if not fresh and cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        record = self._store.get_class(tenant, name)
        found = record.rules if record is not None else None
        if found is None:  # remembered as missing for `ttl_s`: logged once a lookup, not once a read
            logger.info("tenant %s has no class of service %s (its mailboxes are read as standard)", tenant, name)
        self._remember(tenant, name, found, now)
        return found

    def _remember(self, tenant: str, name: str, rules: ClassOfService | None, at: float | None = None) -> None:
        with self._lock:
            if len(self._cache) >= self._max_entries:
                self._cache.clear()
            self._cache[(tenant, name)] = (self._clock() if at is None else at, rules)


class ClassedStore:
    """The metadata store whose mailbox reads are resolved by their class (`ClassService.resolved`) and
    whose mailbox writes store what the mailbox itself holds (`as_stored`: never the class's values
    taken for its own), answering the written mailbox resolved; everything else goes to the store as it is."""

    def __init__(self, store: MailboxRepository, classes: ClassService):
        self._store = store
        self._classes = classes

    def get_mailbox(self, mailbox_id: str) -> Mailbox | None:
        return self._classes.resolved(self._store.get_mailbox(mailbox_id))

    def snapshot(self, mailbox_id: str, message_id: str | None = None) -> Snapshot:
        found: Snapshot = self._store.snapshot(mailbox_id, message_id)  # type: ignore[attr-defined]
        return replace(found, mailbox=self._classes.resolved(found.mailbox)) if found.mailbox is not None else found

    def create_mailbox(self, mailbox: Mailbox) -> Mailbox:
        return self._classes.resolved(self._store.create_mailbox(as_stored(mailbox)))  # type: ignore[return-value]

    def replace_mailbox(self, mailbox: Mailbox) -> Mailbox:
        return self._classes.resolved(self._store.replace_mailbox(as_stored(mailbox)))  # type: ignore[return-value]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
