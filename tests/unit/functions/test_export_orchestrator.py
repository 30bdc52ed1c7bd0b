"""The export's orchestration stepped as replay drives it (the SDK's testing wrapper), and its timer
against a Durable client that answers as told, on the fake app: every path ends the record
(ready or failed), nothing is started twice, and expired ZIPs are deleted."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import azure.durable_functions as df
import pytest
from azure.durable_functions.testing import orchestrator_generator_wrapper

from functions.provider import APP
from functions.sweeps import exports as export_functions
from functions.sweeps.exports import export_steps, instance_of, start_exports
from shared.domain.commands import PutMailbox
from shared.domain.exports import BUILD_DEADLINE
from shared.domain.model import utcnow
from shared.domain.principal import PLATFORM
from tests.unit.fakes import fake_app
from tests.unit.functions.test_retention_orchestrator import Context  # the fake Durable context

MAILBOX = "+15550001"


def run(context: Context):
    return list(orchestrator_generator_wrapper(export_steps(context)))[-1]


class Client:
    def __init__(self, statuses: dict | None = None):
        self.statuses, self.started = statuses or {}, []

    async def get_status(self, instance):
        runtime = self.statuses.get(instance)
        return SimpleNamespace(runtime_status=runtime)

    async def start_new(self, name, instance, given):
        self.started.append((name, instance, given["mailboxId"], given["exportId"]))
        self.statuses[instance] = df.OrchestrationRuntimeStatus.Running
        return instance


@pytest.fixture
def region():
    region = fake_app()
    region.app.mailboxes.put(PLATFORM, MAILBOX, PutMailbox(displayName="Alice"))
    with APP.override(region.app):
        yield region


def activities(name, payload):
    """The activities themselves, on the fake app."""
    return getattr(export_functions, name)(payload)


def test_the_orchestration_builds_then_marks_ready(region):
    export = region.app.exports.request(PLATFORM, MAILBOX)
    context = Context({"mailboxId": MAILBOX, "exportId": export.id}, activities)
    assert run(context)["status"] == "ready"
    assert [name for name, _ in context.calls] == ["export_write", "export_ready"]
    assert region.app.exports.status(PLATFORM, MAILBOX, export.id)["status"] == "ready"


def test_a_mailbox_gone_before_the_build_ends_failed_at_once_with_the_reason(region):
    export = region.app.exports.request(PLATFORM, MAILBOX)
    region.app.mailboxes.deprovision(PLATFORM, MAILBOX)
    context = Context({"mailboxId": MAILBOX, "exportId": export.id}, activities)
    assert run(context)["status"] == "failed"
    status = region.app.exports.status(PLATFORM, MAILBOX, export.id)
    assert status["status"] == "failed" and status["reason"].startswith("mailbox-not-found")


def test_a_build_that_fails_for_good_after_its_retries_ends_failed(region):
    export = region.app.exports.request(PLATFORM, MAILBOX)

    def storage_down(name, payload):
        if name == "export_write":
            raise RuntimeError("Activity function 'export_write' failed: Unavailable: storage did not answer\nTrace")
        return activities(name, payload)

    assert run(Context({"mailboxId": MAILBOX, "exportId": export.id}, storage_down))["status"] == "failed"
    status = region.app.exports.status(PLATFORM, MAILBOX, export.id)
    assert status["status"] == "failed" and "storage did not answer" in status["reason"]
    assert "Trace" not in status["reason"]


def test_the_timer_starts_each_running_export_once(region):
    first = region.app.exports.request(PLATFORM, MAILBOX)
    second = region.app.exports.request(PLATFORM, MAILBOX)
    client = Client()
    assert asyncio.run(start_exports(client))["started"] == 2
    assert sorted(s[1] for s in client.started) == sorted([instance_of(first.id), instance_of(second.id)])
    assert asyncio.run(start_exports(client))["started"] == 0  # still running: not started again


def test_the_timer_ends_a_build_that_stopped_or_took_too_long(region):
    stopped = region.app.exports.request(PLATFORM, MAILBOX)
    slow = region.app.exports.request(PLATFORM, MAILBOX)
    records = region.ports.exports.records
    records[(MAILBOX, slow.id)] = replace(records[(MAILBOX, slow.id)],
                                          requested_at=utcnow() - BUILD_DEADLINE - timedelta(minutes=1))
    client = Client({instance_of(stopped.id): df.OrchestrationRuntimeStatus.Failed,
                     instance_of(slow.id): df.OrchestrationRuntimeStatus.Running})
    assert asyncio.run(start_exports(client))["failed"] == 2
    assert not client.started
    for export in (stopped, slow):
        assert region.app.exports.status(PLATFORM, MAILBOX, export.id)["status"] == "failed"


def test_the_timer_deletes_expired_zips(region):
    export = region.app.exports.request(PLATFORM, MAILBOX)
    run(Context({"mailboxId": MAILBOX, "exportId": export.id}, activities))
    records = region.ports.exports.records
    records[(MAILBOX, export.id)] = replace(records[(MAILBOX, export.id)], keep_until=utcnow() - timedelta(seconds=1))
    assert asyncio.run(start_exports(Client()))["expired"] == 1
    assert export.path not in region.audio.blobs
    assert region.app.exports.status(PLATFORM, MAILBOX, export.id)["status"] == "expired"
