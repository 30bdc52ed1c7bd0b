"""The blob trigger on `incoming/`: every original (message or greeting) goes through the audio
pipeline once. In Azure the trigger is fed by Event Grid (`source="EventGrid"`); the local host
polls Azurite. Bad audio ends `failed` and returns; storage failures raise, so they are retried."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.provider import APP

bp = func.Blueprint()
logger = logging.getLogger(__name__)


@bp.function_name("incoming_audio")
@bp.blob_trigger(arg_name="blob", path="%INCOMING_CONTAINER%/{name}", connection="AzureWebJobsStorage",
                 source="EventGrid")
def incoming_audio(blob: func.InputStream) -> None:
    # The deposit wrote its trace context into the blob's metadata: the transcoding continues it.
    # Its size comes first: the pipeline reads the blob only if that size is one it will take.
    outcome = APP().pipeline.process(blob.name or "", blob.read, blob.metadata, size=blob.length)
    logger.info("%s: %s", blob.name, outcome)
