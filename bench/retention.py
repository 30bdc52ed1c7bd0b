"""The retention sweep on a large population, on the local stack, in one run.

    .venv/bin/python -m bench.retention [--messages 100000] [--expired-percent 1] [--threads 16]

Seeds, straight on the emulators with the Azure SDKs, `--messages` message documents (the shape of
`shared/adapters/cosmos_docs.py: message_to_doc`) spread over messages/50 mailboxes (each with its
mailbox document, `mailbox_to_doc`). `--expired-percent` of them have `expiresAt` in the past and
their audio in the region's containers (the original in `INCOMING_CONTAINER`, the opus and mp3
renditions in `AUDIO_CONTAINER`); the rest expire in 30 days and have no blobs. Then it starts the
region's retention sweep through the product host (`POST /api/admin/sweeps/retention`), follows it
to the end, and reports what it read and deleted, how long it took, and whether exactly the expired
messages went. Everything seeded is deleted at the end (documents, containers, the MWI queue and the
durable task hub's table), so the shared emulators stay small.

The emulators are started if they are not answering, and only what was started is stopped. The
host runs with the transcoder off and the orphan pass's minimum age at 24 h (the seeded blobs are
young, so the orphan pass lists them but never deletes them). The metadata store is shared by every
local region: expired documents of other hosts or tests are swept too, and reported apart.

Prints a table and writes `bench/results/retention.json` (git-ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from azure.core.exceptions import ResourceNotFoundError
from azure.cosmos import ContainerProxy
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from bench.common import (
    PLATFORM,
    aligned,
    announce,
    argument_parser,
    blob_service,
    cosmos_container,
    create_blob_containers,
    delete_blob_containers,
    delete_queue,
    finish,
    host_env,
    local_stack,
    log_summary,
    new_result,
    quiet_connection_pools,
    results_path,
    running_host,
    saved_on_failure,
    verdict,
)
from devstack import localstack
from devstack.hosting import random_name
from shared.adapters.cosmos_docs import mailbox_to_doc, message_to_doc
from shared.adapters.http_pool import pooled_transport
from shared.domain.audio import Containers
from shared.domain.blobpaths import message_original, message_rendition, split
from shared.domain.model import Mailbox, MailboxSettings, Message, iso

NAME = "retention"
RESULTS = results_path(NAME)
PER_MAILBOX = 50
GOAL_EXAMINED = 1.1  # documents read by the selection queries per expired message
BLOB_BYTES = 300
SDK_TIMEOUT_S = 30
SENDER = "+15550100"


# -- seeding -------------------------------------------------------------------------------------

class Seed:
    """What one run seeds: mailbox ids, message ids, which are expired (deterministic per run)."""

    def __init__(self, run_id: str, messages: int, expired_percent: float):
        self.run_id = run_id
        self.mailbox_count = max(1, messages // PER_MAILBOX)
        self.mailboxes = [f"{run_id}-{i:05d}" for i in range(self.mailbox_count)]
        expired_total = round(messages * expired_percent / 100)
        chosen = set(random.Random(run_id).sample(range(messages), expired_total))
        # message i lives in mailbox i % mailbox_count: every mailbox gets its share
        self.by_mailbox: dict[str, list[tuple[str, bool]]] = {mailbox: [] for mailbox in self.mailboxes}
        for i in range(messages):
            self.by_mailbox[self.mailboxes[i % self.mailbox_count]].append((uuid.uuid4().hex, i in chosen))
        self.messages = messages
        self.expired = expired_total

    def expired_ids(self) -> Iterable[tuple[str, str]]:
        for mailbox, items in self.by_mailbox.items():
            yield from ((mailbox, message_id) for message_id, expired in items if expired)


def message_blobs(containers: Containers, mailbox: str, message_id: str) -> dict[str, str]:
    """An expired message's three blobs, where the app puts them."""
    return {"original": message_original(containers, mailbox, message_id),
            **{name: message_rendition(containers, mailbox, message_id, name) for name in ("opus", "mp3")}}


