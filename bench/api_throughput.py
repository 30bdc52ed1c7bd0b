"""API throughput against the raw Azure SDKs, on the local stack, in one run.

    .venv/bin/python -m bench.api_throughput [--clients 16] [--seconds 20] [--warmup 3] [--mailboxes 8]

Both sides run the same loop with the same concurrency and the same payload (a 30 s speech-like
8 kHz 16-bit WAV, 480 KB), clients spread over several fresh mailboxes:

- api: the product served by the local host (`devstack.localhost`, a free port), each client an
  `httpx.Client` in its own thread looping deposit (`POST .../messages?from=..`, `audio/wav`) →
  list (`GET .../messages?limit=50`) → get (`GET .../messages/{id}`);
- sdk: the same work done directly on the emulators with the SDKs the app uses (its timeouts and
  consistency, clients built once and shared by all threads): upload the blob to `incoming/{mailbox}/{id}`,
  create the message document, the app's single-partition list query (`TOP 51 ... ORDER BY
  c.sortKey DESC`) and a point read;
- same-calls: the api side's own 9 storage calls an iteration (its snapshot queries, the batch with
  the tally, outbox event and usage fact, the MWI post, the dispatcher's settling, the mailbox reads:
  `bench/same_calls.py`) straight on the SDKs. `api / same-calls` is what the host and the app cost
  beyond their storage work; `api / sdk` is the goal's ratio.

Each side warms up for `--warmup` seconds, then measures for `--seconds`. The emulators are started
when they do not answer, and only what was started here is stopped at the end. The host is stopped
as soon as the api side is measured, so its blob trigger on `incoming/` does not compete with the sdk
side. What a side wrote (documents, blobs, its MWI queue, and the blob-trigger receipts for its blobs,
whichever host wrote them) is deleted after it, so both sides meet the same container and nothing is
left for other hosts to pick up. Other local hosts on the same storage account (a test run, say)
fire on the blobs of both sides while they run: measure on a quiet machine.

Prints a table and writes `bench/results/api_throughput.json` (git-ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from azure.core.exceptions import ResourceNotFoundError
from azure.cosmos import ContainerProxy
from azure.storage.blob import BlobServiceClient, ContentSettings
from azure.storage.queue import QueueClient

from bench.common import (
    PLATFORM,
    ROOT,
    announce,
    argument_parser,
    blob_service,
    cosmos_container,
    delete_blob_containers,
    delete_queue,
    finish,
    host_env,
    latency_summary,
    local_stack,
    log_summary,
    median_ms,
    new_result,
    percentile,
    quiet_connection_pools,
    ratio,
    results_path,
    running_host,
    verdict,
)
from bench.same_calls import CALLS_PER_ITERATION, same_calls_iteration
from devstack import localstack
from devstack.hosting import random_name
from devstack.make_sample_wav import speech_like_wav
from shared.domain.audio import Containers
from shared.domain.blobpaths import message_original, split

NAME = "api_throughput"
RESULTS = results_path(NAME)
INCOMING, HOSTS_CONTAINER = "incoming", "azure-webjobs-hosts"
OPS = ("deposit", "list", "get")
SIDES = ("api", "sdk", "same-calls")
SENDER = "+15551230000"
PAYLOAD_SECONDS = 30.0
GOAL = 0.60
# The app's list query for `?limit=50` with no filter (shared/adapters/cosmos.py: list_messages).
LIST_SQL = ("SELECT TOP 51 * FROM c WHERE c.mailboxId = @m AND c.type = 'message' AND c.uploadPending = false "
            "AND c.folder != 'trash' ORDER BY c.sortKey DESC")
# The app's count query, run before each deposit (room check) and after it (MWI event).
ALL_MESSAGES_SQL = "SELECT * FROM c WHERE c.mailboxId = @m AND c.type = 'message'"
# The timeouts and consistency the app builds its clients with (shared/adapters/cosmos.py and blob.py);
# retry settings only matter when calls fail, which a run with errors reports anyway.
SDK_TIMEOUT_S = 10.0
COSMOS_OPTIONS = {"connection_timeout": SDK_TIMEOUT_S, "read_timeout": SDK_TIMEOUT_S, "retry_total": 3,
                  "retry_backoff_max": 5, "retry_fixed_interval": 200, "consistency_level": "Session"}
BLOB_OPTIONS = {"connection_timeout": SDK_TIMEOUT_S, "read_timeout": SDK_TIMEOUT_S}


class OpFailed(Exception):
    def __init__(self, op: str, detail: str):
        super().__init__(f"{op}: {detail}")
        self.op = op
        self.detail = detail


@dataclass
class Sample:
    """One completed iteration: when it started and each operation's latency (seconds)."""

    start: float
    deposit: float
    list: float
    get: float

    @property
    def total(self) -> float:
        return self.deposit + self.list + self.get


