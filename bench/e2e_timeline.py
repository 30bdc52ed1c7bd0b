"""Where each message of `bench.pipeline_e2e` spent its time, from the client's clock and the host's log.

Per message: the deposit sent and acknowledged (client), the blob found by the trigger
(`localhost.blobs: 'incoming_audio': found ...`), each firing of the trigger and how it ended (a
firing before the document exists fails with NotYetStored and is retried after a back-off), the
transcode's wait for a free worker and its time in it (`transcoded in a worker: ...`, the worker's
own clock), and `ready` written (`functions.incoming: ...: ready`). All on the machine's wall
clock (`time.time()`; the log's times are local time, as `time.localtime` gives them).

Then the gaps: how long the transcoding workers were all busy, partly busy and idle between the
first deposit and the last `ready`.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (\w+) \[(\S+) (\S+)\] (\S+): (.*)$")
FUNCTION = "incoming_audio"


@dataclass
class Trace:
    """One message's path through the pipeline (seconds, wall clock)."""

    sent: float = 0.0
    ack: float = 0.0
    found: list[float] = field(default_factory=list)
    fired: list[float] = field(default_factory=list)  # every firing, failed ones included
    failed: list[tuple[float, str]] = field(default_factory=list)
    document_wait: float = 0.0  # how long a firing waited for the document (audio before it)
    submitted: float | None = None
    began: float | None = None
    ended: float | None = None
    back: float | None = None
    ready: float | None = None


