"""The queue trigger on the region's transcription queue: one attempt of a message's transcription
per queue message. The service queues the next attempt itself (with back-off) when the engine does
not answer; storage failures raise, so the queue redelivers, and poisons the job at last."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.provider import APP
from shared.domain.transcripts import TranscriptionJob

bp = func.Blueprint()
logger = logging.getLogger(__name__)
MAX_DEQUEUE_COUNT = 5  # host.json extensions.queues.maxDequeueCount: after that, the poison queue


@bp.function_name("transcription_requested")
@bp.queue_trigger(arg_name="request", queue_name="%TRANSCRIPTION_QUEUE%", connection="AzureWebJobsStorage")
def transcription_requested(request: func.QueueMessage) -> None:
    try:
        job = TranscriptionJob.from_payload(request.get_json())
    except ValueError:
        logger.error("dropped queue message %s: not a transcription job", request.id)
        return
    last = (request.dequeue_count or 1) >= MAX_DEQUEUE_COUNT
    outcome = APP().transcripts.transcribe(job, last_delivery=last)
    logger.info("transcript of %s/%s: %s", job.mailbox_id, job.message_id, outcome)