@dataclass
class Recorder:
    samples: list[Sample] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    warmup_iterations: int = 0
    warmup_errors: Counter = field(default_factory=Counter)
    not_listed: int = 0  # the message just deposited was missing from the list that followed
    lock: threading.Lock = field(default_factory=threading.Lock)


Iteration = Callable[[int, Any], tuple[float, float, float, bool]]


class Driver:
    """`clients` threads running one side's loop: warm up, meet at a barrier, then measure. The
    measured wall time runs from the common start to the last thread's last iteration."""

    def __init__(self, clients: int, warmup_s: float, seconds: float, setup: Callable[[int], Any],
                 iteration: Iteration, stop: threading.Event, on_start: Callable[[], None] | None = None):
        self.clients, self.warmup_s, self.seconds = clients, warmup_s, seconds
        self.on_start = on_start
        self.setup, self.iteration, self.stop = setup, iteration, stop
        self.recorder = Recorder()
        self.window: dict[str, float] = {}
        self.finished: list[float] = []
        self.barrier = threading.Barrier(clients, action=self._open_window)
        self.warmup_end = 0.0

    def _open_window(self) -> None:
        if self.on_start is not None:
            self.on_start()
        self.window["start"] = time.perf_counter()
        self.window["end"] = self.window["start"] + self.seconds

    def _loop(self, index: int, state: Any, deadline: float, measuring: bool) -> None:
        recorder = self.recorder
        while not self.stop.is_set() and time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                deposit, listing, get, listed = self.iteration(index, state)
            except OpFailed as error:
                with recorder.lock:
                    (recorder.errors if measuring else recorder.warmup_errors)[f"{error.op}: {error.detail}"] += 1
                time.sleep(0.05)
                continue
            with recorder.lock:
                if measuring:
                    recorder.samples.append(Sample(started, deposit, listing, get))
                    recorder.not_listed += not listed
                else:
                    recorder.warmup_iterations += 1

    def _worker(self, index: int) -> None:
        state = None
        try:
            state = self.setup(index)
            self._loop(index, state, self.warmup_end, measuring=False)
            self.barrier.wait()
            self._loop(index, state, self.window["end"], measuring=True)
            with self.recorder.lock:
                self.finished.append(time.perf_counter())
        except threading.BrokenBarrierError:
            pass
        except BaseException:
            self.barrier.abort()  # the others must not wait for this one at the barrier
            raise
        finally:
            close = getattr(state, "close", None)
            if close is not None:
                close()

    def run(self) -> tuple[Recorder, float]:
        self.warmup_end = time.perf_counter() + self.warmup_s
        threads = [threading.Thread(target=self._worker, args=(i,), name=f"client-{i}", daemon=True)
                   for i in range(self.clients)]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(timeout=0.5)
        except KeyboardInterrupt:
            self.stop.set()
            self.barrier.abort()
            for thread in threads:
                thread.join(timeout=30)
            raise
        started = self.window.get("start")
        elapsed = max(self.finished) - started if self.finished and started is not None else 0.0
        return self.recorder, elapsed


