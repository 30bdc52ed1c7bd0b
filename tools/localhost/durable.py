"""Durable Functions on the local host: orchestrations, activities and the durable client's HTTP API.

The orchestrator runs the SDK's own replay: each episode calls it with its history JSON, as the
extension does (`{"history": [...], "input": ..., "instanceId": ..., ...}`), and acts on the state
it returns (actions, isDone, output, error, customStatus). Instances and their history live in the
Azurite table `{hub}Instances` (partition = instance id; the row `instance` holds the status, rows
`h-{executionId}-{seq}` the history events, rows `e-{id}` external events not yet delivered); each
episode is written in one entity-group transaction, so a host killed at any point resumes where
the last written episode left off: work scheduled but not completed runs again (at least once,
as in Azure), timers are re-armed at their FireAt.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import azure.functions as func
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.durable_functions.models.actions.ActionType import ActionType
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as Ev
from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from tools.localhost.invoker import Invoker
from tools.localhost.loader import FunctionSpec, resolve
from tools.localhost.storage import StorageAccounts

logger = logging.getLogger("localhost.durable")
WEBHOOK = "runtime/webhooks/durabletask"
RUNNING_STATES = ("Pending", "Running")
STATE_ROW = "instance"
OUT_OF_PROC_ERROR = "\n\n$OutOfProcData$:"
SCHEDULING_ACTIONS = {ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY, ActionType.CREATE_TIMER,
                      ActionType.CALL_SUB_ORCHESTRATOR, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY}
COMPLETIONS = {Ev.TASK_COMPLETED: "TaskScheduledId", Ev.TASK_FAILED: "TaskScheduledId",
               Ev.TIMER_FIRED: "TimerId", Ev.SUB_ORCHESTRATION_INSTANCE_COMPLETED: "TaskScheduledId",
               Ev.SUB_ORCHESTRATION_INSTANCE_FAILED: "TaskScheduledId"}
SCHEDULED = (Ev.TASK_SCHEDULED, Ev.TIMER_CREATED, Ev.SUB_ORCHESTRATION_INSTANCE_CREATED)


# --- history (pure) ----------------------------------------------------------------------------------------------

def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def event(event_type: Ev, event_id: int = -1, timestamp: datetime | None = None, **fields: Any) -> dict[str, Any]:
    """One history event as the SDK reads it (`HistoryEvent(EventType, EventId, IsPlayed, Timestamp, ...)`)."""
    return {"EventType": int(event_type), "EventId": event_id, "IsPlayed": False,
            "Timestamp": iso(timestamp or datetime.now(UTC)), **fields}


def next_event_id(history: list[dict[str, Any]]) -> int:
    """The sequence number the SDK gives the next scheduled task: one per task, timer or sub-orchestration."""
    ids = [e["EventId"] for e in history if e["EventType"] in SCHEDULED]
    return max(ids, default=-1) + 1


def flatten_actions(actions: list[Any]) -> list[dict[str, Any]]:
    """The state's `actions` (replay schema V1: one list per yield) in scheduling order."""
    flat: list[dict[str, Any]] = []
    for item in actions:
        if isinstance(item, list):
            flat.extend(flatten_actions(item))
        elif item.get("actionType") in (ActionType.WHEN_ALL, ActionType.WHEN_ANY):
            flat.extend(flatten_actions(item.get("compoundActions", [])))
        else:
            flat.append(item)
    return flat


