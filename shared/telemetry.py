"""Telemetry: OpenTelemetry to Application Insights when `APPLICATIONINSIGHTS_CONNECTION_STRING` is
set, nothing when it isn't; the service's KPIs as metrics and the spans that tie a deposit to its
transcoding and a sweep to its activities.

In Azure we follow Microsoft's "Use OpenTelemetry with Azure Functions" (Python): host.json sets
`"telemetryMode": "OpenTelemetry"`, the app setting `PYTHON_ENABLE_OPENTELEMETRY=true` has the worker
put each invocation's trace context (the host's request or trigger span) in place before our code
runs, and our code calls `configure_azure_monitor` itself, once per process, so the resource names
the region. `PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY` stays unset: with it the worker would
call `configure_azure_monitor` a second time, which the worker does not support. The component has
local auth disabled: `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` (`ClientId=...;Authorization=AAD`),
read by the exporter itself, signs ingestion in with the managed identity.

Unset, nothing is installed: the instruments below come from the OpenTelemetry API's default
(no-op) providers, so recording costs a function call.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from opentelemetry import metrics, trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.config import Settings
from shared.domain.audio import AudioRejected
from shared.domain.errors import DomainError

logger = logging.getLogger(__name__)
CONNECTION_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
SERVICE_NAME = "voicemail"
REGION = "cloud.region"  # on every span, metric point and log record: App Insights drops resource attributes
TENANT = "voicemail.tenant"  # whose request or mailbox the work is for (shared/domain/tenancy.py), when known
_tenant: ContextVar[str | None] = ContextVar("voicemail_tenant", default=None)
_W3C = TraceContextTextMapPropagator()  # `traceparent`/`tracestate`, as blob metadata and durable inputs carry them
_lock = threading.Lock()
_configured = False


def enabled(env: Mapping[str, str] | None = None) -> bool:
    return bool((os.environ if env is None else env).get(CONNECTION_SETTING, "").strip())


def configure(settings: Settings, env: Mapping[str, str] | None = None) -> bool:
    """Send traces, metrics and logs to Application Insights if the connection string is set.
    Once per process (later calls do nothing); whether telemetry is on. A failure to set it up is
    logged, never raised: the app serves without telemetry rather than not at all."""
    global _configured
    env = os.environ if env is None else env
    if not enabled(env):
        return False
    with _lock:
        if _configured:
            return True
        # Imported here: without the setting, the SDK and its instrumentations are never loaded.
        from azure.monitor.opentelemetry import configure_azure_monitor
        from opentelemetry.sdk.resources import Resource

        # The SDK's HTTP logging policy logs every request at INFO: not telemetry we pay for.
        logging.getLogger("azure").setLevel(logging.WARNING)
        try:
            configure_azure_monitor(
                connection_string=env[CONNECTION_SETTING].strip(),
                resource=Resource.create({"service.name": SERVICE_NAME, "service.version": settings.version,
                                          REGION: settings.region, "cloud.provider": "azure"}),
                span_processors=[region_spans(settings.region)],
                # host.json's samplingSettings do not apply in OpenTelemetry mode: sampled here, so
                # a peak exports a bounded number of traces whatever the request rate.
                traces_per_second=settings.traces_per_second,
            )
        except Exception:
            logger.exception("telemetry not configured: %s is set but Azure Monitor refused it", CONNECTION_SETTING)
            return False
        _label_log_records(settings.region)
        _configured = True
    logger.info("telemetry to Application Insights configured for region %s", settings.region)
    return True


def region_spans(region: str):
    """A span processor that names the region on every span (the exporter keeps span attributes,
    not resource ones), so traces, SDK dependencies included, can be split per region."""
    from opentelemetry.sdk.trace import SpanProcessor  # the SDK only once telemetry is on

    class RegionSpans(SpanProcessor):
        def on_start(self, span, parent_context=None) -> None:
            span.set_attribute(REGION, region)
            tenant = _tenant.get()
            if tenant:
                span.set_attribute(TENANT, tenant)

    return RegionSpans()


def _label_log_records(region: str) -> None:
    """Every record the exporter's handler sends carries the region (as a custom dimension)."""

    def add_region(record: logging.LogRecord) -> bool:
        setattr(record, REGION, region)
        tenant = _tenant.get()
        if tenant:
            setattr(record, TENANT, tenant)
        return True

    for handler in logging.getLogger().handlers:
        if type(handler).__name__ == "LoggingHandler":
            handler.addFilter(add_region)


