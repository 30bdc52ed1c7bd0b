"""Where the host's CPU goes per request, by layer: a py-spy profile of the local host during
`bench.api_throughput`, broken down into the local host framework, the app, the Azure SDK and
OpenTelemetry.

    .venv/bin/python -m bench.profile_layers [--rate 200] [--top 12] [-- <bench.api_throughput args>]
    .venv/bin/python -m bench.profile_layers --report bench/results/profile_layers.raw [--host-cpu-ms 19.5]

The first form runs `bench.api_throughput` (its arguments after `--`), attaches
`py-spy record --gil --nonblocking --format raw` to the host as soon as it answers, for the api
side's warm-up and measurement, then prints the breakdown and writes it beside the raw profile
(`bench/results/profile_layers.{raw,json}`, git-ignored). The second form reads a raw (collapsed)
py-spy file again. py-spy slows the host a little: take throughput figures from runs without it.

Each sample is the stack of the thread holding the GIL, so the samples are the host's Python CPU.
A sample goes to the layer of its leaf-most frame that belongs to a layer, by the frame's file:
the standard library and libraries no layer names (pydantic, json, re, logging, socket, ...) count
for the layer that called them. A sample with no layer frame at all is `other`. With the bench's
host CPU per iteration (from its JSON), the shares become milliseconds per iteration; what the
host spent outside the GIL (system calls, C code that releases it) is the `outside the GIL` row.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TICK = os.sysconf("SC_CLK_TCK")

# (layer, path fragments) in the order they are tried on one frame; the first that matches wins.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("telemetry (OpenTelemetry)", ("/opentelemetry/", "/azure/monitor/", f"{ROOT}/shared/telemetry.py")),
    ("sdk: azure.cosmos", ("/azure/cosmos/",)),
    ("sdk: azure.storage", ("/azure/storage/",)),
    ("sdk: azure.core pipeline", ("/azure/core/",)),
    ("sdk: requests/urllib3 transport", ("/requests/", "/urllib3/")),
    ("app: functions/", (f"{ROOT}/functions/", f"{ROOT}/function_app.py")),
    ("app: shared/", (f"{ROOT}/shared/",)),
    ("host: devstack/localhost", (f"{ROOT}/devstack/localhost/",)),
    ("host: azure.functions", ("/azure/functions/",)),
    ("host: uvicorn and its HTTP parser", ("/uvicorn/", "/h11/", "/httptools/")),
]
OTHER = "other (no layer frame: threads' bootstrap, GC, ...)"
OUTSIDE = "outside the GIL (system calls, C code without the GIL)"
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def parse_frame(frame: str) -> tuple[str, str]:
    """(function, file) of one py-spy frame `function (file:line)`."""
    found = _FRAME.match(frame)
    return (found["function"], found["file"]) if found else (frame, "")


def layer_of(path: str) -> str | None:
    for layer, fragments in LAYERS:
        if any(fragment in path for fragment in fragments):
            return layer
    return None


def short(path: str) -> str:
    for marker in ("/site-packages/", f"{ROOT}/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1].lstrip("/")
    return path


def read_raw(path: Path) -> Counter[tuple[str, ...]]:
    """The stacks of a raw (collapsed) py-spy file, root first, with their sample counts."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def entry_of(stack: tuple[str, ...]) -> str:
    """What a sample was working for: the function invocation (its user function in functions/),
    else the app's own thread (its first frame in shared/), else a host listener, else the event loop."""
    frames = [parse_frame(frame) for frame in stack]
    for kinds, label in (((f"{ROOT}/functions/",), "function"), ((f"{ROOT}/shared/",), "app thread"),
                         ((f"{ROOT}/devstack/localhost/",), "host")):
        for function, path in frames:
            if path.startswith(kinds) and not path.endswith(("/functions/http.py", "/localhost/__main__.py")):
                return f"{label}: {function} ({short(path)})"
    if any("/uvicorn/" in path or "/asyncio/" in path for _, path in frames):
        return "host: the event loop (uvicorn, asyncio)"
    return "other"


def breakdown(stacks: Counter[tuple[str, ...]], top: int = 10) -> dict[str, Any]:
    """Samples per layer, and per layer its hottest functions: the layer's leaf-most frame and,
    when the leaf itself is outside every layer (a library or the standard library), that leaf."""
    layers: Counter[str] = Counter()
    entries: Counter[str] = Counter()
    hot: dict[str, Counter[str]] = defaultdict(Counter)
    for stack, count in stacks.items():
        entries[entry_of(stack)] += count
        layer, owner, leaf = None, "", ""
        for index in range(len(stack) - 1, -1, -1):
            function, path = parse_frame(stack[index])
            if index == len(stack) - 1:
                leaf = f"{function} ({short(path)})"
            layer = layer_of(path)
            if layer is not None:
                owner = f"{function} ({short(path)})"
                break
        layer = layer or OTHER
        layers[layer] += count
        hot[layer][owner if owner == leaf or not owner else f"{owner} -> {leaf}"] += count
    total = sum(layers.values())
    return {"samples": total, "layers": dict(layers.most_common()), "entries": dict(entries.most_common(top)),
            "hottest": {layer: hot[layer].most_common(top) for layer in layers}}


