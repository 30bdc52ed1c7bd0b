"""Telemetry: nothing installed without the connection string, Azure Monitor configured once with
the region when it is set; the KPIs the services record and one trace from a deposit to its
transcoding, seen through the OpenTelemetry SDK's in-memory reader and exporter."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import azure.monitor.opentelemetry
import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from shared import telemetry
from shared.config import load_settings
from shared.domain import tenancy
from shared.domain.commands import PutMailbox
from shared.domain.errors import MailboxFull, MessageProcessing, Unavailable
from shared.domain.model import MailboxSettings
from shared.domain.principal import PLATFORM
from shared.services.ledger import Ledger
from shared.services.messages import Sender
from shared.services.mwi import Mwi
from shared.services.replication import Regions, ReplicationService
from shared.telemetry import Telemetry
from tests.unit.fakes import FakeAudio, FakeEvents, FakeStore, fake_app, hand_mailboxes
from tests.unit.services.wiring import message_use_cases

SENDER = Sender("+15550001111", "Bob", urgent=False)
ENV = {"REGION": "westeurope", "COSMOS_ENDPOINT": "http://127.0.0.1:1/", "COSMOS_KEY": "k",
       "AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;",
       "PLATFORM_KEY_HASHES": "a" * 64, "TOKEN_SIGNING_KEY": "A" * 44, "PIN_PEPPER": "P" * 44}
CONNECTION = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://example.invalid/"


# -- configure -------------------------------------------------------------------------------------

@pytest.fixture
def azure_monitor_calls(monkeypatch):
    """configure_azure_monitor replaced by a recorder: no SDK pipeline, no network."""
    calls = []
    monkeypatch.setattr(azure.monitor.opentelemetry, "configure_azure_monitor", lambda **kw: calls.append(kw))
    monkeypatch.setattr(telemetry, "_configured", False)
    azure_logger = logging.getLogger("azure")
    level = azure_logger.level
    yield calls
    azure_logger.setLevel(level)


def test_without_the_connection_string_nothing_is_installed(azure_monitor_calls):
    assert telemetry.configure(load_settings(ENV), env=ENV) is False
    assert azure_monitor_calls == []
    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    assert not isinstance(trace.get_tracer_provider(), SdkTracerProvider)
    assert not isinstance(metrics.get_meter_provider(), SdkMeterProvider)
    # The services' instruments are the API's no-ops: recording works and goes nowhere.
    with Telemetry("westeurope").deposit("inline"):
        pass


def test_with_the_connection_string_azure_monitor_is_configured_once_with_the_region(azure_monitor_calls):
    env = {**ENV, "APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION}
    assert telemetry.configure(load_settings(env), env=env) is True
    assert telemetry.configure(load_settings(env), env=env) is True
    assert len(azure_monitor_calls) == 1
    call = azure_monitor_calls[0]
    assert call["connection_string"] == CONNECTION
    attributes = call["resource"].attributes
    assert attributes["service.name"] == "voicemail" and attributes["cloud.region"] == "westeurope"
    assert [type(p).__name__ for p in call["span_processors"]] == ["RegionSpans"]
    assert call["traces_per_second"] == 5.0  # sampled: host.json's sampling is ignored in OpenTelemetry mode


def test_every_span_names_the_region():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(telemetry.region_spans("westeurope"))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("azure.cosmos").start_as_current_span("query items"):
        pass
    [span] = exporter.get_finished_spans()
    assert span.attributes["cloud.region"] == "westeurope"


def test_a_connection_string_azure_monitor_refuses_leaves_the_app_serving(monkeypatch, azure_monitor_calls, caplog):
    def refuse(**kwargs):
        raise ValueError("Invalid instrumentation key")

    monkeypatch.setattr(azure.monitor.opentelemetry, "configure_azure_monitor", refuse)
    env = {**ENV, "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=nonsense"}
    assert telemetry.configure(load_settings(env), env=env) is False
    assert "telemetry not configured" in caplog.text


# -- KPIs and traces, through the services ---------------------------------------------------------

@pytest.fixture
def recorded():
    reader, exporter = InMemoryMetricReader(), InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return reader, exporter, Telemetry("r1", MeterProvider(metric_readers=[reader]), tracer_provider)


def points(reader: InMemoryMetricReader, name: str) -> list:
    data = reader.get_metrics_data()
    return [point for resource in (data.resource_metrics if data else []) for scope in resource.scope_metrics
            for metric in scope.metrics if metric.name == name for point in metric.data.data_points]


def counts(reader: InMemoryMetricReader, name: str) -> dict[tuple, int]:
    return {tuple(sorted(p.attributes.items())): p.value for p in points(reader, name)}


@pytest.fixture
def world(recorded):
    _, _, seen = recorded
    region = fake_app(telemetry=seen)
    region.app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="A", settings=MailboxSettings(maxMessages=3)))
    return {"store": region.store, "audio": region.audio, "messages": region.app.messages,
            "pipeline": region.app.pipeline, "mailboxes": region.app.mailboxes}


def deposit(world, data: bytes = b"hello audio", key: str | None = None) -> str:
    return world["messages"].deposit(PLATFORM, "+1555", data, "audio/wav", SENDER, key)[0]["id"]


def test_deposits_are_counted_by_outcome(world, recorded):
    reader = recorded[0]
    deposit(world)
    world["store"].fail_next["create_message"] = Unavailable("cosmos down")
    with pytest.raises(Unavailable):
        deposit(world, key="k1")
    deposit(world)
    deposit(world)
    with pytest.raises(MailboxFull):
        deposit(world)
    region = ("cloud.region", "r1")
    assert counts(reader, "voicemail.deposits") == {
        (region, ("method", "inline"), ("outcome", "succeeded")): 3,
        (region, ("method", "inline"), ("outcome", "failed"), ("reason", "service-unavailable")): 1,
        (region, ("method", "inline"), ("outcome", "rejected"), ("reason", "mailbox-full")): 1,
    }


def test_retrievals_are_counted_by_outcome_and_format(world, recorded):
    reader = recorded[0]
    message_id = deposit(world)
    world["messages"].audio(PLATFORM, "+1555", message_id, "original", None, False)
    with pytest.raises(MessageProcessing):
        world["messages"].audio(PLATFORM, "+1555", message_id, None, None, False)
    assert counts(reader, "voicemail.retrievals") == {
        (("cloud.region", "r1"), ("format", "original"), ("outcome", "succeeded")): 1,
        (("cloud.region", "r1"), ("format", "default"), ("outcome", "rejected"), ("reason", "message-processing")): 1,
    }


def test_transcoding_records_its_duration_by_outcome(world, recorded):
    reader = recorded[0]
    good, silent = deposit(world), deposit(world, b"silent audio")
    assert world["pipeline"].process(f"incoming/+1555/{good}", b"hello audio") == "ready"
    assert world["pipeline"].process(f"incoming/+1555/{silent}", b"silent audio") == "failed"
    durations = {tuple(sorted(p.attributes.items())): p for p in points(reader, "voicemail.transcode.duration")}
    default = ("voicemail.tenant", "default")  # the blob's path names the mailbox, so its tenant
    ok = durations[(("cloud.region", "r1"), ("outcome", "succeeded"), default)]
    rejected = durations[(("cloud.region", "r1"), ("outcome", "rejected"), ("reason", "silent"), default)]
    assert ok.count == 1 and rejected.count == 1
    assert 0 < ok.sum < 5


def test_the_transcoding_continues_the_deposits_trace_through_the_blob_metadata(world, recorded):
    exporter = recorded[1]
    message_id = deposit(world)
    path = f"incoming/+1555/{message_id}"
    metadata = world["audio"].metadata[path]
    assert metadata["traceparent"].startswith("00-")
    # Another invocation, later: nothing of the deposit's context is current any more.
    assert not trace.get_current_span().get_span_context().is_valid
    world["pipeline"].process(path, world["audio"].blobs[path], metadata)
    spans = {span.name: span for span in exporter.get_finished_spans()}
    deposit_span, processing = spans["deposit"], spans["process incoming audio"]
    assert processing.context.trace_id == deposit_span.context.trace_id
    assert processing.parent.span_id == deposit_span.context.span_id
    assert spans["transcode"].parent.span_id == processing.context.span_id
    assert processing.attributes["voicemail.outcome"] == "ready"


def test_only_our_failures_mark_a_span_as_an_error(world, recorded):
    exporter = recorded[1]
    world["store"].fail_next["create_message"] = Unavailable("cosmos down")
    with pytest.raises(Unavailable):
        deposit(world)
    silent = deposit(world, b"silent")
    deposit(world)
    deposit(world)
    with pytest.raises(MailboxFull):
        deposit(world)
    assert world["pipeline"].process(f"incoming/+1555/{silent}", b"silent") == "failed"
    spans = exporter.get_finished_spans()
    failed = [s for s in spans if s.status.status_code == StatusCode.ERROR]
    assert [(s.name, s.attributes["voicemail.reason"]) for s in failed] == [("deposit", "service-unavailable")]
    assert [e.name for e in failed[0].events] == ["exception"]
    [full] = [s for s in spans if s.attributes.get("voicemail.reason") == "mailbox-full"]
    assert full.attributes["voicemail.outcome"] == "rejected" and not full.events
    [transcode] = [s for s in spans if s.name == "transcode"]
    assert transcode.attributes["voicemail.outcome"] == "rejected" and not transcode.events


def test_without_trace_metadata_the_transcoding_starts_its_own_trace(world, recorded):
    exporter = recorded[1]
    message_id = deposit(world)
    path = f"incoming/+1555/{message_id}"
    world["pipeline"].process(path, world["audio"].blobs[path], {"mailboxId": "+1555"})
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert spans["process incoming audio"].context.trace_id != spans["deposit"].context.trace_id


def test_replication_records_the_lag_from_receipt_to_the_copy(recorded):
    reader, exporter, seen = recorded
    store = FakeStore()
    here, there = FakeAudio(store), FakeAudio(store)
    mwi = Mwi(store, FakeEvents())
    mailboxes = hand_mailboxes(store, mwi, "a")
    mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="A"))
    regions = Regions("a", here, {"b": there})
    messages = message_use_cases(store, here, mailboxes, Ledger(store, "a", None), regions)
    message_id = messages.deposit(PLATFORM, "+1555", b"audio", "audio/wav", SENDER, None)[0]["id"]
    key = ("+1555", message_id)
    received = store.messages[key].received_at - timedelta(seconds=90)
    store.messages[key] = replace(store.messages[key], status="ready", received_at=received)
    assert ReplicationService(store, regions, 2, seen, Ledger(store, "a", None)).replicate("+1555", message_id) == 1
    [lag] = points(reader, "voicemail.replication.lag")
    assert dict(lag.attributes) == {"cloud.region": "r1", "target_region": "b"}
    assert lag.count == 1 and 90 <= lag.sum < 120
    [span] = [s for s in exporter.get_finished_spans() if s.name == "replicate audio"]
    assert 90 <= span.attributes["voicemail.replication.lag_s"] < 120


def test_notifications_are_counted_on_time_late_or_dead_and_their_delay_timed(recorded):
    reader, _, seen = recorded
    seen.notified(12.0, "message.ready", "webhook", delivered=True, bound_s=60)
    seen.notified(75.0, "message.ready", "email", delivered=True, bound_s=60)
    seen.notified(90000.0, "mwi.changed", "sms", delivered=False, bound_s=60)
    outcomes = {dict(key)["target_kind"]: dict(key)["outcome"] for key in counts(reader, "voicemail.notifications")}
    assert outcomes == {"webhook": "on_time", "email": "late", "sms": "dead"}
    delays = points(reader, "voicemail.notification.delay")
    assert sorted(p.sum for p in delays) == [12.0, 75.0]  # the dead one is counted, not timed


def test_a_tenants_work_is_recorded_with_its_tenant(world, recorded):
    """`tenantId` in the telemetry's dimensions, so the health model can be read per tenant: what a
    request under a tenant records, and the background work on its mailbox's audio."""
    reader, exporter, _ = recorded
    acme = tenancy.key("acme", "+1555")
    world["mailboxes"].put(PLATFORM, acme, PutMailbox(displayName="Acme's"))
    telemetry.in_tenant("acme")  # as the boundary does for a request under /api/tenants/acme/
    message_id = world["messages"].deposit(PLATFORM, acme, b"hello audio", "audio/wav", SENDER, None)[0]["id"]
    assert counts(reader, "voicemail.deposits") == {
        (("cloud.region", "r1"), ("method", "inline"), ("outcome", "succeeded"), ("voicemail.tenant", "acme")): 1}
    telemetry.in_tenant(None)  # another invocation: the blob trigger, which finds the tenant in the path
    path = f"incoming/{acme}/{message_id}"
    world["pipeline"].process(path, world["audio"].blobs[path], {})
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert spans["process incoming audio"].attributes["voicemail.tenant"] == "acme"
    assert {p.attributes.get("voicemail.tenant") for p in points(reader, "voicemail.transcode.duration")} == {"acme"}
