"""Storage round trips per request: every HTTP call the SDKs make, counted in the host and named.

    .venv/bin/python -m bench.storage_calls [--repeats 3] [--settle 2]

Starts the product on the local host (as `bench.api_throughput` does: transcoder off) with a
`sitecustomize` that wraps `requests.adapters.HTTPAdapter.send`, the transport under every SDK
client the app builds (shared/adapters/http_pool.py). Each call the host sends is logged with its
thread, method, target and the app's frames that made it. Then, one request at a time on one fresh
mailbox, it runs `--repeats` times: deposit (inline WAV) → list (`?limit=50`) → get (the
throughput bench's loop) → patch (heard, to `saved`) → delete (to the trash), and waits
`--settle` seconds after each, so the calls that request set off in the background (the
notification dispatcher settling its outbox events) are counted with it, apart from the request's
own. The host's polls (change feed, queues), the timers' status writes and the timer functions
(the dispatcher's sweep, the audit flush, ...) run on the clock, not per request: they are listed
apart as `listener`.

Then, in this process and through the app's own `CosmosStore`, it times a get's reads both ways,
one after the other on that mailbox: the message's point read and the mailbox's, against the one
query that reads both (`snapshot`): CPU and wall time per get, after `--fill` copies of the
message were added to the mailbox (the throughput bench's mailboxes hold a few hundred by its end).
The mailbox's documents are deleted at the end (its blobs and host containers stay in Azurite).

Last, on a second host without the call log, the host's own CPU (from /proc) per request, one
request at a time, with the throughput bench's 480 KB payload, in a mailbox of `--cpu-repeats`
messages: three times `--cpu-repeats` gets, then as many lists and deposits as messages (the host's idle
CPU over the same time taken off): a measure that other work on the machine disturbs less than
the throughput ratio.

Prints, per request type, the calls per request and each call with its origin, and writes
`bench/results/storage_calls.json` (git-ignored).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    PLATFORM,
    ROOT,
    announce,
    argument_parser,
    finish,
    host_env,
    local_stack,
    new_result,
    results_path,
    running_host,
)
from devstack.hosting import random_name
from devstack.make_sample_wav import speech_like_wav

NAME = "storage_calls"
RESULTS = results_path(NAME)
# The throughput bench's loop (deposit, list, get), then a change (heard, to saved) and to the trash.
OPS = ("deposit", "list", "get", "patch", "trash")

# Loaded by the host's interpreter at start-up (PYTHONPATH): logs each HTTP call the SDKs send.
SITECUSTOMIZE = textwrap.dedent('''
    import json, os, sys, threading, time
    import requests.adapters

    _LOG = open(os.environ["STORAGE_CALLS_LOG"], "a", buffering=1)
    _ROOT = os.environ["STORAGE_CALLS_ROOT"].rstrip("/") + "/"
    _LOCK = threading.Lock()
    _send = requests.adapters.HTTPAdapter.send

    def _frames():
        frames, frame = [], sys._getframe(2)
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith(_ROOT) and "/.venv/" not in name:
                frames.append(f"{name[len(_ROOT):]}:{frame.f_code.co_name}")
            frame = frame.f_back
        return frames[::-1]

    def send(self, request, *args, **kwargs):
        started = time.time()
        response = _send(self, request, *args, **kwargs)
        record = {"t": started, "thread": threading.current_thread().name, "method": request.method,
                  "url": request.url.split("?")[0], "query": request.headers.get("x-ms-documentdb-isquery"),
                  "batch": request.headers.get("x-ms-cosmos-is-batch-request"),
                  "status": response.status_code, "frames": _frames()}
        with _LOCK:
            _LOG.write(json.dumps(record) + "\\n")
        return response

    requests.adapters.HTTPAdapter.send = send
''')


def call_name(record: dict[str, Any]) -> str:
    """What the call is, from the wire: `cosmos query`, `cosmos read mailbox`, `blob PUT`, ..."""
    url, method = record["url"], record["method"]
    if "/dbs/" in url:
        path = url.split("/dbs/", 1)[1]
        if record.get("batch"):
            return "cosmos batch"
        if record.get("query"):
            return "cosmos query"
        doc = path.split("/docs/", 1)[1].strip("/") if "/docs/" in path else None
        verb = {"GET": "read", "POST": "create", "PUT": "replace", "DELETE": "delete"}.get(method, method)
        return f"cosmos {verb} {document_kind(doc) if doc else path.rsplit('/', 1)[-1]}".strip()
    if ":10001" in url or "/messages" in url:
        return f"queue {method} {'message' if url.endswith('/messages') else 'queue'}"
    return f"blob {method}"


def document_kind(doc_id: str) -> str:
    """A document by its kind: the mailbox, its notification settings, an outbox event, a message."""
    if doc_id in ("mailbox", "notifications"):
        return f"document {doc_id}"
    if doc_id.startswith(("evt_", "tally-", "pins-", "greeting-")):
        return f"{doc_id[:doc_id.index('_' if doc_id.startswith('evt_') else '-')]} document"
    return "message document"


def origin(record: dict[str, Any]) -> str:
    """The app's frames that made the call, outermost first, without the SDK's or the host's."""
    frames = [f for f in record["frames"] if f.startswith(("shared/", "functions/"))]
    return " > ".join(f.split("/")[-1].replace(".py", "") for f in frames[-4:]) or "(host: " + (
        record["frames"][-1] if record["frames"] else record["thread"]) + ")"


