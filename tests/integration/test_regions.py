"""Two local regions: two hosts, each with its own storage account (Azurite serves both), sharing
the one Cosmos emulator as the regions share a multi-region Cosmos DB account."""

from __future__ import annotations

import pytest
from azure.storage.blob import BlobServiceClient

from devstack import localstack
from tests.integration.api_support import PLATFORM, Api
from tests.support import ROOT, HostProcess, product_env, random_name, wait_until

pytestmark = pytest.mark.integration
SPEECH = (ROOT / "samples" / "hello.wav").read_bytes()
ACCOUNTS = {"a": localstack.ACCOUNTS[0], "b": localstack.ACCOUNTS[1]}


@pytest.fixture(scope="module")
def regions(stack, tmp_path_factory):
    yield from two_regions(tmp_path_factory, {})


def two_regions(tmp_path_factory, settings_a: dict[str, str]):
    names = {key: random_name(f"r{key}") for key in ACCOUNTS}
    containers = {"INCOMING_CONTAINER": random_name("in"), "AUDIO_CONTAINER": random_name("au")}
    hosts = {}
    try:
        for key, account in ACCOUNTS.items():
            other = "b" if key == "a" else "a"
            env = product_env(names[key], **containers, REGIONS=f"{names['a']},{names['b']}", REPLICA_COUNT="2",
                              **(settings_a if key == "a" else {}),
                              AzureWebJobsStorage=localstack.storage_connection_string(account),
                              MWI_QUEUE=random_name("mwi"),
                              **{f"PEER_STORAGE__{names[other]}": localstack.storage_connection_string(
                                  ACCOUNTS[other])})
            hosts[key] = HostProcess(env, tmp=tmp_path_factory.mktemp(f"region-{key}")).start()
        yield {key: (host, Api(host.base_url, host.env["MWI_QUEUE"])) for key, host in hosts.items()}, containers
    finally:
        for host in hosts.values():
            host.stop()


def blobs_in(account: str, container: str, prefix: str) -> set[str]:
    service = BlobServiceClient.from_connection_string(localstack.storage_connection_string(account))
    client = service.get_container_client(container)
    return {blob.name for blob in client.list_blobs(name_starts_with=prefix)} if client.exists() else set()


def ready_message(api: Api, mailbox: str) -> tuple[str, str]:
    """Deposit the sample in api's region and wait until it is transcoded: (its URL, its blob prefix)."""
    message = api.deposit(mailbox, SPEECH).json()
    url = f"{api.mailbox_path(mailbox)}/messages/{message['id']}"
    wait_until(lambda: api.http.get(url, headers=PLATFORM).json()["status"] == "ready", 60, interval=0.3,
               message="the message to be ready")
    return url, f"{mailbox}/{message['id']}"


def renditions(prefix: str) -> set[str]:
    """Those made at deposit: the MP3 is made in a region on its first request there."""
    return {f"{prefix}/opus", f"{prefix}/wav"}


def wait_for_renditions_in_b(containers: dict[str, str], prefix: str) -> None:
    wait_until(lambda: blobs_in(ACCOUNTS["b"], containers["AUDIO_CONTAINER"], prefix) == renditions(prefix), 30,
               message="renditions copied to region b's account")


def copied_to_b(regions):
    """A ready message deposited in region a, its renditions copied to region b's account."""
    hosts, containers = regions
    (_, api_a), (_, api_b) = hosts["a"], hosts["b"]
    url, prefix = ready_message(api_a, api_a.provision())
    wait_for_renditions_in_b(containers, prefix)
    return api_a, api_b, containers, url, prefix


def test_a_message_deposited_in_one_region_is_copied_to_the_other_and_served_there(regions):
    api_a, api_b, containers, url, prefix = copied_to_b(regions)
    assert blobs_in(ACCOUNTS["b"], containers["INCOMING_CONTAINER"], prefix) == {prefix}  # the original too
    from_a = api_a.http.get(f"{url}/audio", params={"format": "opus"}, headers=PLATFORM)
    from_b = api_b.http.get(f"{url}/audio", params={"format": "opus"}, headers=PLATFORM)
    assert from_b.status_code == 200 and from_b.content == from_a.content
    assert api_b.http.get(url, headers=PLATFORM).json()["status"] == "ready"  # metadata is shared


