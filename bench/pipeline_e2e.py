"""End to end: N messages in mixed formats deposited at once through the API, timed to `ready`,
against a plain loop of ffmpeg CLI commands making the same renditions of the same files, in one run.

    .venv/bin/python -m bench.pipeline_e2e [--messages 9] [--seconds 60] [--formats mulaw,mp3,g722]

The sources: one recording of speech (espeak-ng reading a text, looped to `--seconds`, at 16 kHz;
the speech-like WAV of `devstack/make_sample_wav.py` where espeak-ng is missing), encoded by the
Debian ffmpeg CLI (sox for AMR-NB) into each format of `--formats`, the messages taking them in turn.

- **pipeline**: a local host (`devstack.hosting.HostProcess`, its blob trigger on) and one fresh
  mailbox. One message is deposited and waited for first (warm-up: imports, worker processes). Then
  every message is deposited at once (one thread each, `POST .../messages`), and the clock stops
  when the last one is written `ready` (the host's log, to the millisecond; the bench also polls
  `GET .../messages?limit=200` every 0.2 s until it reads them all `ready`, and records that time as
  `polled_wall_s`). `bench/e2e_timeline.py` prints where each message spent its time.
- **cli**: for each file, one `ffmpeg` process per rendition the product makes at deposit (Opus and
  the mu-law WAV, `shared.services.renditions.AT_DEPOSIT`), one after the other, with the settings
  `RENDITIONS` gives the product (`bench.transcode.cli_commands`): what a backend that shells out
  would do with one worker. Wall time of the whole loop.
- **the MP3, made on first request**: once every message is ready, each message's MP3 is asked for
  twice, one request at a time: the first makes it (from the original) and the second reads the
  stored blob; time to the first byte and to the last of each, and the host's CPU for them all.
  Against it, one ffmpeg process per file making that MP3 (timed apart from the loop above).

Ratio = cli wall / pipeline wall (goal >= 1.0). On a shared machine the wall times depend on what
else runs, so the CPU each side spent is recorded too: the host and its transcoding workers
(`psutil`, the host's process tree, from the first deposit to the last `ready`; the emulators,
which the cli side does without, are not counted), and the ffmpeg children (`RUSAGE_CHILDREN`).
Quality: every rendition of both sides, decoded
to 8 kHz, is scored against its source with STOI (`pystoi`, 0-1, higher is more intelligible) after
aligning it (cross-correlation, up to 0.2 s of lag); the table gives the mean per rendition.
Writes `bench/results/pipeline_e2e.json` (git-ignored). Needs the ffmpeg CLI (and sox for amr):
`make install` installs them.
"""

from __future__ import annotations

import concurrent.futures
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np

from bench import e2e_timeline
from bench.common import (
    PLATFORM,
    aligned,
    argument_parser,
    blob_service,
    cosmos_container,
    delete_blob_containers,
    finish,
    host_env,
    local_stack,
    new_result,
    ratio,
    results_path,
    running_host,
    saved_on_failure,
    verdict,
)
from bench.transcode import cli_commands
from devstack.hosting import random_name
from devstack.make_sample_wav import speech_like_wav
from shared.adapters import audio_codec
from shared.adapters.audio_codec import RENDITIONS
from shared.domain.audio import LAZY_RENDITIONS
from shared.services.renditions import AT_DEPOSIT

NAME = "pipeline_e2e"
RESULTS = results_path(NAME)
GOAL = 1.0
SCORE_RATE = 8_000
TEXT = ("Hello, this is Alice from the dentist's office, calling about your appointment next Tuesday at "
        "half past three. Please call us back on five five five, one two three four, before Monday. "
        "If you need to reschedule, press one when you call. Thank you, and have a nice day. ")