def pending_work(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Scheduled events (task, timer, sub-orchestration) with no completion in history yet."""
    done = {(e[COMPLETIONS[e["EventType"]]]) for e in history if e["EventType"] in COMPLETIONS}
    return [e for e in history if e["EventType"] in SCHEDULED and e["EventId"] not in done]


def is_completed(history: list[dict[str, Any]], new_event: dict[str, Any]) -> bool:
    """Whether new_event completes something already completed (a duplicate) or never scheduled."""
    kind = new_event["EventType"]
    if kind not in COMPLETIONS:
        return False
    target = new_event[COMPLETIONS[kind]]
    return target not in {e["EventId"] for e in pending_work(history)}


def retry_followup(history: list[dict[str, Any]], new_event: dict[str, Any], now: datetime,
                   seq: int) -> dict[str, Any] | None:
    """After a failed attempt of a with-retry call, its timer; after that timer, the next attempt."""
    kind = new_event["EventType"]
    by_id = {e["EventId"]: e for e in history if e["EventType"] in SCHEDULED}
    if kind in (Ev.TASK_FAILED, Ev.SUB_ORCHESTRATION_INSTANCE_FAILED):
        scheduled = by_id.get(new_event["TaskScheduledId"])
        if scheduled and scheduled.get("Retry"):
            fire_at = iso(now + retry_delay(scheduled["Retry"]))
            return event(Ev.TIMER_CREATED, seq, now, FireAt=fire_at, RetryOf=scheduled["EventId"])
    if kind == Ev.TIMER_FIRED:
        timer = by_id.get(new_event["TimerId"])
        if timer and timer.get("RetryOf") is not None:
            failed = by_id[timer["RetryOf"]]
            options = failed["Retry"]
            if options["Attempt"] < int(options.get("maxNumberOfAttempts", 1)):
                again = {k: v for k, v in failed.items() if k not in ("EventId", "Timestamp", "InstanceId")}
                again["Retry"] = {**options, "Attempt": options["Attempt"] + 1}
                if failed["EventType"] == Ev.SUB_ORCHESTRATION_INSTANCE_CREATED:
                    again["InstanceId"] = f"{failed['InstanceId'].rsplit('#', 1)[0]}#{options['Attempt'] + 1}"
                return {**again, "EventId": seq, "Timestamp": iso(now)}
    return None


def parse_state(result: Any) -> dict[str, Any]:
    """The orchestrator's return (a JSON string) or its exception (`error$OutOfProcData$:{state}`)."""
    if isinstance(result, BaseException):
        text = str(result)
        if OUT_OF_PROC_ERROR in text:
            message, _, data = text.partition(OUT_OF_PROC_ERROR)
            state = json.loads(data)
            state.setdefault("error", message)
            return state
        return {"isDone": False, "actions": [], "error": f"{type(result).__name__}: {text}"}
    return json.loads(result)


def retry_delay(options: dict[str, Any]) -> timedelta:
    return timedelta(milliseconds=int(options.get("firstRetryIntervalInMilliseconds", 1000)))


def json_text_of_body(body: bytes) -> str | None:
    """Input/event data as JSON text. The SDK posts json.dumps(json_text); other callers post the JSON itself."""
    if not body:
        return None
    value = json.loads(body)
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return json.dumps(value)
        return value
    return json.dumps(value)


def loads_or_none(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


# --- storage ---------------------------------------------------------------------------------------------------

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
        instance.history = [json.loads(r["Event"]) for r in sorted(rows, key=lambda r: r["RowKey"])]
        return instance

    def running(self) -> list[str]:
        rows = self.table.query_entities(f"RowKey eq '{STATE_ROW}' and (RuntimeStatus eq 'Running' "
                                         "or RuntimeStatus eq 'Pending')", select=["PartitionKey"])
        return [r["PartitionKey"] for r in rows]

    def inbox(self, instance_id: str) -> list[dict[str, Any]]:
        return list(self.table.query_entities("PartitionKey eq @p and Kind eq 'e'", parameters={"p": instance_id}))

    def add_to_inbox(self, instance_id: str, key: str, message: dict[str, Any]) -> None:
        self.table.upsert_entity({"PartitionKey": instance_id, "RowKey": f"e-{key}", "Kind": "e",
                                  "Event": json.dumps(message)})

    def save(self, instance: Instance, new_events: list[dict[str, Any]], delete_keys: list[str],
             first_seq: int) -> None:
        """Write the new history events, drop delivered inbox rows, then the status row: one transaction."""
        operations: list[tuple[str, dict[str, Any]]] = []
        for offset, item in enumerate(new_events):
            operations.append(("upsert", {"PartitionKey": instance.instance_id, "Kind": "h",
                                          "RowKey": f"h-{instance.execution_id}-{first_seq + offset:06d}",
                                          "ExecutionId": instance.execution_id, "Event": json.dumps(item)}))
        operations.extend(("delete", {"PartitionKey": instance.instance_id, "RowKey": key}) for key in delete_keys)
        operations.append(("upsert", instance.row()))
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


# --- the runtime -------------------------------------------------------------------------------------------------

class DurableRuntime:
    def __init__(self, specs: list[FunctionSpec], invoker: Invoker, storage: StorageAccounts, hub_name: str,
                 base_url: Any, timeout_s: float | None):
        self.orchestrators = {s.name: s for s in specs if s.trigger_type.lower() == "orchestrationtrigger"}
        self.activities = {s.name: s for s in specs if s.trigger_type.lower() == "activitytrigger"}
        self.hub = hub_name
        self._invoker = invoker
        self._base_url = base_url  # a callable: the port is known once the server is configured
        self._timeout_s = timeout_s
        self._store = Store(storage, hub_name)
        self._queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loaded: dict[str, Instance] = {}

    # -- lifecycle

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("durable task failed: %r", task.exception(), exc_info=task.exception())

    async def start(self) -> None:
        await asyncio.to_thread(self._store.create)
        for instance_id in await asyncio.to_thread(self._store.running):
            instance = await asyncio.to_thread(self._store.load, instance_id)
            if instance is not None and instance.status in RUNNING_STATES:
                logger.info("resuming orchestration %s (%s)", instance_id, instance.name)
                await self._activate(instance, resume=True)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _activate(self, instance: Instance, resume: bool) -> None:
        """Give an instance its worker and re-issue what it waits for."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._queues[instance.instance_id] = queue
        self._loaded[instance.instance_id] = instance
        if not instance.history:
            queue.put_nowait({"event": event(Ev.EXECUTION_STARTED, Name=instance.name, Input=instance.input, Version="",
                                             ParentInstanceId=instance.parent_instance_id)})
        if resume:
            delivered = {e.get("InboxKey") for e in instance.history if e["EventType"] == Ev.EVENT_RAISED}
            inbox = await asyncio.to_thread(self._store.inbox, instance.instance_id)
            for row in sorted(inbox, key=lambda r: r["RowKey"]):
                message = json.loads(row["Event"])
                if row["RowKey"] in delivered:
                    message = {"delete_only": row["RowKey"]}
                queue.put_nowait({**message, "inbox": row["RowKey"]})
            for scheduled in pending_work(instance.history):
                await self._issue(instance, scheduled)
        self._spawn(self._worker(instance.instance_id))

    async def _worker(self, instance_id: str) -> None:
        queue = self._queues[instance_id]
        while True:
            message = await queue.get()
            instance = self._loaded[instance_id]
            try:
                await self._episode(instance, message)
            except Exception:
                logger.exception("orchestration %s: episode failed; it stays as it was last written", instance_id)
            if instance.status not in RUNNING_STATES:
                self._queues.pop(instance_id, None)
                self._loaded.pop(instance_id, None)
                return

    def _enqueue(self, instance_id: str, message: dict[str, Any]) -> None:
        queue = self._queues.get(instance_id)
        if queue is None:
            logger.info("orchestration %s is not running: dropped %s", instance_id, message.get("event", message))
            return
        queue.put_nowait(message)

    # -- one episode

    async def _episode(self, instance: Instance, message: dict[str, Any]) -> None:
        inbox_keys = [message["inbox"]] if message.get("inbox") else []
        if "delete_only" in message:
            await asyncio.to_thread(self._store.save, instance, [], inbox_keys, len(instance.history))
            return
        if "terminate" in message:
            now = datetime.now(UTC)
            new = [event(Ev.EXECUTION_TERMINATED, timestamp=now, Input=message["terminate"])]
            instance.status, instance.updated = "Terminated", iso(now)
            instance.output = json.dumps(message["terminate"])
            await self._commit(instance, new, inbox_keys)
            await self._notify_parent(instance, failed=True, reason=f"terminated: {message['terminate']}")
            return
        new_event = message["event"]
        if is_completed(instance.history, new_event):
            return  # a duplicate completion (e.g. after a restart): already in history
        if new_event["EventType"] == Ev.EVENT_RAISED and message.get("inbox"):
            new_event["InboxKey"] = message["inbox"]
        spec = self.orchestrators.get(instance.name)
        now = datetime.now(UTC)
        new = [event(Ev.ORCHESTRATOR_STARTED, timestamp=now), new_event]
        if spec is None:
            state: dict[str, Any] = {"isDone": False, "actions": [],
                                     "error": f"The function '{instance.name}' doesn't exist or is not an orchestrator"}
        else:
            history = [{**e, "IsPlayed": True} for e in instance.history] + new
            context = {"history": history, "input": instance.input, "instanceId": instance.instance_id,
                       "isReplaying": False, "parentInstanceId": instance.parent_instance_id,
                       "upperSchemaVersion": 0}
            try:
                result: Any = await self._invoker.invoke(spec, func.OrchestrationContext(json.dumps(context)),
                                                         self._timeout_s)
            except Exception as error:  # noqa: BLE001 - the orchestrator's failure is its state
                result = error
            state = parse_state(result)
        combined = instance.history + new
        to_issue: list[dict[str, Any]] = []
        seq = next_event_id(combined)
        # Retries first: the SDK numbers a retry's timer / next attempt while replaying the event that caused it.
        retry = retry_followup(combined, new_event, now, seq)
        if retry is not None:
            new.append(retry)
            to_issue.append(retry)
            seq += 1
        if state.get("customStatus") is not None:
            instance.custom_status = json.dumps(state["customStatus"])
        actions = flatten_actions(state.get("actions") or [])
        continue_as_new = None
        for action in actions[instance.action_count:]:
            kind = action.get("actionType")
            if kind in SCHEDULING_ACTIONS:
                scheduled = self._scheduled_event(instance, action, seq, now)
                new.append(scheduled)
                to_issue.append(scheduled)
                seq += 1
            elif kind == ActionType.CONTINUE_AS_NEW:
                continue_as_new = action
            elif kind != ActionType.WAIT_FOR_EXTERNAL_EVENT:
                state = {"isDone": False, "error": f"action type {kind} (entities, HTTP) is not supported locally"}
                break
        instance.action_count = len(actions)
        new.append(event(Ev.ORCHESTRATOR_COMPLETED, timestamp=now))
        instance.updated = iso(now)
        if state.get("error"):
            instance.status, instance.output = "Failed", json.dumps(state["error"])
            new.append(event(Ev.EXECUTION_FAILED, timestamp=now, OrchestrationStatus="Failed",
                             Reason=state["error"]))
            await self._commit(instance, new, inbox_keys)
            await self._notify_parent(instance, failed=True, reason=state["error"])
        elif state.get("isDone") and continue_as_new is not None:
            new.append(event(Ev.CONTINUE_AS_NEW, timestamp=now, Input=continue_as_new.get("input")))
            await self._commit(instance, new, inbox_keys)
            instance.input, instance.execution_id = continue_as_new.get("input"), uuid.uuid4().hex
            instance.history, instance.action_count, instance.status = [], 0, "Running"
            await asyncio.to_thread(self._store.save, instance, [], [], 0)
            self._queues[instance.instance_id].put_nowait(
                {"event": event(Ev.EXECUTION_STARTED, Name=instance.name, Input=instance.input, Version="",
                                ParentInstanceId=instance.parent_instance_id)})
        elif state.get("isDone"):
            output = state.get("output")
            instance.status, instance.output = "Completed", json.dumps(output)
            new.append(event(Ev.EXECUTION_COMPLETED, timestamp=now, OrchestrationStatus="Completed",
                             Result=instance.output))
            await self._commit(instance, new, inbox_keys)
            await self._notify_parent(instance, failed=False, result=instance.output)
        else:
            instance.status = "Running"
            await self._commit(instance, new, inbox_keys)
            for scheduled in to_issue:
                await self._issue(instance, scheduled)

    async def _commit(self, instance: Instance, new: list[dict[str, Any]], inbox_keys: list[str]) -> None:
        first = len(instance.history)
        await asyncio.to_thread(self._store.save, instance, new, inbox_keys, first)
        instance.history.extend(new)

    def _scheduled_event(self, instance: Instance, action: dict[str, Any], seq: int, now: datetime) -> dict[str, Any]:
        kind = action["actionType"]
        retry = action.get("retryOptions")
        extra = {"Retry": {**retry, "Attempt": 1}} if retry else {}
        if kind in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY):
            return event(Ev.TASK_SCHEDULED, seq, now, Name=action["functionName"], Input=action.get("input"), **extra)
        if kind == ActionType.CREATE_TIMER:
            return event(Ev.TIMER_CREATED, seq, now, FireAt=action["fireAt"])
        child_id = action.get("instanceId") or f"{instance.instance_id}:{seq:04d}"
        return event(Ev.SUB_ORCHESTRATION_INSTANCE_CREATED, seq, now, Name=action["functionName"],
                     Input=action.get("input"), InstanceId=child_id, **extra)

    async def _issue(self, instance: Instance, scheduled: dict[str, Any]) -> None:
        """Start what a written TaskScheduled / TimerCreated / SubOrchestrationInstanceCreated asks for."""
        kind = scheduled["EventType"]
        if kind == Ev.TASK_SCHEDULED:
            self._spawn(self._run_activity(instance.instance_id, scheduled))
        elif kind == Ev.TIMER_CREATED:
            self._spawn(self._run_timer(instance.instance_id, scheduled))
        else:
            await self._start_child(instance, scheduled)

    async def _run_activity(self, instance_id: str, scheduled: dict[str, Any]) -> None:
        spec = self.activities.get(scheduled["Name"])
        task_id = scheduled["EventId"]
        if spec is None:
            reason = f"The function '{scheduled['Name']}' doesn't exist or is not an activity function."
            self._enqueue(instance_id, {"event": event(Ev.TASK_FAILED, TaskScheduledId=task_id, Reason=reason)})
            return
        value = ActivityTriggerConverter.decode(meta.Datum(type="json", value=scheduled.get("Input") or "null"),
                                                trigger_metadata=None)
        try:
            result = await self._invoker.invoke(spec, value, self._timeout_s)
            encoded = ActivityTriggerConverter.encode(result, expected_type=None).value
            done = event(Ev.TASK_COMPLETED, TaskScheduledId=task_id, Result=encoded)
        except Exception as error:  # noqa: BLE001 - a failed activity is a TaskFailed event
            done = event(Ev.TASK_FAILED, TaskScheduledId=task_id, Reason=str(error) or type(error).__name__,
                         Details="".join(traceback.format_exception(error)))
        self._enqueue(instance_id, {"event": done})

    async def _run_timer(self, instance_id: str, timer: dict[str, Any]) -> None:
        fire_at = parse_iso(timer["FireAt"])
        await asyncio.sleep(max(0.0, (fire_at - datetime.now(UTC)).total_seconds()))
        self._enqueue(instance_id, {"event": event(Ev.TIMER_FIRED, TimerId=timer["EventId"], FireAt=timer["FireAt"])})

    async def _start_child(self, parent: Instance, created: dict[str, Any]) -> None:
        child_id = created["InstanceId"]
        existing = self._loaded.get(child_id) or await asyncio.to_thread(self._store.load, child_id)
        if existing is not None and existing.parent_instance_id == parent.instance_id \
                and existing.parent_task_id == created["EventId"]:
            if existing.status in RUNNING_STATES:
                return  # resumed on its own
            await self._notify_parent(existing, failed=existing.status != "Completed", result=existing.output,
                                      reason=f"sub-orchestration {existing.status}")
            return
        child = Instance(child_id, created["Name"], created.get("Input"), parent_instance_id=parent.instance_id,
                         parent_task_id=created["EventId"])
        await asyncio.to_thread(self._store.save, child, [], [], 0)
        await self._activate(child, resume=False)

    async def _notify_parent(self, child: Instance, failed: bool, result: str | None = None,
                             reason: str = "") -> None:
        if child.parent_instance_id is None:
            return
        if failed:
            done = event(Ev.SUB_ORCHESTRATION_INSTANCE_FAILED, TaskScheduledId=child.parent_task_id,
                         Reason=reason, Details=reason)
        else:
            done = event(Ev.SUB_ORCHESTRATION_INSTANCE_COMPLETED, TaskScheduledId=child.parent_task_id, Result=result)
        self._enqueue(child.parent_instance_id, {"event": done})

    # -- the client binding and the HTTP API it calls

    def client_binding(self, _spec: FunctionSpec | None = None, _binding: dict[str, Any] | None = None) -> str:
        """The JSON the SDK's DurableOrchestrationClient reads (what the extension gives a durableClient input)."""
        base = f"{self._base_url()}/{WEBHOOK}"
        query = f"taskHub={quote(self.hub)}&connection=Storage"
        instance = f"{base}/instances/INSTANCEID"
        return json.dumps({
            "taskHubName": self.hub,
            "creationUrls": {
                "createNewInstancePostUri": f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?{query}",
                "createAndWaitOnNewInstancePostUri":
                    f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?timeout={{timeoutInSeconds}}"
                    f"&pollingInterval={{intervalInSeconds}}&{query}"},
            "managementUrls": {
                "id": "INSTANCEID",
                "statusQueryGetUri": f"{instance}?{query}",
                "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
                "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
                "purgeHistoryDeleteUri": f"{instance}?{query}"},
            "baseUrl": base,
            "requiredQueryStringParameters": query,
            "rpcBaseUrl": f"{base}/",
            "httpBaseUrl": base,
        })

    def management_payload(self, instance_id: str) -> dict[str, str]:
        urls = json.loads(self.client_binding())["managementUrls"]
        return {key: value.replace("INSTANCEID", quote(instance_id, safe="")) for key, value in urls.items()}

    def routes(self) -> list[tuple[str, str, Any]]:
        return [("POST", f"{WEBHOOK}/orchestrators/{{name}}/{{instance_id?}}", self.http_start),
                ("GET", f"{WEBHOOK}/instances/{{instance_id}}", self.http_status),
                ("DELETE", f"{WEBHOOK}/instances/{{instance_id}}", self.http_purge),
                ("POST", f"{WEBHOOK}/instances/{{instance_id}}/terminate", self.http_terminate),
                ("POST", f"{WEBHOOK}/instances/{{instance_id}}/raiseEvent/{{event_name}}", self.http_raise)]

    async def _current(self, instance_id: str) -> Instance | None:
        return self._loaded.get(instance_id) or await asyncio.to_thread(self._store.load, instance_id)

    async def http_start(self, body: bytes, name: str, instance_id: str | None = None,
                         query: dict[str, str] | None = None) -> tuple[int, Any]:
        if name not in self.orchestrators:
            message = f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function."
            return 400, {"Message": message, "ExceptionMessage": message, "ExceptionType": "System.ArgumentException"}
        instance_id = instance_id or uuid.uuid4().hex
        try:
            input_text = json_text_of_body(body)
        except ValueError:
            return 400, {"Message": "the body must be JSON", "ExceptionMessage": "the body must be JSON"}
        existing = await self._current(instance_id)
        if existing is not None and existing.status in RUNNING_STATES:
            # What DurableTask.AzureStorage answers (OverridableExistingInstanceStates = NonRunningStates).
            return 500, {"Message": "Something went wrong while processing your request",
                         "ExceptionMessage": f"An Orchestration instance with the status {existing.status} "
                                             "already exists.",
                         "ExceptionType": "System.InvalidOperationException"}
        if existing is not None:
            await asyncio.to_thread(self._store.purge, instance_id)
        instance = Instance(instance_id, name, input_text)
        await asyncio.to_thread(self._store.save, instance, [], [], 0)
        await self._activate(instance, resume=False)
        logger.info("started orchestration %s (%s)", instance_id, name)
        return 202, self.management_payload(instance_id)

    async def http_status(self, body: bytes, instance_id: str, query: dict[str, str] | None = None
                          ) -> tuple[int, Any]:
        query = query or {}
        # What the store holds, as the extension answers: an episode changes its in-memory instance
        # before it commits, and a status read in between must not report what a crash would lose.
        instance = await asyncio.to_thread(self._store.load, instance_id)
        if instance is None:
            return 404, None
        payload = instance.status_json(show_input=query.get("showInput", "true").lower() != "false",
                                       show_history=query.get("showHistory", "false").lower() == "true")
        return (202 if instance.status in RUNNING_STATES else 200), payload

    async def http_terminate(self, body: bytes, instance_id: str, query: dict[str, str] | None = None
                             ) -> tuple[int, Any]:
        instance = await self._current(instance_id)
        if instance is None:
            return 404, None
        if instance.status not in RUNNING_STATES or instance_id not in self._queues:
            return 410, None
        self._enqueue(instance_id, {"terminate": (query or {}).get("reason", "")})
        return 202, None

    async def http_raise(self, body: bytes, instance_id: str, event_name: str,
                         query: dict[str, str] | None = None) -> tuple[int, Any]:
        instance = await self._current(instance_id)
        if instance is None:
            return 404, None
        if instance.status not in RUNNING_STATES or instance_id not in self._queues:
            return 410, None
        try:
            data = json_text_of_body(body)
        except ValueError:
            return 400, None
        key = f"{datetime.now(UTC).strftime('%Y%m%d%H%M%S%f')}-{uuid.uuid4().hex[:8]}"
        message = {"event": event(Ev.EVENT_RAISED, Name=event_name, Input=data)}
        await asyncio.to_thread(self._store.add_to_inbox, instance_id, key, message)
        self._enqueue(instance_id, {**message, "inbox": f"e-{key}"})
        return 202, None

    async def http_purge(self, body: bytes, instance_id: str, query: dict[str, str] | None = None
                         ) -> tuple[int, Any]:
        instance = await self._current(instance_id)
        if instance is None:
            return 404, None
        if instance.status in RUNNING_STATES:
            return 400, {"Message": "a running instance cannot be purged; terminate it first"}
        deleted = await asyncio.to_thread(self._store.purge, instance_id)
        return 200, {"instancesDeleted": deleted}


def hub_name(host_json: dict[str, Any]) -> str:
    """host.json `extensions.durableTask.hubName` (binding expressions resolved), as the extension reads it."""
    name = host_json.get("extensions", {}).get("durableTask", {}).get("hubName") or "TestHubName"
    return resolve(name)
