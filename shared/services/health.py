"""Readiness: dependency checks in parallel, each bounded by a timeout, the result cached briefly.

Front Door and Traffic Manager probe every instance every few seconds; the cache keeps that load
off the dependencies, and the timeout keeps a stalled dependency from stalling the probe (a probe
that hangs is worse than one that says 503). A check that is still hanging from an earlier round
is not started again: it counts as failed until it returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from shared.ports import DependencyProbe

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    duration_ms: int
    error: str | None = None
    facts: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"status": "ok" if self.ok else "failed", "durationMs": self.duration_ms}
        if self.error:
            body["error"] = self.error
        return body


@dataclass(frozen=True)
class Readiness:
    region: str
    checks: dict[str, CheckResult]
    drained: bool
    checked_at: float

    @property
    def ready(self) -> bool:
        return not self.drained and all(check.ok for check in self.checks.values())

    @property
    def failed(self) -> list[str]:
        return [name for name, check in self.checks.items() if not check.ok]

    @property
    def deposits(self) -> str:
        """What a deposit here meets now: `stored`; `journaled` (only the database fails: the outage
        journal in blob storage takes it, services/journal.py); or `refused` (503)."""
        if not self.failed:
            return "stored"
        return "journaled" if self.failed == ["cosmos"] and "blob" in self.checks else "refused"

    def as_dict(self) -> dict[str, object]:
        return {
            "status": "ready" if self.ready else "unavailable",
            "region": self.region,
            "drained": self.drained,
            "deposits": self.deposits,
            "checks": {name: check.as_dict() for name, check in self.checks.items()},
        }


def _describe(error: BaseException) -> str:
    """A short, safe description for an anonymous caller: the kind of failure, no internals."""
    status = getattr(error, "status_code", None)
    return f"{type(error).__name__}" + (f" (HTTP {status})" if status else "")


class ReadinessService:
    def __init__(self, region: str, probes: Sequence[DependencyProbe], *, timeout_s: float, cache_s: float,
                 drained: Callable[[], bool] = lambda: False, clock: Callable[[], float] = time.monotonic):
        self._region = region
        self._probes = list(probes)
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._drained = drained
        self._clock = clock
        # One worker per probe plus room for probes still hanging from an earlier round.
        self._pool = ThreadPoolExecutor(max_workers=2 * len(self._probes) + 2, thread_name_prefix="readiness")
        self._refresh = threading.Lock()
        self._pending: dict[str, Future[CheckResult]] = {}
        self._last: Readiness | None = None

    def check(self) -> Readiness:
        """The current readiness: cached for `cache_s`, else re-checked within `timeout_s`."""
        last = self._last
        if last is not None and self._clock() - last.checked_at < self._cache_s:
            return last
        # Concurrent callers wait for one refresh rather than each starting the checks.
        if not self._refresh.acquire(timeout=self._timeout_s + 1):
            return self._last or self._unknown()
        try:
            last = self._last
            if last is not None and self._clock() - last.checked_at < self._cache_s:
                return last
            self._last = self._run_checks()
            return self._last
        finally:
            self._refresh.release()

    def _unknown(self) -> Readiness:
        result = CheckResult(ok=False, duration_ms=0, error="not checked yet")
        return Readiness(self._region, {p.name: result for p in self._probes}, self._drained(), self._clock())

    def _timed(self, probe: DependencyProbe) -> CheckResult:
        started = self._clock()
        try:
            facts = probe.check()
        except Exception as error:  # noqa: BLE001 - any failure of a dependency means not ready
            logger.warning("readiness check %s failed: %r", probe.name, error)
            return CheckResult(ok=False, duration_ms=self._ms_since(started), error=_describe(error))
        return CheckResult(ok=True, duration_ms=self._ms_since(started), facts=facts)

    def _run_checks(self) -> Readiness:
        started = self._clock()
        futures: dict[str, Future[CheckResult]] = {}
        results: dict[str, CheckResult] = {}
        for probe in self._probes:
            still_running = self._pending.get(probe.name)
            if still_running is not None and not still_running.done():
                results[probe.name] = CheckResult(ok=False, duration_ms=0, error="previous check still pending")
                continue
            futures[probe.name] = self._pending[probe.name] = self._pool.submit(self._timed, probe)
        done, _ = wait(futures.values(), timeout=self._timeout_s)
        for name, future in futures.items():
            results[name] = future.result() if future in done else CheckResult(
                ok=False, duration_ms=self._ms_since(started), error=f"timed out after {self._timeout_s:g} s")
        drained = self._drained() or any(bool(r.facts.get("drained")) for r in results.values())
        readiness = Readiness(self._region, {p.name: results[p.name] for p in self._probes}, drained, self._clock())
        if not readiness.ready:
            logger.warning("not ready: failed=%s drained=%s", readiness.failed, drained)
        return readiness

    def _ms_since(self, started: float) -> int:
        return int((self._clock() - started) * 1000)


def not_configured(region: str | None, problem: str, clock: Callable[[], float] = time.monotonic) -> Readiness:
    """Readiness while a setting is missing, malformed or unresolved: one failed `config` check whose
    error names the setting (never its value), so the probe's 503 says what to fix."""
    return Readiness(region or "unknown", {"config": CheckResult(ok=False, duration_ms=0, error=problem)},
                     drained=False, checked_at=clock())