def charged_to(record: dict[str, Any]) -> str:
    frames = " ".join(record["frames"])
    if "functions/messages.py" in frames or "functions/http.py" in frames:
        return "request"
    if "_dispatch_in_order" in frames or "dispatch_changed" in frames:
        return "dispatcher"  # what the change feed brought: this request's outbox events
    return "listener"  # the host's polls and the timers (the dispatcher's sweep among them): no request's


def measure(log: Path, base_url: str, repeats: int, settle: float) -> tuple[dict[str, Any], str, str]:
    mailbox = random_name("calls")
    payload = speech_like_wav(5.0)
    path = f"/mailboxes/{mailbox}/messages"
    per_op: dict[str, dict[str, Counter]] = {op: {"request": Counter(), "dispatcher": Counter(), "listener": Counter()}
                                             for op in OPS}
    with httpx.Client(base_url=f"{base_url}/api", headers=PLATFORM, timeout=60) as client:
        client.put(f"/mailboxes/{mailbox}", json={"displayName": "Calls", "settings": {"maxMessages": 1000}})
        time.sleep(settle)
        for _ in range(repeats):
            for op in OPS:
                offset = log.stat().st_size
                if op == "deposit":
                    response = client.post(path, params={"from": "+15551230000"}, content=payload,
                                           headers={"content-type": "audio/wav"})
                    message_id = response.json()["id"]
                elif op == "list":
                    response = client.get(path, params={"limit": 50})
                elif op == "get":
                    response = client.get(f"{path}/{message_id}")
                elif op == "patch":
                    response = client.patch(f"{path}/{message_id}", json={"heard": True, "folder": "saved"})
                else:
                    response = client.delete(f"{path}/{message_id}")
                if response.status_code >= 300:
                    raise RuntimeError(f"{op}: HTTP {response.status_code} {response.text[:200]}")
                time.sleep(settle)
                with log.open() as lines:
                    lines.seek(offset)
                    for line in lines:
                        record = json.loads(line)
                        per_op[op][charged_to(record)][f"{call_name(record)}  ← {origin(record)}"] += 1
    counted = {op: {who: {call: round(n / repeats, 2) for call, n in calls.most_common()}
                    for who, calls in charged.items()} for op, charged in per_op.items()}
    return counted, mailbox, message_id


class _Connected:
    """The app's container handle (shared/adapters/cosmos_client.py), over the bench's own client."""

    def __init__(self, container: Any):
        self._container = container

    def get(self) -> Any:
        return self._container


