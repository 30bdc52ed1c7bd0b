"""The transcription queue trigger called directly, with a fake service in the app provider: one
attempt per queue message, the queue's last delivery passed on, anything not a job dropped."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from azure.functions.queue import QueueMessage

from functions import transcripts
from functions.provider import APP
from shared.domain.transcripts import TranscriptionJob

ROOT = Path(__file__).resolve().parents[2]


class Service:
    def __init__(self) -> None:
        self.calls: list[tuple[TranscriptionJob, bool]] = []

    def transcribe(self, job: TranscriptionJob, last_delivery: bool = False) -> str:
        self.calls.append((job, last_delivery))
        return "ready"


@pytest.fixture
def service():
    fake = Service()
    with APP.override(SimpleNamespace(transcripts=fake)):
        yield fake


def deliver(body: object, dequeue_count: int = 1) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    message = QueueMessage(id="q1", body=raw, dequeue_count=dequeue_count)  # as the worker hands it over
    transcripts.transcription_requested.build().get_user_function()(message)


def test_a_job_is_one_attempt_and_only_the_queues_last_delivery_says_so(service):
    job = TranscriptionJob("+1555", "m1", 2, {"traceparent": "00-a-b-01"})
    deliver(job.to_payload())
    deliver(job.to_payload(), dequeue_count=transcripts.MAX_DEQUEUE_COUNT)
    assert service.calls == [(job, False), (job, True)]


@pytest.mark.parametrize("body", [{"mailboxId": "+1555"}, [1, 2], {"mailboxId": 1, "messageId": "m", "attempt": 1},
                                  b"not json"])
def test_a_message_that_is_not_a_job_is_dropped_not_retried(service, body):
    deliver(body)  # returns normally: the queue deletes it instead of poisoning it five times later
    assert service.calls == []


def test_the_last_delivery_is_the_one_host_json_poisons_after():
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["queues"]["maxDequeueCount"] == transcripts.MAX_DEQUEUE_COUNT
