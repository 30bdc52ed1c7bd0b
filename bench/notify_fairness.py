"""One mailbox's flood and everyone else's notifications (issue 23): how long the other mailboxes'
`message.ready` takes while one mailbox's subscriber toggles `heard` as fast as the API takes it,
against the same deposits with no flood, in the same run (the ratio).

    .venv/bin/python -m bench.notify_fairness [--mailboxes 50] [--warmup 10] [--flooders 4]

One product host on emulators of this run only (free ports; the shared stack's other users
neither disturb nor are disturbed), change feed and sweep as in `make run`. A webhook receiver in this process takes
every event. The flooded mailbox holds `--flooders` ready messages; as many threads toggle one each
(PATCH `heard`, the subscriber's token), each toggle a count change and so an `mwi.changed`. A 429
(the subscriber's write budget, where it exists) is waited out as its `Retry-After` says, so the
flood runs at the budget's rate then. Each of the other mailboxes receives one deposit (5 at a
time); its figure is the time from the deposit's answer to its `message.ready` webhook. Phase 1
deposits with no flood; phase 2 after `--warmup` seconds of flood, the flood going on until every
deposit is announced. Then the flood stops, and the time until the flooded mailbox's last lamp
state (the counts `GET` shows) reaches its webhook is measured: coalescing must not lose it.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from bench.common import (
    PLATFORM,
    OwnEmulators,
    announce,
    argument_parser,
    finish,
    host_env,
    latency_summary,
    new_result,
    quiet_connection_pools,
    ratio,
    results_path,
    running_host,
    saved_on_failure,
)
from devstack import localstack
from devstack.hosting import HostProcess, random_name
from devstack.make_sample_wav import speech_like_wav
from devstack.webhook_receiver import WebhookReceiver

NAME = "notify_fairness"
PIN = "1234"
_TOTALS = re.compile(r"notifications(?: \(change feed\))?: (\{[^}]*\})")


def mailbox_id() -> str:
    return "+1" + "".join(random.choice("0123456789") for _ in range(10))


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(NAME, __doc__)
    parser.add_argument("--mailboxes", type=int, default=50, help="other mailboxes, one deposit each a phase")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of flood before the deposits")
    parser.add_argument("--flooders", type=int, default=4, help="threads toggling heard, one message each")
    args = parser.parse_args(argv)
    quiet_connection_pools()
    began = time.perf_counter()
    result = new_result(NAME, argv, {"mailboxes": args.mailboxes, "warmup_s": args.warmup, "flooders": args.flooders})
    results = results_path(NAME)
    audio = speech_like_wav(1.0)
    emulators = OwnEmulators(prefix="bench-notify-fairness-")
    with saved_on_failure(result, began, results), WebhookReceiver() as receiver:
        region = random_name("nf")
        try:
            emulators.start()
            env = host_env(region, AzureWebJobsStorage=localstack.storage_connection_string(
                ports=emulators.storage_ports), COSMOS_ENDPOINT=localstack.cosmos_endpoint(emulators.cosmos_port))
            with running_host(env, timeout=120) as host:
                announce(host, region)
                figures = measure(host, receiver, args, audio)
        finally:
            emulators.stop()
        result.update(figures)
    rows = [f"{name:10} " + "  ".join(f"{k} {v}" for k, v in summary.items())
            for name, summary in result["figures"].items()]
    rows += [f"{name}: {value}" for name, value in (*result["ratio"].items(), *result["flood"].items(),
                                                    ("dispatcher", result["dispatcher"]))]
    finish(result, began, results, "\n".join(rows))


def measure(host: HostProcess, receiver: WebhookReceiver, args: argparse.Namespace, audio: bytes) -> dict:
    """Both phases on one host: the figures, the flood's, the dispatcher's outcomes and the ratio."""
    api = httpx.Client(base_url=f"{host.base_url}/api", headers=PLATFORM, timeout=60)
    flooded, others = mailbox_id(), [mailbox_id() for _ in range(args.mailboxes)]
    for mailbox in (flooded, *others):
        api.put(f"/mailboxes/{mailbox}", json={"displayName": "Bench", "pin": PIN}).raise_for_status()
        api.put(f"/mailboxes/{mailbox}/notifications", json={"targets": [
            {"kind": "webhook", "url": receiver.url(f"/{mailbox}")}]}).raise_for_status()
    messages = [deposit(api, flooded, audio)[1] for _ in range(args.flooders)]
    wait_ready(api, flooded, messages)
    print("  phase 1: no flood", flush=True)
    quiet = announced(api, receiver, others, audio)
    print(f"  phase 2: flood, {args.warmup:.0f} s before the deposits", flush=True)
    flood = Flood(host.base_url, flooded, messages)
    flood.start()
    time.sleep(args.warmup)
    loud = announced(api, receiver, others, audio)
    flood.stop()
    settled = lamp_settled(api, receiver, flooded, time.perf_counter())
    figures = {"no flood": latency_summary(quiet, (50, 99), extremes=True),
               "flood": latency_summary(loud, (50, 99), extremes=True)}
    return {"figures": figures,
            "ratio": {f"p{q}, flood / no flood": ratio(figures["flood"][f"p{q}_ms"], figures["no flood"][f"p{q}_ms"], 2)
                      for q in (50, 99)},
            "flood": {**flood.figures(), "lamp states sent": len(receiver.received(f"/{flooded}", "mwi.changed")),
                      "last lamp state sent after the flood stopped_s": settled},
            "dispatcher": dispatcher_totals(host.log())}


def deposit(api: httpx.Client, mailbox: str, audio: bytes) -> tuple[float, str]:
    answer = api.post(f"/mailboxes/{mailbox}/messages", params={"from": "+15557654321"}, content=audio,
                      headers={"content-type": "audio/wav"})
    answer.raise_for_status()
    return time.perf_counter(), answer.json()["id"]


def wait_ready(api: httpx.Client, mailbox: str, messages: list[str], timeout: float = 120) -> None:
    deadline = time.perf_counter() + timeout
    for message in messages:
        while api.get(f"/mailboxes/{mailbox}/messages/{message}").json()["status"] != "ready":
            if time.perf_counter() > deadline:
                raise RuntimeError(f"message {message} not ready within {timeout} s")
            time.sleep(0.2)


def announced(api: httpx.Client, receiver: WebhookReceiver, mailboxes: list[str], audio: bytes,
              timeout: float = 300) -> list[float]:
    """One deposit into each mailbox (5 at a time): seconds from each deposit's answer to its
    `message.ready` webhook."""
    with ThreadPoolExecutor(max_workers=5) as pool:
        answered = dict(zip(mailboxes, pool.map(lambda m: deposit(api, m, audio), mailboxes), strict=True))
    deadline = time.perf_counter() + timeout
    delays: dict[str, float] = {}
    while len(delays) < len(mailboxes):
        for mailbox, (at, message) in answered.items():
            calls = [c for c in receiver.received(f"/{mailbox}", "message.ready")
                     if c["at"] > at and message.encode() in c["body"]]
            if mailbox not in delays and calls:
                delays[mailbox] = calls[0]["at"] - at
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{len(mailboxes) - len(delays)} message.ready not sent within {timeout} s")
        time.sleep(0.05)
    return list(delays.values())


class Flood:
    """Threads toggling `heard` on the flooded mailbox's messages as the subscriber, as fast as the
    API answers (a 429 waited out as its Retry-After says)."""

    def __init__(self, base_url: str, mailbox: str, messages: list[str]):
        token = httpx.post(f"{base_url}/api/mailboxes/{mailbox}/sessions", json={"pin": PIN}, timeout=30)
        token.raise_for_status()
        self._client = httpx.Client(base_url=f"{base_url}/api", timeout=30,
                                    headers={"Authorization": f"Bearer {token.json()['token']}"})
        self._mailbox, self._messages = mailbox, messages
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._toggle, args=(m,), daemon=True) for m in messages]
        self._lock = threading.Lock()
        self.accepted = self.refused = self.failed = 0
        self._began = self._ended = 0.0

    def start(self) -> None:
        self._began = time.perf_counter()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._ended = time.perf_counter()

    def _toggle(self, message: str) -> None:
        heard = True
        while not self._stop.is_set():
            try:
                answer = self._client.patch(f"/mailboxes/{self._mailbox}/messages/{message}", json={"heard": heard})
            except httpx.HTTPError:
                answer = None
            with self._lock:
                if answer is not None and answer.status_code == 200:
                    self.accepted += 1
                    heard = not heard
                elif answer is not None and answer.status_code == 429:
                    self.refused += 1
                else:
                    self.failed += 1
            if answer is not None and answer.status_code == 429:
                self._stop.wait(float(answer.headers.get("retry-after", "1")))

    def figures(self) -> dict[str, float]:
        seconds = self._ended - self._began
        return {"toggles accepted": self.accepted, "toggles refused (429)": self.refused,
                "toggles failed": self.failed, "seconds": round(seconds, 1),
                "toggles a second": round(self.accepted / seconds, 1) if seconds else 0.0}


def lamp_settled(api: httpx.Client, receiver: WebhookReceiver, mailbox: str, stopped: float,
                 timeout: float = 180, quiet: float = 12) -> float | None:
    """Seconds after the flood stopped until the flooded mailbox's webhook got the counts GET shows,
    as its last lamp state (nothing more for `quiet` seconds, two sweeps); 0 when it had them first."""
    counts = api.get(f"/mailboxes/{mailbox}").json()["counts"]
    wanted = {k: counts[k] for k in ("new", "saved", "urgentNew")}
    while time.perf_counter() < stopped + timeout:
        lamps = receiver.received(f"/{mailbox}", "mwi.changed")
        last = lamps[-1] if lamps else None
        if last and time.perf_counter() - max(last["at"], stopped) >= quiet:
            matches = {k: v for k, v in _data(last).items() if k in wanted} == wanted
            return round(max(0.0, last["at"] - stopped), 2) if matches else None
        time.sleep(0.1)
    return None


def _data(call: dict) -> dict:
    return json.loads(call["body"])["data"]


def dispatcher_totals(log: str) -> dict[str, int]:
    """The dispatcher's outcomes over the run, from the host log's totals lines."""
    totals: dict[str, int] = {}
    for found in _TOTALS.finditer(log):
        for outcome, count in re.findall(r"'([^']+)': (\d+)", found.group(1)):
            totals[outcome] = totals.get(outcome, 0) + int(count)
    return totals


if __name__ == "__main__":
    main()