def _when(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


class _Reader:
    """The host's log, line by line, into the traces."""

    def __init__(self, container: str, traces: dict[str, Trace]):
        self.traces = traces
        self.path = re.compile(re.escape(container) + r"/[^/\s]+/([0-9a-f]{32})")
        self.executing: dict[str, float] = {}  # invocation id → when it began
        self.in_worker: dict[str, list[float]] = {}  # invocation id → submitted, began, ended, back
        self.failed: tuple[str, float] | None = None  # a failed firing, awaiting its traceback's message id

    def trace(self, text: str) -> Trace | None:
        found = self.path.search(text)
        return self.traces.get(found.group(1)) if found else None

    def trace_id(self, text: str) -> Trace | None:
        found = re.search(r"/([0-9a-f]{32}): ", text)
        return self.traces.get(found.group(1)) if found else None

    def traceback(self, raw: str) -> None:
        found = re.search(r"no document yet for [^/\s]+/([0-9a-f]{32})", raw)
        if self.failed is not None and found:
            trace = self.traces.get(found.group(1))
            if trace is not None:
                trace.fired.append(self.executing.get(self.failed[0], self.failed[1]))
                trace.failed.append((self.failed[1], "NotYetStored"))
            self.failed = None

    def line(self, at: float, invocation: str, name: str, text: str) -> None:
        if name == "localhost.invoker" and text.startswith(f"Executing '{FUNCTION}'"):
            self.executing[invocation] = at
        elif name == "localhost.invoker" and text.startswith(f"Executed '{FUNCTION}' (Failed"):
            self.failed = (invocation, at)
        elif name == "localhost.blobs" and "': found " in text and (trace := self.trace(text)):
            trace.found.append(at)
        elif name == "shared.services.pipeline" and ": document found " in text and (trace := self.trace_id(text)):
            trace.document_wait += float(re.search(r"found (\d+\.\d+) s", text).group(1))
        elif name.endswith("transcode_pool") and text.startswith("transcoded in a worker"):
            self.in_worker[invocation] = [float(x) for x in re.findall(r"\d+\.\d+", text)][:4]
        elif name == "functions.incoming" and (trace := self.trace(text)):  # the outcome, same invocation
            if invocation in self.in_worker:
                trace.submitted, trace.began, trace.ended, trace.back = self.in_worker.pop(invocation)
            trace.fired.append(self.executing.get(invocation, at))
            if text.endswith(": ready"):
                trace.ready = at


def parse(log: str, container: str, deposits: dict[str, tuple[float, float]]) -> dict[str, Trace]:
    """The traces of the messages deposited (id → (sent, acknowledged)), from the host's log."""
    traces = {message_id: Trace(sent=sent, ack=ack) for message_id, (sent, ack) in deposits.items()}
    reader = _Reader(container, traces)
    for raw in log.splitlines():
        match = LINE.match(raw)
        if match is None:  # a traceback line: which message a failed firing was for
            reader.traceback(raw)
            continue
        stamp, _, _, invocation, name, text = match.groups()
        reader.line(_when(stamp), invocation, name, text)
    for trace in traces.values():
        trace.fired.sort()
    return traces


def busy(traces: dict[str, Trace], start: float, end: float, workers: int) -> dict[str, float]:
    """Seconds, between start and end, in which 0, 1, ... `workers` transcodes ran at once."""
    edges = []
    for trace in traces.values():
        if trace.began is not None and trace.ended is not None and trace.began < end and trace.ended > start:
            edges += [(max(trace.began, start), 1), (min(trace.ended, end), -1)]
    edges.sort()
    spans = dict.fromkeys(range(workers + 1), 0.0)
    level, at = 0, start
    for when, step in edges:
        spans[min(level, workers)] += max(0.0, when - at)
        level, at = level + step, max(at, when)
    spans[min(level, workers)] += max(0.0, end - at)
    return {f"{n} busy": round(s, 3) for n, s in spans.items()}


def summarise(traces: dict[str, Trace], workers: int) -> dict[str, Any]:
    """The figures the run records: per message (relative to the first deposit) and the gaps."""
    t0 = min(t.sent for t in traces.values())
    end = max((t.ready or t.ack) for t in traces.values())

    def rel(value: float | None) -> float | None:
        return None if value is None else round(value - t0, 3)

    rows = {}
    for message_id, t in sorted(traces.items(), key=lambda item: item[1].sent):
        rows[message_id] = {"sent": rel(t.sent), "ack": rel(t.ack), "found": [rel(x) for x in t.found],
                            "fired": [rel(x) for x in t.fired], "failed": [rel(x) for x, _ in t.failed],
                            "submitted": rel(t.submitted), "began": rel(t.began), "ended": rel(t.ended),
                            "back": rel(t.back), "ready": rel(t.ready), "document_wait": round(t.document_wait, 3)}

    def median(values: list[float]) -> float | None:
        return round(statistics.median(values), 3) if values else None

    done = [t for t in traces.values() if t.ready is not None and t.began is not None and t.found]
    phases = {
        "ack to found (trigger latency)": median([t.found[0] - t.ack for t in done]),
        "found to first firing": median([t.fired[0] - t.found[0] for t in done if t.fired]),
        "firing failures (NotYetStored)": sum(len(t.failed) for t in traces.values()),
        "firings that waited for their document": sum(t.document_wait > 0 for t in traces.values()),
        "longest such wait": round(max(t.document_wait for t in traces.values()), 3),
        "first firing to the successful one": median([t.fired[-1] - t.fired[0] for t in done if t.fired]),
        "successful firing to submitted": median([t.submitted - t.fired[-1] for t in done
                                                  if t.fired and t.submitted]),
        "waiting for a worker": median([t.began - t.submitted for t in done if t.submitted]),
        "in a worker": median([t.ended - t.began for t in done if t.ended]),
        "worker to ready written": median([t.ready - t.ended for t in done if t.ended]),
    }
    firsts = [t.began for t in traces.values() if t.began is not None]
    return {"t0": t0, "product_wall_s": round(end - t0, 3), "messages": rows, "phase_medians_s": phases,
            "deposits_done_s": rel(max(t.ack for t in traces.values())),
            "first_transcode_began_s": rel(min(firsts)) if firsts else None,
            "workers": busy(traces, t0, end, workers)}


def render(summary: dict[str, Any]) -> str:
    """A table a person reads: one line a message (seconds from the first deposit), then the gaps."""
    def cell(value: Any) -> str:
        if isinstance(value, list):
            return ",".join(cell(v) for v in value) or "-"
        return "-" if value is None else f"{value:.2f}"

    heads = ["sent", "ack", "found", "fired", "failed", "document_wait", "submitted", "began", "ended", "ready"]
    lines = ["timeline (s from the first deposit): " + "  ".join(heads)]
    for message_id, row in summary["messages"].items():
        lines.append(f"  {message_id[:8]}  " + "  ".join(f"{h}={cell(row[h])}" for h in heads))
    lines.append("phase medians (s): " + "; ".join(f"{k} {v}" for k, v in summary["phase_medians_s"].items()))
    lines.append(f"deposits done {summary['deposits_done_s']} s, first transcode "
                 f"{summary['first_transcode_began_s']} s, last ready {summary['product_wall_s']} s; "
                 f"time with n transcodes running (s): {summary['workers']}")
    return "\n".join(lines)
