"""The retention orchestrator stepped through its generator, as replay would drive it (the SDK's
testing wrapper), against a fake context whose activities answer from a script."""

from __future__ import annotations

from datetime import datetime

import pytest
from azure.durable_functions.testing import orchestrator_generator_wrapper

from functions.provider import APP
from functions.sweeps.replication import replication_steps
from functions.sweeps.retention import retention_steps
from shared.domain.sweeps import BATCH, PAGES_PER_EXECUTION


class Task:
    def __init__(self, value=None, error: Exception | None = None):
        self._value, self._error = value, error

    @property
    def result(self):
        if self._error is not None:
            raise self._error
        return self._value


class Context:
    def __init__(self, given: dict, activities):
        self._input = given
        self.activities = activities  # (name, input) -> value, or raises
        self.calls: list[tuple[str, object]] = []
        self.custom_status = None
        self.continued_with = None
        self.current_utc_datetime = datetime(2026, 11, 27, 3, 0, 0)

    def get_input(self):
        return self._input

    def call_activity_with_retry(self, name, retry, payload):
        self.calls.append((name, payload))
        try:
            return Task(self.activities(name, payload))
        except Exception as error:
            return Task(error=error)

    def task_all(self, tasks):
        results = []
        for task in tasks:
            try:
                results.append(task.result)
            except Exception as error:
                return Task(error=error)
        return Task(results)

    def set_custom_status(self, status):
        self.custom_status = status

    def continue_as_new(self, payload):
        self.continued_with = payload


def run(context: Context):
    steps = list(orchestrator_generator_wrapper(retention_steps(context)))
    return steps[-1]


def expired_items(n: int) -> list[dict]:
    return [{"id": f"m{i}", "mailboxId": "+1555", "type": "message"} for i in range(n)]


def test_a_small_sweep_purges_then_looks_for_orphans_and_reports_totals():
    published = []

    def activities(name, payload):
        if name == "retention_classes":
            return 2  # mailboxes of classes whose retention changed: their messages' expiry derived again
        if name == "retention_find_expired":
            return expired_items(3)
        if name == "retention_purge":
            return {"deleted": 1, "countsChanged": payload["mailboxId"]}
        if name == "retention_publish_counts":
            published.append(payload)
            return None
        if name == "retention_orphans":
            return None if payload["container"] >= 2 else {"examined": 4, "deleted": 1, "marker": None}
        raise AssertionError(name)

    context = Context({}, activities)
    output = run(context)
    assert output["examined"] == 3 and output["deleted"] == 3 and output["failed"] == 0
    assert output["blobsExamined"] == 8 and output["orphansDeleted"] == 2 and output["classMailboxes"] == 2
    assert context.calls[0] == ("retention_classes", {"trace": {}})  # first, so the cut-off sees their expiry
    assert context.calls[1] == ("retention_find_expired",
                                {"before": "2026-11-27T03:00:00.000000Z", "limit": BATCH, "exclude": [],
                                 "trace": {}})
    assert context.custom_status["phase"] == "done"
    assert published == [["+1555"]]  # one MWI publication per mailbox per page, not per deletion


def test_a_full_page_continues_as_new_with_the_same_cut_off_and_totals():
    context = Context({}, lambda name, payload: expired_items(BATCH) if name == "retention_find_expired"
                      else {"deleted": 1, "countsChanged": None})
    assert run(context) is None
    assert context.continued_with["before"] == "2026-11-27T03:00:00.000000Z"
    assert context.continued_with["totals"]["deleted"] == BATCH
    assert context.continued_with["phase"] == "expired"


TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def test_the_starters_trace_context_reaches_every_activity_and_the_next_execution():
    context = Context({"trace": TRACE}, lambda name, payload: expired_items(BATCH) if name == "retention_find_expired"
                      else 0 if name == "retention_classes" else {"deleted": 1, "countsChanged": None})
    assert run(context) is None
    traced = [payload for name, payload in context.calls if name != "retention_publish_counts"]
    assert len(traced) == 2 + BATCH and all(payload["trace"] == TRACE for payload in traced)
    assert context.continued_with["trace"] == TRACE
    orphans = Context({"before": "2026-11-27T03:00:00.000000Z", "phase": "orphans", "trace": TRACE},
                      lambda name, payload: {"examined": 1, "deleted": 0, "marker": "next"})
    run(orphans)
    assert orphans.calls[0][1]["trace"] == TRACE and orphans.continued_with["trace"] == TRACE


def test_an_item_that_keeps_failing_is_counted_and_excluded_from_later_pages():
    def activities(name, payload):
        if name == "retention_find_expired":
            return expired_items(3)
        if name == "retention_purge":
            if payload["id"] == "m1":
                raise RuntimeError("storage keeps failing")
            return {"deleted": 1, "countsChanged": None}
        return None

    context = Context({}, activities)
    output = run(context)
    assert output["failed"] == 1 and output["deleted"] == 2