def cpu_seconds(pid: int) -> tuple[float, float] | None:
    """(user, system) CPU seconds of a process so far, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def report(result: dict[str, Any], host_cpu_ms: float | None) -> str:
    """The table: share of the host's samples per layer and, given the host CPU per iteration,
    milliseconds per iteration (three requests: deposit, list, get)."""
    total = result["samples"] or 1
    gil_share = result.get("gil_share")  # of the host's CPU, the part spent holding the GIL
    per_ms = host_cpu_ms * (gil_share or 1.0) / total if host_cpu_ms else None
    lines = [f"{'layer':58} {'samples':>8} {'share':>6}" + (f" {'ms/iter':>8}" if per_ms else "")]
    lines.append("-" * len(lines[0]))
    for layer, count in result["layers"].items():
        ms = f" {count * per_ms:8.2f}" if per_ms else ""
        lines.append(f"{layer:58} {count:8d} {count / total:6.1%}{ms}")
    if per_ms and gil_share is not None:
        lines.append(f"{OUTSIDE:58} {'':8} {'':6} {host_cpu_ms * (1 - gil_share):8.2f}")
    if host_cpu_ms:
        lines.append(f"{'host CPU per iteration (bench.api_throughput)':58} {'':8} {'':6} {host_cpu_ms:8.2f}")
    lines.append("\nwhat the samples worked for (a function invocation, an app thread, the host itself):")
    lines.extend(f"  {count / total:6.1%}  {entry}" for entry, count in result.get("entries", {}).items())
    for layer, functions in result["hottest"].items():
        lines.append(f"\n{layer}:")
        lines.extend(f"  {count / total:6.1%}  {name}" for name, count in functions)
    return "\n".join(lines)


def host_pid(parent: int) -> int | None:
    """The local host started by the bench process `parent` (`python -m devstack.localhost`)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rpartition(")")[2].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if int(stat[1]) == parent and b"devstack.localhost" in command:
            return int(entry.name)
    return None


def record(bench_args: list[str], rate: int, raw: Path) -> tuple[float, float] | None:
    """Run bench.api_throughput with py-spy on its host from the moment it answers until it stops
    (the api side); the host's (user, system) CPU seconds over that time, read from /proc while it ran."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install -r requirements-dev.txt")
    bench = subprocess.Popen([sys.executable, "-u", "-m", "bench.api_throughput", *bench_args], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    profiler, used = None, [None, None]  # the host's CPU seconds when profiling began, and last read

    def watch(pid: int) -> None:
        while (reading := cpu_seconds(pid)) is not None:
            used[1] = reading
            time.sleep(0.2)

    try:
        for line in bench.stdout:
            print(line, end="", flush=True)
            if profiler is None and line.strip().startswith("host http://"):
                pid = host_pid(bench.pid)
                if pid is None:
                    raise SystemExit("the bench's host was not found")
                used[0] = cpu_seconds(pid)
                threading.Thread(target=watch, args=(pid,), daemon=True).start()
                profiler = subprocess.Popen([spy, "record", "--pid", str(pid), "--gil", "--nonblocking",
                                             "--full-filenames", "--rate", str(rate), "--format", "raw",
                                             "--output", str(raw)],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        bench.wait()
        if profiler is not None:
            profiler.wait(timeout=60)  # it stops with the host
    if bench.returncode:
        raise SystemExit(f"bench.api_throughput exited with {bench.returncode}")
    if None in used:
        return None
    return used[1][0] - used[0][0], used[1][1] - used[0][1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_layers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", type=Path, help="only read this raw py-spy file")
    parser.add_argument("--host-cpu-ms", type=float,
                        help="host CPU ms per iteration for --report (default: the recording run's)")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=12, help="hottest functions shown per layer")
    parser.add_argument("bench_args", nargs="*", help="arguments for bench.api_throughput (after --)")
    args = parser.parse_args(argv)

    raw = args.report or RESULTS / "profile_layers.raw"
    host_cpu_ms, gil_share, system_share = args.host_cpu_ms, None, None
    if args.report is None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        host_s = record(args.bench_args, args.rate, raw)
        bench = json.loads((RESULTS / "api_throughput.json").read_text())
        host_cpu_ms = bench["api"]["cpu_ms_per_iteration"].get("host (the app)")
        if host_s and sum(host_s):
            gil_share = min(1.0, sum(read_raw(raw).values()) / args.rate / sum(host_s))
            system_share = host_s[1] / sum(host_s)
    elif raw.with_suffix(".json").exists():  # the figures of the run that recorded it
        earlier = json.loads(raw.with_suffix(".json").read_text())
        gil_share, system_share = earlier.get("gil_share"), earlier.get("system_share")
        host_cpu_ms = host_cpu_ms or earlier.get("host_cpu_ms_per_iteration")
    result = breakdown(read_raw(raw), args.top)
    result["gil_share"] = gil_share
    result["system_share"] = system_share  # of the host's CPU while profiled, the kernel's part
    result["host_cpu_ms_per_iteration"] = host_cpu_ms
    text = report(result, host_cpu_ms)
    print(text)
    if gil_share is not None:
        print(f"\nthe host held the GIL for {gil_share:.0%} of its CPU time while profiled; "
              f"{system_share:.0%} of that CPU time was in the kernel (system calls)")
    raw.with_suffix(".json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
