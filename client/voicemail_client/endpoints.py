"""Which regional endpoints are worth a request now: known healthy, unknown, or quarantined.

An endpoint that fails (connection error, timeout, 5xx, 429, a readiness probe answering other
than 200) is quarantined for a while that doubles with each failure in a row (with jitter, so a
crowd of clients does not come back at the same instant) and is at least its `Retry-After`. When
the quarantine ends it is *suspect*: while another endpoint is known healthy, requests stay there
and a readiness probe decides (in the background, one at a time); with none known healthy, the
next request is the trial. A success or a good probe makes an endpoint healthy again.

Every `probe_interval` seconds (in the background, while requests flow) every endpoint is probed,
so a region an operator drained (readiness 503, requests still served) stops getting this
client's traffic as it stops getting Front Door's.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

READY_PATH = "/health/ready"


@dataclass
class EndpointState:
    url: str
    healthy: bool | None = None  # None: never tried
    failures: int = 0  # in a row
    quarantined_until: float = 0.0
    last_problem: str | None = None


class Endpoints:
    def __init__(self, urls: list[str], quarantine_base: float = 2.0, quarantine_cap: float = 30.0,
                 probe: Callable[[str], tuple[bool, float | None, str | None]] | None = None,
                 clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None,
                 probe_interval: float | None = 30.0):
        if not urls:
            raise ValueError("at least one endpoint is needed")
        self._states = [EndpointState(url.rstrip("/")) for url in dict.fromkeys(urls)]
        self._base, self._cap = quarantine_base, quarantine_cap
        self._probe = probe
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._lock = threading.Lock()
        self._probing: set[str] = set()
        self._probe_interval = probe_interval
        self._next_sweep = clock() + (probe_interval or 0.0)

    @property
    def urls(self) -> list[str]:
        return [state.url for state in self._states]

    def snapshot(self) -> list[EndpointState]:
        with self._lock:
            return [EndpointState(**vars(state)) for state in self._states]

    def choose(self, avoid: str | None = None) -> tuple[str, float]:
        """The endpoint for the next attempt and how long to wait before it (0 unless all are quarantined).

        Preference: known healthy, then untried, then suspect (quarantine over), each in the
        configured order; `avoid` (the endpoint that just failed) goes last among equals.
        """
        now = self._clock()
        with self._lock:
            open_ = [s for s in self._states if s.quarantined_until <= now]
            suspects = [s for s in open_ if s.healthy is False]
            healthy = [s for s in open_ if s.healthy]
            if self._probe_interval and now >= self._next_sweep:
                self._next_sweep = now + self._probe_interval
                self._probe_later(open_)  # not the quarantined: a ready probe must not cut a Retry-After short
            elif healthy and suspects:
                self._probe_later(suspects)
            for group in (healthy, [s for s in open_ if s.healthy is None], suspects):
                if group:
                    best = min(group, key=lambda s: s.url == avoid)  # the first in configured order otherwise
                    return best.url, 0.0
            soonest = min(self._states, key=lambda s: (s.quarantined_until, s.url == avoid))
            return soonest.url, max(0.0, soonest.quarantined_until - now)

    def succeeded(self, url: str) -> None:
        with self._lock:
            state = self._state(url)
            state.healthy, state.failures, state.quarantined_until, state.last_problem = True, 0, 0.0, None

    def failed(self, url: str, problem: str, retry_after: float | None = None) -> None:
        with self._lock:
            state = self._state(url)
            state.failures += 1
            backoff = min(self._cap, self._base * 2 ** (state.failures - 1))
            backoff *= 0.5 + self._rng.random() / 2  # "equal jitter": between half and all of it
            state.healthy = False
            state.quarantined_until = self._clock() + max(backoff, retry_after or 0.0)
            state.last_problem = problem

    def probe_all(self) -> None:
        """Probe every endpoint now (in parallel) and record what each answered."""
        threads = [threading.Thread(target=self._run_probe, args=(url,), daemon=True) for url in self.urls]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _state(self, url: str) -> EndpointState:
        for state in self._states:
            if state.url == url:
                return state
        raise KeyError(url)

    def _probe_later(self, suspects: list[EndpointState]) -> None:
        if self._probe is None:
            return
        for state in suspects:
            if state.url not in self._probing:
                self._probing.add(state.url)
                threading.Thread(target=self._run_probe, args=(state.url,), daemon=True).start()

    def _run_probe(self, url: str) -> None:
        try:
            ok, retry_after, problem = (self._probe or http_probe)(url)
        finally:
            with self._lock:
                self._probing.discard(url)
        if ok:
            self.succeeded(url)
        else:
            self.failed(url, problem or "not ready", retry_after)


def http_probe(url: str, timeout: float = 2.0,
               http: httpx.Client | None = None) -> tuple[bool, float | None, str | None]:
    """GET {url}/health/ready: (ready?, Retry-After seconds, what was wrong), on `http`'s pooled
    connections when given (the client's own), else on a one-off connection."""
    try:
        response = (http or httpx).get(f"{url}{READY_PATH}", timeout=timeout)
    except httpx.HTTPError as error:
        return False, None, type(error).__name__
    if response.status_code == 200:
        return True, None, None
    return False, retry_after_seconds(response), f"ready probe answered {response.status_code}"


def retry_after_seconds(response: httpx.Response, cap: float = 60.0) -> float | None:
    """The response's Retry-After in seconds (delta form; an HTTP date is read too), capped."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return min(cap, max(0.0, float(value)))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return min(cap, max(0.0, parsedate_to_datetime(value).timestamp() - time.time()))
        except (TypeError, ValueError):
            return None
