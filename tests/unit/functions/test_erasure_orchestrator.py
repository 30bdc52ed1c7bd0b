"""The erasure orchestrator stepped through its generator (the SDK's testing wrapper), its activities
answered by a region's real ErasureService on fakes: every page of every target, then the documents,
then the region's record."""

from __future__ import annotations

from azure.durable_functions.testing import orchestrator_generator_wrapper

from functions.erasure import erasure_steps
from shared.domain.commands import PutMailbox
from shared.domain.erasure import BLOB_PAGE
from shared.domain.principal import PLATFORM
from tests.unit.fakes import fake_app
from tests.unit.functions.test_retention_orchestrator import Context


def activities_of(app):
    service = app.erasure
    steps = {
        "erasure_plan": lambda p: service.plan(p["mailboxId"]),
        "erasure_blobs": lambda p: service.erase_blobs(p["mailboxId"], p["target"], p["marker"]),
        "erasure_documents": lambda p: service.erase_documents(p["mailboxId"]),
        "erasure_finish": lambda p: service.finish(p["mailboxId"], p["requestedAt"], p["blobs"], p["documents"]),
    }
    return lambda name, payload: steps[name](payload)


def test_the_orchestration_pages_through_every_blob_and_records_what_it_removed():
    region = fake_app("a")
    region.app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="A"))
    count = BLOB_PAGE * 2 + 3  # three pages of renditions nobody recorded
    for i in range(count):
        region.audio.blobs[f"audio/+1555/m{i:04}/mp3"] = b"x"
    region.app.mailboxes.deprovision(PLATFORM, "+1555")
    [job] = region.app.erasure.pending()
    context = Context(job, activities_of(region.app))
    result = list(orchestrator_generator_wrapper(erasure_steps(context)))[-1]
    assert result == {"blobs": count, "documents": 0}
    assert [name for name, _ in context.calls].count("erasure_blobs") >= 3
    assert region.audio.blobs == {}
    status = region.app.erasure.status(PLATFORM, "+1555")
    assert status["status"] == "done" and status["removed"] == {"blobs": count, "documents": 0}
    assert region.app.erasure.pending() == []  # the timer starts nothing more
