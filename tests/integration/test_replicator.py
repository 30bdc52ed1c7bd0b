"""The local replicator (devstack/replicator/): two Cosmos emulators of its own, on free ports, kept
in step as Cosmos DB multi-region writes keep regions, through the real azure-cosmos SDK.

Concurrent writes are made while the regions are partitioned, more than a second apart (`_ts` is
in seconds), so which one is the later is certain.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.cosmos import ContainerProxy, CosmosClient, DatabaseProxy, PartitionKey
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosResourceNotFoundError

from devstack import localstack, replicator
from tests.support import free_port, random_name, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

LATER = 1.1  # seconds between two writes whose order must show in `_ts`


@dataclass
class TwoRegions:
    endpoints: list[str]
    state: Path
    emulators: list[localstack.Service]
    databases: list[DatabaseProxy]

    def new_container(self, policy: dict | None = None) -> tuple[ContainerProxy, ContainerProxy]:
        """A container created in region A only; returned once the replicator made it in B too."""
        name = random_name("c")
        options = {"conflict_resolution_policy": policy} if policy else {}
        a = self.databases[0].create_container(name, partition_key=PartitionKey(path="/pk"), **options)
        b = self.databases[1].get_container_client(name)
        wait_until(lambda: _exists(b), 10, message=f"container {name} in region B")
        return a, b

    def converged(self, timeout: float = 15.0) -> None:
        replicator.wait_converged(self.endpoints, timeout, state_dir=self.state,
                                  databases=[self.databases[0].id])


def _exists(container: ContainerProxy) -> bool:
    try:
        container.read()
    except CosmosResourceNotFoundError:
        return False
    return True


def read(container: ContainerProxy, item: str, pk: str = "p") -> dict | None:
    try:
        return container.read_item(item, partition_key=pk)
    except CosmosResourceNotFoundError:
        return None


def eventually_read(container: ContainerProxy, item: str, pk: str = "p", timeout: float = 10.0, **expected) -> dict:
    def matches():
        doc = read(container, item, pk)
        return doc if doc is not None and all(doc.get(k) == v for k, v in expected.items()) else None

    return wait_until(matches, timeout, message=f"{item} {expected} in {container.id}")


def conflicts_of(container: ContainerProxy) -> dict[str, dict]:
    """The conflicts feed, by the id of the losing document."""
    return {json.loads(conflict["content"])["id"]: conflict for conflict in container.list_conflicts()}


@pytest.fixture(scope="module")
def regions(tmp_path_factory):
    state = tmp_path_factory.mktemp("replicator")
    ports: list[int] = []
    while len(ports) < 2:
        port = free_port()
        if port not in ports:
            ports.append(port)
    endpoints = [localstack.cosmos_endpoint(port) for port in ports]
    emulators = [localstack.cosmos(port, name=random_name("cosmos")) for port in ports]
    started: list[localstack.Service] = []
    try:
        for emulator in emulators:
            localstack.start(emulator)
            started.append(emulator)
        replication = localstack.replicator(endpoints, state, name=random_name("replicator"))
        localstack.start(replication, timeout=30)
        started.append(replication)
        clients = [CosmosClient(endpoint, credential=localstack.COSMOS_KEY, enable_endpoint_discovery=False)
                   for endpoint in endpoints]
        name = random_name("db")
        clients[0].create_database(name)
        database_b = clients[1].get_database_client(name)
        wait_until(lambda: any(d["id"] == name for d in clients[1].list_databases()), 10, message="database in B")
        yield TwoRegions(endpoints, state, emulators, [clients[0].get_database_client(name), database_b])
    finally:
        for service in reversed(started):
            localstack.stop(service)


@pytest.fixture(autouse=True)
def healed(regions):
    """Every test starts and ends with replication on, whatever it did in between."""
    replicator.heal(regions.state)
    yield
    replicator.heal(regions.state)


def test_a_new_container_keeps_its_partition_key_and_conflict_policy(regions):
    a, b = regions.new_container({"mode": "Custom"})
    assert b.read()["partitionKey"]["paths"] == ["/pk"]
    assert b.read()["conflictResolutionPolicy"] == a.read()["conflictResolutionPolicy"]
    assert a.read()["conflictResolutionPolicy"]["mode"] == "Custom"
    _, lww_b = regions.new_container()  # none declared: Cosmos DB's default, last writer wins on _ts
    assert lww_b.read()["conflictResolutionPolicy"] == {
        "mode": "LastWriterWins", "conflictResolutionPath": "/_ts", "conflictResolutionProcedure": ""}


def test_creates_replaces_and_deletes_replicate_both_ways(regions):
    a, b = regions.new_container()
    a.create_item({"id": "x", "pk": "p", "v": 1})
    copy = eventually_read(b, "x", v=1)
    assert copy["_etag"] != read(a, "x")["_etag"]  # a copy of its own, not the same record
    b.create_item({"id": "y", "pk": "q", "v": 2})
    eventually_read(a, "y", "q", v=2)
    b.replace_item("x", {"id": "x", "pk": "p", "v": 3})
    eventually_read(a, "x", v=3)
    a.delete_item("y", partition_key="q")
    wait_until(lambda: read(b, "y", "q") is None, 10, message="the delete of y in region B")
    regions.converged()
    # No ping-pong: once in step, nothing is written again.
    etags = (read(a, "x")["_etag"], read(b, "x")["_etag"])
    time.sleep(0.6)
    assert (read(a, "x")["_etag"], read(b, "x")["_etag"]) == etags
    assert read(a, "x")["v"] == 3 and read(b, "y", "q") is None
    assert list(a.list_conflicts()) == [] and list(b.list_conflicts()) == []


def test_partition_cuts_replication_and_heal_converges(regions):
    a, b = regions.new_container()
    a.create_item({"id": "before", "pk": "p"})
    eventually_read(b, "before")
    replicator.partition(regions.state)
    a.create_item({"id": "in-a", "pk": "p"})
    b.create_item({"id": "in-b", "pk": "p"})
    a.replace_item("before", {"id": "before", "pk": "p", "changed": "in a"})
    time.sleep(1.0)  # several cycles: nothing crosses, both regions accepted their writes
    assert read(b, "in-a") is None and read(a, "in-b") is None
    assert "changed" not in read(b, "before")
    assert replicator.read_status(regions.state)["partitioned"] is True
    replicator.heal(regions.state)
    regions.converged()
    for container in (a, b):
        assert read(container, "in-a") and read(container, "in-b")
        assert read(container, "before")["changed"] == "in a"


def test_last_writer_wins_and_a_delete_beats_a_later_replace(regions):
    a, b = regions.new_container()  # LastWriterWins on /_ts
    by_version, by_version_b = regions.new_container({"mode": "LastWriterWins", "conflictResolutionPath": "/version"})
    for container in (a, by_version):
        for item in ("x", "y"):
            container.create_item({"id": item, "pk": "p", "version": 1})
    eventually_read(b, "y")
    eventually_read(by_version_b, "y")
    regions.converged()
    replicator.partition(regions.state)
    a.replace_item("x", {"id": "x", "pk": "p", "by": "a"})
    b.delete_item("y", partition_key="p")
    by_version_b.replace_item("x", {"id": "x", "pk": "p", "version": 9, "by": "b"})
    time.sleep(LATER)
    b.replace_item("x", {"id": "x", "pk": "p", "by": "b"})
    a.replace_item("y", {"id": "y", "pk": "p", "by": "a, later than the delete"})
    by_version.replace_item("x", {"id": "x", "pk": "p", "version": 5, "by": "a"})
    replicator.heal(regions.state)
    regions.converged()
    for container in (a, b):
        assert read(container, "x")["by"] == "b"  # the later write
        assert read(container, "y") is None  # a delete wins, even over a later replace
        assert list(container.list_conflicts()) == []  # losers vanish
    for container in (by_version, by_version_b):
        assert read(container, "x")["version"] == 9  # the highest value of the declared path, not the latest


def test_custom_policy_commits_the_latest_and_feeds_the_losers_to_every_region(regions):
    a, b = regions.new_container({"mode": "Custom"})
    originals = {item: a.create_item({"id": item, "pk": "p", "v": "original"}) for item in ("x", "y", "z")}
    eventually_read(b, "z")
    regions.converged()
    replicator.partition(regions.state)
    loser = a.replace_item("x", {"id": "x", "pk": "p", "v": "a"})
    b.replace_item("y", {"id": "y", "pk": "p", "v": "b, before the delete"})
    a.delete_item("z", partition_key="p")
    time.sleep(LATER)
    b.replace_item("x", {"id": "x", "pk": "p", "v": "b"})
    a.delete_item("y", partition_key="p")
    b.replace_item("z", {"id": "z", "pk": "p", "v": "b, after the delete"})
    replicator.heal(regions.state)
    regions.converged()
    for container in (a, b):
        assert read(container, "x")["v"] == "b"  # the same committed version in both regions
        assert read(container, "y") is None  # the later delete is committed
        assert read(container, "z")["v"] == "b, after the delete"
        feed = conflicts_of(container)
        assert set(feed) == {"x", "y", "z"}, feed
        x = feed["x"]
        assert (x["operationType"], x["resourceType"]) == ("replace", "document")
        content = json.loads(x["content"])
        assert content["v"] == "a" and content["_etag"] == loser["_etag"] and x["resourceId"] == loser["_rid"]
        assert feed["y"]["operationType"] == "replace"
        assert json.loads(feed["y"]["content"])["v"] == "b, before the delete"
        assert feed["z"]["operationType"] == "delete"
        assert json.loads(feed["z"]["content"])["_rid"] == originals["z"]["_rid"]  # the deleted document's last body
        assert {c["id"] for c in container.query_conflicts("SELECT * FROM c WHERE c.operationType = 'replace'")} \
            == {feed["x"]["id"], feed["y"]["id"]}
        assert container.get_conflict(x["id"], partition_key="p")["content"] == x["content"]
    # Each region's application resolves from its own feed: deleting there leaves the other's alone.
    a.delete_conflict(conflicts_of(a)["x"]["id"], partition_key="p")
    assert set(conflicts_of(a)) == {"y", "z"}
    assert set(conflicts_of(b)) == {"x", "y", "z"}
    with pytest.raises(CosmosResourceNotFoundError):
        a.get_conflict(conflicts_of(b)["x"]["id"], partition_key="p")


def test_a_transactional_batch_is_all_or_nothing(regions):
    a, b = regions.new_container()
    stale = a.create_item({"id": "account", "pk": "p", "balance": 1})
    current = a.replace_item("account", {"id": "account", "pk": "p", "balance": 2})
    with pytest.raises(CosmosBatchOperationError) as failed:
        a.execute_item_batch([
            ("create", ({"id": "entry", "pk": "p"},)),
            ("replace", ("account", {"id": "account", "pk": "p", "balance": 3}), {"if_match_etag": stale["_etag"]}),
        ], partition_key="p")
    assert (failed.value.status_code, failed.value.error_index) == (412, 1)
    assert [r["statusCode"] for r in failed.value.operation_responses] == [424, 412]
    with pytest.raises(CosmosBatchOperationError) as failed:
        a.execute_item_batch([
            ("upsert", ({"id": "other", "pk": "p"},)),
            ("patch", ("account", [{"op": "set", "path": "/balance", "value": 4}])),
            ("create", ({"id": "account", "pk": "p"},)),
        ], partition_key="p")
    assert (failed.value.status_code, failed.value.error_index) == (409, 2)
    assert read(a, "entry") is None and read(a, "other") is None  # nothing of either batch took effect
    assert read(a, "account")["balance"] == 2
    done = a.execute_item_batch([
        ("create", ({"id": "entry", "pk": "p"},)),
        ("replace", ("account", {"id": "account", "pk": "p", "balance": 3}), {"if_match_etag": current["_etag"]}),
    ], partition_key="p")
    assert [r["statusCode"] for r in done] == [201, 200]
    eventually_read(b, "account", balance=3)
    assert read(b, "entry") is not None


def test_replication_survives_a_paused_and_a_restarted_emulator(regions):
    a, b = regions.new_container()
    paused = regions.emulators[1].process
    os.kill(paused.pid, signal.SIGSTOP)
    try:
        a.create_item({"id": "while-paused", "pk": "p"})
        time.sleep(1.5)
    finally:
        os.kill(paused.pid, signal.SIGCONT)
    eventually_read(b, "while-paused", timeout=15)
    # A restart empties the in-memory emulator: the replicator fills it again from region A.
    localstack.stop(regions.emulators[1])
    localstack.start(regions.emulators[1])
    regions.converged(timeout=20)
    assert read(b, "while-paused") is not None
    assert b.read()["partitionKey"]["paths"] == ["/pk"]
