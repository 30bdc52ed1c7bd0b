"""The blob trigger on `incoming/`: audio that landed by a direct upload makes its message visible.

In Azure the trigger is fed by Event Grid (`source="EventGrid"`); the local host polls Azurite.
The transcoding pipeline extends this function.
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.bootstrap import bootstrap
from shared.domain.model import MAILBOX_ID, MESSAGE_ID

bp = func.Blueprint()
logger = logging.getLogger(__name__)


@bp.function_name("incoming_audio")
@bp.blob_trigger(arg_name="blob", path="incoming/{name}", connection="AzureWebJobsStorage", source="EventGrid")
def incoming_audio(blob: func.InputStream) -> None:
    _, _, name = (blob.name or "").partition("/")
    mailbox_id, _, message_id = name.rpartition("/")
    if not MAILBOX_ID.fullmatch(mailbox_id) or not MESSAGE_ID.match(message_id):
        logger.warning("ignoring %s: not incoming/{mailboxId}/{messageId}", blob.name)
        return
    bootstrap().messages.upload_landed(mailbox_id, message_id, blob.length or 0)
