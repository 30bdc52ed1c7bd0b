"""The audit log: recording never waits on storage, an append that fails loses nothing, a mailbox's
trail is read over every region in time order and in pages, and only the platform reads it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from shared.domain.audit import PLATFORM_STREAM, AuditRecord, actor
from shared.domain.errors import Forbidden, Unavailable, ValidationFailed
from shared.domain.principal import PLATFORM, Principal
from shared.services.audit import AuditLog
from tests.unit.fakes import FakeAuditTrail


def record(at: str, mailbox: str = "+1555", action: str = "get_message", region: str = "r1") -> AuditRecord:
    return AuditRecord.new(at=at, actor="platform:0123456789ab", action=action, target=f"mailboxes/{mailbox}",
                           region=region, client="203.0.113.9", status=200, mailbox_id=mailbox)


@pytest.fixture
def trails():
    return {"r1": FakeAuditTrail(), "r2": FakeAuditTrail()}


def test_a_record_reaches_the_trail_in_the_background_without_the_caller_waiting(trails):
    log = AuditLog(trails, "r1", flush_s=0.05)
    log.record(record("2026-12-07T10:00:00.000000Z"))
    assert trails["r1"].records == []  # nothing written on the caller's time
    deadline = time.monotonic() + 5
    while not trails["r1"].records and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [r.at for r in trails["r1"].records] == ["2026-12-07T10:00:00.000000Z"]


def test_an_append_that_fails_keeps_its_records_for_the_next(trails):
    log = AuditLog(trails, "r1", flush_s=3600)
    trails["r1"].fails = Unavailable("storage down")
    log.record(record("2026-12-07T10:00:00.000000Z"))
    with pytest.raises(Unavailable):
        log.flush()
    log.record(record("2026-12-07T10:00:01.000000Z"))
    trails["r1"].fails = None
    log.flush()
    assert [r.at for r in trails["r1"].records] == ["2026-12-07T10:00:00.000000Z", "2026-12-07T10:00:01.000000Z"]


def test_a_mailbox_trail_merges_every_region_in_time_order_and_pages_without_repeats(trails):
    trails["r2"].records += [record(f"2026-12-07T10:00:{s:02d}.000000Z", region="r2") for s in range(1, 250, 2)]
    log = AuditLog(trails, "r1", flush_s=3600)
    for s in range(0, 250, 2):
        log.record(record(f"2026-12-07T10:00:{s % 60:02d}.{s:06d}Z"))
    log.record(record("2026-12-07T10:00:00.000000Z", mailbox="+1999"))  # another mailbox's
    log.record(record("2026-12-07T10:00:00.000000Z", mailbox=PLATFORM_STREAM, action="start_sweep"))
    seen, continuation = [], None
    while True:
        page = log.query(PLATFORM, "+1555", None, continuation)
        assert len(page["items"]) <= 100
        seen += page["items"]
        continuation = page["continuation"]
        if continuation is None:
            break
    assert len(seen) == 250 and {item["region"] for item in seen} == {"r1", "r2"}
    assert [item["at"] for item in seen] == sorted(item["at"] for item in seen)
    assert all(item["target"] == "mailboxes/+1555" for item in seen)
    assert set(seen[0]) == {"at", "actor", "action", "target", "region", "client", "status"}


def test_since_keeps_what_came_at_or_after_it(trails):
    log = AuditLog(trails, "r1", flush_s=3600)
    for at in ("2026-12-06T23:59:59.999999Z", "2026-12-07T00:00:00.000000Z", "2026-12-07T00:00:00.500000Z"):
        log.record(record(at))
    page = log.query(PLATFORM, "+1555", datetime(2026, 12, 7, 1, 0, tzinfo=UTC).astimezone(), None)
    assert page["items"] == []
    page = log.query(PLATFORM, "+1555", datetime(2026, 12, 7, tzinfo=UTC), None)
    assert [item["at"] for item in page["items"]] == ["2026-12-07T00:00:00.000000Z", "2026-12-07T00:00:00.500000Z"]


def test_only_the_platform_reads_a_trail_and_a_bad_continuation_is_refused(trails):
    log = AuditLog(trails, "r1", flush_s=3600)
    with pytest.raises(Forbidden):
        log.query(Principal("subscriber", "+1555"), "+1555", None, None)
    with pytest.raises(ValidationFailed):
        log.query(PLATFORM, "+1555", None, "not-a-continuation")


def test_a_region_whose_trail_does_not_answer_is_a_503_not_a_shorter_answer(trails):
    trails["r2"].fails = Unavailable("peer storage down")
    with pytest.raises(Unavailable):
        AuditLog(trails, "r1", flush_s=3600).query(PLATFORM, "+1555", None, None)


def test_a_buffer_held_too_long_drops_its_oldest_and_counts_them(trails):
    trails["r1"].fails = Unavailable("storage down")
    log = AuditLog(trails, "r1", flush_s=3600, max_pending=3)
    for s in range(5):
        log.record(record(f"2026-12-07T10:00:0{s}.000000Z"))
    trails["r1"].fails = None
    log.flush()
    assert log.dropped == 2 and [r.at[17:19] for r in trails["r1"].records] == ["02", "03", "04"]


@pytest.mark.parametrize(("principal", "named"), [
    (Principal("platform", key_id="0123456789ab"), "platform:0123456789ab"),  # tenant default's key
    (Principal("platform", key_id="a1b2c3d4e5f6", tenant="acme"), "platform:a1b2c3d4e5f6"),  # a tenant's key
    (Principal("operator", key_id="fedcba987654"), "operator"),
    (Principal("subscriber", mailbox_id="acme~+1555"), "subscriber"),
    (None, "subscriber"),  # a login that named no one
])
def test_actors_are_named_as_the_contract_names_them(principal, named):
    """API.md, "Audit": `actor` is `platform:<keyId>`, `operator` or `subscriber`, for every tenant."""
    assert actor(principal) == named
