"""IMAP envelopes against the HTTP listing of the same messages (issue 27), on the local stack.

    .venv/bin/python -m bench.imap_envelopes [--messages 1000] [--rounds 5] [--threads 4]

One fresh mailbox (a PIN, `maxMessages` 10000) on a product host (`devstack.hosting.HostProcess`, the
product's settings: transcoder on, transcription engine off) gets `--messages` deposits of a 1.2 s
speech-like WAV (`devstack.make_sample_wav`), each with `from` and `fromName`, from `--threads`
threads; the bench waits until the API lists them all `ready`. That host is then stopped and the
same region served again by a host with every background function off (its blob trigger would
otherwise list the 1000 incoming blobs every few seconds on the same cores), with the IMAP gateway
in front of it (`devstack.hosting.GatewayProcess`). Then one warm-up of each side, and `--rounds`
rounds of each, alternating:

- (a) http: with a subscriber token (`POST .../sessions` with the PIN, once, not timed), every
  inbox message by pages of 200 (`GET .../messages?folder=inbox&limit=200&order=asc`, following
  `continuation`), on one kept-alive `httpx.Client`: what a visual-voicemail app does over HTTP;
- (b) imap: on one `imaplib.IMAP4` connection logged in once (not timed), `SELECT INBOX` then
  `FETCH 1:* (UID FLAGS ENVELOPE INTERNALDATE)`; the bench checks N distinct UIDs and envelopes
  came back. SELECT and FETCH are also timed apart;
- (c) imap end to end: a new connection, LOGIN, SELECT, FETCH as (b) (LOGOUT not timed);
- (d) http end to end: a new `httpx.Client`, `POST .../sessions`, then the listing of (a).

Headline: median (b) / median (a), goal <= 1.5. The CPU the gateway, the host (its process tree)
and this process spend in each timed run is recorded too (psutil). The API allows 20 logins a
minute per mailbox: (c) and (d) log in each round, so the bench waits (outside the timing) when
another login would go over.

Measure on a quiet machine: before filling and before each round the bench waits (up to
`--max-wait` seconds) while other `pytest` processes run, and a round during which some started is
measured again; the JSON says how long it waited. The emulators are started if they do
not answer, and only what was started is stopped. At the end the mailbox is deprovisioned
(`DELETE`, platform key), gateway (SIGTERM) and host are stopped, and what the run made in the
shared emulators goes: the mailbox's documents, the region's blob containers and queues.

Prints a table and writes `bench/results/imap_envelopes.json` (git-ignored).
"""

from __future__ import annotations

import collections
import contextlib
import imaplib
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from bench.common import (
    PLATFORM,
    aligned,
    announce,
    argument_parser,
    blob_service,
    cosmos_container,
    delete_blob_containers,
    delete_queue,
    finish,
    git_state,
    host_env,
    local_stack,
    log_summary,
    new_result,
    percentile,
    quiet_connection_pools,
    ratio,
    results_path,
    running_host,
    saved_on_failure,
    verdict,
)
from devstack.hosting import BACKGROUND_FUNCTIONS, GatewayProcess, HostProcess, disabled, random_name
from devstack.make_sample_wav import speech_like_wav

NAME = "imap_envelopes"
RESULTS = results_path(NAME)
GOAL = 1.5  # median IMAP SELECT+FETCH envelopes / median HTTP listing, at most
PIN = "4826"
PAGE = 200  # the API's largest page, and the gateway's
PAYLOAD_SECONDS = 1.2
FETCH_ITEMS = "(UID FLAGS ENVELOPE INTERNALDATE)"
LOGINS_PER_MINUTE = 18  # the API's per-mailbox rate is 20 a minute (shared/domain/replicated.py): keep 2 spare
SIDES = {
    "a": "(a) http listing, token held",
    "b": "(b) imap SELECT+FETCH, logged in",
    "b_select": "    of which SELECT INBOX",
    "b_fetch": "    of which FETCH 1:* envelopes",
    "c": "(c) imap connect+LOGIN+SELECT+FETCH",
    "d": "(d) http new client+login+listing",
}


# -- the messages ----------------------------------------------------------------------------------

def new_mailbox_id() -> str:
    return "+1555" + random_name("")[:7].translate(str.maketrans("abcdef", "123456"))


