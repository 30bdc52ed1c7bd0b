"""Authentication: platform API keys and subscriber session tokens from request headers."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from shared.domain.errors import InvalidToken, Unauthorized
from shared.domain.principal import PLATFORM, Principal
from shared.domain.security import TokenError, api_key_matches, issue_token, verify_token


class Authenticator:
    def __init__(self, platform_key_hashes: tuple[str, ...], signing_keys: tuple[bytes, ...], token_ttl_s: int,
                 clock: Callable[[], float] = time.time):
        self._hashes = platform_key_hashes
        self._keys = signing_keys
        self._ttl_s = token_ttl_s
        self._clock = clock

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """The caller, from `x-api-key` or `Authorization: Bearer`; 401 when neither is valid."""
        api_key = headers.get("x-api-key")
        if api_key is not None:
            if api_key_matches(api_key, self._hashes):
                return PLATFORM
            raise Unauthorized("the API key is not valid")
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
        return Principal("subscriber", claims.mailbox_id)

    def issue(self, mailbox_id: str) -> tuple[str, int]:
        token, claims = issue_token(mailbox_id, self._keys[0], int(self._clock()), self._ttl_s)
        return token, claims.expires_at
