"""An erasure across two local regions (`make run REGIONS=2 PLANES=2`), as a subscriber's erasure
request would be answered: a message deposited in one region, read and its MP3 made in the other, a
greeting in each; then a deprovision, and once its erasure is `done` nothing of the mailbox is left
in either region's storage account or Cosmos emulator but its tombstone and the erasure's records."""

from __future__ import annotations

import httpx
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.cosmos import CosmosClient
from azure.storage.blob import BlobServiceClient
from voicemail_client import ApiError, VoicemailClient

from devstack import localstack
from tests.integration.api_support import new_mailbox_id
from tests.integration.test_run_regions import SAMPLE, two_local_regions  # noqa: F401 - the fixture
from tests.support import PLATFORM_KEY, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]  # may wait its turn for region 2 (test_run_regions)
KEY = {"x-api-key": PLATFORM_KEY}


def blobs_of(region: int, mailbox: str) -> list[str]:
    service = BlobServiceClient.from_connection_string(
        localstack.storage_connection_string(ports=localstack.region_storage_ports(region)))
    found = []
    for container in ("incoming", "audio", "journal"):
        try:
            found += [f"{container}/{blob.name}" for blob in service.get_container_client(container).list_blobs()
                      if f"{mailbox}/" in blob.name]
        except ResourceNotFoundError:
            continue
    return found


def documents_of(region: int, mailbox: str) -> list[tuple[str, str]]:
    container = CosmosClient(localstack.cosmos_endpoint(localstack.region_cosmos_port(region)),
                             credential=localstack.COSMOS_KEY, enable_endpoint_discovery=False) \
        .get_database_client("voicemail").get_container_client("mailboxes")
    return sorted((d["id"], d.get("type", "")) for d in container.query_items(
        "SELECT c.id, c.type FROM c WHERE c.mailboxId = @m", parameters=[{"name": "@m", "value": mailbox}],
        partition_key=mailbox))


def greeting(endpoint: str, mailbox: str, kind: str) -> None:
    answer = httpx.put(f"{endpoint}/mailboxes/{mailbox}/greetings/{kind}", content=SAMPLE.read_bytes(),
                       headers={**KEY, "Content-Type": "audio/wav"}, timeout=30)
    assert answer.status_code == 202, answer.text

    def ready() -> bool:
        return httpx.get(f"{endpoint}/mailboxes/{mailbox}/greetings/{kind}/audio", headers=KEY,
                         timeout=10).status_code == 200

    wait_until(ready, 60, interval=0.5, message=f"the {kind} greeting ready")


def test_an_erasure_leaves_nothing_of_the_mailbox_in_either_region(two_local_regions):  # noqa: F811
    _, (one, two), _, _ = two_local_regions
    mailbox = new_mailbox_id()
    in_one, in_two = VoicemailClient([one], api_key=PLATFORM_KEY), VoicemailClient([two], api_key=PLATFORM_KEY)
    in_two.provision(mailbox, "To be erased", "1234")
    message = in_two.deposit(mailbox, SAMPLE)

    def ready_in_one() -> bool:
        try:
            return in_one.get_message(mailbox, message["id"])["status"] == "ready"
        except ApiError as error:
            if error.status != 404:
                raise
            return False

    wait_until(ready_in_one, 90, interval=0.5, message="the message ready as seen from local1")
    data, _ = in_one.download(mailbox, message["id"], "mp3")  # made on first request, in local1
    assert data
    greeting(one, mailbox, "busy")
    wait_until(lambda: httpx.get(f"{two}/mailboxes/{mailbox}", headers=KEY, timeout=10).status_code == 200, 30)
    greeting(two, mailbox, "unavailable")
    one_has, two_has = blobs_of(1, mailbox), blobs_of(2, mailbox)
    assert f"audio/{mailbox}/{message['id']}/mp3" in one_has  # made in local1, recorded nowhere
    assert f"incoming/{mailbox}/{message['id']}" in two_has  # the original, where it was deposited
    assert any(p.startswith(f"incoming/greetings/{mailbox}/busy/") for p in one_has)
    assert any(p.startswith(f"incoming/greetings/{mailbox}/unavailable/") for p in two_has)

    assert httpx.get(f"{one}/mailboxes/{mailbox}/erasure", headers=KEY, timeout=10).status_code == 404
    assert httpx.delete(f"{one}/mailboxes/{mailbox}", headers=KEY, timeout=10).status_code == 202
    refused = httpx.put(f"{one}/mailboxes/{mailbox}", json={"displayName": "New owner"}, headers=KEY, timeout=10)
    assert refused.status_code == 409 and refused.json()["type"].endswith("mailbox-deprovisioning")
    status: dict = {}

    def done() -> bool:
        got = httpx.get(f"{one}/mailboxes/{mailbox}/erasure", headers=KEY, timeout=10)
        if got.status_code == 200:
            status.update(got.json())
        return status.get("status") == "done"

    wait_until(done, 120, interval=1, message="the erasure done in both regions")
    assert status["removed"]["blobs"] >= 6 and status["removed"]["documents"] >= 3
    assert status["backupsExpireAt"]
    assert blobs_of(1, mailbox) == [] and blobs_of(2, mailbox) == []
    for region in (1, 2):
        left = documents_of(region, mailbox)
        assert {kind for _, kind in left} <= {"mailbox", "erasure", "usage"}, left  # usage: billing (docs/usage.md)