def read_cost(mailbox: str, message_id: str, repeats: int, fill: int) -> dict[str, Any]:
    """CPU and wall time per get, in this process, through the app's own store (same SDK, same
    options): a message's read and its mailbox's, against the one query that reads both."""
    from bench.api_throughput import COSMOS_OPTIONS, SDK_TIMEOUT_S
    from bench.common import cosmos_container
    from shared.adapters.cosmos import CosmosStore

    container = cosmos_container(create=False, **COSMOS_OPTIONS)
    store = CosmosStore(_Connected(container), SDK_TIMEOUT_S)
    model = container.read_item(message_id, partition_key=mailbox)
    for index in range(fill):  # a mailbox the size of the throughput bench's at its end
        container.create_item({key: value for key, value in model.items() if not key.startswith("_")}
                              | {"id": f"{message_id}-fill{index}"})
    ways = {"two point reads (message, mailbox)": lambda: (store.get_message(mailbox, message_id),
                                                           store.get_mailbox(mailbox)),
            "one query (snapshot of the mailbox with the message)": lambda: store.snapshot(mailbox, message_id)}
    cost = {}
    for _ in range(2):  # the second round is the one kept: connections and caches warm
        for name, way in ways.items():
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(repeats):
                way()
            cost[name] = {"cpu_ms": round((time.process_time() - cpu) * 1000 / repeats, 2),
                          "wall_ms": round((time.perf_counter() - wall) * 1000 / repeats, 2)}
    size = next(iter(container.query_items("SELECT VALUE COUNT(1) FROM c WHERE c.mailboxId = @m AND "
                                           "c.type = 'message'", parameters=[{"name": "@m", "value": mailbox}],
                                           partition_key=mailbox)))
    for doc in list(container.query_items("SELECT c.id FROM c WHERE c.mailboxId = @m",
                                          parameters=[{"name": "@m", "value": mailbox}], partition_key=mailbox)):
        container.delete_item(doc["id"], partition_key=mailbox)  # nothing of this run is left behind
    return {"messages_in_mailbox": size, "per_get": cost}


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def host_cpu(base_url: str, pid: int, repeats: int, settle: float) -> dict[str, float]:
    """The host's CPU (user and system, from /proc) per request, one request at a time, in a mailbox
    first given `repeats` messages (not measured): three times `repeats` gets, then `repeats` lists, then
    `repeats` deposits, each phase followed by `settle` seconds for what it set off in the
    background (the dispatcher, after the deposits). The reads go first so that nothing the
    deposits set off is still running. The host's CPU while idle for as long (its polls and
    timers) is taken off each phase."""
    mailbox, payload = random_name("cpu"), speech_like_wav(30.0)  # the throughput bench's payload
    path = f"/mailboxes/{mailbox}/messages"
    with httpx.Client(base_url=f"{base_url}/api", headers=PLATFORM, timeout=60) as client:
        client.put(f"/mailboxes/{mailbox}", json={"displayName": "Cpu", "settings": {"maxMessages": 10000}})

        def deposit() -> str:
            return client.post(path, params={"from": "+15551230000"}, content=payload,
                               headers={"content-type": "audio/wav"}).json()["id"]

        ids = [deposit() for _ in range(repeats)]
        time.sleep(3 * settle)

        def phase(action: Any, times: int) -> tuple[float, float]:
            cpu, wall = process_cpu_s(pid), time.perf_counter()
            for _ in range(times):
                action()
            time.sleep(settle)
            return (process_cpu_s(pid) - cpu) / times, (time.perf_counter() - wall) / times

        idle_cpu, idle_wall = phase(lambda: time.sleep(0.02), 100)
        idle_rate = idle_cpu / idle_wall
        used = {}
        for name, action, times in (
                ("get", lambda: client.get(f"{path}/{ids[len(ids) // 2]}").raise_for_status(), 3 * repeats),
                ("list", lambda: client.get(path, params={"limit": 50}).raise_for_status(), repeats),
                ("deposit", deposit, repeats)):
            cpu, wall = phase(action, times)
            used[name] = round(max(0.0, cpu - idle_rate * wall) * 1000, 2)
    return {**used, "iteration": round(sum(used.values()), 2), "idle_ms_per_s": round(idle_rate * 1000, 1)}


def report(calls: dict[str, Any]) -> str:
    lines = []
    for op, charged in calls.items():
        own, background = sum(charged["request"].values()), sum(charged["dispatcher"].values())
        lines.append(f"{op}: {own:g} calls in the request, {background:g} by the dispatcher after it")
        for who in ("request", "dispatcher", "listener"):
            for call, n in charged[who].items():
                lines.append(f"  {who:10} {n:5g}  {call}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(NAME, __doc__)
    parser.add_argument("--repeats", type=int, default=3, help="deposit → list → get rounds")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds to wait after each request")
    parser.add_argument("--cost-repeats", type=int, default=300, help="gets timed each way (in this process)")
    parser.add_argument("--fill", type=int, default=300, help="messages added to the mailbox before they are timed")
    parser.add_argument("--cpu-repeats", type=int, default=100,
                        help="requests of each kind timed in the host's CPU, on a host without the call log (0: none)")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    result = new_result(NAME, argv, {"repeats": args.repeats, "settle_s": args.settle})
    with tempfile.TemporaryDirectory(prefix="calls") as tmp, local_stack():
        (Path(tmp) / "sitecustomize.py").write_text(SITECUSTOMIZE)
        log = Path(tmp) / "calls.jsonl"
        log.touch()
        region = random_name("calls")
        env = host_env(region, ("incoming_audio",), PYTHONPATH=f"{tmp}:{ROOT}", STORAGE_CALLS_LOG=str(log),
                       STORAGE_CALLS_ROOT=str(ROOT))
        with running_host(env) as host:
            announce(host, region)
            result["calls_per_request"], mailbox, message_id = measure(log, host.base_url, args.repeats,
                                                                       args.settle)
        result["get_cost"] = read_cost(mailbox, message_id, args.cost_repeats, args.fill)
        if args.cpu_repeats:
            plain = host_env(random_name("cpu"), ("incoming_audio",))  # no call log: the host as benched
            with running_host(plain) as host:
                result["host_cpu_ms_per_request"] = host_cpu(host.base_url, host.process.pid, args.cpu_repeats,
                                                             args.settle)
    cost = "\n".join([f"a get's reads, timed here, in a mailbox of {result['get_cost']['messages_in_mailbox']} "
                      "messages:", *(f"  {name}: {figures['cpu_ms']} ms CPU, {figures['wall_ms']} ms wall"
                                     for name, figures in result["get_cost"]["per_get"].items())])
    cpu = ("host CPU ms per request, one at a time (the dispatcher's work in the deposit's): " + ", ".join(
        f"{name} {ms:g}" for name, ms in result["host_cpu_ms_per_request"].items())) if args.cpu_repeats else ""
    finish(result, began, RESULTS, report(result["calls_per_request"]), cost, cpu)
    return 0


if __name__ == "__main__":
    sys.exit(main())
