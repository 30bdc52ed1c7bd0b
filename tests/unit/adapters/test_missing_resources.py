"""The adapters create nothing (the Bicep does in Azure, devstack/provision.py locally): a container or
queue that is not there answers 503 naming it, never a 500 or a quiet creation."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.cosmos.exceptions import CosmosResourceNotFoundError

from shared.adapters import cosmos_client
from shared.adapters.blob import BlobAudioStore, QueueEvents
from shared.config import load_settings
from shared.domain.errors import Unavailable
from tests.unit.fakes import FAKE_ENV


def refused(action) -> str:
    with pytest.raises(Unavailable) as raised:
        action()
    assert raised.value.problem().status == 503
    return raised.value.detail


def test_audio_into_a_missing_blob_container_names_it():
    def upload_blob(*args, **kwargs):
        raise ResourceNotFoundError("The specified container does not exist.")

    service = SimpleNamespace(get_blob_client=lambda container, name: SimpleNamespace(upload_blob=upload_blob))
    detail = refused(lambda: BlobAudioStore(service).put("in-r1/+1555/m1", b"RIFF", "audio/wav", {}))
    assert "blob container 'in-r1'" in detail


def test_an_event_on_a_missing_queue_names_it():
    def send_message(body, **options):
        raise ResourceNotFoundError("The specified queue does not exist.")

    queue = SimpleNamespace(queue_name="mwi-r1", send_message=send_message)
    service = SimpleNamespace(get_queue_client=lambda name, **options: queue)
    assert "queue 'mwi-r1'" in refused(lambda: QueueEvents(service, "mwi-r1").publish_mwi({"new": 1}))


def test_a_missing_cosmos_container_is_named_once_connected(monkeypatch):
    def read(**kwargs):
        raise CosmosResourceNotFoundError(message="Resource Not Found")

    container = SimpleNamespace(read=read)
    client = SimpleNamespace(get_database_client=lambda name: SimpleNamespace(
        get_container_client=lambda name: container))
    monkeypatch.setattr(cosmos_client, "make_cosmos_client", lambda settings, credential: client)
    settings = load_settings({**FAKE_ENV, "REGION": "r1"})
    assert "Cosmos DB container 'voicemail/mailboxes'" in refused(cosmos_client.CosmosContainer(settings, None).get)
