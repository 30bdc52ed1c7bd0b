"""What one inline deposit costs as the mailbox grows: latency, and storage calls on the wire.

    .venv/bin/python -m bench.deposit_cost [--deposits 200] [--messages 5000] [--counted-every 4] [--warmup 20]

Everything runs on a stack of its own, on free ports, so emulators others use are left alone: a
Cosmos emulator and an Azurite (data in a temporary folder), a counting proxy in front of them (a
thread of this process) and two product hosts (`devstack.hosting.HostProcess`, the same region):

- **timed**, talking to the emulators directly: its deposits give the latencies;
- **counted**, whose `COSMOS_ENDPOINT` and `AzureWebJobsStorage` (blob, queue, table) point at the
  proxy: every HTTP request it makes to the Cosmos emulator or Azurite is relayed and recorded
  (method, path, operation). Its deposits, interleaved with the timed ones on the same mailboxes,
  give the storage calls per deposit, so the proxy's extra hop never inflates a measured latency.

Both hosts run with every function that works on its own clock disabled
(`AzureWebJobs.<name>.Disabled=true`: the blob-triggered transcoder, the conflicts feed timer, the
retention and replication timers, the replication queue trigger), and the calls are counted only
while the counted host's deposits run; an idle window afterwards checks that nothing else reaches
the proxy.

Each deposit is `POST /api/mailboxes/{id}/messages?from=...` with the platform key and a 1 s
speech-like 8 kHz WAV (`audio/wav`, 16 KB), sent one after another (no concurrency). After warm-up
deposits on a mailbox of their own (they create the region's containers and queue):

1. **empty container**: `--deposits` timed deposits to a fresh mailbox (0 messages at the start);
2. the **fill**: `--messages` message documents written straight into the container with the
   Azure SDK, 8 threads, in the shape the app stores (`message_to_doc` of a message as the deposit
   and the transcoder leave it: ready, in the inbox, with this region's share of the counts), then
   `POST /api/mailboxes/{id}/counts/reconcile` through the API, which recounts the mailbox and sets
   its tally: the answer must report `--messages` new messages;
3. **same container**: `--deposits` timed deposits to the full mailbox and as many to a second fresh
   one, alternating (the order flips every round), so both meet the same container and the same
   moments of the machine.

Every `--counted-every`-th round also sends one deposit to each mailbox through the counted host.

The ratio that answers "does a deposit's cost grow with the mailbox" is p50(full) / p50(fresh) of
step 3. The Cosmos emulator has no index (every query scans the whole container, whatever its
partition), so a deposit also slows down as the *container* grows; step 1 against step 3's fresh
mailbox shows that effect, which is the emulator's, not the product's, and is reported apart.

Prints a table and writes `bench/results/deposit_cost.json` (git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from azure.cosmos import ContainerProxy

from bench.common import (
    PLATFORM,
    OwnEmulators,
    aligned,
    argument_parser,
    cosmos_container,
    finish,
    host_env,
    latency_summary,
    log_summary,
    median_ms,
    new_result,
    quiet_connection_pools,
    ratio,
    results_path,
    saved_on_failure,
    verdict,
)
from devstack import localstack
from devstack.hosting import BACKGROUND_FUNCTIONS, HostProcess, random_name
from devstack.make_sample_wav import speech_like_wav
from shared.adapters.cosmos import SNAPSHOT_SQL  # the deposit's one query
from shared.adapters.cosmos_docs import message_to_doc
from shared.adapters.http_pool import pooled_transport
from shared.domain.audio import Containers
from shared.domain.blobpaths import message_original, message_rendition
from shared.domain.model import MailboxSettings, Message, expiry
from shared.domain.replicated import clock, settle

NAME = "deposit_cost"
RESULTS = results_path(NAME)
SENDER = "+15551230000"
PAYLOAD_SECONDS = 1.0
GOAL_RATIO = 1.2  # p50 at 5,000 messages over p50 at 0
GOAL_CALLS = 4.0  # storage calls per deposit, the MWI event included
MAX_MESSAGES = 10_000  # the highest maxMessages a mailbox may have
IDLE_CHECK_S = 5.0


# -- the counting proxy ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    at: float
    service: str
    method: str
    path: str
    operation: str


def operation(service: str, method: str, path: str, headers: dict[str, str]) -> str:  # noqa: PLR0911
    """A readable name for one storage request."""
    if service == "cosmos":
        if headers.get("x-ms-cosmos-is-batch-request", "").lower() == "true":
            return "cosmos transactional batch"
        if headers.get("x-ms-documentdb-isquery", "").lower() == "true" or \
                headers.get("content-type", "").startswith("application/query+json"):
            return "cosmos query"
        parts = [p for p in path.split("/") if p]
        kind = parts[-1] if len(parts) % 2 == 1 else (parts[-2] if parts else "account")
        return f"cosmos {method} {kind}"
    query = urlsplit(path).query
    if service == "blob":
        if method == "PUT" and "x-ms-blob-type" in headers:
            return "blob put"
        if "restype=container" in query:
            return f"blob {method} container"
        return f"blob {method}"
    if service == "queue":
        if method == "POST" and urlsplit(path).path.endswith("/messages"):
            return "queue put message"
        return f"queue {method}"
    return f"{service} {method}"


class CountingProxy:
    """A relay per service (Cosmos, blob, queue, table) on free loopback ports, in a thread of its own.
    It parses the request stream of every connection (HTTP/1.1, one request after another, bodies by
    Content-Length or chunked), records each request and passes the bytes through untouched; answers
    are relayed as they come."""

    def __init__(self, upstreams: dict[str, int]):
        self.upstreams = upstreams
        self.ports: dict[str, int] = {}
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.AbstractServer] = []
        self._thread = threading.Thread(target=self._loop.run_forever, name="counting-proxy", daemon=True)

    def start(self) -> CountingProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        return self

    async def _listen(self) -> None:
        for service, upstream in self.upstreams.items():
            server = await asyncio.start_server(
                lambda r, w, s=service, u=upstream: self._connection(s, u, r, w), localstack.HOST, 0)
            self._servers.append(server)
            self.ports[service] = server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def close() -> None:
            for server in self._servers:
                server.close()
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def mark(self) -> int:
        with self._lock:
            return len(self.calls)

    def since(self, mark: int) -> list[Call]:
        with self._lock:
            return self.calls[mark:]

    async def _connection(self, service: str, upstream: int, client_r: asyncio.StreamReader,
                          client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(localstack.HOST, upstream)
        except OSError:
            client_w.close()
            return
        answers = asyncio.create_task(self._pipe(server_r, client_w))
        try:
            await self._requests(service, client_r, server_w)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(answers, timeout=60)  # the last answer still on its way
            for writer in (server_w, client_w):
                with contextlib.suppress(Exception):
                    writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()

    async def _requests(self, service: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return  # the client closed the connection between requests
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            with self._lock:
                self.calls.append(Call(time.perf_counter(), service, method, path,
                                       operation(service, method, path, headers)))
            writer.write(head)
            if headers.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    size_line = await reader.readuntil(b"\r\n")
                    writer.write(size_line)
                    size = int(size_line.split(b";")[0].strip(), 16)
                    if size == 0:
                        while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                            writer.write(trailer)
                        writer.write(b"\r\n")
                        break
                    writer.write(await reader.readexactly(size + 2))
            else:
                remaining = int(headers.get("content-length", "0") or 0)
                while remaining:
                    chunk = await reader.read(min(remaining, 65536))
                    if not chunk:
                        return
                    writer.write(chunk)
                    remaining -= len(chunk)
            await writer.drain()


# -- the stack ---------------------------------------------------------------------------------------

@dataclass
class Stack:
    """Emulators of this run (free ports, temporary data), the proxy, the two hosts."""

    emulators: OwnEmulators = field(default_factory=lambda: OwnEmulators(prefix="bench-deposit-cost-"))
    proxy: CountingProxy | None = None
    hosts: list[HostProcess] = field(default_factory=list)

    def start_emulators(self) -> None:
        emulators = self.emulators.start()
        blob, queue, table = emulators.storage_ports
        self.proxy = CountingProxy({"cosmos": emulators.cosmos_port, "blob": blob, "queue": queue,
                                    "table": table}).start()
        print(f"  counting proxy       {self.proxy.ports}", flush=True)

    def start_host(self, region: str, counted: bool) -> HostProcess:
        ports = (self.proxy.ports["blob"], self.proxy.ports["queue"], self.proxy.ports["table"]) if counted \
            else self.emulators.storage_ports
        cosmos = self.proxy.ports["cosmos"] if counted else self.emulators.cosmos_port
        env = host_env(region, BACKGROUND_FUNCTIONS, MWI_QUEUE=f"mwi-{region}",
                       AzureWebJobsStorage=localstack.storage_connection_string(ports=ports),
                       COSMOS_ENDPOINT=localstack.cosmos_endpoint(cosmos),
                       # Each host its own task hub: durable state is no part of a deposit.
                       DURABLE_TASK_HUB=f"{region}{'counted' if counted else 'timed'}")
        host = HostProcess(env).start(timeout=60)
        self.hosts.append(host)
        return host

    def stop(self) -> None:
        for host in self.hosts:
            host.stop()
        if self.proxy is not None:
            self.proxy.stop()
        self.emulators.stop()


# -- deposits --------------------------------------------------------------------------------------

class Depositor:
    """One keep-alive HTTP client on one host; deposits one after another."""

    def __init__(self, host: HostProcess, payload: bytes):
        self.client = httpx.Client(base_url=f"{host.base_url}/api", headers=PLATFORM, timeout=60)
        self.payload = payload

    def deposit(self, mailbox: str) -> float:
        started = time.perf_counter()
        response = self.client.post(f"/mailboxes/{mailbox}/messages", params={"from": SENDER},
                                    content=self.payload, headers={"content-type": "audio/wav"})
        elapsed = time.perf_counter() - started
        if response.status_code != 202:
            raise RuntimeError(f"deposit to {mailbox}: HTTP {response.status_code} {response.text[:300]}")
        return elapsed

    def provision(self, mailbox: str) -> None:
        response = self.client.put(f"/mailboxes/{mailbox}", json={"displayName": f"Bench {mailbox}",
                                                                  "settings": {"maxMessages": MAX_MESSAGES}})
        if response.status_code != 201:
            raise RuntimeError(f"provisioning {mailbox}: HTTP {response.status_code} {response.text[:300]}")

    def counts(self, mailbox: str) -> dict[str, Any]:
        response = self.client.get(f"/mailboxes/{mailbox}")
        response.raise_for_status()
        return response.json()

    def reconcile(self, mailbox: str) -> dict[str, Any]:
        response = self.client.post(f"/mailboxes/{mailbox}/counts/reconcile")
        if response.status_code != 200:
            raise RuntimeError(f"reconcile {mailbox}: HTTP {response.status_code} {response.text[:300]}")
        return response.json()

    def close(self) -> None:
        self.client.close()


@dataclass
class Counted:
    """The counted host's deposits and the storage calls made while each was in flight."""

    deposits: int = 0
    per_deposit: Counter = field(default_factory=Counter)  # calls during one deposit -> how many deposits
    operations: Counter = field(default_factory=Counter)
    services: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def add(self, calls: list[Call], latency: float) -> None:
        self.deposits += 1
        self.per_deposit[len(calls)] += 1
        self.operations.update(call.operation for call in calls)
        self.services.update(call.service for call in calls)
        self.latencies.append(latency)

    def figures(self) -> dict[str, Any]:
        total = sum(self.operations.values())
        return {"deposits": self.deposits, "calls": total,
                "calls_per_deposit": round(total / self.deposits, 3) if self.deposits else None,
                "deposits_by_calls": {str(k): v for k, v in sorted(self.per_deposit.items())},
                "by_operation": dict(self.operations.most_common()), "by_service": dict(self.services),
                "latency_through_proxy_ms": latency_summary(self.latencies, (50, 90), extremes=True)}


