"""The emulators as the app meets them through the real SDKs, with the repo's patch applied."""

from __future__ import annotations

import pytest
from azure.cosmos import CosmosClient, PartitionKey
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosResourceNotFoundError

from devstack import localstack
from tests.support import free_port, random_name

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def container(stack):
    client = CosmosClient(localstack.cosmos_endpoint(), credential=localstack.COSMOS_KEY,
                          enable_endpoint_discovery=False, connection_timeout=5)
    database = client.create_database_if_not_exists(random_name("db"))
    yield database.create_container_if_not_exists("items", partition_key=PartitionKey(path="/mailboxId"))
    client.delete_database(database.id)


def test_reading_a_missing_item_is_404_not_500(container):
    with pytest.raises(CosmosResourceNotFoundError):
        container.read_item("does-not-exist", partition_key="mbx")


def test_reading_an_item_from_another_partition_is_404(container):
    container.upsert_item({"id": "m1", "mailboxId": "mbx-a"})
    assert container.read_item("m1", partition_key="mbx-a")["mailboxId"] == "mbx-a"
    with pytest.raises(CosmosResourceNotFoundError):
        container.read_item("m1", partition_key="mbx-b")


def test_a_batch_lands_in_the_partition_it_names(container):
    container.execute_item_batch([("create", ({"id": "b1", "mailboxId": "mbx-c"},)),
                                  ("upsert", ({"id": "b2", "mailboxId": "mbx-c"},))], partition_key="mbx-c")
    assert {item["id"] for item in container.query_items(
        "SELECT * FROM c WHERE c.mailboxId = @m", parameters=[{"name": "@m", "value": "mbx-c"}],
        partition_key="mbx-c")} == {"b1", "b2"}
    assert container.read_item("b2", partition_key="mbx-c")["id"] == "b2"


def test_a_query_scoped_to_a_partition_reads_only_that_partition(container):
    """Cosmos DB runs a query given a partition key in that partition alone, whether or not the
    query names the key; the patched emulator reads only that partition's items (it used to scan
    every item of the container for each query, which made each deposit slower than the last)."""
    for mailbox in ("mbx-d", "mbx-e"):
        for n in range(3):
            container.upsert_item({"id": f"{mailbox}-{n}", "mailboxId": mailbox, "n": n})
    container.replace_item("mbx-d-1", {"id": "mbx-d-1", "mailboxId": "mbx-d", "n": 10})
    container.delete_item("mbx-d-2", partition_key="mbx-d")

    def ids(sql: str, mailbox: str) -> list[str]:
        return [item["id"] for item in container.query_items(sql, partition_key=mailbox)]

    assert ids("SELECT * FROM c ORDER BY c.n", "mbx-d") == ["mbx-d-0", "mbx-d-1"]
    assert ids("SELECT * FROM c WHERE c.n >= 0", "mbx-e") == ["mbx-e-0", "mbx-e-1", "mbx-e-2"]
    assert ids("SELECT * FROM c", "mbx-none") == []
    every = {item["id"] for item in container.query_items("SELECT c.id FROM c WHERE c.mailboxId IN ('mbx-d', 'mbx-e')",
                                                          enable_cross_partition_query=True)}
    assert every == {"mbx-d-0", "mbx-d-1", "mbx-e-0", "mbx-e-1", "mbx-e-2"}


def test_a_batch_rolled_back_leaves_its_partition_as_it_was(container):
    container.upsert_item({"id": "r1", "mailboxId": "mbx-f"})
    with pytest.raises(CosmosBatchOperationError):
        container.execute_item_batch([("create", ({"id": "r2", "mailboxId": "mbx-f"},)),
                                      ("create", ({"id": "r1", "mailboxId": "mbx-f"},))], partition_key="mbx-f")
    container.upsert_item({"id": "r3", "mailboxId": "mbx-f"})
    assert [item["id"] for item in container.query_items("SELECT * FROM c", partition_key="mbx-f")] == ["r1", "r3"]


@pytest.mark.parametrize(("condition", "expected"), [
    # the deposit's snapshot (m3's type moved to tally)
    ("c.id = 'mailbox' OR c.type = 'tally' OR c.type = 'pins' OR c.id = @id",
     {"mailbox", "tally-a", "pins-a", "m3", "m4"}),
    ("c.type = 'message' AND c.n >= 2", {"m2", "m4"}),
    ("c.n >= 2 AND c.type = 'message'", {"m2", "m4"}),
    ("c.type = 'tally' OR c.n = 2", {"tally-a", "m3", "pins-a", "m2"}),  # one side has no equality
    ("c.id = @missing", set()),
    ("NOT (c.type = 'message')", {"mailbox", "tally-a", "pins-a", "m3"}),  # untyped: undefined, not true
])
def test_a_query_narrowed_by_id_or_type_finds_what_a_full_scan_finds(container, condition, expected):
    """The patched emulator reads only the items an equality on c.id or c.type allows (its index,
    like Cosmos DB's); it must return what the same query finds over every item."""
    docs = [{"id": "mailbox", "type": "mailbox", "n": 0}, {"id": "tally-a", "type": "tally", "n": 1},
            {"id": "pins-a", "type": "pins", "n": 2}, *({"id": f"m{n}", "type": "message", "n": n} for n in range(5)),
            {"id": "untyped", "n": 3}]
    for doc in docs:
        container.upsert_item({**doc, "mailboxId": "mbx-g"})
        container.upsert_item({**doc, "mailboxId": "mbx-h"})
    container.replace_item("m3", {"id": "m3", "type": "tally", "n": 3, "mailboxId": "mbx-g"})  # its type moved
    parameters = [{"name": "@id", "value": "m4"}, {"name": "@missing", "value": "nothing"}]
    scoped = {item["id"] for item in container.query_items(
        f"SELECT * FROM c WHERE {condition}", parameters=parameters, partition_key="mbx-g")}
    scanned = {item["id"] for item in container.query_items(
        f"SELECT * FROM c WHERE c.mailboxId = 'mbx-g' AND ({condition})", parameters=parameters,
        enable_cross_partition_query=True)}
    assert scoped == scanned == expected


def test_db_down_pauses_an_emulator_and_db_up_brings_it_back_with_its_data():
    """`make db-down` / `make db-up` (devstack/localstack.py): found by its command line, paused so it
    answers nothing, resumed with what it held. Done here to an emulator of the test's own only."""
    port = free_port()
    cosmos = localstack.cosmos(port, name=random_name("cosmos"))
    localstack.start(cosmos)
    try:
        assert cosmos.process.pid in localstack.cosmos_pids()
        assert localstack.cosmos_pids({port}) == [cosmos.process.pid]
        client = CosmosClient(localstack.cosmos_endpoint(port), credential=localstack.COSMOS_KEY,
                              enable_endpoint_discovery=False, connection_timeout=5)
        items = client.create_database_if_not_exists("db").create_container_if_not_exists(
            "items", partition_key=PartitionKey(path="/mailboxId"))
        items.create_item({"id": "kept", "mailboxId": "m"})
        localstack.pause_databases(True, [cosmos.process.pid])
        try:
            assert not localstack.cosmos_answers(port)
        finally:
            localstack.pause_databases(False, [cosmos.process.pid])
        assert items.read_item("kept", partition_key="m")["id"] == "kept"
    finally:
        localstack.stop(cosmos)
