"""The client's failover and retry rules, against scripted endpoints (httpx.MockTransport) and a
fake clock: which region gets each attempt, how long it waits, and which requests are repeated."""

from __future__ import annotations

import random

import httpx
import pytest
from voicemail_client import ApiError, Endpoints, RetryPolicy, Unavailable, VoicemailClient

from tests.unit.fakes import FakeClock as Clock

A, B = "http://a.test/api", "http://b.test/api"


class Script:
    """Per endpoint host, a list of what to answer in turn (the last one repeats)."""

    def __init__(self, **answers: list):
        self.answers = answers
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        queue = self.answers[request.url.host.split(".")[0]]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        body = {"id": "m1", "mailboxId": "+15550001"} if status < 300 else {"type": f"t{status}", "title": "x"}
        return httpx.Response(status, json=body, headers=headers)

    def hosts(self) -> list[str]:
        return [request.url.host[0] for request in self.seen]


def client(script: Script, clock: Clock, probe=None, **policy) -> VoicemailClient:
    endpoints = Endpoints([A, B], probe=probe or (lambda url: (False, None, "down")), clock=clock,
                          rng=random.Random(1), probe_interval=None)  # failures only: periodic probes tested apart
    return VoicemailClient(endpoints, api_key="k", policy=RetryPolicy(**policy), rng=random.Random(2),
                           transport=httpx.MockTransport(script), sleep=clock.sleep, clock=clock)


def connect_error() -> httpx.ConnectError:
    return httpx.ConnectError("refused")


def test_a_refused_connection_moves_the_deposit_to_the_other_region_at_once_with_the_same_key():
    clock, script = Clock(), Script(a=[connect_error()], b=[202])
    vm = client(script, clock)
    assert vm.deposit("+15550001", b"RIFF....", "audio/wav")["id"] == "m1"
    assert script.hosts() == ["a", "b"]
    assert clock.slept == [0.0]  # another region: no back-off
    keys = {request.headers["idempotency-key"] for request in script.seen}
    assert len(keys) == 1 and keys != {""}
    # a is quarantined now: the next deposit goes straight to b, with a key of its own
    vm.deposit("+15550001", b"RIFF....", "audio/wav")
    assert script.hosts() == ["a", "b", "b"]
    assert script.seen[2].headers["idempotency-key"] not in keys
    assert (vm.stats.calls, vm.stats.retries, vm.stats.failovers) == (2, 1, 1)


def test_retry_after_is_honoured_when_no_other_region_is_open():
    clock, script = Clock(), Script(a=[(503, {"Retry-After": "3"}), 202], b=[(503, {"Retry-After": "10"}), 202])
    vm = client(script, clock)
    vm.deposit("+15550001", b"x", "audio/wav")
    assert script.hosts() == ["a", "b", "a"]
    assert clock.slept[0] == 0.0  # a → b at once
    assert 3.0 <= sum(clock.slept) < 10.0  # then a again (open first), not before its Retry-After


def test_attempts_are_bounded_and_the_last_problem_is_what_the_caller_sees():
    clock, script = Clock(), Script(a=[503], b=[503])
    vm = client(script, clock, max_attempts=4)
    with pytest.raises(ApiError) as raised:
        vm.deposit("+15550001", b"x", "audio/wav")
    assert raised.value.status == 503 and raised.value.type == "t503"
    assert len(script.seen) == 4 and vm.stats.unavailable == 1
    # every wait is bounded by the back-off cap or the quarantine
    assert all(wait <= 30.0 for wait in clock.slept)


def test_when_nothing_answers_the_client_gives_up_within_its_deadline():
    clock, script = Clock(), Script(a=[connect_error()], b=[httpx.ConnectTimeout("slow")])
    vm = client(script, clock, max_attempts=50, deadline=20.0)
    start = clock.now
    with pytest.raises(Unavailable) as raised:
        vm.get_message("+15550001", "m1")
    assert clock.now - start <= 20.0
    assert {attempt.outcome for attempt in raised.value.attempts} == {"ConnectError", "ConnectTimeout"}


