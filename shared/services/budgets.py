"""Tenants' budgets (API.md, "Budgets"): `requestsPerSecond` and `notificationsPerHour`, so no tenant
uses up the others' share of a deployment.

- Requests: a token bucket per tenant (its rate, a second's worth of burst), taken at the boundary
  (functions/table.py) once the principal is known to be the tenant's: beyond it 429
  `too-many-requests` with `Retry-After`. The operator's calls are not the tenant's.
- Notifications: a sliding hour per tenant, taken by the dispatcher per delivery to one target
  (shared/services/notifications.py); beyond it the event waits (its due time moves to when the hour
  has room) and is delivered then: delayed, never dropped.

Both are kept per process: a region's instances each enforce the whole budget, so a tenant may reach
it once per instance serving it. That bounds what one tenant can take from its neighbours on an
instance, which is what the budget is for; a deployment-wide count would cost a database write per
request. A tenant's budgets are read at most every `BUDGETS_CACHE_S` (a change applies within it).
Tenant `default` has budgets only when the operator gives it a record.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from shared.domain.errors import TooManyRequests
from shared.domain.tenants import Budgets
from shared.ports import TenantRepository

BUDGETS_CACHE_S = 30.0
HOUR_S = 3600.0


class TenantBudgets:
    def __init__(self, tenants: TenantRepository, clock: Callable[[], float] = time.monotonic,
                 cache_s: float = BUDGETS_CACHE_S):
        self._tenants = tenants
        self._clock = clock
        self._cache_s = cache_s
        self._lock = threading.Lock()
        self._budgets: dict[str, tuple[float, Budgets | None]] = {}
        self._buckets: dict[str, tuple[float, float]] = {}  # tenant: (tokens, at)
        self._sent: dict[str, deque[float]] = {}  # tenant: deliveries over the last hour

    def budgets(self, tenant: str) -> Budgets | None:
        now = self._clock()
        with self._lock:
            cached = self._budgets.get(tenant)
        if cached is not None and now - cached[0] < self._cache_s:
            return cached[1]
        found = self._tenants.get_tenant(tenant)
        budgets = found.budgets if found is not None else None
        with self._lock:
            self._budgets[tenant] = (now, budgets)
        return budgets

    def request(self, tenant: str) -> None:
        """Take one request of the tenant's budget; 429 with Retry-After when there is none left."""
        budgets = self.budgets(tenant)
        rate = budgets.requestsPerSecond if budgets else None
        if rate is None:
            return
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(tenant, (float(rate), now))
            tokens = min(float(rate), tokens + (now - at) * rate)
            if tokens < 1.0:
                self._buckets[tenant] = (tokens, now)
                wait = (1.0 - tokens) / rate
                raise TooManyRequests(f"tenant {tenant} is over its {rate} requests a second",
                                      retry_after_s=max(1, math.ceil(wait)))
            self._buckets[tenant] = (tokens - 1.0, now)

    def notification_wait(self, tenant: str, deliveries: int) -> float:
        """Take `deliveries` notifications of the tenant's hour: 0 when they fit, else the seconds
        until they would (nothing taken)."""
        budgets = self.budgets(tenant)
        per_hour = budgets.notificationsPerHour if budgets else None
        if per_hour is None or deliveries <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            sent = self._sent.setdefault(tenant, deque())
            while sent and sent[0] <= now - HOUR_S:
                sent.popleft()
            if sent and len(sent) + deliveries > per_hour:
                # An event's targets go together: one with more than an hour holds waits for an empty hour.
                leaving = sent[-1] if deliveries >= per_hour else sent[len(sent) + deliveries - per_hour - 1]
                return max(0.001, leaving + HOUR_S - now)
            sent.extend([now] * deliveries)
            return 0.0
