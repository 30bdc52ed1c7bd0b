"""Tenants' budgets: requests a second (429 with Retry-After beyond them, one tenant never another's)
and notifications an hour (beyond them: how long to wait, nothing taken); a budget change applies
once the cached budgets expire."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.domain.errors import TooManyRequests
from shared.domain.tenants import Budgets, Tenant
from shared.services.budgets import TenantBudgets
from tests.unit.fakes_tenants import FakeTenants

NOW = datetime(2026, 12, 7, tzinfo=UTC)


@pytest.fixture
def world():
    tenants, now = FakeTenants(), [1000.0]
    for name, budgets in (("acme", Budgets(requestsPerSecond=2, notificationsPerHour=3)), ("beta", None)):
        tenants.tenants[name] = Tenant(name, name, budgets, NOW, NOW)
    return tenants, now, TenantBudgets(tenants, clock=lambda: now[0], cache_s=30)


def test_a_tenant_beyond_its_requests_a_second_gets_429_with_retry_after_and_no_other_tenant_does(world):
    _, now, budgets = world
    budgets.request("acme")
    budgets.request("acme")
    with pytest.raises(TooManyRequests) as refused:
        budgets.request("acme")
    assert refused.value.retry_after_s == 1
    for _ in range(100):  # beta has no budget; default no record
        budgets.request("beta")
        budgets.request("default")
    now[0] += 0.5  # half a second: one more request's worth
    budgets.request("acme")
    with pytest.raises(TooManyRequests):
        budgets.request("acme")


def test_a_budget_change_applies_once_the_cached_budgets_expire(world):
    tenants, now, budgets = world
    budgets.request("beta")
    tenants.tenants["beta"] = Tenant("beta", "beta", Budgets(requestsPerSecond=1), NOW, NOW)
    for _ in range(5):
        budgets.request("beta")  # the budgets read 0 s ago still say none
    now[0] += 30
    budgets.request("beta")
    with pytest.raises(TooManyRequests):
        budgets.request("beta")


def test_notifications_beyond_the_hour_wait_for_room_and_take_nothing_meanwhile(world):
    _, now, budgets = world
    assert budgets.notification_wait("acme", 2) == 0
    now[0] += 600
    assert budgets.notification_wait("acme", 1) == 0
    assert budgets.notification_wait("acme", 1) == pytest.approx(3000)  # the first two leave at 3600 s
    assert budgets.notification_wait("acme", 2) == pytest.approx(3000)
    now[0] += 3000
    assert budgets.notification_wait("acme", 2) == 0  # the first two left: room for two
    assert budgets.notification_wait("beta", 10_000) == 0  # no budget


def test_an_event_with_more_targets_than_the_hour_holds_goes_alone_in_an_empty_hour(world):
    _, now, budgets = world
    assert budgets.notification_wait("acme", 5) == 0  # alone: it goes (its targets are not split)
    assert budgets.notification_wait("acme", 1) == pytest.approx(3600)
    now[0] += 3600
    assert budgets.notification_wait("acme", 1) == 0