def message_document(mailbox: str, message_id: str, expired: bool, region: str, incoming: str, audio: str,
                     now: datetime) -> dict[str, Any]:
    """A ready inbox message as the app stores it; expired ones with their three blobs."""
    received = now - timedelta(days=31 if expired else 1, seconds=random.randint(0, 3600))
    blobs = message_blobs(Containers(incoming, audio), mailbox, message_id) if expired else {}
    message = Message(
        id=message_id, mailbox_id=mailbox, received_at=received, deposit_region=region, from_number=SENDER,
        duration_ms=4000, status="ready", formats=("opus", "mp3") if expired else (),
        expires_at=received + timedelta(days=30), blobs=blobs, content_type="audio/wav", size_bytes=BLOB_BYTES,
        request_hash=uuid.uuid4().hex, replica_regions=(region,))
    return message_to_doc(message)


class Seeder:
    def __init__(self, container: ContainerProxy, blobs: BlobServiceClient, seed: Seed, region: str,
                 incoming: str, audio: str):
        self.container, self.blobs, self.seed, self.region = container, blobs, seed, region
        self.incoming, self.audio = incoming, audio
        self.now = datetime.now(UTC)
        self.documents = 0
        self.blob_count = 0
        self._lock = threading.Lock()
        self._payload = os.urandom(BLOB_BYTES)

    def mailbox(self, mailbox: str) -> None:
        doc = mailbox_to_doc(Mailbox(id=mailbox, display_name="bench", settings=MailboxSettings(maxMessages=1000),
                                     created_at=self.now, updated_at=self.now))
        self.container.create_item(doc, timeout=SDK_TIMEOUT_S)
        documents, blob_count = 1, 0
        for message_id, expired in self.seed.by_mailbox[mailbox]:
            if expired:
                for path in message_blobs(Containers(self.incoming, self.audio), mailbox, message_id).values():
                    self.blobs.get_blob_client(*split(path)).upload_blob(self._payload, overwrite=True)
                    blob_count += 1
            self.container.create_item(message_document(mailbox, message_id, expired, self.region, self.incoming,
                                                        self.audio, self.now), timeout=SDK_TIMEOUT_S)
            documents += 1
        with self._lock:
            self.documents += documents
            self.blob_count += blob_count

    def run(self, threads: int) -> dict[str, Any]:
        started = time.perf_counter()
        total = self.seed.messages + self.seed.mailbox_count
        done = 0
        next_report = 0.1
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for future in [pool.submit(self.mailbox, mailbox) for mailbox in self.seed.mailboxes]:
                future.result()
                done += 1
                if done / self.seed.mailbox_count >= next_report - 1e-9:
                    while done / self.seed.mailbox_count >= next_report - 1e-9:
                        next_report += 0.1
                    elapsed = time.perf_counter() - started
                    print(f"  seeded {self.documents}/{total} documents, {self.blob_count} blobs, "
                          f"{elapsed:.0f} s ({self.documents / elapsed:.0f} documents/s)", flush=True)
        elapsed = time.perf_counter() - started
        return {"documents": self.documents, "blobs": self.blob_count, "threads": threads,
                "elapsed_s": round(elapsed, 1), "documents_per_s": round(self.documents / elapsed, 1),
                "blobs_per_s": round(self.blob_count / elapsed, 1)}


# -- counting and the sweep ----------------------------------------------------------------------

def count(container: ContainerProxy, sql: str, parameters: list[dict[str, Any]] | None = None) -> int:
    return next(iter(container.query_items(sql, parameters=parameters or [], enable_cross_partition_query=True,
                                           timeout=600)))


def blob_counts(blobs: BlobServiceClient, containers: Iterable[str]) -> dict[str, int]:
    counts = {}
    for name in containers:
        try:
            counts[name] = sum(1 for _ in blobs.get_container_client(name).list_blobs())
        except ResourceNotFoundError:
            counts[name] = 0
    return counts


