"""Test-only functions that exercise the local host (never part of the product).

Every name comes from settings (`%TEST_PREFIX%`), so each test's host works on its own
containers and queues.
"""

import contextlib
import json
import os
from datetime import UTC, datetime

import azure.functions as func
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _record_attempt(what: str) -> None:
    """Count tries out of band: output bindings are not written when a function fails."""
    queue = QueueClient.from_connection_string(os.environ["AzureWebJobsStorage"],
                                               f"{os.environ['TEST_PREFIX']}-attempts")
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    queue.send_message(what)


@app.route(route="echo/{id}/{rest?}", methods=["GET", "POST", "PUT", "DELETE"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    body = {"method": req.method, "url": req.url, "route": dict(req.route_params), "query": dict(req.params),
            "headers": dict(req.headers), "body": req.get_body().decode("latin-1")}
    return func.HttpResponse(json.dumps(body), status_code=int(req.params.get("status", "200")),
                             mimetype="application/json", headers={"x-echo": req.route_params["id"]})


@app.route(route="echo/fixed/literal", methods=["GET"])
def echo_literal(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("literal route", status_code=200)


@app.route(route="reverse", methods=["POST"])
async def reverse(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.get_body()[::-1], mimetype="application/octet-stream", status_code=201)


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("internal detail that must not reach the client")


@app.timer_trigger(schedule="%TEST_TIMER_SCHEDULE%", arg_name="timer", run_on_startup=False)
@app.queue_output(arg_name="out", queue_name="%TEST_PREFIX%-ticks", connection="AzureWebJobsStorage")
def tick(timer: func.TimerRequest, out: func.Out[str]) -> None:
    out.set(json.dumps({"pastDue": timer.past_due, "at": datetime.now(UTC).isoformat()}))


@app.blob_trigger(arg_name="blob", path="%TEST_PREFIX%-in/{name}", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="%TEST_PREFIX%-blobs", connection="AzureWebJobsStorage")
def on_blob(blob: func.InputStream, out: func.Out[str]) -> None:
    out.set(json.dumps({"name": blob.name, "length": blob.length, "data": blob.read().decode()}))


@app.blob_trigger(arg_name="blob", path="%TEST_PREFIX%-bad/{name}", connection="AzureWebJobsStorage")
def on_bad_blob(blob: func.InputStream) -> None:
    _record_attempt(blob.name)
    raise ValueError("this blob always fails")


@app.queue_trigger(arg_name="msg", queue_name="%TEST_PREFIX%-work", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="%TEST_PREFIX%-done", connection="AzureWebJobsStorage")
def work(msg: func.QueueMessage, out: func.Out[str]) -> None:
    body = msg.get_body().decode()
    if body.startswith("fail"):
        _record_attempt(body)
        raise ValueError("this message always fails")
    out.set(json.dumps({"body": body, "dequeueCount": msg.dequeue_count}))


@app.blob_trigger(arg_name="blob", path="%TEST_PREFIX%-eg/{name}", connection="AzureWebJobsStorage",
                  source="EventGrid")
@app.queue_output(arg_name="out", queue_name="%TEST_PREFIX%-eg-fired", connection="AzureWebJobsStorage")
def on_event_grid_blob(blob: func.InputStream, out: func.Out[str]) -> None:
    out.set(blob.name)
