"""The orchestration history, pure: events as the SDK's replay reads them (`HistoryEvent` JSON), what
is scheduled and not yet completed, retries, the orchestrator's returned state. No I/O, no clock but
the one passed in: tests/unit/devstack/test_local_durable.py checks these against the SDK's own replay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.durable_functions.models.actions.ActionType import ActionType
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as Ev

OUT_OF_PROC_ERROR = "\n\n$OutOfProcData$:"
SCHEDULING_ACTIONS = {ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY, ActionType.CREATE_TIMER,
                      ActionType.CALL_SUB_ORCHESTRATOR, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY}
# A completion event -> the field that names the scheduled event it completes.
COMPLETIONS = {Ev.TASK_COMPLETED: "TaskScheduledId", Ev.TASK_FAILED: "TaskScheduledId",
               Ev.TIMER_FIRED: "TimerId", Ev.SUB_ORCHESTRATION_INSTANCE_COMPLETED: "TaskScheduledId",
               Ev.SUB_ORCHESTRATION_INSTANCE_FAILED: "TaskScheduledId"}
SCHEDULED = (Ev.TASK_SCHEDULED, Ev.TIMER_CREATED, Ev.SUB_ORCHESTRATION_INSTANCE_CREATED)


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