def run_sweep(base_url: str, timeout_s: float) -> dict[str, Any]:
    """Start the region's retention sweep, follow it to the end; its status, the wall time and a
    timeline of its custom status (phase and totals)."""
    timeline: list[dict[str, Any]] = []
    started = time.perf_counter()
    answer = httpx.post(f"{base_url}/api/admin/sweeps/retention", headers=PLATFORM, timeout=30)
    if answer.status_code != 202:
        raise RuntimeError(f"sweep not started: {answer.status_code} {answer.text}")
    status_url = f"{base_url}{answer.json()['statusUrl']}"
    last_print = 0.0
    while True:
        status = httpx.get(status_url, headers=PLATFORM, timeout=30).json()
        elapsed = time.perf_counter() - started
        custom = status.get("customStatus") or {}
        if not timeline or timeline[-1]["status"] != custom:
            timeline.append({"t_s": round(elapsed, 1), "status": custom})
        if status["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
            return {"wall_s": round(elapsed, 2), "status": status, "timeline": timeline}
        if elapsed - last_print >= 15:
            print(f"  {elapsed:.0f} s: {status['runtimeStatus']} {custom}", flush=True)
            last_print = elapsed
        if elapsed > timeout_s:
            raise RuntimeError(f"sweep not finished after {timeout_s:.0f} s: {status}")
        time.sleep(0.5)


# -- clean-up ------------------------------------------------------------------------------------

def clean_up(container: ContainerProxy, blobs: BlobServiceClient, seed: Seed, env: dict[str, str],
             threads: int) -> dict[str, Any]:
    started = time.perf_counter()
    removed = {"documents": 0, "already_gone": 0}
    lock = threading.Lock()

    def delete_partition(mailbox: str) -> None:
        gone = kept = 0
        for doc_id in ["mailbox", *(message_id for message_id, _ in seed.by_mailbox[mailbox])]:
            try:
                container.delete_item(doc_id, partition_key=mailbox, timeout=SDK_TIMEOUT_S)
                kept += 1
            except ResourceNotFoundError:
                gone += 1
        with lock:
            removed["documents"] += kept
            removed["already_gone"] += gone

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(delete_partition, mailbox) for mailbox in seed.mailboxes]:
            future.result()
    for name in delete_blob_containers(blobs, (env["INCOMING_CONTAINER"], env["AUDIO_CONTAINER"])):
        removed[f"container {name}"] = 1
    if delete_queue(env["MWI_QUEUE"]):
        removed["mwi_queue"] = 1
    with contextlib.suppress(ResourceNotFoundError):
        TableServiceClient.from_connection_string(localstack.storage_connection_string()) \
            .delete_table(f"{env['DURABLE_TASK_HUB']}Instances")
        removed["task_hub_table"] = 1
    removed["elapsed_s"] = round(time.perf_counter() - started, 1)
    return removed


# -- figures -------------------------------------------------------------------------------------

def figures(seed: Seed, sweep: dict[str, Any], blobs_before: dict[str, int], blobs_after: dict[str, int],
            others_expired: int) -> dict[str, Any]:
    output = sweep["status"].get("output")
    output = output if isinstance(output, dict) else {}  # a failed orchestration's output is its error text
    examined, deleted = output.get("examined", 0), output.get("deleted", 0)
    expired = seed.expired or 1
    blobs_deleted = sum(blobs_before.values()) - sum(blobs_after.values())
    return {
        "messages_seeded": seed.messages, "mailboxes_seeded": seed.mailbox_count, "expired_seeded": seed.expired,
        "expired_documents_of_others_before": others_expired,
        "examined": examined, "point_reads": deleted, "documents_deleted": deleted, "failed": output.get("failed"),
        "blobs_before": blobs_before, "blobs_after": blobs_after, "blobs_deleted": blobs_deleted,
        "blobs_examined_by_orphan_pass": output.get("blobsExamined"), "orphans_deleted": output.get("orphansDeleted"),
        "mwi_count_queries": deleted,  # one per purged counted message: the mailbox's message projection
        "wall_s": sweep["wall_s"], "deletions_per_s": round(deleted / sweep["wall_s"], 1) if sweep["wall_s"] else None,
        "ratio_examined_per_expired": round(examined / expired, 3),
        "ratio_reads_per_expired": round((examined + deleted) / expired, 3),
        "goal_examined_per_expired": GOAL_EXAMINED,
    }


