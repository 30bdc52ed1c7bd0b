"""The per-client limiter under a flood of keys: memory stays bounded and nobody's count resets."""

from __future__ import annotations

import pytest

from shared.services.rate import EvictedCounts, SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_spraying_200k_forged_keys_resets_no_one_and_memory_stays_bounded():
    clock = Clock()
    window = SlidingWindow(30, 60.0, clock=clock, max_keys=10_000)
    assert all(window.wait("203.0.113.7") == 0 for _ in range(30))
    for i in range(200_000):
        window.wait(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}")
        assert i % 50_000 or window.keys_held <= 10_000
    assert window.keys_held <= 10_000
    assert window.wait("203.0.113.7") > 0  # pushed out and back: still at its limit
    clock.now += 75
    assert window.wait("203.0.113.7") == 0  # its window (and one sketch bucket) over: a new budget


def test_an_evicted_key_never_exceeds_its_limit_within_the_window():
    clock = Clock()
    window = SlidingWindow(5, 60.0, clock=clock, max_keys=3)
    allowed = 0
    for round_ in range(20):
        allowed += window.wait("hot") == 0
        for other in range(5):  # more keys than the table holds: "hot" leaves every round
            window.wait(f"spray-{round_}-{other}")
        clock.now += 1
    assert allowed == 5


def test_expired_keys_leave_first_and_for_free():
    clock = Clock()
    window = SlidingWindow(2, 60.0, clock=clock, max_keys=2)
    window.wait("old")
    clock.now += 61
    window.wait("live")
    window.wait("live")
    window.wait("new")  # takes the expired key's place
    assert window.wait("live") > 0
    assert window.wait("old") == 0


@pytest.mark.parametrize("events", [1, 7, 30])
def test_the_sketch_never_undercounts(events):
    sketch = EvictedCounts(60.0, width=64, depth=2)
    for i in range(events):
        sketch.add("key", 1000.0 + i, 1000.0 + i)
    for noise in range(500):
        sketch.add(f"noise-{noise}", 1010.0, 1010.0)
    count, wait = sketch.estimate("key", 1040.0)
    assert count >= events and 0 < wait <= 75
    assert sketch.estimate("key", 1000.0 + 200)[0] == 0  # all gone after the window


def test_a_client_under_30_a_minute_is_never_refused_at_the_contracts_rate():
    clock = Clock()
    window = SlidingWindow(60, 60.0, clock=clock, max_keys=1)  # every other key evicts it
    for minute in range(5):
        for _ in range(30):
            assert window.wait("steady") == 0
            window.wait(f"other-{minute}-{clock.now}")
            clock.now += 2