def test_a_region_missing_its_copy_serves_the_other_regions(regions):
    api_a, api_b, containers, url, prefix = copied_to_b(regions)
    service = BlobServiceClient.from_connection_string(localstack.storage_connection_string(ACCOUNTS["b"]))
    service.get_blob_client(containers["AUDIO_CONTAINER"], f"{prefix}/opus").delete_blob()
    served = api_b.http.get(f"{url}/audio", params={"format": "opus"}, headers=PLATFORM)
    assert served.status_code == 200 and served.headers["content-type"] == "audio/ogg"
    assert served.content == api_a.http.get(f"{url}/audio", params={"format": "opus"}, headers=PLATFORM).content


def test_each_region_makes_the_same_mp3_from_its_copy_of_the_original(regions):
    api_a, api_b, containers, url, prefix = copied_to_b(regions)
    from_b = api_b.http.get(f"{url}/audio", params={"format": "mp3"}, headers=PLATFORM)
    assert from_b.status_code == 200 and from_b.headers["content-type"] == "audio/mpeg"
    assert f"{prefix}/mp3" in blobs_in(ACCOUNTS["b"], containers["AUDIO_CONTAINER"], prefix)  # made and kept in b
    assert f"{prefix}/mp3" not in blobs_in(ACCOUNTS["a"], containers["AUDIO_CONTAINER"], prefix)
    assert from_b.content == api_a.http.get(f"{url}/audio", params={"format": "mp3"}, headers=PLATFORM).content


@pytest.fixture(scope="module")
def regions_without_fast_path(stack, tmp_path_factory):
    """Region a does not copy after transcoding: only the replication sweep can."""
    yield from two_regions(tmp_path_factory, {"AzureWebJobs.replication_requested.Disabled": "true"})


def test_the_replication_sweep_copies_what_the_fast_path_missed(regions_without_fast_path):
    hosts, containers = regions_without_fast_path
    _, api_a = hosts["a"]
    mailbox = api_a.provision()
    _, prefix = ready_message(api_a, mailbox)
    assert blobs_in(ACCOUNTS["b"], containers["AUDIO_CONTAINER"], prefix) == set()
    started = api_a.http.post("/admin/sweeps/replication", headers=PLATFORM)
    assert started.status_code == 202, started.text
    status = wait_until(lambda: (s := api_a.http.get(started.json()["statusUrl"].removeprefix("/api"),
                                                     headers=PLATFORM).json())["runtimeStatus"] == "Completed" and s,
                        60, interval=0.3, message="the replication sweep")
    assert status["output"]["failed"] == 0, status
    assert blobs_in(ACCOUNTS["b"], containers["AUDIO_CONTAINER"], prefix) == renditions(prefix), status


def test_greetings_play_in_the_other_region(regions):
    hosts, _ = regions
    (_, api_a), (_, api_b) = hosts["a"], hosts["b"]
    mailbox = api_a.provision()
    assert api_a.http.put(f"{api_a.mailbox_path(mailbox)}/greetings/busy", content=SPEECH,
                          headers={**PLATFORM, "content-type": "audio/wav"}).status_code == 202
    url = f"{api_a.mailbox_path(mailbox)}/greeting"
    from_a = wait_until(lambda: (r := api_a.http.get(url, params={"reason": "busy", "format": "opus"},
                                                     headers=PLATFORM)).status_code == 200 and r, 60, interval=0.3,
                        message="the greeting in region a")
    from_b = api_b.http.get(url, params={"reason": "busy", "format": "opus"}, headers=PLATFORM)
    assert from_b.status_code == 200 and from_b.content == from_a.content


def test_forwarding_in_a_region_that_has_no_copy_yet(regions_without_fast_path):
    hosts, _ = regions_without_fast_path
    (_, api_a), (_, api_b) = hosts["a"], hosts["b"]
    source, target = api_a.provision(), api_a.provision()
    url, _ = ready_message(api_a, source)
    forwarded = api_b.http.post(f"{url}/forward", json={"to": target}, headers=PLATFORM)
    assert forwarded.status_code == 202, forwarded.text
    copy = forwarded.json()
    played = api_b.http.get(f"{api_b.mailbox_path(target)}/messages/{copy['id']}/audio", params={"format": "opus"},
                            headers=PLATFORM)
    assert played.status_code == 200