def counted_deposit(proxy: CountingProxy, depositor: Depositor, mailbox: str, into: Counted) -> None:
    mark = proxy.mark()
    latency = depositor.deposit(mailbox)
    into.add(proxy.since(mark), latency)


def snapshot_query_ms(container: ContainerProxy, mailbox: str, repeats: int = 21) -> float:
    """Median time of the deposit's one query (shared/adapters/cosmos.py: snapshot), sent straight to the
    emulator: where a deposit's time goes as the container grows."""
    return median_ms(lambda: list(container.query_items(
        SNAPSHOT_SQL, parameters=[{"name": "@m", "value": mailbox}, {"name": "@id", "value": uuid.uuid4().hex}],
        partition_key=mailbox)), repeats)


# -- the fill --------------------------------------------------------------------------------------

def seeded_message(mailbox: str, region: str, incoming: str, settings: MailboxSettings,
                   received: datetime) -> dict[str, Any]:
    """A message as a deposit stores it and the transcoder leaves it (ready, inbox, unheard), with
    this region's share of the counts set, as the app's ledger sets it."""
    message_id = uuid.uuid4().hex
    containers = Containers(incoming, f"au-{region}")
    message = Message(id=message_id, mailbox_id=mailbox, received_at=received, deposit_region=region,
                      from_number=SENDER, blobs={"original": message_original(containers, mailbox, message_id),
                                                 "opus": message_rendition(containers, mailbox, message_id, "opus"),
                                                 "mp3": message_rendition(containers, mailbox, message_id, "mp3")},
                      content_type="audio/wav", size_bytes=16_044, request_hash=uuid.uuid4().hex,
                      replica_regions=(region,), status="ready", duration_ms=4000, formats=("opus", "mp3"),
                      clocks={"status": clock(received, region)})
    message = replace(message, expires_at=expiry(message, settings, received))
    shares, _ = settle(message.shares, message.tally, region)
    return message_to_doc(replace(message, shares=shares))


