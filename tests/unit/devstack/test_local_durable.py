"""The local durable runtime's history building, checked against the Durable Functions SDK's own replay."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import azure.durable_functions as df
import azure.functions as func
import pytest
from azure.core.exceptions import ServiceResponseError
from azure.durable_functions.models.actions.ActionType import ActionType
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as Ev

from devstack import localstack
from devstack.localhost.durable import history as durable
from devstack.localhost.durable import hub_name
from devstack.localhost.durable import runtime as runtime_module
from devstack.localhost.durable.runtime import DurableRuntime
from devstack.localhost.durable.store import Instance
from devstack.localhost.storage import StorageAccounts

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def replay(orchestrator, history: list[dict], input_: str | None = None) -> dict:
    """Run an orchestrator the way the runtime does and return its parsed state."""
    context = {"history": history, "input": input_, "instanceId": "i1", "isReplaying": False,
               "parentInstanceId": None, "upperSchemaVersion": 0}
    try:
        result = df.Orchestrator.create(orchestrator)(func.OrchestrationContext(json.dumps(context)))
    except Exception as error:
        result = error
    return durable.parse_state(result)


def started(input_: str | None = None) -> list[dict]:
    return [durable.event(Ev.ORCHESTRATOR_STARTED, timestamp=NOW),
            durable.event(Ev.EXECUTION_STARTED, Name="o", Input=input_, Version="")]


def fan_out(context):
    results = yield context.task_all([context.call_activity("a", i) for i in range(context.get_input())])
    return sum(results)


def test_fan_out_actions_get_sequential_ids_and_complete_from_history():
    history = started("3")
    state = replay(fan_out, history, "3")
    actions = durable.flatten_actions(state["actions"])
    assert [a["functionName"] for a in actions] == ["a", "a", "a"]
    assert not state["isDone"]
    history += [durable.event(Ev.TASK_SCHEDULED, i, NOW, Name="a", Input=a["input"]) for i, a in enumerate(actions)]
    assert durable.next_event_id(history) == 3
    assert [e["EventId"] for e in durable.pending_work(history)] == [0, 1, 2]
    for i in range(3):
        history += [durable.event(Ev.ORCHESTRATOR_STARTED, timestamp=NOW),
                    durable.event(Ev.TASK_COMPLETED, TaskScheduledId=i, Result=json.dumps(i * 10))]
    assert durable.pending_work(history) == []
    assert durable.is_completed(history, durable.event(Ev.TASK_COMPLETED, TaskScheduledId=1, Result="1"))
    state = replay(fan_out, history, "3")
    assert state["isDone"] and state["output"] == 30


def test_retry_follow_up_matches_the_sdk_numbering():
    def orchestrator(context):
        options = df.RetryOptions(first_retry_interval_in_milliseconds=500, max_number_of_attempts=2)
        return (yield context.call_activity_with_retry("f", options, "x"))

    history = started()
    action = durable.flatten_actions(replay(orchestrator, history)["actions"])[0]
    assert action["retryOptions"]["maxNumberOfAttempts"] == 2
    history.append(durable.event(Ev.TASK_SCHEDULED, 0, NOW, Name="f", Input=action["input"],
                                 Retry={**action["retryOptions"], "Attempt": 1}))
    failed = durable.event(Ev.TASK_FAILED, TaskScheduledId=0, Reason="boom", Details="")
    timer = durable.retry_followup([*history, failed], failed, NOW, 1)
    assert timer["EventType"] == Ev.TIMER_CREATED and timer["EventId"] == 1 and timer["RetryOf"] == 0
    assert durable.parse_iso(timer["FireAt"]) == NOW + timedelta(milliseconds=500)
    history += [durable.event(Ev.ORCHESTRATOR_STARTED, timestamp=NOW), failed, timer]
    fired = durable.event(Ev.TIMER_FIRED, TimerId=1, FireAt=timer["FireAt"])
    again = durable.retry_followup([*history, fired], fired, NOW, 2)
    assert again["EventType"] == Ev.TASK_SCHEDULED and again["EventId"] == 2 and again["Retry"]["Attempt"] == 2
    history += [durable.event(Ev.ORCHESTRATOR_STARTED, timestamp=NOW), fired, again,
                durable.event(Ev.ORCHESTRATOR_STARTED, timestamp=NOW),
                durable.event(Ev.TASK_COMPLETED, TaskScheduledId=2, Result='"fine"')]
    state = replay(orchestrator, history)
    assert state["isDone"] and state["output"] == "fine"
    # the last attempt failed: one more timer, then no further attempt
    last_failed = durable.event(Ev.TASK_FAILED, TaskScheduledId=2, Reason="boom", Details="")
    last_timer = durable.retry_followup([*history[:-1], last_failed], last_failed, NOW, 3)
    last_fired = durable.event(Ev.TIMER_FIRED, TimerId=3, FireAt=last_timer["FireAt"])
    assert durable.retry_followup([*history[:-1], last_failed, last_timer, last_fired], last_fired, NOW, 4) is None


def test_a_failing_orchestrator_reports_its_error():
    def orchestrator(context):
        yield context.call_activity("a", 1)
        raise ValueError("bad input")

    history = [*started(), durable.event(Ev.TASK_SCHEDULED, 0, NOW, Name="a", Input="1"),
               durable.event(Ev.ORCHESTRATOR_STARTED, timestamp=NOW),
               durable.event(Ev.TASK_COMPLETED, TaskScheduledId=0, Result="2")]
    state = replay(orchestrator, history)
    assert "bad input" in state["error"]


def test_timers_and_external_events_and_continue_as_new_actions():
    def orchestrator(context):
        winner = yield context.task_any([context.wait_for_external_event("go"),
                                         context.create_timer(context.current_utc_datetime + timedelta(seconds=5))])
        context.continue_as_new(winner.result)

    state = replay(orchestrator, started())
    kinds = [a["actionType"] for a in durable.flatten_actions(state["actions"])]
    assert kinds == [ActionType.WAIT_FOR_EXTERNAL_EVENT,
                     ActionType.CREATE_TIMER]
    history = [*started(), durable.event(Ev.TIMER_CREATED, 0, NOW, FireAt=durable.iso(NOW)),
               durable.event(Ev.ORCHESTRATOR_STARTED, timestamp=NOW),
               durable.event(Ev.EVENT_RAISED, Name="go", Input='{"n": 1}')]
    state = replay(orchestrator, history)
    assert state["isDone"]
    last = durable.flatten_actions(state["actions"])[-1]
    assert last["actionType"] == ActionType.CONTINUE_AS_NEW
    assert json.loads(last["input"]) == {"n": 1}


@pytest.mark.parametrize(("body", "text"), [(b"", None), (json.dumps(json.dumps({"a": 1})).encode(), '{"a": 1}'),
                                             (b'{"a": 1}', '{"a": 1}'), (b'"plain"', '"plain"'), (b"5", "5")])
def test_json_text_of_body(body, text):
    assert durable.json_text_of_body(body) == text


def test_hub_name_resolves_settings(monkeypatch):
    monkeypatch.setenv("DURABLE_TASK_HUB", "hubx")
    assert hub_name({"extensions": {"durableTask": {"hubName": "%DURABLE_TASK_HUB%"}}}) == "hubx"
    assert hub_name({}) == "TestHubName"


# --- the runtime: an episode whose write fails is run again ----------------------------------------

def one_activity(context):
    doubled = yield context.call_activity("double", 21)
    return doubled


class Functions:
    """The runtime's invoker: the orchestrator through the SDK, as the host runs it; the activity inline."""

    async def invoke(self, spec, value, timeout_s):
        if spec.name == "double":
            return value * 2
        return df.Orchestrator.create(one_activity)(value)


