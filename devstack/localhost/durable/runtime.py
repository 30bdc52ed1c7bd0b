"""The durable runtime: one worker an instance, each message one episode (replay the orchestrator on
its history, write what it did, start the activities, timers and sub-orchestrations it asked for), and
the activities and timers themselves. Its HTTP face is `api.ManagementApi`."""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
import uuid
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
from azure.durable_functions.models.actions.ActionType import ActionType
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as Ev
from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from devstack.localhost.durable.api import ManagementApi
from devstack.localhost.durable.history import (
    SCHEDULING_ACTIONS,
    event,
    flatten_actions,
    is_completed,
    iso,
    next_event_id,
    parse_iso,
    parse_state,
    pending_work,
    retry_followup,
)
from devstack.localhost.durable.messages import Deliver, Forget, Message, Terminate, from_inbox_row
from devstack.localhost.durable.store import RUNNING_STATES, Instance, Store
from devstack.localhost.invoker import Invoker
from devstack.localhost.loader import FunctionSpec
from devstack.localhost.storage import StorageAccounts

logger = logging.getLogger("localhost.durable")
# An episode that fails (a storage call: Azurite closes an idle connection, and a transaction is a POST,
# which the SDK does not retry) is run again from the state before it, as the Durable Task Framework
# redelivers a message whose episode did not commit: up to EPISODE_TRIES times, EPISODE_RETRY_S doubling.
EPISODE_TRIES, EPISODE_RETRY_S = 6, 0.5



