"""Where audio lives in blob storage: the one place that builds and parses blob paths.

A path is `{container}/{name}`; the names are

    {mailboxId}/{messageId}                          a message's original (incoming container)
    {mailboxId}/{messageId}/{rendition}              its renditions (audio container)
    greetings/{mailboxId}/{kind}/{version}           a greeting's original (incoming container)
    greetings/{mailboxId}/{kind}/{version}/{rendition}  its renditions (audio container)
    {mailboxId}/{exportId}.zip                       a data request's export (exports container)

The pipeline parses what lands in `incoming/`; the retention sweep parses what it finds, to ask
whether a document still names it. Anything else is `None`: not ours to touch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.domain.audio import Containers
from shared.domain.model import GREETING_KINDS, MESSAGE_ID
from shared.domain.tenancy import MAILBOX_KEY

GREETINGS = "greetings"
EXPORTS_CONTAINER = "exports"  # its lifecycle rule (infra/modules/stamp.bicep) deletes a ZIP after a day
_RENDITION = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True)
class AudioPath:
    """A parsed path: a message's audio (kind None) or a greeting's (kind set; id is its version)."""

    container: str
    mailbox_id: str
    id: str
    kind: str | None = None
    rendition: str | None = None

    @property
    def is_greeting(self) -> bool:
        return self.kind is not None

    @property
    def is_original(self) -> bool:
        return self.rendition is None


def join(container: str, name: str) -> str:
    return f"{container}/{name}"


def split(path: str) -> tuple[str, str]:
    """(container, name within it)."""
    container, _, name = path.partition("/")
    return container, name


def message_original(containers: Containers, mailbox_id: str, message_id: str) -> str:
    return join(containers.incoming, f"{mailbox_id}/{message_id}")


def message_rendition(containers: Containers, mailbox_id: str, message_id: str, rendition: str) -> str:
    return join(containers.audio, f"{mailbox_id}/{message_id}/{rendition}")


def greeting_original(containers: Containers, mailbox_id: str, kind: str, version: str) -> str:
    return join(containers.incoming, f"{GREETINGS}/{mailbox_id}/{kind}/{version}")


def greeting_rendition(containers: Containers, mailbox_id: str, kind: str, version: str, rendition: str) -> str:
    return join(containers.audio, f"{GREETINGS}/{mailbox_id}/{kind}/{version}/{rendition}")


def export_archive(mailbox_id: str, export_id: str) -> str:
    """A mailbox's export ZIP (shared/domain/exports.py); a mailbox's exports share its prefix."""
    return join(EXPORTS_CONTAINER, f"{mailbox_id}/{export_id}.zip")


def rendition_of(containers: Containers, original: AudioPath, rendition: str) -> str:
    """Where a rendition of this message's or greeting's audio goes."""
    if original.is_greeting:
        return greeting_rendition(containers, original.mailbox_id, original.kind, original.id, rendition)
    return message_rendition(containers, original.mailbox_id, original.id, rendition)


def parse(path: str) -> AudioPath | None:
    """The message or greeting a path belongs to; None for any other layout or a malformed id."""
    container, name = split(path)
    parts = name.split("/")
    if parts[0] == GREETINGS and len(parts) in (4, 5) and parts[2] in GREETING_KINDS:
        _, mailbox_id, kind, version, *rendition = parts
        found = AudioPath(container, mailbox_id, version, kind, rendition[0] if rendition else None)
    elif len(parts) in (2, 3):
        mailbox_id, message_id, *rendition = parts
        found = AudioPath(container, mailbox_id, message_id, None, rendition[0] if rendition else None)
    else:
        return None
    if not (MAILBOX_KEY.fullmatch(found.mailbox_id) and MESSAGE_ID.fullmatch(found.id)):
        return None
    if found.rendition is not None and not _RENDITION.fullmatch(found.rendition):
        return None
    return found
