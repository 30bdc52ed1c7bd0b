"""The API's answers as models: each serialises what a route returns (`Message.as_api` and its
kin build one) and is the schema the OpenAPI document publishes (functions/openapi), so the two
cannot drift. Fields are already in their wire form (times as RFC 3339 text, quoted ETags)."""

from __future__ import annotations

import os
from typing import Annotated, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.model import FOLDERS, GREETING_KINDS, MAILBOX_ID, MESSAGE_ID, RENDITIONS, MailboxSettings

Time = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Count = Annotated[int, Field(ge=0)]
MailboxId = Annotated[str, Field(pattern=MAILBOX_ID.pattern)]
Status = Literal["processing", "ready", "failed"]
Rendition = Literal[RENDITIONS]  # type: ignore[valid-type] - the tuple's values
Folder = Literal[FOLDERS]  # type: ignore[valid-type]
GreetingKind = Literal[GREETING_KINDS]  # type: ignore[valid-type]


class View(BaseModel):
    """An answer: exactly these fields (additionalProperties false), by their wire names.

    `build` makes one. Served, it is constructed without validation (the fields come from documents
    the app wrote and checked); with VALIDATE_VIEWS=true, as every test run sets it (tests/conftest.py,
    and the hosts the tests start inherit it), each answer is validated against its model as it is
    built, so an answer that breaks the published schema fails the test that builds it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    validated: ClassVar[bool] = os.environ.get("VALIDATE_VIEWS", "").lower() == "true"

    @classmethod
    def build(cls, **fields: object) -> Self:
        return cls.model_validate(fields) if View.validated else cls.model_construct(**fields)

    def as_json(self) -> dict[str, object]:
        return self.model_dump(by_alias=True)


class Counts(View):
    """Message-waiting counts: inbox unheard (`new`), `saved`, unheard urgent, and all held (inbox and
    saved; not the trash, not failed messages)."""

    new: Count
    saved: Count
    urgentNew: Count
    total: Count


class Mailbox(View):
    id: MailboxId
    displayName: str = Field(min_length=1, max_length=100)
    settings: Annotated[MailboxSettings, Field(json_schema_extra={"required": [
        "maxMessages", "maxMessageSeconds", "minMessageSeconds", "retentionDays", "trashRetentionDays",
        "language", "transcription"]})]
    greeting: Literal["personal", "name", "default"]
    classOfService: str = Field(description="its class of service (`standard` unless set)")
    pinSet: bool
    counts: Counts
    createdAt: Time
    updatedAt: Time
    etag: str


class Sender(View):
    number: str | None
    name: str | None


class Transcript(View):
    """What the message says, as text: `pending` from the moment the message is `ready`, then `ready`
    with the text or `failed` with a reason (the message itself is unaffected)."""

    status: Literal["pending", "ready", "failed"]
    text: str | None = Field(description="the words heard; null until `ready`")
    language: str = Field(description="BCP 47 locale transcribed, from the mailbox's `language` setting "
                                      "(`en` -> `en-US`)")
    confidence: float | None = Field(ge=0, le=1, description="the engine's own confidence, 0-1; null until `ready`")
    error: str | None = Field(description="why a `failed` transcript failed: `no-speech`, `unsupported-language`, "
                                          "`audio-unreadable`, `audio-unavailable`, `engine-unavailable`, "
                                          "`not-allowed` (the class of service stopped allowing it)")


class Message(View):
    id: str = Field(pattern=MESSAGE_ID.pattern)
    mailboxId: MailboxId
    folder: Folder
    heard: bool
    urgent: bool
    sender: Sender = Field(alias="from")
    receivedAt: Time
    durationMs: Count | None
    status: Status
    error: str | None = Field(description="why a `failed` message failed, e.g. `too-large` (an upload bigger "
                                          "than its `sizeBytes`), `too-short`, `silent`, `invalid-audio`")
    formats: list[Rendition]
    depositRegion: str
    expiresAt: Time | None = Field(description="when retention may delete it; null: kept")
    truncated: bool = Field(description="longer than the mailbox's maxMessageSeconds: only the start is kept")
    etag: str | None = Field(description="null only in the 202 of a deposit journaled while the database did "
                                         "not answer (no document yet; the message gets one when it is replayed)")
    transcript: Transcript | None = Field(description="null when the mailbox has `transcription: false` (or this "
                                          "deployment transcribes nothing), and while the message is `processing` "
                                          "or if it `failed`")


class Greeting(View):
    mailboxId: MailboxId
    kind: GreetingKind
    status: Status
    error: str | None
    durationMs: Count | None
    formats: list[Rendition]
    updatedAt: Time
    etag: str | None


class MessageList(View):
    items: list[Message] = Field(max_length=200)
    continuation: str | None = Field(description="pass as `continuation` for the next page; null on the last page")


RESPONSE_MODELS: tuple[type[View], ...] = (Counts, Mailbox, Transcript, Message, Greeting, MessageList)