class DurableRuntime:
    def __init__(self, specs: list[FunctionSpec], invoker: Invoker, storage: StorageAccounts, hub_name: str,
                 base_url: Any, timeout_s: float | None):
        self.orchestrators = {s.name: s for s in specs if s.trigger_type.lower() == "orchestrationtrigger"}
        self.activities = {s.name: s for s in specs if s.trigger_type.lower() == "activitytrigger"}
        self.hub = hub_name
        self._invoker = invoker
        self.base_url = base_url  # a callable: the port is known once the server is configured
        self._timeout_s = timeout_s
        self.store = Store(storage, hub_name)
        self.api = ManagementApi(self)
        self._queues: dict[str, asyncio.Queue[Message]] = {}
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
        await asyncio.to_thread(self.store.create)
        for instance_id in await asyncio.to_thread(self.store.running):
            instance = await asyncio.to_thread(self.store.load, instance_id)
            if instance is not None and instance.status in RUNNING_STATES:
                logger.info("resuming orchestration %s (%s)", instance_id, instance.name)
                await self.activate(instance, resume=True)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def activate(self, instance: Instance, resume: bool) -> None:
        """Give an instance its worker and re-issue what it waits for."""
        queue: asyncio.Queue[Message] = asyncio.Queue()
        self._queues[instance.instance_id] = queue
        self._loaded[instance.instance_id] = instance
        if not instance.history:
            queue.put_nowait(Deliver(event(Ev.EXECUTION_STARTED, Name=instance.name, Input=instance.input, Version="",
                                           ParentInstanceId=instance.parent_instance_id)))
        if resume:
            delivered = {e.get("InboxKey") for e in instance.history if e["EventType"] == Ev.EVENT_RAISED}
            inbox = await asyncio.to_thread(self.store.inbox, instance.instance_id)
            for row in sorted(inbox, key=lambda r: r["RowKey"]):
                queue.put_nowait(from_inbox_row(row["Event"], row["RowKey"], delivered))
            for scheduled in pending_work(instance.history):
                await self._issue(instance, scheduled)
        self._spawn(self._worker(instance.instance_id))

    async def _worker(self, instance_id: str) -> None:
        queue = self._queues[instance_id]
        while True:
            message = await queue.get()
            instance = self._loaded[instance_id]
            await self._episode_retried(instance, message)
            if instance.status not in RUNNING_STATES:
                self._queues.pop(instance_id, None)
                self._loaded.pop(instance_id, None)
                return

    async def _episode_retried(self, instance: Instance, message: Message) -> None:
        """The message's episode, run again from the instance as it was before it when it fails. A retry
        writes the same events under the same row keys, and a completion it delivers twice is dropped
        (`is_completed`), so a write that landed before the failure is harmless."""
        before = replace(instance, history=list(instance.history))
        for attempt in range(1, EPISODE_TRIES + 1):
            try:
                await self._episode(instance, message)
                return
            except Exception:
                if attempt == EPISODE_TRIES:
                    logger.exception("orchestration %s: episode failed %d times; it stays as it was last written",
                                     instance.instance_id, attempt)
                    return
                logger.warning("orchestration %s: episode failed (try %d of %d); trying again",
                               instance.instance_id, attempt, EPISODE_TRIES, exc_info=True)
            for name in (f.name for f in fields(Instance)):
                setattr(instance, name, getattr(before, name))
            instance.history = list(before.history)  # a copy: the next try extends it, `before` stays
            await asyncio.sleep(EPISODE_RETRY_S * 2 ** (attempt - 1))

    def is_active(self, instance_id: str) -> bool:
        """Whether the instance has a worker here (it can take a message)."""
        return instance_id in self._queues

    async def current(self, instance_id: str) -> Instance | None:
        return self._loaded.get(instance_id) or await asyncio.to_thread(self.store.load, instance_id)

    def deliver(self, instance_id: str, message: Message) -> None:
        queue = self._queues.get(instance_id)
        if queue is None:
            logger.info("orchestration %s is not running: dropped %s", instance_id, message)
            return
        queue.put_nowait(message)

    # -- one episode

    async def _episode(self, instance: Instance, message: Message) -> None:
        inbox_keys = [message.inbox] if message.inbox else []
        if isinstance(message, Forget):
            await asyncio.to_thread(self.store.save, instance, [], inbox_keys, len(instance.history))
            return
        if isinstance(message, Terminate):
            now = datetime.now(UTC)
            new = [event(Ev.EXECUTION_TERMINATED, timestamp=now, Input=message.reason)]
            instance.status, instance.updated = "Terminated", iso(now)
            instance.output = json.dumps(message.reason)
            await self._commit(instance, new, inbox_keys)
            await self._notify_parent(instance, failed=True, reason=f"terminated: {message.reason}")
            return
        new_event = message.event
        if is_completed(instance.history, new_event):
            return  # a duplicate completion (e.g. after a restart): already in history
        if new_event["EventType"] == Ev.EVENT_RAISED and message.inbox:
            new_event["InboxKey"] = message.inbox
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
            await asyncio.to_thread(self.store.save, instance, [], [], 0)
            self._queues[instance.instance_id].put_nowait(
                Deliver(event(Ev.EXECUTION_STARTED, Name=instance.name, Input=instance.input, Version="",
                              ParentInstanceId=instance.parent_instance_id)))
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
        await asyncio.to_thread(self.store.save, instance, new, inbox_keys, first)
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
            self.deliver(instance_id, Deliver(event(Ev.TASK_FAILED, TaskScheduledId=task_id, Reason=reason)))
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
        self.deliver(instance_id, Deliver(done))

    async def _run_timer(self, instance_id: str, timer: dict[str, Any]) -> None:
        fire_at = parse_iso(timer["FireAt"])
        await asyncio.sleep(max(0.0, (fire_at - datetime.now(UTC)).total_seconds()))
        self.deliver(instance_id, Deliver(event(Ev.TIMER_FIRED, TimerId=timer["EventId"], FireAt=timer["FireAt"])))

    async def _start_child(self, parent: Instance, created: dict[str, Any]) -> None:
        child_id = created["InstanceId"]
        existing = self._loaded.get(child_id) or await asyncio.to_thread(self.store.load, child_id)
        if existing is not None and existing.parent_instance_id == parent.instance_id \
                and existing.parent_task_id == created["EventId"]:
            if existing.status in RUNNING_STATES:
                return  # resumed on its own
            await self._notify_parent(existing, failed=existing.status != "Completed", result=existing.output,
                                      reason=f"sub-orchestration {existing.status}")
            return
        child = Instance(child_id, created["Name"], created.get("Input"), parent_instance_id=parent.instance_id,
                         parent_task_id=created["EventId"])
        await asyncio.to_thread(self.store.save, child, [], [], 0)
        await self.activate(child, resume=False)

    async def _notify_parent(self, child: Instance, failed: bool, result: str | None = None,
                             reason: str = "") -> None:
        if child.parent_instance_id is None:
            return
        if failed:
            done = event(Ev.SUB_ORCHESTRATION_INSTANCE_FAILED, TaskScheduledId=child.parent_task_id,
                         Reason=reason, Details=reason)
        else:
            done = event(Ev.SUB_ORCHESTRATION_INSTANCE_COMPLETED, TaskScheduledId=child.parent_task_id, Result=result)
        self.deliver(child.parent_instance_id, Deliver(done))