# name: (file suffix, content type, how to make it from the 16 kHz master WAV)
FORMATS: dict[str, tuple[str, str, list[str]]] = {
    "mulaw": ("wav", "audio/wav", ["ffmpeg", "-c:a", "pcm_mulaw", "-ar", "8000"]),
    "alaw": ("wav", "audio/wav", ["ffmpeg", "-c:a", "pcm_alaw", "-ar", "8000"]),
    "mp3": ("mp3", "audio/mpeg", ["ffmpeg", "-c:a", "libmp3lame", "-b:a", "32k", "-ar", "16000"]),
    "g722": ("wav", "audio/wav", ["ffmpeg", "-c:a", "g722", "-ar", "16000"]),
    "gsm": ("wav", "audio/wav", ["ffmpeg", "-c:a", "libgsm_ms", "-ar", "8000"]),
    "amr": ("amr", "audio/amr", ["sox", "-r", "8000", "-C", "7", "-t", "amr-nb"]),  # sox knows no `.amr` suffix
}


def master_wav(seconds: float, work: Path) -> Path:
    """`seconds` of speech at 16 kHz mono: espeak-ng looped, or the speech-like signal."""
    path = work / "master.wav"
    espeak = shutil.which("espeak-ng")
    if espeak:
        spoken = work / "spoken.wav"
        subprocess.run([espeak, "-w", str(spoken), TEXT], check=True)
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-stream_loop", "-1", "-i", str(spoken),
                        "-t", f"{seconds:g}", "-ac", "1", "-ar", "16000", str(path)], check=True)
    else:
        path.write_bytes(speech_like_wav(seconds, rate=16_000))
    return path


def encode_source(fmt: str, master: Path, work: Path) -> Path:
    suffix, _, recipe = FORMATS[fmt]
    out = work / f"source-{fmt}.{suffix}"
    if recipe[0] == "sox":
        subprocess.run(["sox", str(master), *recipe[1:], str(out)], check=True)
    else:
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(master), *recipe[1:], "-ac", "1",
                        str(out)], check=True)
    return out