def fill(container: ContainerProxy, mailbox: str, region: str, incoming: str, messages: int) -> float:
    settings = MailboxSettings(maxMessages=MAX_MESSAGES)
    now = datetime.now(UTC)
    docs = [seeded_message(mailbox, region, incoming, settings, now - timedelta(seconds=60 + i * 17))
            for i in range(messages)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda doc: container.create_item(doc, timeout=60), docs))
    return time.perf_counter() - started


# -- the run ---------------------------------------------------------------------------------------

def table(result: dict[str, Any]) -> str:
    rows = [("phase", "mailbox", "messages at start", "deposits", "p50 ms", "p90 ms", "mean ms", "its query ms")]
    for key, label, phase in (("empty", "fresh", "1 empty container"), ("fresh", "fresh", "3 same container"),
                              ("full", "full", "3 same container")):
        data = result["timed"][key]
        rows.append((phase, label, str(data["messages_at_start"]), str(data["latency"]["count"]),
                     f"{data['latency']['p50_ms']:.1f}", f"{data['latency']['p90_ms']:.1f}",
                     f"{data['latency']['mean_ms']:.1f}", f"{data['snapshot_query_direct_median_ms']:.1f}"))
    lines = [aligned(rows, left=2, rule=True)]
    ratios = result["ratios"]
    calls = result["calls"]["all"]
    met = verdict(ratios["p50_full_over_fresh_same_container"], GOAL_RATIO, at_least=False)
    lines += [
        "",
        f"p50(full) / p50(fresh), same container: {ratios['p50_full_over_fresh_same_container']:.2f} "
        f"({met} the goal of <= {GOAL_RATIO}); p90: {ratios['p90_full_over_fresh_same_container']:.2f}",
        f"p50(full) / p50(fresh in the empty container): {ratios['p50_full_over_fresh_empty_container']:.2f} "
        f"(also counts what the rest of the container costs)",
        f"storage calls per deposit: {calls['calls_per_deposit']:g} over {calls['deposits']} counted deposits "
        f"({verdict(calls['calls_per_deposit'], GOAL_CALLS, at_least=False)} the goal of <= {GOAL_CALLS:g})",
    ]
    for key in ("empty", "fresh", "full"):
        data = result["calls"][key]
        ops = ", ".join(f"{name} {n}" for name, n in data["by_operation"].items())
        lines.append(f"  {key:5}: {data['calls_per_deposit']:g} per deposit ({data['deposits']} deposits; {ops})")
    lines.append(f"  calls reaching the proxy in {IDLE_CHECK_S:g} s with no deposit: {result['idle_calls']}")
    return "\n".join(lines)