class CpuMeter:
    """CPU seconds used by the processes that do the work (this one, the host, the emulators) and
    by the whole machine, read from /proc: where the time goes on a 2-core box."""

    TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.before: dict[str, float] = {}

    @staticmethod
    def emulator_pids() -> dict[str, int]:
        """The running Azurite and Cosmos emulator processes of this checkout, started here or not."""
        found: dict[str, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(ROOT / "node_modules") not in command:
                continue
            if "cosmosdb-server" in command:
                found["cosmos emulator"] = int(entry.name)
            elif "azurite" in command:
                found["azurite"] = int(entry.name)
        return found

    def _read(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for name, pid in self.pids.items():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                values[name] = (int(fields[11]) + int(fields[12])) / self.TICK
            except (OSError, ValueError, IndexError):
                continue
        with contextlib.suppress(OSError, ValueError):
            ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
            values["machine (all processes)"] = (sum(ticks) - ticks[3] - ticks[4]) / self.TICK
        return values

    def start(self) -> None:
        self.before = self._read()

    def used(self) -> dict[str, float]:
        after = self._read()
        return {name: round(after[name] - self.before[name], 2) for name in after if name in self.before}


# -- the api side --------------------------------------------------------------------------------

def api_iteration(base_url: str, mailboxes: list[str], payload: bytes) -> tuple[Callable[[int], Any], Iteration]:
    def setup(_: int) -> httpx.Client:
        return httpx.Client(base_url=f"{base_url}/api", headers=PLATFORM, timeout=60)

    def expect(response: httpx.Response, status: int, op: str) -> Any:
        if response.status_code != status:
            raise OpFailed(op, f"HTTP {response.status_code} {response.text[:120]}")
        return response.json()

    def call(op: str, send: Callable[[], httpx.Response], status: int) -> tuple[Any, float]:
        started = time.perf_counter()
        try:
            response = send()
            body = expect(response, status, op)
        except httpx.HTTPError as error:
            raise OpFailed(op, type(error).__name__) from None
        return body, time.perf_counter() - started

    def iteration(index: int, client: httpx.Client) -> tuple[float, float, float, bool]:
        path = f"/mailboxes/{mailboxes[index % len(mailboxes)]}/messages"
        message, deposit = call("deposit", lambda: client.post(
            path, params={"from": SENDER}, content=payload, headers={"content-type": "audio/wav"}), 202)
        page, listing = call("list", lambda: client.get(path, params={"limit": 50}), 200)
        _, get = call("get", lambda: client.get(f"{path}/{message['id']}"), 200)
        return deposit, listing, get, any(item["id"] == message["id"] for item in page["items"])

    return setup, iteration


def provision(base_url: str, mailboxes: list[str]) -> None:
    with httpx.Client(base_url=f"{base_url}/api", headers=PLATFORM, timeout=60) as client:
        for mailbox in mailboxes:
            response = client.put(f"/mailboxes/{mailbox}",
                                  json={"displayName": f"Bench {mailbox}", "settings": {"maxMessages": 10000}})
            if response.status_code != 201:
                raise RuntimeError(f"provisioning {mailbox}: HTTP {response.status_code} {response.text[:200]}")


# -- the sdk side --------------------------------------------------------------------------------

@dataclass
class Sdk:
    """The SDK clients, built once and shared by every thread, as the app builds and shares its own."""

    blobs: BlobServiceClient
    container: ContainerProxy

    @classmethod
    def connect(cls) -> Sdk:
        container = cosmos_container(**COSMOS_OPTIONS)
        return cls(blob_service(INCOMING, **BLOB_OPTIONS), container)


def original(mailbox: str, message_id: str) -> str:
    """Where the app keeps a message's original (the bench host's containers are the defaults)."""
    return message_original(Containers(INCOMING, "audio"), mailbox, message_id)


def message_doc(mailbox: str, message_id: str, now: datetime, size: int) -> dict[str, Any]:
    """The document the app stores for an inline deposit (shared/adapters/cosmos_docs.py: message_to_doc)."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "id": message_id, "mailboxId": mailbox, "type": "message", "folder": "inbox", "heard": False,
        "urgent": False, "from": {"number": SENDER, "name": None}, "receivedAt": stamp,
        "sortKey": f"{stamp}|{message_id}", "durationMs": None, "status": "processing", "error": None,
        "formats": [], "depositRegion": "bench", "expiresAt": (now + timedelta(days=30)).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"), "trashedAt": None, "blobs": {"original": original(mailbox, message_id)},
        "contentType": "audio/wav", "sizeBytes": size, "requestHash": uuid.uuid4().hex, "uploadPending": False,
        "replicaRegions": ["bench"],
    }


def sdk_iteration(sdk: Sdk, mailboxes: list[str], payload: bytes) -> tuple[Callable[[int], Any], Iteration]:
    def timed(op: str, action: Callable[[], Any]) -> tuple[Any, float]:
        started = time.perf_counter()
        try:
            result = action()
        except Exception as error:  # noqa: BLE001 - every SDK failure is counted, by type
            raise OpFailed(op, f"{type(error).__name__} {str(error)[:120]}") from None
        return result, time.perf_counter() - started

    def iteration(index: int, _: Any) -> tuple[float, float, float, bool]:
        mailbox = mailboxes[index % len(mailboxes)]
        message_id = uuid.uuid4().hex

        def deposit() -> None:
            sdk.blobs.get_blob_client(*split(original(mailbox, message_id))).upload_blob(
                payload, overwrite=True, metadata={"mailboxId": mailbox, "messageId": message_id},
                content_settings=ContentSettings(content_type="audio/wav"))
            sdk.container.create_item(message_doc(mailbox, message_id, datetime.now(UTC), len(payload)),
                                      timeout=SDK_TIMEOUT_S)

        _, deposit_s = timed("deposit", deposit)
        items, list_s = timed("list", lambda: list(sdk.container.query_items(
            LIST_SQL, parameters=[{"name": "@m", "value": mailbox}], partition_key=mailbox, timeout=SDK_TIMEOUT_S)))
        _, get_s = timed("get", lambda: sdk.container.read_item(message_id, partition_key=mailbox,
                                                                timeout=SDK_TIMEOUT_S))
        return deposit_s, list_s, get_s, any(item["id"] == message_id for item in items)

    return (lambda _: None), iteration


# -- evidence, clean-up, figures -----------------------------------------------------------------

def profile_partition(sdk: Sdk, mailbox: str, message_id: str | None, repeats: int = 5) -> dict[str, Any]:
    """After the api side: what each of the app's Cosmos calls costs on one of its mailboxes."""
    parameters = [{"name": "@m", "value": mailbox}]

    def query(sql: str, partition: str | None = mailbox) -> list[Any]:
        if partition is None:
            return list(sdk.container.query_items(sql, enable_cross_partition_query=True))
        return list(sdk.container.query_items(sql, parameters=parameters, partition_key=partition))

    messages = query(ALL_MESSAGES_SQL)
    profile = {
        "mailbox": mailbox,
        "messages_in_mailbox": len(messages),
        "documents_in_container": query("SELECT VALUE COUNT(1) FROM c", None)[0],
        "median_ms": {
            "mailbox point read": median_ms(lambda: sdk.container.read_item("mailbox", partition_key=mailbox),
                                            repeats),
            "count query (all messages of the mailbox)": median_ms(lambda: query(ALL_MESSAGES_SQL), repeats),
            "list query (TOP 51)": median_ms(lambda: query(LIST_SQL), repeats),
        },
    }
    if message_id:
        profile["median_ms"]["message point read"] = median_ms(
            lambda: sdk.container.read_item(message_id, partition_key=mailbox), repeats)
    profile["count_query_response_kb"] = round(len(json.dumps(messages)) / 1024, 1)
    return profile


def clean_up(sdk: Sdk, mailboxes: list[str], run_id: str, mwi_queue: str | None) -> dict[str, int]:
    """Delete every document, blob and queue a side made, and the blob-trigger receipts for its blobs
    (any local host sharing the storage account may have fired on them, ours or, say, a test's)."""
    removed = Counter()

    def delete_document(mailbox: str, doc_id: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            sdk.container.delete_item(doc_id, partition_key=mailbox)
        removed["documents"] += 1

    def delete_blob(container: str, name: str, kind: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            sdk.blobs.get_blob_client(container, name).delete_blob()
        removed[kind] += 1

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = []
        for mailbox in mailboxes:
            ids = [doc["id"] for doc in sdk.container.query_items(
                "SELECT c.id FROM c WHERE c.mailboxId = @m", parameters=[{"name": "@m", "value": mailbox}],
                partition_key=mailbox)]
            futures += [pool.submit(delete_document, mailbox, doc_id) for doc_id in ids]
            incoming = sdk.blobs.get_container_client(INCOMING)
            futures += [pool.submit(delete_blob, INCOMING, blob.name, "blobs")
                        for blob in incoming.list_blobs(name_starts_with=f"{mailbox}/")]
        hosts = sdk.blobs.get_container_client(HOSTS_CONTAINER)
        with contextlib.suppress(ResourceNotFoundError):
            futures += [pool.submit(delete_blob, HOSTS_CONTAINER, blob.name, "receipts")
                        for blob in hosts.list_blobs(name_starts_with="blobreceipts/")
                        if f"/{INCOMING}/{run_id}-" in blob.name]
        for future in futures:
            future.result()
    if mwi_queue and delete_queue(mwi_queue):
        removed["queues"] += 1
    return dict(removed)


def figures(recorder: Recorder, elapsed: float, mailboxes: int) -> dict[str, Any]:
    samples = sorted(recorder.samples, key=lambda s: s.start)
    quarter = max(1, len(samples) // 4)
    ops = {}
    for op in (*OPS, "iteration"):
        ops[op] = latency_summary([s.total if op == "iteration" else getattr(s, op) for s in samples], (50, 99))
    rate = len(samples) / elapsed if elapsed else 0.0
    return {
        "iterations": len(samples), "elapsed_s": round(elapsed, 2),
        "iterations_per_s": round(rate, 2), "deposits_per_s": round(rate, 2),  # one deposit per iteration
        "ops": ops,
        "deposit_p50_ms_first_quarter": round(percentile([s.deposit for s in samples[:quarter]], 50), 1),
        "deposit_p50_ms_last_quarter": round(percentile([s.deposit for s in samples[-quarter:]], 50), 1),
        "messages_per_mailbox_at_end": round((recorder.warmup_iterations + len(samples)) / mailboxes, 1),
        "warmup_iterations": recorder.warmup_iterations,
        "errors": dict(recorder.errors), "warmup_errors": dict(recorder.warmup_errors),
        "not_listed": recorder.not_listed,
    }


def table(result: dict[str, Any]) -> str:
    head = (f"{'side':10} {'iter/s':>7} {'dep/s':>6} {'deposit p50/p99 ms':>19} {'list p50/p99 ms':>16} "
            f"{'get p50/p99 ms':>15} {'iter p50/p99 ms':>16} {'errors':>6}")
    lines = [head, "-" * len(head)]
    for side in SIDES:
        data = result[side]
        ops = data["ops"]

        def pair(op: str, ops: dict = ops) -> str:
            return f"{ops[op]['p50_ms']:.0f} / {ops[op]['p99_ms']:.0f}"

        lines.append(f"{side:10} {data['iterations_per_s']:7.2f} {data['deposits_per_s']:6.2f} {pair('deposit'):>19} "
                     f"{pair('list'):>16} {pair('get'):>15} {pair('iteration'):>16} "
                     f"{sum(data['errors'].values()):6d}")
    lines.append(f"api/sdk throughput ratio: {result['ratio']:.2f} ({verdict(result['ratio'], GOAL)} the goal of "
                 f">= {GOAL:.2f})")
    lines.append(f"api/same-calls throughput ratio: {result['ratio_same_calls']:.2f} (the host's and the app's "
                 f"cost beyond their {CALLS_PER_ITERATION} storage calls an iteration)")
    return "\n".join(lines)


# -- the run -------------------------------------------------------------------------------------

@dataclass
class Run:
    args: argparse.Namespace
    payload: bytes
    sdk: Sdk
    run_id: str = field(default_factory=lambda: random_name("bench"))
    mwi_queue: str = field(default_factory=lambda: random_name("benchmwi"))
    stop: threading.Event = field(default_factory=threading.Event)
    host_id: str | None = None

    def mailboxes(self, side: str) -> list[str]:
        return [f"{self.run_id}-{side}-{i}" for i in range(self.args.mailboxes)]

    def measure(self, setup: Callable[[int], Any], iteration: Iteration, host_pid: int | None = None) -> dict[str, Any]:
        pids = {"bench (clients; the sdk side's SDK calls)": os.getpid(), **CpuMeter.emulator_pids()}
        if host_pid is not None:
            pids["host (the app)"] = host_pid
        meter = CpuMeter(pids)
        recorder, elapsed = Driver(self.args.clients, self.args.warmup, self.args.seconds, setup, iteration,
                                   self.stop, on_start=meter.start).run()
        measured = figures(recorder, elapsed, self.args.mailboxes)
        used = meter.used()
        iterations = measured["iterations"] or 1
        measured["cpu_s"] = used
        measured["cpu_ms_per_iteration"] = {name: round(cpu * 1000 / iterations, 1) for name, cpu in used.items()}
        return measured

    def api_side(self) -> dict[str, Any]:
        mailboxes = self.mailboxes("api")
        region = random_name("bench")
        # The transcoder is off: it is the pipeline behind the request path, benchmarked on its own
        # (bench.transcode), and the sdk side does no transcoding either.
        # Stopped on leaving, before the sdk side: its blob trigger must not compete with it.
        with running_host(host_env(region, ("incoming_audio",), MWI_QUEUE=self.mwi_queue)) as host:
            self.host_id = httpx.get(f"{host.base_url}/admin/host/status", timeout=5).json().get("id")
            announce(host, region, host_id=self.host_id)
            provision(host.base_url, mailboxes)
            measured = self.measure(*api_iteration(host.base_url, mailboxes, self.payload),
                                    host_pid=host.process.pid if host.process else None)
        measured["host_log"] = log_summary(host, blob_trigger_runs="Executed 'incoming_audio'",
                                           connection_pool_full_warnings="Connection pool is full")
        sample = next(iter(self.sdk.container.query_items(
            "SELECT TOP 1 c.id FROM c WHERE c.mailboxId = @m AND c.type = 'message'",
            parameters=[{"name": "@m", "value": mailboxes[0]}], partition_key=mailboxes[0])), {})
        measured["profile"] = profile_partition(self.sdk, mailboxes[0], sample.get("id"))
        measured["cleaned_up"] = clean_up(self.sdk, mailboxes, self.run_id, self.mwi_queue)
        delete_blob_containers(self.sdk.blobs, (host.env["INCOMING_CONTAINER"], host.env["AUDIO_CONTAINER"]))
        return measured

    def sdk_side(self) -> dict[str, Any]:
        mailboxes = self.mailboxes("sdk")
        measured = self.measure(*sdk_iteration(self.sdk, mailboxes, self.payload))
        measured["documents_in_container_at_end"] = next(iter(self.sdk.container.query_items(
            "SELECT VALUE COUNT(1) FROM c", enable_cross_partition_query=True)))
        measured["cleaned_up"] = clean_up(self.sdk, mailboxes, self.run_id, None)
        return measured

    def same_calls_side(self) -> dict[str, Any]:
        mailboxes = self.mailboxes("same")
        queue = random_name("benchsame")
        QueueClient.from_connection_string(localstack.storage_connection_string(), queue).create_queue()
        measured = self.measure(*same_calls_iteration(
            self.sdk.blobs, self.sdk.container, mailboxes, self.payload, message_doc, original, split, LIST_SQL,
            queue, SDK_TIMEOUT_S, lambda op, error: OpFailed(op, f"{type(error).__name__} {str(error)[:120]}")))
        measured["cleaned_up"] = clean_up(self.sdk, mailboxes, self.run_id, queue)
        return measured

    def clean_everything(self) -> None:
        """After an interruption or a failure: leave nothing behind either."""
        with contextlib.suppress(Exception):
            clean_up(self.sdk, self.mailboxes("api") + self.mailboxes("sdk") + self.mailboxes("same"), self.run_id,
                     self.mwi_queue)


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(NAME, __doc__)
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (threads) per side")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per side")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per side, not measured")
    parser.add_argument("--mailboxes", type=int, default=8, help="mailboxes the clients are spread over")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.mailboxes < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("clients and mailboxes must be >= 1, seconds > 0, warmup >= 0")
    quiet_connection_pools()  # on both sides

    began = time.perf_counter()
    payload = speech_like_wav(PAYLOAD_SECONDS)
    result = new_result(NAME, argv, {
        "clients": args.clients, "seconds": args.seconds, "warmup_s": args.warmup, "mailboxes": args.mailboxes,
        "payload": {"seconds": PAYLOAD_SECONDS, "bytes": len(payload), "type": "audio/wav 8 kHz 16-bit"}})
    with local_stack():
        run: Run | None = None
        try:
            run = Run(args, payload, Sdk.connect())
            print(f"api: {args.clients} clients over {args.mailboxes} mailboxes, {len(payload)} B WAV, "
                  f"warm-up {args.warmup:g} s, measuring {args.seconds:g} s ...", flush=True)
            result["api"] = run.api_side()
            print("sdk: the same clients, mailboxes and payload ...", flush=True)
            result["sdk"] = run.sdk_side()
            print("same-calls: the api side's storage calls on the SDKs, same clients and mailboxes ...", flush=True)
            result["same-calls"] = run.same_calls_side()
        finally:
            if run is not None and "same-calls" not in result:
                run.clean_everything()

    result["ratio"] = ratio(result["api"]["iterations_per_s"], result["sdk"]["iterations_per_s"])
    result["ratio_same_calls"] = ratio(result["api"]["iterations_per_s"], result["same-calls"]["iterations_per_s"])
    result["goal"] = GOAL
    cpu = ["CPU ms per iteration:", *(
        f"  {side}: " + ", ".join(f"{name} {ms:g}" for name, ms in result[side]["cpu_ms_per_iteration"].items())
        for side in SIDES)]
    errors = [f"{side} errors: {result[side]['errors']}" for side in SIDES if result[side]["errors"]]
    finish(result, began, RESULTS, table(result), *cpu, *errors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
