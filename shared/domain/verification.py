"""Proof that a person owns an e-mail address or SMS number a subscriber set (API.md, "Budgets"):
such a target is `verified: false` until the 6-digit code sent to it comes back; nothing else goes
to it until then. At most 3 codes a day (a rolling 24 h) go to one target, each code lives
`CODE_TTL` and allows `MAX_WRONG_TRIES` wrong guesses. Targets the platform sets are verified.

The code is stored only as a salted SHA-256 (`codeHash`), compared in constant time, in the
mailbox's notification document under `verifications`, keyed by the target (`target_key`): the
count of codes survives removing and adding the target again, and is pruned once a day old.

Targets stored before verification existed have no `verified` field: they keep receiving (the
document does not say who set them, and the platform's must not stop); a subscriber's PUT that keeps
one makes it unverified and sends it a code, a platform PUT makes it verified.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.domain.errors import NotFound, TooManyRequests
from shared.domain.notifications import NotificationConfig, target_key

CODES_A_DAY = 3
DAY = timedelta(hours=24)
CODE_TTL = timedelta(minutes=30)
MAX_WRONG_TRIES = 5
VERIFIABLE = {"email": "address", "sms": "number"}


class VerifyTarget(BaseModel):
    """The body of `POST /mailboxes/{id}/notifications/verify`: the target and the code it got."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "oneOf": [{"required": ["address"]}, {"required": ["number"]}]})
    address: str | None = Field(default=None, max_length=254)
    number: str | None = Field(default=None, max_length=16)
    code: str = Field(pattern=r"^[0-9]{6}$")

    @model_validator(mode="after")
    def _one_target(self) -> VerifyTarget:
        if (self.address is None) == (self.number is None):
            raise ValueError("give either address or number")
        return self

    @property
    def target(self) -> tuple[str, str]:
        return ("email", self.address) if self.address is not None else ("sms", self.number or "")


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def code_hash(key: str, salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}\n{key}\n{code}".encode()).hexdigest()


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _sent_today(record: dict[str, Any] | None, now: datetime) -> list[str]:
    return [at for at in (record or {}).get("sentAt", []) if _time(at) > now - DAY]


def _usable(record: dict[str, Any] | None, now: datetime) -> bool:
    """Whether the target's last code can still confirm it (not expired, not guessed out)."""
    return bool(record and record.get("codeHash") and _time(record["expiresAt"]) > now
                and record.get("wrongTries", 0) < MAX_WRONG_TRIES)


def _issue(key: str, record: dict[str, Any] | None, now: datetime) -> tuple[dict[str, Any], str]:
    """A fresh code for the target (its hash recorded), or 429 past 3 a day."""
    sent = _sent_today(record, now)
    if len(sent) >= CODES_A_DAY:
        wait = _time(min(sent)) + DAY - now
        raise TooManyRequests(f"{CODES_A_DAY} verification codes a day per target; this one has had them",
                              retry_after_s=max(1, int(wait.total_seconds()) + 1))
    code, salt = new_code(), secrets.token_hex(16)
    return {"codeHash": code_hash(key, salt, code), "salt": salt, "expiresAt": (now + CODE_TTL).isoformat(),
            "wrongTries": 0, "sentAt": [*sent, now.isoformat()]}, code


def require_proof(current: NotificationConfig, wanted: NotificationConfig, platform: bool, now: datetime
                  ) -> tuple[NotificationConfig, dict[str, tuple[dict[str, str], str]]]:
    """The configuration with each e-mail and SMS target's `verified` flag, and the codes to send
    (target key -> (target, code)). The platform's targets are verified. A subscriber's target is
    verified if it already was; otherwise it gets a code unless its last one can still be used."""
    before = {target_key(t): t for t in current.targets}
    records = {k: r for k, r in current.verifications.items() if _sent_today(r, now)}  # a day old: forgotten
    targets, codes = [], {}
    for target in wanted.targets:
        if target["kind"] not in VERIFIABLE:
            targets.append(target)
            continue
        key, old = target_key(target), before.get(target_key(target), {})
        if platform or old.get("verified") is True:
            targets.append({**target, "verified": True})
            continue
        if old.get("verified") is False and _usable(records.get(key), now):
            targets.append({**target, "verified": False})  # its code is on its way: not another one
            continue
        records[key], code = _issue(key, records.get(key), now)
        codes[key] = (target, code)
        targets.append({**target, "verified": False})
    return replace(wanted, targets=tuple(targets), verifications=records), codes


def confirm(config: NotificationConfig, body: VerifyTarget, now: datetime
            ) -> tuple[NotificationConfig, str | None]:
    """The configuration after this attempt, and why it failed (None: the target is verified). A
    wrong code counts against the code's tries, so the caller must store the result either way."""
    kind, value = body.target
    found = [t for t in config.targets if t["kind"] == kind and t[VERIFIABLE[kind]] == value]
    if not found:
        raise NotFound(f"no {kind} target {value} in this mailbox's notifications")
    target, key = found[0], target_key(found[0])
    if target.get("verified", True):
        return config, None  # confirmed already (or set by the platform): nothing to do
    record = config.verifications.get(key)
    if not _usable(record, now):
        return config, "this target has no valid code: it expired or had too many wrong tries; set it again"
    assert record is not None
    if not hmac.compare_digest(code_hash(key, record["salt"], body.code), record["codeHash"]):
        tries = record.get("wrongTries", 0) + 1
        spent = {**config.verifications, key: {**record, "wrongTries": tries}}
        left = MAX_WRONG_TRIES - tries
        why = f"the code is wrong; {left} more tries" if left else "the code is wrong and now spent; set it again"
        return replace(config, verifications=spent), why
    targets = tuple({**t, "verified": True} if t is target else t for t in config.targets)
    verifications = {**config.verifications, key: {"sentAt": record.get("sentAt", [])}}  # the count stays
    return replace(config, targets=targets, verifications=verifications), None


def code_message(kind: str, code: str) -> tuple[str, str]:
    """Subject and text of the message carrying a code: fixed words, nothing a subscriber chose."""
    minutes = int(CODE_TTL.total_seconds() // 60)
    text = (f"Your voicemail notification code is {code}. It confirms this {'address' if kind == 'email' else 'number'}"
            f" for voicemail notifications and expires in {minutes} minutes. If you did not ask for it, ignore this.")
    return "Your voicemail notification code", text