class FlakyStore:
    """The instances table, in memory; its first `failures` writes fail as a dropped connection does."""

    def __init__(self, failures: int):
        self.failures, self.writes = failures, 0
        self.history: dict[int, dict] = {}
        self.status: tuple[str, str | None] | None = None

    def save(self, instance, new_events, delete_keys, first_seq):
        self.writes += 1
        if self.failures:
            self.failures -= 1
            raise ServiceResponseError("('Connection aborted.', RemoteDisconnected('Remote end closed connection'))")
        self.history.update({first_seq + offset: item for offset, item in enumerate(new_events)})
        self.status = (instance.status, instance.output)


def run_until_done(store: FlakyStore) -> None:
    async def scenario():
        runtime = DurableRuntime([], Functions(), StorageAccounts(), "hub", None, None)
        runtime.store = store
        runtime.orchestrators = {"o": SimpleNamespace(name="o")}
        runtime.activities = {"double": SimpleNamespace(name="double")}
        await runtime.activate(Instance("i1", "o", None), resume=False)
        for _ in range(500):
            if store.status and store.status[0] not in ("Pending", "Running"):
                break
            await asyncio.sleep(0.01)
        await runtime.stop()
    asyncio.run(scenario())


def test_an_episode_whose_write_fails_is_run_again_from_where_it_was(monkeypatch):
    """Azurite closes idle connections, and a table transaction (a POST) is not retried by the SDK: the
    episode is, as the Durable Task Framework redelivers its message. Before, the message was dropped
    and the orchestration never moved again."""
    monkeypatch.setenv("AzureWebJobsStorage", localstack.storage_connection_string())
    monkeypatch.setattr(runtime_module, "EPISODE_RETRY_S", 0.001)
    store = FlakyStore(failures=2)  # the first episode (started, schedule the activity) fails twice
    run_until_done(store)
    assert store.status == ("Completed", "42")
    kinds = [store.history[seq]["EventType"] for seq in sorted(store.history)]
    assert kinds.count(Ev.TASK_SCHEDULED) == 1 and kinds.count(Ev.TASK_COMPLETED) == 1
    assert store.writes == 2 + 2  # two failed tries, then the two episodes


def test_an_episode_that_keeps_failing_gives_up(monkeypatch):
    monkeypatch.setenv("AzureWebJobsStorage", localstack.storage_connection_string())
    monkeypatch.setattr(runtime_module, "EPISODE_RETRY_S", 0.001)
    store = FlakyStore(failures=100)
    run_until_done(store)
    assert store.writes == runtime_module.EPISODE_TRIES and store.status is None
