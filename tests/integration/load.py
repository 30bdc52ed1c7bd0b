"""Load for the reliability drills: many clients depositing through the product's own client, and
the bookkeeping that says what was acknowledged, lost or duplicated.

Each client is a `VoicemailClient` with both regional endpoints (half of them nearest-first to one
region, half to the other), as telephony platforms in two places would be. A deposit counts as
acknowledged when the client got its 202; a client-visible error is one the client raised after
all its retries. Verification lists every mailbox from a region and compares.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from voicemail_client import ApiError, RetryPolicy, Unavailable, VoicemailClient


@dataclass
class Deposit:
    mailbox: str
    key: str
    message_id: str | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class Load:
    deposits: list[Deposit]
    clients: list[VoicemailClient]
    seconds: float
    events: list[tuple[float, str]] = field(default_factory=list)  # (seconds into the load, what happened)

    @property
    def acknowledged(self) -> list[Deposit]:
        return [d for d in self.deposits if d.message_id]

    @property
    def errors(self) -> list[Deposit]:
        return [d for d in self.deposits if d.error]

    def attempts(self) -> tuple[int, int, int, dict[str, int]]:
        """Attempts, retries, failovers and every attempt's outcome, summed over the clients."""
        outcomes: dict[str, int] = {}
        for client in self.clients:
            for outcome, n in client.stats.outcomes.items():
                outcomes[outcome] = outcomes.get(outcome, 0) + n
        return (sum(c.stats.attempts for c in self.clients), sum(c.stats.retries for c in self.clients),
                sum(c.stats.failovers for c in self.clients), outcomes)


def make_clients(count: int, endpoints: list[str], api_key: str, policy: RetryPolicy) -> list[VoicemailClient]:
    """`count` clients; odd ones prefer the second endpoint (a platform nearer that region)."""
    return [VoicemailClient(endpoints if i % 2 == 0 else endpoints[::-1], api_key=api_key, policy=policy)
            for i in range(count)]


def run_load(clients: list[VoicemailClient], mailboxes: list[str], total: int, audio: bytes,
             at: list[tuple[float, Callable[[], str]]] | None = None) -> Load:
    """`total` deposits spread over the mailboxes, one lane per client; `at`: (fraction done, action)
    pairs run once that share of the deposits has finished (the action returns what it did)."""
    deposits = [Deposit(mailboxes[i % len(mailboxes)], str(uuid.uuid4())) for i in range(total)]
    lanes = [deposits[i::len(clients)] for i in range(len(clients))]
    done = [0]
    lock = threading.Lock()
    start = time.monotonic()
    load = Load(deposits, clients, 0.0)

    def lane(client: VoicemailClient, work: list[Deposit]) -> None:
        for deposit in work:
            begun = time.monotonic()
            try:
                message = client.deposit(deposit.mailbox, audio, "audio/wav", idempotency_key=deposit.key,
                                         sender="+15550100")
                deposit.message_id = message["id"]
            except (ApiError, Unavailable) as error:
                deposit.error = f"{type(error).__name__}: {error}"
            deposit.seconds = time.monotonic() - begun
            with lock:
                done[0] += 1

    failures: list[BaseException] = []

    def director() -> None:
        try:
            for fraction, action in sorted(at or [], key=lambda pair: pair[0]):
                while done[0] < fraction * total:
                    time.sleep(0.02)
                what = action()
                load.events.append((time.monotonic() - start, what))
        except BaseException as error:  # re-raised by run_load, not lost with this thread
            failures.append(error)

    threads = [threading.Thread(target=lane, args=(client, work)) for client, work in zip(clients, lanes, strict=True)]
    directing = threading.Thread(target=director, daemon=True)
    directing.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    directing.join(timeout=60)
    load.seconds = time.monotonic() - start
    if failures:
        raise AssertionError(f"the injected action failed: {failures[0]!r}") from failures[0]
    return load


def listed(client: VoicemailClient, mailboxes: list[str]) -> dict[str, list[str]]:
    """Every message id each mailbox lists (every folder, every page), repeats kept."""
    return {mailbox: [m["id"] for folder in ("inbox", "saved", "trash")
                      for m in client.list_messages(mailbox, folder=folder, limit=200)]
            for mailbox in mailboxes}


@dataclass
class Figures:
    drill: str
    requests: int
    acknowledged: int
    client_errors: int
    attempts: int
    retries: int
    failovers: int
    p50_ms: float
    p99_ms: float
    lost: int
    duplicated: int
    seconds: float
    notes: str = ""

    def row(self) -> str:
        return (f"| {self.drill} | {self.requests} | {self.acknowledged} | {self.client_errors} | {self.attempts} | "
                f"{self.retries} | {self.failovers} | {self.p50_ms:.0f} | {self.p99_ms:.0f} | {self.lost} | "
                f"{self.duplicated} | {self.seconds:.0f} | {self.notes} |")


HEADER = ("| drill | requests | acknowledged | client-visible errors | attempts | retries | failovers | p50 ms | "
          "p99 ms | lost | duplicated | seconds | what happened |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def figures(drill: str, load: Load, listing: dict[str, list[str]]) -> Figures:
    """Lost: acknowledged and not listed. Duplicated: listed more than once, or listed without being
    one of the acknowledged deposits (a retry that made a second message)."""
    acknowledged = {d.message_id for d in load.acknowledged}
    everything = [mid for ids in listing.values() for mid in ids]
    lost = len(acknowledged - set(everything))
    duplicated = (len(everything) - len(set(everything))) + len(set(everything) - acknowledged)
    latencies = sorted(d.seconds * 1000 for d in load.deposits)
    attempts, retries, failovers, _ = load.attempts()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    notes = "; ".join(f"{what} at {when:.0f} s" for when, what in load.events)
    return Figures(drill, len(load.deposits), len(acknowledged), len(load.errors), attempts, retries, failovers,
                   statistics.median(latencies), p99, lost, duplicated, load.seconds, notes)