def test_excluded_ids_travel_into_the_next_execution():
    given = {"before": "2026-11-27T03:00:00.000000Z", "phase": "expired", "failedIds": ["m9"],
             "totals": {"examined": 100, "deleted": 99, "failed": 1}}
    context = Context(given, lambda name, payload: [] if name == "retention_find_expired" else None)
    output = run(context)
    assert context.calls[0][1]["exclude"] == ["m9"]
    assert output["examined"] == 100 and output["failed"] == 1


def test_orphan_pages_continue_as_new_after_a_bounded_number():
    context = Context({"before": "2026-11-27T03:00:00.000000Z", "phase": "orphans", "container": 0, "marker": None},
                      lambda name, payload: {"examined": 100, "deleted": 0, "marker": "next"})
    assert run(context) is None
    assert len(context.calls) == PAGES_PER_EXECUTION
    assert context.continued_with["marker"] == "next" and context.continued_with["phase"] == "orphans"


@pytest.mark.parametrize("phase", ["expired", "orphans"])
def test_the_orchestrator_reads_no_clock_but_the_context(phase):
    class NoIo:
        def __getattr__(self, name):
            pytest.fail("the orchestrator must do no I/O")

    context = Context({"phase": phase, "before": "2026-11-27T03:00:00.000000Z"},
                      lambda name, payload: [] if name == "retention_find_expired" else None)
    with APP.override(NoIo()):
        run(context)


def test_replication_copies_each_under_replicated_message_and_continues_on_full_pages():
    pages = iter([[{"id": f"m{i}", "mailboxId": "+1555"} for i in range(BATCH)]])

    def activities(name, payload):
        if name == "replication_find":
            return next(pages, [])
        if name == "replication_copy":
            return 1
        raise AssertionError(name)

    def activities_and_takeover(name, payload):
        if name == "replication_find_stalled":
            assert payload["after"] is None
            return [{"id": "s1", "mailboxId": "+1666", "receivedAt": "2026-11-27T01:00:00Z"},
                    {"id": "s2", "mailboxId": "+1666", "receivedAt": "2026-11-27T01:00:01Z"}]
        if name == "replication_take_over":
            return 1 if payload["id"] == "s1" else 0  # s2: finished by its own region meanwhile
        return activities(name, payload)

    context = Context({}, activities_and_takeover)
    steps = list(orchestrator_generator_wrapper(replication_steps(context)))
    assert steps[-1] is None and context.continued_with["totals"]["copied"] == BATCH
    context = Context(context.continued_with, activities_and_takeover)  # the short page ends the copying
    list(orchestrator_generator_wrapper(replication_steps(context)))
    assert context.continued_with["phase"] == "takeover"
    context = Context(context.continued_with, activities_and_takeover)
    output = list(orchestrator_generator_wrapper(replication_steps(context)))[-1]
    assert output["copied"] == BATCH and output["takenOver"] == 1 and output["examined"] == BATCH + 2
    assert output["failed"] == 0


def test_a_page_retried_one_by_one_refreshes_the_counts_of_all_its_mailboxes():
    published, first_pass = [], {"done": False}

    def activities(name, payload):
        if name == "retention_find_expired":
            return [{"id": "a1", "mailboxId": "+1555", "type": "message"},
                    {"id": "b1", "mailboxId": "+1666", "type": "message"}]
        if name == "retention_purge":
            if payload["id"] == "b1" and not first_pass["done"]:
                first_pass["done"] = True
                raise RuntimeError("transient, but past its retries")
            return {"deleted": 0, "countsChanged": None}  # as on the second pass: already gone
        if name == "retention_publish_counts":
            published.append(payload)
        return None

    run(Context({}, activities))
    assert published == [["+1555", "+1666"]]


def test_the_takeover_pages_on_from_the_last_message_it_saw():
    """A message taken over stays `processing` until this region transcodes it: the next page must
    start after it, or a full page would be found again and again."""
    page = [{"id": f"s{i}", "mailboxId": "+1666", "receivedAt": f"2026-11-27T01:00:{i:02d}.000000Z"}
            for i in range(BATCH)]
    asked = []

    def activities(name, payload):
        if name == "replication_find_stalled":
            asked.append(payload["after"])
            return page if payload["after"] is None else []
        if name == "replication_take_over":
            return 1
        raise AssertionError(name)

    context = Context({"phase": "takeover"}, activities)
    list(orchestrator_generator_wrapper(replication_steps(context)))
    assert context.continued_with["after"] == page[-1]["receivedAt"]
    output = list(orchestrator_generator_wrapper(replication_steps(Context(context.continued_with, activities))))[-1]
    assert asked == [None, page[-1]["receivedAt"]] and output["takenOver"] == BATCH
