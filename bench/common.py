"""The harness the benchmarks share: the command line, the record of a run and where it is written,
the emulators and hosts they start, timing and percentiles, tables and verdicts.

Each benchmark (`python -m bench.<name>`) tells its own story with these pieces:

    parser = argument_parser(NAME, __doc__)         # `python -m bench.NAME`, its docstring as --help
    began = time.perf_counter()
    result = new_result(NAME, argv, config)         # command, time, machine, commit, configuration
    with saved_on_failure(result, began, RESULTS), local_stack():
        ...                                         # start hosts (running_host), measure, fill result
    finish(result, began, RESULTS, table(result))   # write the JSON, print the table and where it went

The local host and its settings come from `devstack/hosting.py`, which the test rings use too: the
benchmarks import nothing from the test packages.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack import localstack
from devstack.hosting import PLATFORM_KEY, HostProcess, free_port, product_env, random_name

if TYPE_CHECKING:  # the Azure SDKs load only in the benchmarks that talk to the emulators
    from azure.cosmos import ContainerProxy
    from azure.storage.blob import BlobServiceClient

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"  # git-ignored
PLATFORM = {"x-api-key": PLATFORM_KEY}  # the platform key every host started here accepts
DATABASE, CONTAINER = "voicemail", "mailboxes"  # the app's Cosmos database and container


# -- the command line and the record of a run ----------------------------------------------------

def results_path(name: str) -> Path:
    return RESULTS_DIR / f"{name}.json"


def argument_parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    """`python -m bench.<name>`, its module docstring as the help text."""
    return argparse.ArgumentParser(prog=f"python -m bench.{name}", description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def quiet_connection_pools() -> None:
    """urllib3's pool-size chatter, which the SDKs' many threads would print on both sides."""
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)


def git_state() -> dict[str, Any]:
    """The commit measured, and whether the tree had changes on top of it."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def new_result(name: str, argv: list[str] | None, config: dict[str, Any], **context: Any) -> dict[str, Any]:
    """The head of a run's record: the command, when, the machine, any context (tool versions, say),
    the commit measured and the configuration."""
    return {
        "command": " ".join([f"python -m bench.{name}", *(argv if argv is not None else sys.argv[1:])]),
        "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_before": [round(x, 2) for x in os.getloadavg()]},
        **context,
        "git": git_state(),
        "config": config,
    }


