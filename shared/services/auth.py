"""Authentication: API keys (tenant `default`'s platform keys, the operator's, tenants' issued keys)
and subscriber session tokens from request headers.

A session ends when its mailbox's session epoch moves past the one in its token (a PIN change, a
platform PIN reset, deprovisioning), and when the mailbox is no longer the incarnation its token
names (the id was provisioned anew: shared/domain/holds.py). Each request checks both, cached per
process for at most `EPOCH_CACHE_S`: a token ends within that time in every region once the
mailbox replicates.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from shared.domain.errors import InvalidToken, Unauthorized
from shared.domain.principal import Principal
from shared.domain.security import TokenError, issue_token, matching_key_id, verify_token
from shared.domain.tenants import key_matches, parse_key
from shared.services.tenants import TenantKeys

EPOCH_CACHE_S = 4.0  # under the contract's 5 s, leaving room for the read itself
Sessions = tuple[str, int] | None  # a mailbox's (incarnation, session epoch); None: no active mailbox


class SessionEpochs:
    """The current incarnation and session epoch of each mailbox (None: no active mailbox), cached briefly."""

    def __init__(self, read: Callable[[str], Sessions], ttl_s: float = EPOCH_CACHE_S,
                 clock: Callable[[], float] = time.monotonic, max_entries: int = 100_000):
        self._read = read
        self._ttl_s = ttl_s
        self._clock = clock
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Sessions]] = {}

    def current(self, mailbox_id: str) -> Sessions:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(mailbox_id)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        epoch = self._read(mailbox_id)
        self.changed(mailbox_id, epoch, now)
        return epoch

    def changed(self, mailbox_id: str, epoch: Sessions, at: float | None = None) -> None:
        with self._lock:
            if len(self._cache) >= self._max_entries:
                self._cache.clear()  # bounded memory; the next requests read again
            self._cache[mailbox_id] = (self._clock() if at is None else at, epoch)


class Authenticator:
    def __init__(self, platform_key_hashes: tuple[str, ...], signing_keys: tuple[bytes, ...], token_ttl_s: int,
                 *, epochs: SessionEpochs | None, clock: Callable[[], float] = time.time,
                 pin_pepper: bytes = bytes(32), operator_key_hashes: tuple[str, ...] = (),
                 tenant_keys: TenantKeys | None):
        self.pin_pepper = pin_pepper  # PIN_PEPPER (bootstrap passes the setting; the default is for tests)
        self._hashes = platform_key_hashes
        self._operator_hashes = operator_key_hashes
        self._tenant_keys = tenant_keys
        self._keys = signing_keys
        self._ttl_s = token_ttl_s
        self._clock = clock
        self._epochs = epochs

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """The caller, from `x-api-key` or `Authorization: Bearer`; 401 when neither is valid."""
        api_key = headers.get("x-api-key")
        if api_key is not None:
            return self._key_holder(api_key)
        authorization = headers.get("authorization")
        if authorization is None:
            raise Unauthorized("send x-api-key or Authorization: Bearer <token>")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("use Authorization: Bearer <token>")
        try:
            claims = verify_token(token.strip(), self._keys, int(self._clock()))
        except TokenError:
            raise InvalidToken("the token is invalid or has expired; log in again") from None
        if self._epochs is not None:
            current = self._epochs.current(claims.mailbox_id)
            if current is None or claims.incarnation != current[0] or claims.epoch < current[1]:
                raise InvalidToken("the session has ended (PIN changed or mailbox removed); log in again")
        return Principal("subscriber", claims.mailbox_id)

    def _key_holder(self, api_key: str) -> Principal:
        """Tenant `default`'s platform keys and the operator's (configured hashes), or a tenant's key
        (issued: `vm.{tenant}.{keyId}.{secret}`, one cached point read)."""
        issued = parse_key(api_key)
        if issued is not None and self._tenant_keys is not None:
            tenant, key_id = issued
            if key_matches(api_key, self._tenant_keys.hash_of(tenant, key_id)):
                return Principal("platform", key_id=key_id, tenant=tenant)
            raise Unauthorized("the API key is not valid (or was revoked)")
        key_id = matching_key_id(api_key, self._hashes)
        if key_id is not None:
            return Principal("platform", key_id=key_id)
        key_id = matching_key_id(api_key, self._operator_hashes)
        if key_id is not None:
            return Principal("operator", key_id=key_id)
        raise Unauthorized("the API key is not valid")

    def issue(self, mailbox_id: str, epoch: int = 0, incarnation: str = "") -> tuple[str, int]:
        token, claims = issue_token(mailbox_id, self._keys[0], int(self._clock()), self._ttl_s, epoch, incarnation)
        return token, claims.expires_at

    def epoch_changed(self, mailbox_id: str, epoch: Sessions) -> None:
        if self._epochs is not None:
            self._epochs.changed(mailbox_id, epoch)