def run(args: argparse.Namespace, result: dict[str, Any], stack: Stack) -> None:  # noqa: PLR0915 - one story
    payload = speech_like_wav(PAYLOAD_SECONDS)
    result["config"]["payload"] = {"seconds": PAYLOAD_SECONDS, "bytes": len(payload), "type": "audio/wav 8 kHz 16-bit"}
    print("Stack of this run:", flush=True)
    stack.start_emulators()
    proxy = stack.proxy
    region = random_name("dc")
    timed_host = stack.start_host(region, counted=False)
    counted_host = stack.start_host(region, counted=True)
    print(f"  hosts: timed {timed_host.base_url}, counted {counted_host.base_url} (region {region})", flush=True)
    timed, counted = Depositor(timed_host, payload), Depositor(counted_host, payload)
    try:
        run_id = random_name("dc")
        names = {key: f"{run_id}-{key}" for key in ("warm", "empty", "full", "fresh")}
        for mailbox in names.values():
            timed.provision(mailbox)
        for _ in range(args.warmup):  # containers, queue, connections, code paths: all made before measuring
            timed.deposit(names["warm"])
            counted.deposit(names["warm"])

        calls = {key: Counted() for key in ("empty", "fresh", "full")}
        latencies: dict[str, list[float]] = {key: [] for key in ("empty", "fresh", "full")}
        starts: dict[str, int] = {}

        print(f"1. empty container: {args.deposits} timed deposits to a fresh mailbox ...", flush=True)
        starts["empty"] = timed.counts(names["empty"])["counts"]["new"]
        for round_ in range(args.deposits):
            latencies["empty"].append(timed.deposit(names["empty"]))
            if round_ % args.counted_every == 0:
                counted_deposit(proxy, counted, names["empty"], calls["empty"])

        container = cosmos_container(stack.emulators.cosmos_port, create=False, consistency_level="Session",
                                     transport=pooled_transport())
        query_ms = {"empty": snapshot_query_ms(container, names["empty"])}

        print(f"2. fill: {args.messages} message documents straight into the container (SDK, 8 threads), "
              "then the reconcile route ...", flush=True)
        fill_s = fill(container, names["full"], region, timed_host.env["INCOMING_CONTAINER"], args.messages)
        started = time.perf_counter()
        reconciled = timed.reconcile(names["full"])
        reconcile_s = time.perf_counter() - started
        documents = next(iter(container.query_items("SELECT VALUE COUNT(1) FROM c", enable_cross_partition_query=True)))
        result["fill"] = {"how": "message documents written with the azure-cosmos SDK (8 threads), then "
                                 "POST /api/mailboxes/{id}/counts/reconcile", "messages": args.messages,
                          "write_s": round(fill_s, 1), "reconcile_s": round(reconcile_s, 2), "reconcile": reconciled,
                          "documents_in_container_after": documents}
        print(f"   {args.messages} documents in {fill_s:.1f} s; reconcile {reconcile_s:.1f} s: {reconciled}",
              flush=True)
        if reconciled["counts"]["new"] != args.messages:
            raise RuntimeError(f"the full mailbox counts {reconciled['counts']} after the reconcile, "
                               f"not {args.messages} new messages")
        starts["full"] = timed.counts(names["full"])["counts"]["new"]
        starts["fresh"] = timed.counts(names["fresh"])["counts"]["new"]

        print(f"3. same container: {args.deposits} timed deposits to the full mailbox and {args.deposits} to "
              "a fresh one, alternating ...", flush=True)
        for round_ in range(args.deposits):
            order = ("full", "fresh") if round_ % 2 == 0 else ("fresh", "full")
            for key in order:
                latencies[key].append(timed.deposit(names[key]))
            if round_ % args.counted_every == 0:
                for key in order:
                    counted_deposit(proxy, counted, names[key], calls[key])

        query_ms.update({key: snapshot_query_ms(container, names[key]) for key in ("fresh", "full")})
        time.sleep(0.5)  # anything a deposit still does after its answer arrives now
        mark = proxy.mark()
        time.sleep(IDLE_CHECK_S)
        idle = proxy.since(mark)
        result["idle_calls"] = len(idle)
        result["idle_operations"] = dict(Counter(call.operation for call in idle))
        # Everything the counted host sent through the proxy in the whole run (start-up, provisioning,
        # warm-up included): the proxy sees all of its storage traffic, not only the deposits'.
        result["proxy_all_calls"] = dict(Counter(call.operation for call in proxy.since(0)).most_common())

        ends = {key: timed.counts(names[key])["counts"] for key in latencies}
        result["timed"] = {key: {"mailbox": names[key], "messages_at_start": starts[key], "counts_at_end": ends[key],
                                 "latency": latency_summary(latencies[key], (50, 90), extremes=True),
                                 "snapshot_query_direct_median_ms": query_ms[key]} for key in latencies}
        every = Counted()
        for data in calls.values():
            every.deposits += data.deposits
            every.per_deposit.update(data.per_deposit)
            every.operations.update(data.operations)
            every.services.update(data.services)
            every.latencies += data.latencies
        result["calls"] = {"how": "HTTP requests the counted host sent to the Cosmos emulator and Azurite "
                                  "(blob, queue, table) through the counting proxy, while each of its deposits "
                                  "was in flight", **{key: data.figures() for key, data in calls.items()},
                           "all": every.figures()}
        p = {key: result["timed"][key]["latency"] for key in latencies}
        result["ratios"] = {
            "p50_full_over_fresh_same_container": ratio(p["full"]["p50_ms"], p["fresh"]["p50_ms"]),
            "p90_full_over_fresh_same_container": ratio(p["full"]["p90_ms"], p["fresh"]["p90_ms"]),
            "p50_full_over_fresh_empty_container": ratio(p["full"]["p50_ms"], p["empty"]["p50_ms"]),
            "p50_fresh_same_over_empty_container": ratio(p["fresh"]["p50_ms"], p["empty"]["p50_ms"]),
        }
        result["goals"] = {"p50_ratio_at_most": GOAL_RATIO, "calls_per_deposit_at_most": GOAL_CALLS}
        result["host_logs"] = {name: log_summary(host) for name, host in (("timed", timed_host),
                                                                           ("counted", counted_host))}
    finally:
        timed.close()
        counted.close()


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(NAME, __doc__)
    parser.add_argument("--deposits", type=int, default=200, help="timed deposits per mailbox")
    parser.add_argument("--messages", type=int, default=5000, help="messages the full mailbox holds")
    parser.add_argument("--counted-every", type=int, default=4,
                        help="one counted deposit per mailbox every this many rounds")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up deposits per host, not measured")
    args = parser.parse_args(argv)
    if args.deposits < 1 or args.counted_every < 1 or args.warmup < 1 or not 1 <= args.messages <= 9000:
        parser.error("deposits, counted-every and warmup must be >= 1; messages between 1 and 9000")
    quiet_connection_pools()

    began = time.perf_counter()
    result = new_result(NAME, argv, {"deposits": args.deposits, "messages": args.messages,
                                     "counted_every": args.counted_every, "warmup": args.warmup,
                                     "disabled_functions": list(BACKGROUND_FUNCTIONS)})
    stack = Stack()
    with saved_on_failure(result, began, RESULTS):
        try:
            run(args, result, stack)
        finally:
            stack.stop()
    finish(result, began, RESULTS, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
