"""Trace context through the thin adapters: the blob trigger hands the blob's metadata to the
pipeline; a sweep starter puts its trace in the orchestration's input; an activity continues the
trace it is given and counts its items."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import azure.functions as func
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from functions import incoming
from functions.provider import APP
from functions.sweeps import common, replication
from shared.telemetry import Telemetry

TRACE_ID, PARENT_ID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture
def recorded():
    reader, exporter = InMemoryMetricReader(), InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return reader, exporter, Telemetry("fn1", MeterProvider(metric_readers=[reader]), tracer_provider)


def sweep_items(reader: InMemoryMetricReader) -> dict[tuple, int]:
    data = reader.get_metrics_data()
    return {tuple(sorted(p.attributes.items())): p.value for r in data.resource_metrics for s in r.scope_metrics
            for m in s.metrics if m.name == "voicemail.sweep.items" for p in m.data.data_points}


def test_the_blob_trigger_hands_the_blobs_metadata_to_the_pipeline():
    calls = []

    class Pipeline:
        def process(self, name, data, trace=None, size=None):
            calls.append((name, size, data(), trace))  # the size first; the bytes only when read
            return "ready"

    metadata = {"mailboxId": "+1555", "messageId": "m1", "traceparent": TRACEPARENT}
    blob = func.blob.InputStream(data=b"audio", name="incoming/+1555/m1", length=5, metadata=metadata)
    with APP.override(SimpleNamespace(pipeline=Pipeline())):
        incoming.incoming_audio.build().get_user_function()(blob)
    assert calls == [("incoming/+1555/m1", 5, b"audio", metadata)]


def test_a_sweep_starter_puts_its_trace_in_the_orchestrations_input(recorded):
    _, exporter, seen = recorded
    started = []

    class Client:
        async def get_status(self, instance):
            return None

        async def start_new(self, name, instance, given):
            started.append((name, instance, given))

    app = SimpleNamespace(settings=SimpleNamespace(region="fn1"), telemetry=seen)
    with APP.override(app):
        assert asyncio.run(common.start_singleton(Client(), "replication")) == "replication-fn1"
    [(name, instance, given)] = started
    assert (name, instance) == ("replication_sweep", "replication-fn1")
    [span] = exporter.get_finished_spans()
    assert span.name == "start replication sweep"
    assert given["trace"]["traceparent"].startswith(f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-")


def test_a_sweep_activity_continues_the_sweeps_trace_and_counts_its_items(recorded):
    reader, exporter, seen = recorded
    copies = iter([1, RuntimeError("peer storage down")])

    def replicate(mailbox_id, message_id):
        result = next(copies)
        if isinstance(result, Exception):
            raise result
        return result

    copy = replication.replication_copy.build().get_user_function()
    item = {"id": "m1", "mailboxId": "+1555", "trace": {"traceparent": TRACEPARENT}}
    with APP.override(SimpleNamespace(telemetry=seen, replication=SimpleNamespace(replicate=replicate))):
        assert copy(item) == 1
        with pytest.raises(RuntimeError):
            copy(item)
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["replication sweep: copy"] * 2
    assert all(f"{s.context.trace_id:032x}" == TRACE_ID and f"{s.parent.span_id:016x}" == PARENT_ID for s in spans)
    assert sweep_items(reader) == {
        (("cloud.region", "fn1"), ("result", "copied"), ("sweep", "replication")): 1,
        (("cloud.region", "fn1"), ("result", "failed"), ("sweep", "replication")): 1,
    }