def table(result: dict[str, Any]) -> str:
    f = result["figures"]
    v = result["verification"]
    met = verdict(f["ratio_examined_per_expired"], GOAL_EXAMINED, at_least=False)
    rows = [
        ("messages seeded", f"{f['messages_seeded']} in {f['mailboxes_seeded']} mailboxes"),
        ("seeding", f"{result['seeding']['elapsed_s']} s, {result['seeding']['documents_per_s']} documents/s, "
                    f"{result['seeding']['blobs_per_s']} blobs/s ({result['seeding']['threads']} threads)"),
        ("expired (ours / others' before)", f"{f['expired_seeded']} / {f['expired_documents_of_others_before']}"),
        ("documents read by selection queries (examined)", f"{f['examined']}"),
        ("point reads (one per purged document)", f"{f['point_reads']}"),
        ("MWI count queries (one per purged message)", f"{f['mwi_count_queries']}"),
        ("documents deleted", f"{f['documents_deleted']} (failed {f['failed']})"),
        ("blobs deleted (incoming + audio)", f"{f['blobs_deleted']} of {sum(f['blobs_before'].values())}"),
        ("orphan pass: blobs examined / deleted", f"{f['blobs_examined_by_orphan_pass']} / {f['orphans_deleted']}"),
        ("sweep wall time", f"{f['wall_s']} s"),
        ("deletions per second", f"{f['deletions_per_s']}"),
        ("examined / expired", f"{f['ratio_examined_per_expired']} ({met} the goal of <= {GOAL_EXAMINED})"),
        ("(examined + point reads) / expired", f"{f['ratio_reads_per_expired']}"),
        ("expired messages left (want 0)", f"{v['expired_left']}"),
        ("fresh messages kept (want all)", f"{v['fresh_left']} of {v['fresh_seeded']}"),
        ("mailbox documents kept (want all)", f"{v['mailboxes_left']} of {f['mailboxes_seeded']}"),
    ]
    return aligned(rows, left=2)


# -- the run -------------------------------------------------------------------------------------

def connect() -> tuple[ContainerProxy, BlobServiceClient]:
    blobs = blob_service(transport=pooled_transport())
    return cosmos_container(consistency_level="Session", transport=pooled_transport()), blobs