def test_a_request_that_may_have_arrived_is_repeated_only_when_it_is_idempotent():
    clock = Clock()
    timeout = httpx.ReadTimeout("no answer")
    forward = Script(a=[timeout], b=[202])
    vm = client(forward, clock)
    with pytest.raises(Unavailable):  # POST without an Idempotency-Key: might have been done
        vm.request("POST", "/mailboxes/%2B15550001/messages/m1/forward", json={"to": "+15550002"})
    assert forward.hosts() == ["a"]
    deposit = Script(a=[timeout], b=[202])
    client(deposit, clock).deposit("+15550001", b"x", "audio/wav")  # has a key: safe anywhere
    assert deposit.hosts() == ["a", "b"]


def test_a_refusal_is_not_retried_and_carries_the_problem():
    clock, script = Clock(), Script(a=[409], b=[202])
    with pytest.raises(ApiError) as raised:
        client(script, clock).deposit("+15550001", b"x", "audio/wav")
    assert raised.value.status == 409 and script.hosts() == ["a"]


def test_a_region_comes_back_after_its_quarantine_only_once_a_probe_says_ready():
    clock, script = Clock(), Script(a=[connect_error(), 200], b=[200])
    probes: list[str] = []
    ready = {"a": False}

    def probe(url):
        probes.append(url)
        return ready["a"], None, None if ready["a"] else "down"

    vm = client(script, clock, probe=probe)
    vm.get_message("+15550001", "m1")
    assert script.hosts() == ["a", "b"]
    clock.now += 60  # quarantine over: a is suspect, b known healthy → stay on b, probe a
    vm.get_message("+15550001", "m1")
    assert script.hosts()[-1] == "b"
    wait_for(lambda: vm.endpoints.snapshot()[0].failures == 2)  # the probe said: still down
    assert probes == [A]
    ready["a"] = True
    clock.now += 60
    vm.get_message("+15550001", "m1")  # this one kicks off a probe that succeeds
    wait_for(lambda: vm.endpoints.snapshot()[0].healthy)
    vm.get_message("+15550001", "m1")
    assert script.hosts()[-1] == "a"  # the preferred region again


def wait_for(predicate, tries: int = 200):
    import time

    for _ in range(tries):
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached")


def test_a_failed_readiness_probe_sets_the_quarantine_from_retry_after():
    clock = Clock()
    endpoints = Endpoints([A, B], probe=lambda url: (url == B, 7.0 if url == A else None, "503"), clock=clock)
    endpoints.probe_all()
    assert endpoints.choose() == (B, 0.0)
    state = endpoints.snapshot()[0]
    assert state.healthy is False and state.quarantined_until - clock.now >= 7.0


def test_every_endpoint_is_probed_now_and_then_so_a_drained_region_loses_its_traffic():
    clock = Clock()
    ready = {A: True, B: True}
    probed: list[str] = []

    def probe(url):
        probed.append(url)
        return ready[url], 5.0 if not ready[url] else None, None if ready[url] else "ready probe answered 503"

    endpoints = Endpoints([A, B], probe=probe, clock=clock, probe_interval=30.0)
    endpoints.succeeded(A)
    assert endpoints.choose() == (A, 0.0) and probed == []  # not before the interval
    ready[A] = False  # an operator drains region a: requests would still work there
    clock.now += 31
    endpoints.choose()  # kicks off the periodic probe of every endpoint
    wait_for(lambda: sorted(probed) == [A, B] and endpoints.snapshot()[0].healthy is False)
    assert endpoints.choose() == (B, 0.0)


def test_a_purge_whose_answer_was_lost_is_done_when_the_retry_finds_nothing():
    clock = Clock()
    script = Script(a=[httpx.ReadTimeout("answer lost")], b=[404])
    vm = client(script, clock)
    vm.delete("+15550001", "m1", purge=True)  # no error: the first attempt purged it
    assert script.hosts() == ["a", "b"] and vm.stats.answered == {B: 1}
    with pytest.raises(ApiError):  # a first-attempt 404 is a real one
        client(Script(a=[404], b=[404]), clock).delete("+15550001", "m2", purge=True)
