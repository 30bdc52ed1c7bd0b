"""The local host's Cosmos DB trigger: each change handed over once, in `_ts` order, as the change
feed (latest version) hands it; the connection from its setting."""

from __future__ import annotations

import pytest

from devstack.localhost.cosmos_triggers import ChangeFeed, connection


class Container:
    """Documents by id, each with the `_ts` and `_etag` of its last write."""

    def __init__(self):
        self.docs: dict[str, dict] = {}
        self.etag = 0

    def write(self, doc_id: str, ts: int) -> None:
        self.etag += 1
        self.docs[doc_id] = {"id": doc_id, "_ts": ts, "_etag": f"e{self.etag}"}

    def query_items(self, query, parameters, enable_cross_partition_query):
        assert enable_cross_partition_query and "c._ts >= @since" in query
        since = parameters[0]["value"]
        return [dict(d) for d in self.docs.values() if d["_ts"] >= since]


def ids(documents: list[dict]) -> list[str]:
    return [d["id"] for d in documents]


def test_each_change_is_handed_over_once_in_ts_order_including_several_in_the_same_second():
    container = Container()
    container.write("old", 99)
    feed = ChangeFeed(container, since=100)
    container.write("b", 101)
    container.write("a", 100)
    assert ids(feed.read()) == ["a", "b"]  # from `since` on, oldest first; nothing before it
    assert feed.read() == []
    container.write("c", 101)  # the same second as b, after the read: told apart by its ETag
    assert ids(feed.read()) == ["c"]
    container.write("b", 102)  # a document written again: its latest version, once more
    assert [(d["id"], d["_ts"]) for d in feed.read()] == [("b", 102)]
    assert feed.read() == []


def test_the_connection_is_the_bindings_connection_string_else_the_apps_cosmos_settings():
    string = "AccountEndpoint=http://127.0.0.1:8081/;AccountKey=a2V5;"
    assert connection("COSMOS", {"COSMOS": string}) == ("http://127.0.0.1:8081/", "a2V5")
    assert connection("COSMOS", {"COSMOS_ENDPOINT": "http://127.0.0.1:8082/", "COSMOS_KEY": "k"}) == (
        "http://127.0.0.1:8082/", "k")
    with pytest.raises(LookupError, match="COSMOS"):
        connection("COSMOS", {})