def save_results(result: dict[str, Any], began: float, path: Path) -> None:
    """Close a run's figures (load after it, total runtime) and write them to path as JSON."""
    result["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["total_runtime_s"] = round(time.perf_counter() - began, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


@contextlib.contextmanager
def saved_on_failure(result: dict[str, Any], began: float, path: Path) -> Iterator[None]:
    """A run that fails (or is interrupted) still writes what it measured, with the error."""
    try:
        yield
    except BaseException as error:
        result["error"] = f"{type(error).__name__}: {error}"
        save_results(result, began, path)
        raise


def finish(result: dict[str, Any], began: float, path: Path, *blocks: str) -> None:
    """Write the record, then print the blocks (a table, verdicts, ...) and where it went."""
    save_results(result, began, path)
    print()
    for block in blocks:
        print(block)
    print(f"written to {path.relative_to(ROOT)} in {result['total_runtime_s']:.0f} s")


# -- emulators -----------------------------------------------------------------------------------

@contextlib.contextmanager
def local_stack() -> Iterator[list[localstack.Service]]:
    """The shared local stack (devstack/localstack.py): started where it does not answer, and only what
    was started here is stopped afterwards."""
    print("Local stack:", flush=True)
    started = localstack.up(localstack.default_services())
    try:
        yield started
    finally:
        localstack.down(started)


class OwnEmulators:
    """A Cosmos emulator and an Azurite of this run only, on free ports, with data in a temporary
    folder: emulators others use are left alone, and nobody else's traffic reaches these."""

    def __init__(self, prefix: str):
        self.data = Path(tempfile.mkdtemp(prefix=prefix))
        self.services: list[localstack.Service] = []
        self.cosmos_port = 0
        self.storage_ports: tuple[int, int, int] = (0, 0, 0)

    def start(self) -> OwnEmulators:
        self.cosmos_port = free_port()
        self.storage_ports = (free_port(), free_port(), free_port())
        for service in (localstack.cosmos(self.cosmos_port, name=random_name("benchcosmos")),
                        localstack.azurite(self.data / "azurite", self.storage_ports, random_name("benchazurite"))):
            localstack.start(service)
            self.services.append(service)
            for endpoint in service.endpoints:
                print(f"  {service.name:20} {endpoint}  [started, pid {service.process.pid}]", flush=True)
        return self

    def stop(self) -> None:
        for service in reversed(self.services):
            localstack.stop(service)
        shutil.rmtree(self.data, ignore_errors=True)


def cosmos_container(port: int = localstack.COSMOS_PORT, *, create: bool = True, **options: Any) -> ContainerProxy:
    """The app's container on a Cosmos emulator (made when create and missing); options go to CosmosClient."""
    from azure.cosmos import CosmosClient, PartitionKey

    cosmos = CosmosClient(localstack.cosmos_endpoint(port), credential=localstack.COSMOS_KEY,
                          enable_endpoint_discovery=False, **options)
    if not create:
        return cosmos.get_database_client(DATABASE).get_container_client(CONTAINER)
    database = cosmos.create_database_if_not_exists(DATABASE)
    return database.create_container_if_not_exists(CONTAINER, partition_key=PartitionKey(path="/mailboxId"))


def blob_service(*containers: str, **options: Any) -> BlobServiceClient:
    """The shared Azurite's first account, with the named containers made where missing."""
    from azure.storage.blob import BlobServiceClient

    blobs = BlobServiceClient.from_connection_string(localstack.storage_connection_string(), **options)
    create_blob_containers(blobs, containers)
    return blobs


def create_blob_containers(blobs: BlobServiceClient, names: Iterable[str]) -> None:
    """Make blob containers (a region's own, say) where missing."""
    from azure.core.exceptions import ResourceExistsError

    for name in names:
        with contextlib.suppress(ResourceExistsError):
            blobs.create_container(name)


def delete_queue(name: str) -> bool:
    """Delete a queue of the shared Azurite; False when it was not there."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.queue import QueueClient

    try:
        QueueClient.from_connection_string(localstack.storage_connection_string(), name).delete_queue()
    except ResourceNotFoundError:
        return False
    return True


def delete_blob_containers(blobs: BlobServiceClient, names: Iterable[str]) -> list[str]:
    """Delete blob containers (a region's own, say); the names of those that were there."""
    from azure.core.exceptions import ResourceNotFoundError

    deleted = []
    for name in names:
        with contextlib.suppress(ResourceNotFoundError):
            blobs.delete_container(name)
            deleted.append(name)
    return deleted


# -- hosts ---------------------------------------------------------------------------------------

def host_env(region: str, disabled: Iterable[str] = (), **overrides: str) -> dict[str, str]:
    """One local region's settings (devstack.hosting.product_env) with the named functions disabled."""
    return product_env(region, **{f"AzureWebJobs.{name}.Disabled": "true" for name in disabled}, **overrides)


@contextlib.contextmanager
def running_host(env: dict[str, str], timeout: float = 30.0) -> Iterator[HostProcess]:
    """The product on the local host (a free port), stopped on leaving; its log stays readable."""
    host = HostProcess(env).start(timeout=timeout)
    try:
        yield host
    finally:
        host.stop()


def announce(host: HostProcess, region: str, **details: Any) -> None:
    more = "".join(f"{name.replace('_', ' ')} {value}, " for name, value in details.items())
    print(f"  host {host.base_url} (region {region}, {more}log {host.log_path})", flush=True)


def log_summary(host: HostProcess, **counted: str) -> dict[str, Any]:
    """A host log's path, lines and ERROR lines, and how often each counted text stands in it."""
    text = host.log()
    return {"path": str(host.log_path), "lines": text.count("\n"),
            "errors": sum(" ERROR " in line for line in text.splitlines()),
            **{name: text.count(needle) for name, needle in counted.items()}}


# -- timing and figures --------------------------------------------------------------------------

def timings(action: Callable[[], object], repeats: int, clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """How long each of repeats runs of action took, by clock (wall time unless told)."""
    samples = []
    for _ in range(repeats):
        before = clock()
        action()
        samples.append(clock() - before)
    return samples


def median_ms(action: Callable[[], object], repeats: int) -> float:
    """The (upper) median wall time of action, in milliseconds to one decimal."""
    samples = sorted(timings(action, repeats))
    return round(samples[len(samples) // 2] * 1000, 1)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of values in seconds, in milliseconds (NaN when there are none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] * 1000


def latency_summary(values: Sequence[float], quantiles: Iterable[int] = (50, 99),
                    extremes: bool = False) -> dict[str, Any]:
    """Count, percentiles and mean (and min and max when extremes) of latencies in seconds, in ms."""
    summary: dict[str, Any] = {"count": len(values)}
    summary.update({f"p{q}_ms": round(percentile(values, q), 1) for q in quantiles})
    summary["mean_ms"] = round(sum(values) / len(values) * 1000, 1) if values else None
    if extremes:
        summary["min_ms"] = round(min(values) * 1000, 1) if values else None
        summary["max_ms"] = round(max(values) * 1000, 1) if values else None
    return summary


def ratio(numerator: float, denominator: float, digits: int = 3) -> float:
    return round(numerator / denominator, digits) if denominator else 0.0


def verdict(value: float, goal: float, at_least: bool = True) -> str:
    """Whether value meets a goal of >= goal (or <= goal)."""
    return "meets" if (value >= goal if at_least else value <= goal) else "misses"


def aligned(rows: Sequence[Sequence[str]], left: int = 1, rule: bool = False) -> str:
    """Rows as columns two spaces apart: the first `left` columns left-aligned, the rest right-aligned;
    with rule, a line of dashes under the first row."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) if i < left else cell.rjust(width)
                       for i, (cell, width) in enumerate(zip(row, widths, strict=True))).rstrip() for row in rows]
    if rule:
        lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