def in_tenant(tenant: str | None) -> None:
    """Name the tenant on the spans, metric points and log records made from here on in this
    context (a request: the boundary; a mailbox's background work: its step); None: no tenant."""
    _tenant.set(tenant)


def trace_headers() -> dict[str, str]:
    """The current trace context as W3C headers (`traceparent`), or {} when there is none."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier


def _outcome(error: BaseException) -> tuple[str, str]:
    """failed (ours: 5xx, unexpected) or rejected (the caller's: 4xx; audio that can never make a
    message), and the problem type or rejection reason."""
    if isinstance(error, AudioRejected):
        return "rejected", error.reason
    if isinstance(error, DomainError):
        return ("rejected" if error.status < 500 else "failed"), error.type
    return "failed", "internal-error"


class Telemetry:
    """The KPIs and spans the services record. On the global providers by default (no-ops until
    `configure`); tests give their own providers to see what was recorded."""

    def __init__(self, region: str = "", meter_provider: metrics.MeterProvider | None = None,
                 tracer_provider: trace.TracerProvider | None = None):
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(SERVICE_NAME)
        self._tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer(SERVICE_NAME)
        self._region = {REGION: region} if region else {}
        self._deposits = meter.create_counter(
            "voicemail.deposits", "{deposit}", "Deposits (inline and upload links) by outcome")
        self._retrievals = meter.create_counter(
            "voicemail.retrievals", "{retrieval}", "Message audio fetches by outcome and format")
        self._transcode = meter.create_histogram(
            "voicemail.transcode.duration", "s", "Time to decode, check and write the renditions of one original")
        self._sweep_items = meter.create_counter(
            "voicemail.sweep.items", "{item}", "Items the maintenance sweeps examined, deleted, copied or failed on")
        self._journal = meter.create_counter(
            "voicemail.journal", "{record}",
            "Outage journal records: journaled (the database did not answer), replayed, set_aside (with why)")
        self._replication_lag = meter.create_histogram(
            "voicemail.replication.lag", "s", "From a message's receivedAt to its audio landing in another region")
        self._notification_delay = meter.create_histogram(
            "voicemail.notification.delay", "s", "From an event's creation to its delivery to one target")
        self._notifications = meter.create_counter(
            "voicemail.notifications", "{delivery}",
            "Deliveries of an event to one target by outcome: on_time, late (past the SLO's bound), dead")

    def _dims(self) -> dict[str, str]:
        """The region, and the tenant of the work at hand (`in_tenant`): on every span and metric point."""
        tenant = _tenant.get()
        return {**self._region, TENANT: tenant} if tenant else self._region

    # -- spans -----------------------------------------------------------------------------------

    @contextmanager
    def span(self, name: str, carrier: Mapping[str, str] | None = None,
             attributes: Mapping[str, str | int] | None = None) -> Iterator[Span]:
        """A span under the trace in carrier (W3C headers: blob metadata, a durable input), else
        under the current one. With a carrier, the current span (the trigger's) is linked. Only a
        failure of ours marks the span an error and records the exception: a caller's mistake (4xx)
        is an outcome, not an exception row in Application Insights."""
        parent, links = None, []
        if carrier and "traceparent" in carrier:
            parent = _W3C.extract(dict(carrier))
            current = trace.get_current_span().get_span_context()
            if current.is_valid:
                links.append(Link(current))
        with self._tracer.start_as_current_span(name, context=parent, kind=SpanKind.INTERNAL, links=links,
                                                attributes={**self._dims(), **(attributes or {})},
                                                record_exception=False, set_status_on_exception=False) as span:
            try:
                yield span
            except Exception as error:
                outcome, reason = _outcome(error)
                span.set_attributes({"voicemail.outcome": outcome, "voicemail.reason": reason})
                if outcome == "failed":
                    span.record_exception(error)
                    span.set_status(Status(StatusCode.ERROR, reason))
                raise

    # -- KPIs ------------------------------------------------------------------------------------

    @contextmanager
    def _counted(self, counter: metrics.Counter, attributes: dict[str, str]) -> Iterator[None]:
        try:
            yield
        except Exception as error:
            outcome, reason = _outcome(error)
            counter.add(1, {**self._dims(), **attributes, "outcome": outcome, "reason": reason})
            raise
        counter.add(1, {**self._dims(), **attributes, "outcome": "succeeded"})

    def deposit(self, method: str):
        """Around one deposit request (`inline` or `upload`): counts it succeeded, rejected or failed."""
        return self._counted(self._deposits, {"method": method})

    def retrieval(self, audio_format: str):
        """Around one fetch of message audio: counts it succeeded, rejected or failed."""
        return self._counted(self._retrievals, {"format": audio_format})

    @contextmanager
    def transcode(self) -> Iterator[None]:
        """Around one transcoding: a span, and its duration by outcome (succeeded; rejected, with the
        reason the audio can never make a message; failed, with the problem type)."""
        attributes = {**self._dims(), "outcome": "succeeded"}
        started = time.perf_counter()
        with self.span("transcode"):
            try:
                yield
            except Exception as error:
                outcome, reason = _outcome(error)
                attributes.update(outcome=outcome, reason=reason)
                raise
            finally:
                self._transcode.record(time.perf_counter() - started, attributes)

    @contextmanager
    def sweep_step(self, sweep: str, name: str, carrier: Mapping[str, str] | None) -> Iterator[Span]:
        """Around one sweep activity: a span in the sweep's trace; a raise counts as `failed`
        (per attempt: the orchestrator retries an item up to 5 times before skipping it)."""
        with self.span(f"{sweep} sweep: {name}", carrier, {"voicemail.sweep": sweep}) as span:
            try:
                yield span
            except Exception:
                self.sweep_items(sweep, "failed", 1)
                raise

    def sweep_items(self, sweep: str, result: str, count: int) -> None:
        if count:
            self._sweep_items.add(count, {**self._dims(), "sweep": sweep, "result": result})

    def journal(self, event: str, reason: str) -> None:
        """One outage-journal record journaled, replayed or set aside (reason: the kind, or why)."""
        self._journal.add(1, {**self._dims(), "event": event, "reason": reason})

    def notified(self, delay_s: float, event_type: str, target_kind: str, *, delivered: bool, bound_s: float) -> None:
        """One event delivered to one target (webhook, email, sms) `delay_s` after it was due:
        "on_time" within `bound_s` (the SLO's), else "late"; or given up on, "dead" (not timed)."""
        attributes = {**self._dims(), "event_type": event_type, "target_kind": target_kind}
        if delivered:
            self._notification_delay.record(max(0.0, delay_s), attributes)
        outcome = "dead" if not delivered else "on_time" if delay_s <= bound_s else "late"
        self._notifications.add(1, {**attributes, "outcome": outcome})

    def replicated(self, received_at: datetime, landed_at: datetime, target_region: str) -> None:
        """One message's audio landed in target_region: the lag, as a metric and on the current span
        (App Insights keeps only sum, count, min and max of a histogram; percentiles come from spans)."""
        lag = max(0.0, (landed_at - received_at).total_seconds())
        self._replication_lag.record(lag, {**self._dims(), "target_region": target_region})
        trace.get_current_span().set_attribute("voicemail.replication.lag_s", lag)
