"""tools/release.py's rules that need no host: it never drains the last region serving, and a
step that fails stops the release before the next stamp is touched."""

from __future__ import annotations

import pytest

from tools import release
from tools.release import Plan, Release, ReleaseError, Stamp

A, B = Stamp("a", "http://a/api"), Stamp("b", "http://b/api")


def plan(**overrides) -> Plan:
    return Plan([A, B], drain="drain {region}", undrain="undrain {region}", deploy="deploy {region}",
                build="b1", router_wait_s=0, ready_timeout_s=0.5, poll_s=0.01, **overrides)


def test_the_last_region_serving_is_never_drained(monkeypatch):
    monkeypatch.setattr(release, "ready", lambda stamp: stamp is A)  # b is down
    ran = []
    with pytest.raises(ReleaseError, match="a: not drained: it is the only region serving"):
        Release(plan(), run=lambda argv: ran.append(argv) or 0).drain(A)
    assert ran == []


def test_a_region_whose_readiness_blinks_does_not_stop_the_release(monkeypatch):
    """b misses one probe (busy), then answers: a is drained once b serves, not refused."""
    answers = iter([False, False, True])
    ran = []
    monkeypatch.setattr(release, "ready", lambda stamp: not ran if stamp is A else next(answers, True))
    Release(plan(), run=lambda argv: ran.append(argv) or 0).drain(A)
    assert ran == [["drain", "a"]]


def test_a_failed_drain_stops_before_anything_else(monkeypatch):
    monkeypatch.setattr(release, "ready", lambda stamp: True)
    ran = []
    with pytest.raises(ReleaseError, match="a: drain failed"):
        Release(plan(), run=lambda argv: ran.append(argv) or 1).roll()
    assert ran == [["drain", "a"]]  # b untouched, nothing deployed
