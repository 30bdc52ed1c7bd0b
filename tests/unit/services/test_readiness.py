import threading
import time

from shared.services.health import ReadinessService


class Probe:
    def __init__(self, name, behaviour=None):
        self.name = name
        self.calls = 0
        self.behaviour = behaviour or (lambda: {})

    def check(self):
        self.calls += 1
        return self.behaviour()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def service(*probes, timeout=0.5, cache=5.0, clock=time.monotonic, drained=lambda: False):
    return ReadinessService("r1", probes, timeout_s=timeout, cache_s=cache, clock=clock, drained=drained)


def test_ready_when_every_check_passes():
    readiness = service(Probe("cosmos"), Probe("blob")).check()
    assert readiness.ready
    assert readiness.as_dict()["status"] == "ready"
    assert set(readiness.as_dict()["checks"]) == {"cosmos", "blob"}


def test_a_failing_check_names_itself_without_internals():
    def fail():
        raise ConnectionError("secret connection string in here")

    readiness = service(Probe("cosmos", fail), Probe("blob")).check()
    assert not readiness.ready
    assert readiness.failed == ["cosmos"]
    body = readiness.as_dict()
    assert body["status"] == "unavailable"
    assert body["checks"]["cosmos"]["error"] == "ConnectionError"
    assert "secret" not in str(body)


def test_a_hanging_check_fails_within_the_timeout_and_is_not_started_twice():
    release = threading.Event()
    hanging = Probe("cosmos", lambda: release.wait(10) and {})
    readiness_service = service(hanging, Probe("blob"), timeout=0.3, cache=1)
    started = time.monotonic()
    first = readiness_service.check()
    assert time.monotonic() - started < 1.0
    assert first.failed == ["cosmos"] and "timed out" in first.checks["cosmos"].error
    time.sleep(1.05)  # past the cache period
    second = readiness_service.check()
    assert second.checks["cosmos"].error == "previous check still pending"
    assert hanging.calls == 1
    release.set()
    time.sleep(1.05)
    assert readiness_service.check().ready
    assert hanging.calls == 2


def test_results_are_cached_for_the_cache_period():
    clock = Clock()
    probe = Probe("cosmos")
    readiness_service = service(probe, clock=clock, cache=5)
    readiness_service.check()
    clock.now += 4.9
    readiness_service.check()
    assert probe.calls == 1
    clock.now += 0.2
    readiness_service.check()
    assert probe.calls == 2


def test_drained_by_setting_or_by_a_probe_fact():
    assert not service(Probe("blob"), drained=lambda: True).check().ready
    drained_by_blob = service(Probe("blob", lambda: {"drained": True})).check()
    assert not drained_by_blob.ready
    assert drained_by_blob.drained
    assert drained_by_blob.failed == []


def test_readiness_says_what_a_deposit_meets():
    def fail():
        raise ConnectionError("down")

    assert service(Probe("cosmos"), Probe("blob")).check().as_dict()["deposits"] == "stored"
    # only the database down: not ready (reads cannot be served), but deposits go to the journal
    only_database = service(Probe("cosmos", fail), Probe("blob")).check()
    assert not only_database.ready and only_database.as_dict()["deposits"] == "journaled"
    assert service(Probe("cosmos", fail), Probe("blob", fail)).check().as_dict()["deposits"] == "refused"
    assert service(Probe("cosmos"), Probe("blob", fail)).check().as_dict()["deposits"] == "refused"
