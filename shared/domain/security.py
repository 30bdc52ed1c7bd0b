"""Credentials: platform API keys, subscriber PINs (slow salted, peppered hashes) and session tokens.

Pure functions over bytes and clocks; the keys they use come from settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass

PIN_PATTERN = re.compile(r"^[0-9]{4,12}$")
# scrypt at N=2^14, r=8: about 16 MiB and tens of milliseconds per guess.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
# The version prefix of a peppered PIN hash: scrypt's input is HMAC-SHA256(PIN_PEPPER, PIN), so a
# copy of the database alone cannot be guessed against. Unprefixed `scrypt$...` hashes (made before
# the pepper) still verify, and a login upgrades them.
PEPPERED = "v2"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_api_key(key: str) -> str:
    """What settings hold for a platform key: its SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


KEY_ID_DIGITS = 12


def api_key_matches(key: str, allowed_hashes: tuple[str, ...]) -> bool:
    """Constant-time against every configured hash (no early exit on a match)."""
    return matching_key_id(key, allowed_hashes) is not None


def matching_key_id(key: str, allowed_hashes: tuple[str, ...]) -> str | None:
    """The key's id (the first 12 hex digits of its hash, as configured) when it is one of the
    allowed keys, else None; compared in constant time against every hash (no early exit)."""
    presented = hash_api_key(key)
    found = False
    for allowed in allowed_hashes:
        found |= hmac.compare_digest(presented, allowed)
    return presented[:KEY_ID_DIGITS] if found else None


def _peppered(pin: str, pepper: bytes) -> bytes:
    return hmac.new(pepper, pin.encode(), hashlib.sha256).digest()


def hash_pin(pin: str, pepper: bytes) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(_peppered(pin, pepper), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"{PEPPERED}$scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


_DUMMY_HASH = hash_pin("000000", bytes(32))


def pin_matches(pin: str, stored: str | None, pepper: bytes) -> bool:
    """True when pin matches stored (peppered or, from before the pepper, not); the same work is
    done when nothing is stored (no timing oracle)."""
    text = stored or _DUMMY_HASH
    peppered = text.startswith(f"{PEPPERED}$")
    _, n, r, p, salt, digest = text.split("$", 1)[1].split("$") if peppered else text.split("$")
    secret = _peppered(pin, pepper) if peppered else pin.encode()
    candidate = hashlib.scrypt(secret, salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    return hmac.compare_digest(candidate, _unb64(digest)) and stored is not None


def pin_hash_outdated(stored: str) -> bool:
    """A hash from before the pepper: the next right PIN replaces it (MailboxService.login)."""
    return not stored.startswith(f"{PEPPERED}$")


@dataclass(frozen=True)
class SessionClaims:
    mailbox_id: str
    issued_at: int
    expires_at: int
    session_id: str
    epoch: int = 0  # the mailbox's session epoch when it was issued: a later epoch ends the session
    incarnation: str = ""  # the mailbox's incarnation (holds.py): the id provisioned anew ends the session


class TokenError(ValueError):
    """The token is malformed, tampered with or expired."""


def issue_token(mailbox_id: str, key: bytes, now: int, ttl_s: int, epoch: int = 0,
                incarnation: str = "") -> tuple[str, SessionClaims]:
    claims = SessionClaims(mailbox_id, now, now + ttl_s, secrets.token_hex(8), epoch, incarnation)
    payload = _b64(json.dumps({"mbx": claims.mailbox_id, "iat": claims.issued_at, "exp": claims.expires_at,
                               "sid": claims.session_id, "ep": claims.epoch, "inc": claims.incarnation},
                              separators=(",", ":")).encode())
    signature = _b64(hmac.new(key, f"v1.{payload}".encode(), hashlib.sha256).digest())
    return f"v1.{payload}.{signature}", claims


def verify_token(token: str, keys: tuple[bytes, ...], now: int) -> SessionClaims:
    """Claims of a token signed by any of keys (the current one first, then previous ones)."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != "v1":
        raise TokenError("malformed")
    signed = f"v1.{parts[1]}".encode()
    try:
        signature = _unb64(parts[2])
    except ValueError:
        raise TokenError("malformed") from None
    if not any(hmac.compare_digest(hmac.new(key, signed, hashlib.sha256).digest(), signature) for key in keys):
        raise TokenError("bad signature")
    try:
        data = json.loads(_unb64(parts[1]))
        claims = SessionClaims(str(data["mbx"]), int(data["iat"]), int(data["exp"]), str(data["sid"]),
                               int(data.get("ep", 0)), str(data.get("inc", "")))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise TokenError("malformed") from None
    if now >= claims.expires_at:
        raise TokenError("expired")
    return claims
