"""Test-only durable functions that exercise the local host's durable runtime (never part of the product).

Activities count their runs in `%TEST_DIR%/activities.log` (one line per completed run), so tests can
tell that no activity ran twice, across host restarts too.
"""

import json
import os
from datetime import timedelta
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
bp = df.Blueprint()


def _log(line: str) -> None:
    with (Path(os.environ["TEST_DIR"]) / "activities.log").open("a") as file:
        file.write(line + "\n")


# --- starters (durable client)

@bp.route(route="start/{name}/{id}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    try:
        instance_id = await client.start_new(req.route_params["name"], req.route_params["id"],
                                             json.loads(body) if body else None)
    except Exception as error:
        return func.HttpResponse(str(error), status_code=409)
    return client.create_check_status_response(req, instance_id)


@bp.route(route="status/{id}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def http_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    status = await client.get_status(req.route_params["id"])
    if status.runtime_status is None:
        return func.HttpResponse(status_code=404)
    return func.HttpResponse(json.dumps({"runtimeStatus": status.runtime_status.value, "output": status.output,
                                         "customStatus": status.custom_status, "input": status.input_,
                                         "createdTime": str(status.created_time)}),
                             mimetype="application/json")


@bp.route(route="raise/{id}/{event}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def http_raise(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    await client.raise_event(req.route_params["id"], req.route_params["event"], json.loads(req.get_body()))
    return func.HttpResponse(status_code=202)


@bp.route(route="terminate/{id}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def http_terminate(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    await client.terminate(req.route_params["id"], "stopped by test")
    return func.HttpResponse(status_code=202)


@bp.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def timer_start(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await client.start_new("fan_out", f"{os.environ['TEST_PREFIX']}-from-timer", 3)


# --- orchestrators

@bp.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    n = context.get_input()
    results = yield context.task_all([context.call_activity("double", i) for i in range(n)])
    return sum(results)


@bp.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=200, max_number_of_attempts=4)
    result = yield context.call_activity_with_retry("flaky", options, context.instance_id)
    return result


@bp.orchestration_trigger(context_name="context")
def sleeper(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=1))
    return "woke"


@bp.orchestration_trigger(context_name="context")
def racing(context: df.DurableOrchestrationContext):
    short = context.create_timer(context.current_utc_datetime + timedelta(milliseconds=300))
    never = context.wait_for_external_event("never")
    first = yield context.task_any([never, short])
    fast = context.call_activity("double", 21)
    long = context.create_timer(context.current_utc_datetime + timedelta(seconds=60))
    second = yield context.task_any([fast, long])
    if not long.is_completed:
        long.cancel()
    return ["timer" if first == short else "event", second.result]


@bp.orchestration_trigger(context_name="context")
def looping(context: df.DurableOrchestrationContext):
    state = context.get_input()
    doubled = yield context.call_activity("double", state["i"])
    state = {"i": state["i"] + 1, "n": state["n"], "total": state["total"] + doubled}
    if state["i"] < state["n"]:
        context.continue_as_new(state)
        return None
    return state["total"]


@bp.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    child = yield context.call_sub_orchestrator("fan_out", 4, f"{context.instance_id}-child")
    return {"child": child, "plus": child + 1}


@bp.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    context.set_custom_status({"stage": "waiting"})
    answer = yield context.wait_for_external_event("approve")
    context.set_custom_status({"stage": "done"})
    return {"answer": answer}


@bp.orchestration_trigger(context_name="context")
def durable_steps(context: df.DurableOrchestrationContext):
    for step in range(3):
        yield context.call_activity("record", f"{context.instance_id}:{step}")
    context.set_custom_status("sleeping")
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=4))
    yield context.call_activity("record", f"{context.instance_id}:after")
    return "finished"


# --- activities

@bp.activity_trigger(input_name="value")
def double(value: int) -> int:
    _log(f"double:{value}")
    return value * 2


@bp.activity_trigger(input_name="key")
def flaky(key: str) -> str:
    marker = Path(os.environ["TEST_DIR"]) / f"flaky-{key}"
    tries = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(tries))
    if tries < 3:
        raise RuntimeError(f"attempt {tries} fails")
    return f"ok after {tries}"


@bp.activity_trigger(input_name="what")
def record(what: str) -> str:
    _log(f"record:{what}")
    return what


app.register_functions(bp)
