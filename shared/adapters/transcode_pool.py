"""The Transcoder port over `audio_codec.transcode`: a pool of worker processes, one per core the
process may use (its CPU affinity and its container's CPU quota: a Flex Consumption instance sees
the host's cores in `os.cpu_count()` but is given one or two of them).

PyAV holds the GIL while it encodes, so threads would transcode one message at a time; processes
transcode side by side on every core, whatever thread or host calls.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import threading
import time
from pathlib import Path

from shared.adapters.audio_codec import transcode
from shared.domain.audio import AudioLimits, Transcoded

logger = logging.getLogger(__name__)
PARENT_CHECK_S = 1.0  # how often a transcoding worker checks that its parent still runs


CGROUP = Path("/sys/fs/cgroup")


def usable_cpus(cgroup: Path = CGROUP) -> int:
    """Cores this process may use: its affinity, bounded by the cgroup's CPU quota (v2 `cpu.max`,
    or v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`) rounded up; at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota, period = -1.0, 0.0
    try:
        if (cgroup / "cpu.max").exists():
            limit, _, span = (cgroup / "cpu.max").read_text().strip().partition(" ")
            quota, period = (-1.0 if limit == "max" else float(limit)), float(span or 100000)
        elif (cgroup / "cpu" / "cpu.cfs_quota_us").exists():
            quota = float((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
            period = float((cgroup / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):  # unreadable: the affinity alone
        quota = -1.0
    if quota > 0 and period > 0:
        cores = min(cores, -(-int(quota) // int(period)))
    return max(1, cores)


def _warm() -> None:
    """A worker's first task: import the codec libraries before any message waits on them."""


def _timed(source: Path, out_dir: Path, limits: AudioLimits, content_type: str | None,
           renditions: tuple[str, ...] | None) -> tuple[float, float, Transcoded]:
    """`transcode` in a worker, with when it began and ended there (wall clock, for the log)."""
    began = time.time()
    result = transcode(source, out_dir, limits, content_type, renditions)
    return began, time.time(), result


def _exit_with(parent: int) -> None:
    """A worker's initializer: end this worker when its parent is gone (killed, or stopped without
    closing the pool), so no orphan is left holding memory."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class PyAvTranscoder:
    """The Transcoder port: `transcode` in a pool of `workers` processes (default: one per usable core), so
    messages transcode side by side on every core whatever thread or host calls. The pool is made on
    first use (spawned: the caller's threads and SDK clients stay out of the workers); a worker that
    dies is replaced with the whole pool, and that transcode raises, so the trigger retries it."""

    def __init__(self, workers: int | None = None):
        self._workers = workers or usable_cpus()
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    self._workers, mp_context=multiprocessing.get_context("spawn"), initializer=_exit_with,
                    initargs=(os.getpid(),))
                for _ in range(self._workers):
                    self._pool.submit(_warm)
            return self._pool

    def transcode(self, source: Path, out_dir: Path, limits: AudioLimits, content_type: str | None = None,
                  renditions: tuple[str, ...] | None = None) -> Transcoded:
        pool = self._executor()
        submitted = time.time()
        try:
            began, ended, result = pool.submit(_timed, source, out_dir, limits, content_type, renditions).result()
        except concurrent.futures.process.BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        # Where a message's time went: waiting for a free worker, then in it (the timeline of bench.pipeline_e2e).
        logger.info("transcoded in a worker: submitted %.3f, began %.3f, ended %.3f, back %.3f",
                    submitted, began, ended, time.time())
        return result

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
