"""Where instances live: the Azurite table `{hub}Instances` (partition = instance id; the row
`instance` holds the status, rows `h-{executionId}-{seq}` the history events, rows `e-{id}` external
events not yet delivered); each episode is written in one entity-group transaction."""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as Ev

from devstack.localhost.durable.history import iso, loads_or_none
from devstack.localhost.storage import StorageAccounts

RUNNING_STATES = ("Pending", "Running")
STATE_ROW = "instance"


@dataclass
class Instance:
    instance_id: str
    name: str
    input: str | None
    status: str = "Pending"
    output: str | None = None
    custom_status: str | None = None
    created: str = field(default_factory=lambda: iso(datetime.now(UTC)))
    updated: str = field(default_factory=lambda: iso(datetime.now(UTC)))
    execution_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    parent_instance_id: str | None = None
    parent_task_id: int | None = None
    action_count: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        row = {"PartitionKey": self.instance_id, "RowKey": STATE_ROW, "Name": self.name, "Input": self.input,
               "RuntimeStatus": self.status, "Output": self.output, "CustomStatus": self.custom_status,
               "CreatedTime": self.created, "LastUpdatedTime": self.updated, "ExecutionId": self.execution_id,
               "ParentInstanceId": self.parent_instance_id, "ParentTaskId": self.parent_task_id,
               "ActionCount": self.action_count}
        return {k: v for k, v in row.items() if v is not None}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Instance:
        return cls(instance_id=row["PartitionKey"], name=row["Name"], input=row.get("Input"),
                   status=row["RuntimeStatus"], output=row.get("Output"), custom_status=row.get("CustomStatus"),
                   created=row["CreatedTime"], updated=row["LastUpdatedTime"], execution_id=row["ExecutionId"],
                   parent_instance_id=row.get("ParentInstanceId"), parent_task_id=row.get("ParentTaskId"),
                   action_count=int(row.get("ActionCount", 0)))

    def status_json(self, show_input: bool = True, show_history: bool = False) -> dict[str, Any]:
        status = {"name": self.name, "instanceId": self.instance_id, "runtimeStatus": self.status,
                  "customStatus": loads_or_none(self.custom_status), "output": loads_or_none(self.output),
                  "createdTime": self.created[:19] + "Z", "lastUpdatedTime": self.updated[:19] + "Z"}
        if show_input:
            status["input"] = loads_or_none(self.input)
        if show_history:
            status["historyEvents"] = [{**e, "EventType": Ev(e["EventType"]).name} for e in self.history]
        return status


class Store:
    """`{hub}Instances` in the AzureWebJobsStorage account's table service."""

    def __init__(self, storage: StorageAccounts, hub: str):
        service = TableServiceClient.from_connection_string(storage.connection_string(None))
        self.table = service.get_table_client(f"{hub}Instances")

    def create(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            self.table.create_table()

    def load(self, instance_id: str) -> Instance | None:
        try:
            row = self.table.get_entity(instance_id, STATE_ROW)
        except ResourceNotFoundError:
            return None
        instance = Instance.from_row(row)
        rows = self.table.query_entities("PartitionKey eq @p and ExecutionId eq @x and Kind eq 'h'",
                                         parameters={"p": instance_id, "x": instance.execution_id})
        history = [json.loads(r["Event"]) for r in sorted(rows, key=lambda r: r["RowKey"])]
        # The status row is the commit: history past its length is an episode's that failed part way.
        instance.history = history[:row["HistoryLength"]] if "HistoryLength" in row else history
        return instance

    def running(self) -> list[str]:
        rows = self.table.query_entities(f"RowKey eq '{STATE_ROW}' and (RuntimeStatus eq 'Running' "
                                         "or RuntimeStatus eq 'Pending')", select=["PartitionKey"])
        return [r["PartitionKey"] for r in rows]

    def inbox(self, instance_id: str) -> list[dict[str, Any]]:
        return list(self.table.query_entities("PartitionKey eq @p and Kind eq 'e'", parameters={"p": instance_id}))

    def add_to_inbox(self, instance_id: str, key: str, row: str) -> None:
        """A raised event kept until an episode takes it (row: `messages.inbox_row`)."""
        self.table.upsert_entity({"PartitionKey": instance_id, "RowKey": f"e-{key}", "Kind": "e", "Event": row})

    def save(self, instance: Instance, new_events: list[dict[str, Any]], delete_keys: list[str],
             first_seq: int) -> None:
        """Write the new history events, drop delivered inbox rows, then the status row (with the history's
        length: what `load` trusts): one transaction, or several of at most 100 operations, the status last."""
        operations: list[tuple[str, dict[str, Any]]] = []
        for offset, item in enumerate(new_events):
            operations.append(("upsert", {"PartitionKey": instance.instance_id, "Kind": "h",
                                          "RowKey": f"h-{instance.execution_id}-{first_seq + offset:06d}",
                                          "ExecutionId": instance.execution_id, "Event": json.dumps(item)}))
        operations.extend(("delete", {"PartitionKey": instance.instance_id, "RowKey": key}) for key in delete_keys)
        operations.append(("upsert", {**instance.row(), "HistoryLength": first_seq + len(new_events)}))
        while len(operations) > 100:  # a transaction holds at most 100 operations; the status row goes last
            self.table.submit_transaction(operations[:99])  # type: ignore[arg-type]
            operations = operations[99:]
        self.table.submit_transaction(operations)  # type: ignore[arg-type]

    def purge(self, instance_id: str) -> int:
        rows = list(self.table.query_entities("PartitionKey eq @p", parameters={"p": instance_id},
                                              select=["PartitionKey", "RowKey"]))
        for start in range(0, len(rows), 100):
            self.table.submit_transaction([("delete", r) for r in rows[start:start + 100]])  # type: ignore[misc]
        return 1 if rows else 0