def decoded(data: bytes | Path) -> np.ndarray:
    """Mono float32 at SCORE_RATE (opencore for AMR, as the product decodes it)."""
    source = io.BytesIO(data) if isinstance(data, bytes) else str(data)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SCORE_RATE)
    with av.open(source) as container:
        stream = container.streams.audio[0]
        frames = audio_codec._frames(container, stream)
        out = [o.to_ndarray().reshape(-1) for frame in frames for o in resampler.resample(frame)]
    out += [o.to_ndarray().reshape(-1) for o in resampler.resample(None)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def stoi_score(reference: np.ndarray, degraded: np.ndarray) -> float:
    """STOI of degraded against reference, after the lag (<= 0.2 s either way) that best aligns them."""
    from pystoi import stoi

    span = min(len(reference), len(degraded), 4 * SCORE_RATE)
    head_ref, head_deg = reference[:span], degraded[:span]
    lags = range(-SCORE_RATE // 5, SCORE_RATE // 5 + 1)
    best = max(lags, key=lambda lag: float(np.dot(head_ref[max(0, -lag):span - max(0, lag)],
                                                  head_deg[max(0, lag):span - max(0, -lag)])))
    ref, deg = (reference, degraded[best:]) if best >= 0 else (reference[-best:], degraded)
    n = min(len(ref), len(deg))
    return float(stoi(ref[:n].astype(np.float64), deg[:n].astype(np.float64), SCORE_RATE))


def tree_cpu(pid: int, children: bool = True) -> float:
    """User+sys CPU seconds of a process and (unless children is False) its live children."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *(root.children(recursive=True) if children else ())]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cli(files: list[Path], work: Path) -> tuple[float, float, dict[int, dict[str, Path]], dict[str, Any]]:
    """The renditions made at deposit, in one timed loop; then, apart, each file's lazy renditions
    (the MP3: one process each, timed one by one, as a backend that made it on request would)."""
    outputs: dict[int, dict[str, Path]] = {}
    commands, lazy = [], []
    for index, source in enumerate(files):
        out_dir = work / f"cli-{index}"
        out_dir.mkdir(exist_ok=True)
        with av.open(str(source)) as container:
            rate = container.streams.audio[0].rate
        commands += [args for _, args in cli_commands("ffmpeg", source, out_dir, rate)]
        lazy += [args for _, args in cli_commands("ffmpeg", source, out_dir, rate, LAZY_RENDITIONS)]
        outputs[index] = {r.name: out_dir / f"{r.name}.{r.container}" for r in RENDITIONS}
    began, cpu = time.perf_counter(), children_cpu()
    for args in commands:
        subprocess.run(args, check=True)
    wall, cpu = time.perf_counter() - began, children_cpu() - cpu
    walls, cpus = [], []
    for args in lazy:
        began, before = time.perf_counter(), children_cpu()
        subprocess.run(args, check=True)
        walls.append(time.perf_counter() - began)
        cpus.append(children_cpu() - before)
    return wall, cpu, outputs, {"wall_s": summary(walls), "cpu_s": summary(cpus)}


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 4), "max": round(max(values), 4),
            "mean": round(statistics.fmean(values), 4)} if values else {}


def timed_get(http: httpx.Client, url: str, params: dict[str, str]) -> tuple[float, float, bytes, str]:
    """(time to the first byte of the body, time to the last, the body, its content type)."""
    began = time.perf_counter()
    with http.stream("GET", url, params=params) as response:
        response.raise_for_status()
        chunks = response.iter_bytes()
        first = next(chunks, b"")
        ttfb = time.perf_counter() - began
        body = first + b"".join(chunks)
        return ttfb, time.perf_counter() - began, body, response.headers.get("content-type", "")


def run_pipeline(base_url: str, host_pid: int, files: list[Path], content_types: list[str]) -> dict[str, Any]:
    http = httpx.Client(base_url=f"{base_url}/api", headers=PLATFORM, timeout=120)
    mailbox = f"bench-e2e-{uuid.uuid4().hex[:10]}"
    response = http.put(f"/mailboxes/{mailbox}", json={"displayName": "E2E bench",
                                                        "settings": {"maxMessages": 1000, "maxMessageSeconds": 3600}})
    response.raise_for_status()

    deposits: dict[str, tuple[float, float]] = {}  # id → (sent, acknowledged), wall clock, for the timeline

    def deposit(index: int) -> str:
        body = files[index].read_bytes()
        sent = time.time()
        answer = http.post(f"/mailboxes/{mailbox}/messages", params={"from": "+15551230000"},
                           content=body, headers={"content-type": content_types[index]})
        answer.raise_for_status()
        message_id = answer.json()["id"]
        deposits[message_id] = (sent, time.time())
        return message_id

    def wait(ids: list[str], timeout: float = 600) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            page = http.get(f"/mailboxes/{mailbox}/messages", params={"limit": 200}).json()
            listed = {m["id"]: m for m in page["items"]}
            if all(listed.get(i, {}).get("status") in ("ready", "failed") for i in ids):
                return {i: listed[i] for i in ids}
            if time.monotonic() > deadline:
                raise TimeoutError("messages still processing")
            time.sleep(0.2)

    warm = deposit(0)
    wait([warm])
    deposits.clear()
    with concurrent.futures.ThreadPoolExecutor(len(files)) as pool:
        began, cpu, host_cpu = time.perf_counter(), tree_cpu(host_pid), tree_cpu(host_pid, children=False)
        ids = list(pool.map(deposit, range(len(files))))
        deposited = time.perf_counter() - began
        settled = wait(ids)
        elapsed = time.perf_counter() - began
        cpu, host_cpu = tree_cpu(host_pid) - cpu, tree_cpu(host_pid, children=False) - host_cpu
    # The lazy renditions' cost, made visible: each message's first MP3 request (made from the
    # original, then kept) and a second one (served from the blob), one request at a time.
    first: dict[str, list[float]] = {"ttfb_s": [], "total_s": []}
    again: dict[str, list[float]] = {"ttfb_s": [], "total_s": []}
    lazy_cpu = tree_cpu(host_pid)
    for message_id in ids:
        for name in LAZY_RENDITIONS:
            url = f"/mailboxes/{mailbox}/messages/{message_id}/audio"
            for into in (first, again):
                ttfb, total, _, content_type = timed_get(http, url, {"format": name})
                assert content_type == "audio/mpeg", content_type
                into["ttfb_s"].append(ttfb)
                into["total_s"].append(total)
    lazy_cpu = tree_cpu(host_pid) - lazy_cpu
    renditions = {}
    for index, message_id in enumerate(ids):
        renditions[index] = {fmt: http.get(f"/mailboxes/{mailbox}/messages/{message_id}/audio",
                                           params={"format": fmt}).content
                             for fmt in settled[message_id].get("formats") or ()}
    return {"mailbox": mailbox, "wall_s": elapsed, "cpu_s": cpu, "deposits_s": deposited, "deposits": deposits,
            "host_cpu_s": round(host_cpu, 3), "workers_cpu_s": round(cpu - host_cpu, 3),
            "first_mp3_request": {k: summary(v) for k, v in first.items()},
            "cached_mp3_request": {k: summary(v) for k, v in again.items()},
            "mp3_requests_host_cpu_s": round(lazy_cpu, 3),
            "statuses": [settled[i]["status"] for i in ids], "errors": [settled[i]["error"] for i in ids],
            "duration_ms": [settled[i]["durationMs"] for i in ids], "renditions": renditions}


def quality(files: list[Path], pipeline: dict[int, dict[str, bytes]], cli: dict[int, dict[str, Path]]
            ) -> dict[str, dict[str, float]]:
    scores: dict[str, dict[str, list[float]]] = {"pipeline": {}, "cli": {}}
    for index, source in enumerate(files):
        reference = decoded(source)
        for name in (r.name for r in RENDITIONS):
            if name in pipeline.get(index, {}):
                scores["pipeline"].setdefault(name, []).append(stoi_score(reference, decoded(pipeline[index][name])))
            scores["cli"].setdefault(name, []).append(stoi_score(reference, decoded(cli[index][name])))
    return {side: {name: round(float(np.mean(values)), 4) for name, values in by.items()}
            for side, by in scores.items()}


def clean_up(region: str, mailbox: str) -> None:
    container = cosmos_container(create=False)
    for doc in container.query_items("SELECT c.id FROM c WHERE c.mailboxId = @m",
                                     parameters=[{"name": "@m", "value": mailbox}], partition_key=mailbox):
        container.delete_item(doc["id"], partition_key=mailbox)
    delete_blob_containers(blob_service(), [f"in-{region}", f"au-{region}"])


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(NAME, __doc__)
    parser.add_argument("--messages", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--formats", default="mulaw,mp3,g722", help=f"comma-separated, of {', '.join(FORMATS)}")
    args = parser.parse_args(argv)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if args.messages < 1 or not formats or any(f not in FORMATS for f in formats):
        parser.error(f"--messages >= 1 and --formats among {', '.join(FORMATS)}")
    missing = [tool for tool in ("ffmpeg", *(["sox"] if "amr" in formats else [])) if shutil.which(tool) is None]
    if missing:
        print(f"missing: {', '.join(missing)} (make install installs them)", file=sys.stderr)
        return 2

    began = time.perf_counter()
    result = new_result(NAME, argv, {"messages": args.messages, "seconds": args.seconds, "formats": formats,
                                     "goal": GOAL, "renditions": [r.__dict__ for r in RENDITIONS]})
    region = random_name("e2e")
    with saved_on_failure(result, began, RESULTS), local_stack(), \
            tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        work = Path(tmp)
        master = master_wav(args.seconds, work)
        sources = {fmt: encode_source(fmt, master, work) for fmt in formats}
        picked = [formats[i % len(formats)] for i in range(args.messages)]
        files = [sources[fmt] for fmt in picked]
        content_types = [FORMATS[fmt][1] for fmt in picked]
        print(f"{args.messages} messages of {args.seconds:g} s ({', '.join(formats)}) ...", flush=True)
        with running_host(host_env(region), timeout=60) as host:
            pipeline = run_pipeline(host.base_url, host.process.pid, files, content_types)
        # The product's own time: from the first deposit sent to the last `ready` written (host log),
        # so the figure does not carry the list's polling interval (0.2 s).
        timeline = e2e_timeline.summarise(
            e2e_timeline.parse(host.log(), f"in-{region}", pipeline.pop("deposits")), os.cpu_count() or 1)
        pipeline["polled_wall_s"] = pipeline["wall_s"]
        pipeline["wall_s"] = timeline["product_wall_s"]
        result["timeline"] = timeline
        mailbox = pipeline["mailbox"]
        try:
            cli_wall, cli_cpu, cli_outputs, cli_lazy = run_cli(files, work)
            scores = quality(files, pipeline.pop("renditions"), cli_outputs)
        finally:
            clean_up(region, mailbox)
        result["pipeline"] = pipeline
        result["cli"] = {"wall_s": cli_wall, "cpu_s": cli_cpu, "processes": len(files) * len(AT_DEPOSIT),
                         "renditions": list(AT_DEPOSIT), "mp3_process_per_file": cli_lazy}
        result["stoi"] = scores
        result["ratio_cli_over_pipeline"] = ratio(cli_wall, pipeline["wall_s"])
        result["cpu_ratio_cli_over_pipeline"] = ratio(cli_cpu, pipeline["cpu_s"])
    rows = [["side", "wall s", "CPU s", *(f"STOI {r.name}" for r in RENDITIONS)]]
    for side, data in (("pipeline", pipeline), ("cli", result["cli"])):
        rows.append([side, f"{data['wall_s']:.2f}", f"{data['cpu_s']:.2f}",
                     *(f"{scores[side].get(r.name, float('nan')):.4f}" for r in RENDITIONS)])
    verdict_line = (f"pipeline wall to the last ready written {pipeline['wall_s']:.2f} s (seen by polling: "
                    f"{pipeline['polled_wall_s']:.2f} s; CPU: host {pipeline['host_cpu_s']:.2f} s, transcoding "
                    f"workers {pipeline['workers_cpu_s']:.2f} s); "
                    f"ratio cli/pipeline {result['ratio_cli_over_pipeline']:.2f} (goal >= {GOAL:g}: "
               f"{verdict(result['ratio_cli_over_pipeline'], GOAL)}); CPU ratio cli/pipeline "
               f"{result['cpu_ratio_cli_over_pipeline']:.2f}; statuses {sorted(set(pipeline['statuses']))}; "
               f"load average before/after {result['machine'].get('load_average_before')} / "
               f"{os.getloadavg()[0]:.2f}")
    first, cached = pipeline["first_mp3_request"], pipeline["cached_mp3_request"]
    lazy_line = (f"mp3 on request: first {first['ttfb_s']['median'] * 1000:.0f} ms to the first byte (median; max "
                 f"{first['ttfb_s']['max'] * 1000:.0f}), cached {cached['ttfb_s']['median'] * 1000:.0f} ms; the cli's "
                 f"mp3 process per file {result['cli']['mp3_process_per_file']['wall_s']['median'] * 1000:.0f} ms; "
                 f"host CPU for the {len(files)} first and second requests {pipeline['mp3_requests_host_cpu_s']:.2f} s")
    finish(result, began, RESULTS, e2e_timeline.render(timeline), aligned(rows, rule=True), verdict_line, lazy_line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
