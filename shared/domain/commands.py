"""Request bodies as typed commands: unknown fields are rejected, every field is bounded."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.domain.model import Folder, GreetingChoice, MailboxSettings, TimeZoneName
from shared.domain.tenants import CLASS_NAME

PIN = r"^[0-9]{4,12}$"
PHONE = r"^\+?[0-9A-Za-z*#.()\- ]{1,32}$"
# Audio only: whatever is deposited is served back from our origin, so nothing else gets in.
AUDIO_CONTENT_TYPE = r"^(audio/[a-z0-9][a-z0-9.+-]{0,60}|application/octet-stream)$"


CALLER_NAME_MAX = 100


def caller_name(value: str | None) -> str | None:
    """The one rule for `fromName` on every deposit path: at most 100 printable characters, so no
    control, line or paragraph separator or bidi control gets into what people read; empty is none."""
    if not value:
        return None
    if len(value) > CALLER_NAME_MAX or not value.isprintable():
        raise ValueError(f"fromName is limited to {CALLER_NAME_MAX} printable characters")
    return value


CallerName = Annotated[str | None, Field(max_length=CALLER_NAME_MAX), AfterValidator(caller_name)]


class Strict(BaseModel):
    # strict: JSON types as declared ("heard": "yes" is not a boolean, "sizeBytes": "12" not a number)
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, strict=True)


class PutMailbox(Strict):
    displayName: str = Field(min_length=1, max_length=100)
    pin: str | None = Field(None, pattern=PIN)
    settings: MailboxSettings | None = None
    # Absent: a new mailbox is `standard`, a replaced one keeps its class (as it keeps its PIN).
    classOfService: str | None = Field(None, pattern=CLASS_NAME.pattern)


class PatchMailboxSettings(Strict):
    maxMessages: int | None = Field(None, ge=1, le=10_000)
    maxMessageSeconds: int | None = Field(None, ge=1, le=3_600)
    minMessageSeconds: int | None = Field(None, ge=0, le=60)
    retentionDays: int | None = Field(None, ge=0, le=3_650)
    trashRetentionDays: int | None = Field(None, ge=0, le=365)
    language: str | None = Field(None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    timeZone: TimeZoneName | None = None


class PatchMailbox(Strict):
    displayName: str | None = Field(None, min_length=1, max_length=100)
    greeting: GreetingChoice | None = None
    settings: PatchMailboxSettings | None = None
    classOfService: str | None = Field(None, pattern=CLASS_NAME.pattern)


class CreateSession(Strict):
    pin: str = Field(min_length=1, max_length=64)


class ChangePin(Strict):
    currentPin: str | None = Field(None, min_length=1, max_length=64)
    newPin: str = Field(pattern=PIN)


class RequestUpload(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str | None = Field(None, alias="from", pattern=PHONE)
    fromName: CallerName = None
    urgent: bool = False
    contentType: str = Field(pattern=AUDIO_CONTENT_TYPE, max_length=100)
    sizeBytes: int = Field(ge=1, le=20 * 1024 * 1024)


class PatchMessage(Strict):
    heard: bool | None = None
    folder: Folder | None = None
    urgent: bool | None = None


class ForwardMessage(Strict):
    to: str = Field(pattern=r"^\+?[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