def list_inbox(http: httpx.Client, path: str, headers: dict[str, str]) -> list[dict]:
    """Every inbox message, oldest first, by pages of 200 (what an app over HTTP, and the gateway, do)."""
    items: list[dict] = []
    params = {"folder": "inbox", "limit": str(PAGE), "order": "asc"}
    while True:
        response = http.get(f"{path}/messages", params=params, headers=headers)
        response.raise_for_status()
        page = response.json()
        items += page["items"]
        if not page.get("continuation"):
            return items
        params["continuation"] = page["continuation"]


def deposit_all(base: str, path: str, count: int, threads: int, payloads: list[bytes]) -> dict[str, Any]:
    """count deposits from threads threads, each its own client; progress every tenth."""
    local, clients = threading.local(), []
    done, lock, began = [0], threading.Lock(), time.perf_counter()
    step = max(1, count // 10)

    def one(n: int) -> float:
        if not hasattr(local, "http"):
            local.http = httpx.Client(base_url=base, timeout=60)
            clients.append(local.http)
        started = time.perf_counter()
        response = local.http.post(f"{path}/messages", content=payloads[n % len(payloads)],
                                   params={"from": f"+1555{n:07d}", "fromName": f"Caller {n}"},
                                   headers={**PLATFORM, "content-type": "audio/wav"})
        if response.status_code != 202:
            raise RuntimeError(f"deposit {n}: {response.status_code} {response.text[:300]}")
        took = time.perf_counter() - started
        with lock:
            done[0] += 1
            if done[0] % step == 0 or done[0] == count:
                elapsed = time.perf_counter() - began
                print(f"  deposited {done[0]}/{count} in {elapsed:.0f} s ({done[0] / elapsed:.1f}/s)", flush=True)
        return took

    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            latencies = list(pool.map(one, range(count)))
    finally:
        for client in clients:
            client.close()
    elapsed = time.perf_counter() - began
    return {"count": count, "threads": threads, "elapsed_s": round(elapsed, 1),
            "per_s": round(count / elapsed, 2), "median_ms": round(statistics.median(latencies) * 1000, 1)}


def wait_ready(http: httpx.Client, path: str, count: int, timeout: float) -> dict[str, Any]:
    """Until the API lists count inbox messages, all ready; progress every poll."""
    began = time.perf_counter()
    last = ""
    while True:
        statuses = collections.Counter(m["status"] for m in list_inbox(http, path, PLATFORM))
        elapsed = time.perf_counter() - began
        line = f"  listed {sum(statuses.values())}/{count}: " + ", ".join(
            f"{k} {v}" for k, v in sorted(statuses.items()))
        if line != last:
            print(f"{line} ({elapsed:.0f} s)", flush=True)
            last = line
        if statuses.get("failed"):
            raise RuntimeError(f"{statuses['failed']} messages failed to process")
        if statuses.get("ready", 0) >= count and sum(statuses.values()) == statuses["ready"]:
            return {"waited_s": round(elapsed, 1)}
        if elapsed > timeout:
            raise RuntimeError(f"not all {count} messages ready after {timeout:.0f} s: {dict(statuses)}")
        time.sleep(3)


# -- the machine -----------------------------------------------------------------------------------

def others_testing() -> list[str]:
    """Command lines of pytest processes running (other engineers' tests), this process aside."""
    found = subprocess.run(["pgrep", "-af", "pytest"], check=False, capture_output=True, text=True).stdout.splitlines()
    return [line for line in found if line.split(" ", 1)[0] != str(os.getpid())]


def wait_for_quiet(max_wait: float) -> dict[str, Any]:
    """Wait while other tests run (up to max_wait seconds), so the timed part has the cores."""
    began = time.perf_counter()
    running = others_testing()
    if running:
        print(f"waiting for {len(running)} pytest process(es) to finish (up to {max_wait:.0f} s) ...", flush=True)
    while running and time.perf_counter() - began < max_wait:
        time.sleep(10)
        running = others_testing()
    return {"waited_s": round(time.perf_counter() - began, 1), "tests_still_running": running,
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def tree_cpu(pid: int) -> float:
    """User+system CPU seconds of a process and its live children."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


class LoginPacer:
    """Keeps this run's logins under the API's per-mailbox rate, waiting (untimed) when needed."""

    def __init__(self, per_minute: int = LOGINS_PER_MINUTE):
        self.per_minute, self.times = per_minute, collections.deque()
        self.waited_s = 0.0

    def ahead(self, logins: int = 1) -> None:
        """Call before something that will log in `logins` times."""
        while True:
            now = time.monotonic()
            while self.times and now - self.times[0] > 61:
                self.times.popleft()
            if len(self.times) + logins <= self.per_minute:
                self.times.extend([now] * logins)
                return
            pause = 61 - (now - self.times[0]) + 0.1
            self.waited_s += pause
            time.sleep(pause)


# -- the four measurements -------------------------------------------------------------------------

def fetched_uids(data: list) -> list[int]:
    """The UIDs of a FETCH answer as imaplib returns it (a response with a literal is a tuple)."""
    uids = []
    for item in data:
        head = item[0] if isinstance(item, tuple) else item
        if isinstance(head, bytes) and re.match(rb"\d+ \(", head) and b"ENVELOPE" in head:
            match = re.search(rb"UID (\d+)", head)
            uids.append(int(match.group(1)) if match else -1)
    return uids


def imap_envelopes(conn: imaplib.IMAP4, expected: int) -> tuple[float, float]:
    """SELECT INBOX + FETCH envelopes on a logged-in connection: (select s, fetch s); checked."""
    started = time.perf_counter()
    typ, data = conn.select("INBOX")
    selected = time.perf_counter()
    if typ != "OK" or int(data[0]) != expected:
        raise RuntimeError(f"SELECT INBOX: {typ} {data}")
    typ, data = conn.fetch("1:*", FETCH_ITEMS)
    fetched = time.perf_counter()
    uids = fetched_uids(data)
    if typ != "OK" or len(uids) != expected or len(set(uids)) != expected or -1 in uids:
        raise RuntimeError(f"FETCH: {typ}, {len(uids)} envelopes ({len(set(uids))} UIDs), {expected} expected")
    return selected - started, fetched - selected


class Bench:
    def __init__(self, host: HostProcess, gateway: GatewayProcess, mailbox: str, count: int):
        self.host, self.gateway, self.mailbox, self.count = host, gateway, mailbox, count
        self.base = f"{host.base_url}/api"
        self.path = f"/mailboxes/{quote(mailbox, safe='')}"
        self.pacer = LoginPacer()
        self.http = httpx.Client(base_url=self.base, timeout=60)
        self.imap: imaplib.IMAP4 | None = None
        self.token: dict[str, str] = {}
        self.samples: dict[str, list[float]] = {key: [] for key in SIDES}
        self.cpu: dict[str, dict[str, list[float]]] = {key: {"gateway": [], "host": [], "bench": []}
                                                       for key in ("a", "b", "c", "d")}
        self.waited_s = 0.0  # for other tests to finish, between rounds
        self.disturbed = 0  # rounds measured again: other tests started while they ran

    def login_http(self, http: httpx.Client) -> dict[str, str]:
        response = http.post(f"{self.path}/sessions", json={"pin": PIN})
        if response.status_code != 201:
            raise RuntimeError(f"login: {response.status_code} {response.text[:300]}")
        return {"authorization": f"Bearer {response.json()['token']}"}

    def connect_imap(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4("127.0.0.1", self.gateway.port)
        conn.login(self.mailbox, PIN)
        return conn

    def open(self) -> None:
        self.pacer.ahead(2)
        self.token = self.login_http(self.http)
        self.imap = self.connect_imap()

    def close(self) -> None:
        if self.imap is not None:
            with contextlib.suppress(Exception):
                self.imap.logout()
        self.http.close()

    # Each side does its timed work and returns (its parts' seconds or None, what to do after the clock stops).
    def a(self) -> tuple[None, None]:
        items = list_inbox(self.http, self.path, self.token)
        if len(items) != self.count:
            raise RuntimeError(f"http listing: {len(items)} messages, {self.count} expected")
        return None, None

    def b(self) -> tuple[tuple[float, float], None]:
        return imap_envelopes(self.imap, self.count), None

    def c(self) -> tuple[None, Callable[[], object]]:
        conn = imaplib.IMAP4("127.0.0.1", self.gateway.port)
        try:
            conn.login(self.mailbox, PIN)
            imap_envelopes(conn, self.count)
        except BaseException:
            with contextlib.suppress(Exception):
                conn.logout()
            raise
        return None, conn.logout  # LOGOUT is not timed

    def d(self) -> tuple[None, None]:
        with httpx.Client(base_url=self.base, timeout=60) as http:
            items = list_inbox(http, self.path, self.login_http(http))
        if len(items) != self.count:
            raise RuntimeError(f"http login+listing: {len(items)} messages, {self.count} expected")
        return None, None

    def timed(self, side: str) -> dict[str, Any]:
        """One run of a side: its wall time (and SELECT's and FETCH's), and the CPU each process spent."""
        if side in ("c", "d"):
            self.pacer.ahead()
        pids = {"gateway": self.gateway.process.pid, "host": self.host.process.pid}
        cpu_before = {name: tree_cpu(pid) for name, pid in pids.items()}
        own_before = time.process_time()
        started = time.perf_counter()
        parts, after = getattr(self, side)()
        elapsed = time.perf_counter() - started
        own = time.process_time() - own_before
        cpu = {name: tree_cpu(pid) - cpu_before[name] for name, pid in pids.items()}
        if after is not None:
            with contextlib.suppress(Exception):
                after()
        return {"s": elapsed, "parts": parts, "cpu": {**cpu, "bench": own}}

    def record(self, side: str, run: dict[str, Any]) -> None:
        self.samples[side].append(run["s"])
        if run["parts"] is not None:
            self.samples["b_select"].append(run["parts"][0])
            self.samples["b_fetch"].append(run["parts"][1])
        for name, used in run["cpu"].items():
            self.cpu[side][name].append(used)

    def run(self, rounds: int, max_wait: float) -> None:
        """One warm-up of each side, then rounds rounds of (a) (b) (c) (d). A round during which
        other tests were running is measured again (at most rounds times in all)."""
        for side in "abcd":
            print(f"  warm-up {SIDES[side].strip()}: {self.timed(side)['s']:.3f} s", flush=True)
        done = 0
        while done < rounds:
            self.waited_s += wait_for_quiet(max_wait)["waited_s"]
            runs = {side: self.timed(side) for side in "abcd"}
            line = ", ".join(f"({k}) {v['s']:.3f} s" for k, v in runs.items())
            if others_testing() and self.disturbed < rounds:
                self.disturbed += 1
                print(f"  round {done + 1}/{rounds}: {line}: other tests started meanwhile, measured again",
                      flush=True)
                continue
            done += 1
            for side, run in runs.items():
                self.record(side, run)
            print(f"  round {done}/{rounds}: {line}", flush=True)


# -- figures ---------------------------------------------------------------------------------------

def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "median_s": round(statistics.median(values), 4),
            "p90_s": round(percentile(values, 90) / 1000, 4), "min_s": round(min(values), 4),
            "max_s": round(max(values), 4), "samples_s": [round(v, 4) for v in values]}


def table(result: dict[str, Any]) -> str:
    sides = result["sides"]
    rows = [["side", "median s", "p90 s", "min s", "max s"]]
    for key, label in SIDES.items():
        s = sides[key]
        rows.append([label, f"{s['median_s']:.3f}", f"{s['p90_s']:.3f}", f"{s['min_s']:.3f}", f"{s['max_s']:.3f}"])
    cpu = [["median CPU s per run", "gateway", "host", "bench"]]
    for key in "abcd":
        cpu.append([SIDES[key].split(",")[0], *(f"{result['cpu_median_s'][key][name]:.3f}"
                                                  for name in ("gateway", "host", "bench"))])
    head = (f"imap/http = median (b) / median (a) = {result['ratio']:.2f} "
            f"({verdict(result['ratio'], GOAL, at_least=False)} the goal of <= {GOAL})\n"
            f"end to end, median (c) / median (d) = {result['ratio_end_to_end']:.2f}")
    return "\n".join([aligned(rows, rule=True), "", head, "", aligned(cpu, rule=True)])


# -- clean-up --------------------------------------------------------------------------------------

def clean_up(env: dict[str, str], mailbox: str) -> dict[str, Any]:
    """What the run left in the shared emulators: the mailbox's documents, the region's containers
    and queues (the mailbox was deprovisioned through the API first)."""
    removed: dict[str, Any] = {"documents": 0}
    container = cosmos_container(create=False)
    ids = [doc["id"] for doc in container.query_items("SELECT c.id FROM c WHERE c.mailboxId = @m",
                                                       parameters=[{"name": "@m", "value": mailbox}],
                                                       partition_key=mailbox)]

    def delete(doc_id: str) -> None:
        with contextlib.suppress(Exception):
            container.delete_item(doc_id, partition_key=mailbox)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(delete, ids))
    removed["documents"] = len(ids)
    removed["containers"] = delete_blob_containers(
        blob_service(), (env["INCOMING_CONTAINER"], env["AUDIO_CONTAINER"], env["JOURNAL_CONTAINER"]))
    removed["queues"] = [name for name in (env["MWI_QUEUE"], env["REPLICATION_QUEUE"], env["TRANSCRIPTION_QUEUE"])
                         if delete_queue(name)]
    return removed


def stop_gateway(gateway: GatewayProcess) -> float:
    """SIGTERM, which Twisted always handles. GatewayProcess.stop sends SIGINT, which a process
    started from a background job (`nohup ... &`, some CI shells) inherits as ignored: the gateway
    then keeps running until it is killed 10 s later. Seconds it took to exit."""
    began = time.perf_counter()
    if gateway.process is not None and gateway.process.poll() is None:
        gateway.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            gateway.process.wait(timeout=10)
    return round(time.perf_counter() - began, 2)


def gateway_log_summary(gateway: GatewayProcess) -> dict[str, Any]:
    lines = gateway.log().splitlines()
    flagged = [line for line in lines if " ERROR " in line or " WARNING " in line or "Traceback" in line]
    return {"path": str(gateway.log_path), "lines": len(lines),
            "errors": sum(" ERROR " in line for line in lines),
            "warnings": sum(" WARNING " in line for line in lines), "first_flagged": flagged[:10]}


# -- the run ---------------------------------------------------------------------------------------

def deprovision(base: str, path: str, result: dict[str, Any]) -> None:
    try:
        result["deprovisioned"] = httpx.delete(f"{base}{path}", headers=PLATFORM, timeout=60).status_code
    except httpx.HTTPError as error:
        result["deprovisioned"] = f"{type(error).__name__}: {error}"


def fill(host: HostProcess, path: str, args: Any, payloads: list[bytes], result: dict[str, Any]) -> None:
    """Provision the mailbox and deposit the messages; return once the API lists them all ready."""
    base = f"{host.base_url}/api"
    with httpx.Client(base_url=base, timeout=60) as api:
        response = api.put(path, headers=PLATFORM, json={"displayName": "IMAP bench", "pin": PIN,
                                                         "settings": {"maxMessages": 10_000}})
        if response.status_code != 201:
            raise RuntimeError(f"provision: {response.status_code} {response.text[:300]}")
        try:
            print(f"depositing {args.messages} messages of {PAYLOAD_SECONDS:g} s from {args.threads} threads ...",
                  flush=True)
            result["deposits"] = deposit_all(base, path, args.messages, args.threads, payloads)
            print("waiting until every message is ready ...", flush=True)
            result["ready"] = wait_ready(api, path, args.messages, timeout=300 + 1.5 * args.messages)
        except BaseException:
            deprovision(base, path, result)
            raise


def measure(host: HostProcess, gateway: GatewayProcess, mailbox: str, args: Any, result: dict[str, Any]) -> None:
    """Wait for a quiet machine, measure the four sides; deprovision the mailbox in any case."""
    try:
        result["quiet"] = wait_for_quiet(args.max_wait)
        result["machine"]["load_average_at_measuring"] = result["quiet"]["load_average"]
        print(f"measuring: one warm-up, then {args.rounds} rounds of (a) (b) (c) (d) ...", flush=True)
        bench = Bench(host, gateway, mailbox, args.messages)
        try:
            bench.open()
            bench.run(args.rounds, args.max_wait)
        finally:
            bench.close()
    finally:
        deprovision(f"{host.base_url}/api", f"/mailboxes/{quote(mailbox, safe='')}", result)
    result["sides"] = {key: summary(values) for key, values in bench.samples.items()}
    result["cpu_s"] = bench.cpu
    result["cpu_median_s"] = {side: {name: round(statistics.median(values), 4) for name, values in by.items()}
                              for side, by in bench.cpu.items()}
    result["login_pacing_waited_s"] = round(bench.pacer.waited_s, 1)
    result["quiet"]["waited_between_rounds_s"] = round(bench.waited_s, 1)
    result["quiet"]["rounds_measured_again"] = bench.disturbed


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(NAME, __doc__)
    parser.add_argument("--messages", type=int, default=1000, help="messages in the INBOX (up to 10000)")
    parser.add_argument("--rounds", type=int, default=5, help="timed runs of each side, after one warm-up")
    parser.add_argument("--threads", type=int, default=4, help="deposit threads")
    parser.add_argument("--max-wait", type=float, default=3600.0,
                        help="seconds to wait for other pytest processes to finish before the timed part")
    args = parser.parse_args(argv)
    if not 1 <= args.messages <= 10_000 or args.rounds < 1 or args.threads < 1:
        parser.error("--messages 1-10000, --rounds >= 1, --threads >= 1")
    quiet_connection_pools()

    began = time.perf_counter()
    payloads = [speech_like_wav(PAYLOAD_SECONDS, seed=seed) for seed in range(4)]
    result = new_result(NAME, argv, {
        "messages": args.messages, "rounds": args.rounds, "deposit_threads": args.threads, "page_limit": PAGE,
        "fetch": f"FETCH 1:* {FETCH_ITEMS}", "goal": GOAL,
        "payload": {"seconds": PAYLOAD_SECONDS, "bytes": len(payloads[0]),
                    "type": "audio/wav 8 kHz 16-bit speech-like"}})
    region, mailbox = random_name("imapb"), new_mailbox_id()
    path = f"/mailboxes/{quote(mailbox, safe='')}"
    # Filling needs the transcoder (the blob trigger on incoming audio). Measuring does not, and that
    # trigger would keep listing the 1000 blobs of the region's incoming container every few seconds
    # (devstack/localhost/blob_triggers.py), on the same 2 cores: the same region is served again by a
    # host with every background function off.
    fill_env = host_env(region, MWI_QUEUE=random_name("imapbmwi"))
    serve_env = {**fill_env, **disabled(*BACKGROUND_FUNCTIONS)}
    with saved_on_failure(result, began, RESULTS), local_stack():
        try:
            result["quiet_before_filling"] = wait_for_quiet(args.max_wait)  # filling is heavy too
            print(f"mailbox {mailbox}:", flush=True)
            with running_host(fill_env, timeout=60) as filler:
                announce(filler, region, transcoder="on")
                fill(filler, path, args, payloads, result)
            result["fill_host_log"] = log_summary(filler)
            with running_host(serve_env, timeout=60) as host:
                announce(host, region, background_functions="off")
                with GatewayProcess(f"{host.base_url}/api", tmp=Path(tempfile.mkdtemp(prefix="bench-imap-"))) \
                        as gateway:
                    result["git_gateway_started"] = git_state()  # the code it runs (others commit meanwhile)
                    print(f"  gateway imap://127.0.0.1:{gateway.port} (pid {gateway.process.pid}, "
                          f"log {gateway.log_path})", flush=True)
                    try:
                        measure(host, gateway, mailbox, args, result)
                    finally:
                        result["gateway_stop_s"] = stop_gateway(gateway)
                result["gateway_log"] = gateway_log_summary(gateway)
            result["host_log"] = log_summary(host)
        finally:
            try:
                result["cleaned_up"] = clean_up(fill_env, mailbox)
            except Exception as error:  # noqa: BLE001 - the run's own error, if any, matters more
                result["cleaned_up"] = {"error": f"{type(error).__name__}: {error}"}

    sides = result["sides"]
    result["ratio"] = ratio(sides["b"]["median_s"], sides["a"]["median_s"])
    result["ratio_end_to_end"] = ratio(sides["c"]["median_s"], sides["d"]["median_s"])
    result["verdict"] = verdict(result["ratio"], GOAL, at_least=False)
    logs = (f"gateway log: {result['gateway_log']['errors']} errors, {result['gateway_log']['warnings']} warnings "
            f"({result['gateway_log']['path']}); host logs: {result['fill_host_log']['errors']} errors (filling), "
            f"{result['host_log']['errors']} errors (serving)")
    finish(result, began, RESULTS, table(result), logs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