def measure(args: argparse.Namespace, container: ContainerProxy, blobs: BlobServiceClient,
            result: dict[str, Any], cleanup: list[Callable[[], None]]) -> None:
    region = random_name("bench")
    # The emulator has no index: each query scans every document, so give its calls more time than
    # the app's default (10 s), which Cosmos DB's indexed queries never come near.
    env = host_env(region, ("incoming_audio",), ORPHAN_MIN_AGE_HOURS="24", MWI_QUEUE=random_name("benchmwi"),
                   SDK_TIMEOUT_SECONDS="60")
    incoming, audio = env["INCOMING_CONTAINER"], env["AUDIO_CONTAINER"]
    seed = Seed(region, args.messages, args.expired_percent)
    cleanup.append(lambda: result.__setitem__("cleaned_up", clean_up(container, blobs, seed, env, args.threads)))
    with running_host(env) as host:
        try:
            announce(host, region)
            create_blob_containers(blobs, (incoming, audio))
            now = iso(datetime.now(UTC))
            result["population_before"] = {
                "documents": count(container, "SELECT VALUE COUNT(1) FROM c"),
                "expired": count(container, "SELECT VALUE COUNT(1) FROM c WHERE c.expiresAt < @now",
                                 [{"name": "@now", "value": now}])}
            print(f"seeding {seed.messages} messages ({seed.expired} expired) over {seed.mailbox_count} mailboxes, "
                  f"{args.threads} threads; the container holds {result['population_before']['documents']} "
                  f"documents already ...", flush=True)
            result["seeding"] = Seeder(container, blobs, seed, region, incoming, audio).run(args.threads)
            blobs_before = blob_counts(blobs, (incoming, audio))
            print(f"seeded: {result['seeding']}", flush=True)
            print("retention sweep ...", flush=True)
            sweep = run_sweep(host.base_url, args.timeout)
            blobs_after = blob_counts(blobs, (incoming, audio))
            prefix = [{"name": "@p", "value": f"{region}-"}]
            before = [*prefix, {"name": "@now", "value": now}]
            verification = {
                "expired_left": count(container, "SELECT VALUE COUNT(1) FROM c WHERE STARTSWITH(c.mailboxId, @p) "
                                                 "AND c.type = 'message' AND c.expiresAt < @now", before),
                "fresh_left": count(container, "SELECT VALUE COUNT(1) FROM c WHERE STARTSWITH(c.mailboxId, @p) "
                                               "AND c.type = 'message' AND c.expiresAt >= @now", before),
                "fresh_seeded": seed.messages - seed.expired,
                "mailboxes_left": count(container, "SELECT VALUE COUNT(1) FROM c WHERE STARTSWITH(c.mailboxId, @p) "
                                                   "AND c.type = 'mailbox'", prefix),
            }
            with contextlib.suppress(ResourceNotFoundError):
                queue = QueueClient.from_connection_string(localstack.storage_connection_string(), env["MWI_QUEUE"])
                verification["mwi_events_queued"] = queue.get_queue_properties().approximate_message_count
            verification["ok"] = (verification["expired_left"] == 0
                                  and verification["fresh_left"] == verification["fresh_seeded"]
                                  and verification["mailboxes_left"] == seed.mailbox_count)
            status = sweep["status"]
            result["sweep"] = {"runtimeStatus": status["runtimeStatus"], "output": status.get("output"),
                               "createdTime": status.get("createdTime"),
                               "lastUpdatedTime": status.get("lastUpdatedTime"), "timeline": sweep["timeline"]}
            result["figures"] = figures(seed, sweep, blobs_before, blobs_after, result["population_before"]["expired"])
            result["verification"] = verification
        finally:
            host.stop()  # before the clean-up: the sweep's functions must not run on what it deletes
            result["host_log"] = log_summary(host, retention_purge_runs="Executed 'retention_purge'",
                                             retention_find_expired_runs="Executed 'retention_find_expired'")



def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(NAME, __doc__)
    parser.add_argument("--messages", type=int, default=100_000, help="message documents to seed")
    parser.add_argument("--expired-percent", type=float, default=1.0, help="percentage of them already expired")
    parser.add_argument("--threads", type=int, default=16, help="seeding and clean-up threads")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the sweep")
    args = parser.parse_args(argv)
    if args.messages < 1 or not 0 <= args.expired_percent <= 100 or args.threads < 1:
        parser.error("messages and threads must be >= 1, expired-percent within 0-100")
    quiet_connection_pools()

    began = time.perf_counter()
    result = new_result(NAME, argv, {"messages": args.messages, "expired_percent": args.expired_percent,
                                     "threads": args.threads, "per_mailbox": PER_MAILBOX, "blob_bytes": BLOB_BYTES})
    cleanup: list[Callable[[], None]] = []
    # Written also after a failure (what was measured, and the error), once cleaned up.
    with saved_on_failure(result, began, RESULTS), local_stack():
        try:
            container, blobs = connect()
            measure(args, container, blobs, result, cleanup)
        finally:
            print("cleaning up ...", flush=True)
            for step in cleanup:
                with contextlib.suppress(Exception):
                    step()
    finish(result, began, RESULTS, table(result), f"clean-up: {result.get('cleaned_up')}",
           f"host log: {result['host_log']}")
    return 0 if result["verification"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
