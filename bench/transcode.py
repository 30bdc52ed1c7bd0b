"""In-process transcoding (PyAV) against the ffmpeg command-line tool, CPU per audio second, in one run.

    .venv/bin/python -m bench.transcode [--repeats 5] [--lengths 30,300]

For each input length, a speech-like 8 kHz 16-bit mono WAV (`devstack.make_sample_wav.speech_like_wav`)
is written to a temporary directory and turned into the renditions the product makes at deposit
(`shared.services.renditions.AT_DEPOSIT`: Opus and the mu-law WAV; the MP3 is made on its first
request) twice, alternating sides on each repeat:

- in-process: `transcode(source, out_dir, limits)`, the product's path (one decode that measures and
  spools the samples, then the encoders fed from the spool); CPU is `time.process_time()` of this
  process;
- cli: what a naive backend would do, one `ffmpeg` process per rendition, each decoding and probing
  the input itself, with the same encoder settings (built from RENDITIONS: codec, bit rate, codec
  options, mono, the narrowband/wideband rate); CPU is the user+sys of the waited-for children
  (`resource.getrusage(RUSAGE_CHILDREN)` deltas). What this process spends spawning them is reported
  apart, as `launcher_cpu_s`, and not counted.

Each side runs once unmeasured first (imports, codec tables, page cache), then `--repeats` times;
the figures are medians. Also measured per length, to read the result (medians of a few runs): the
in-process measuring pass alone, each rendition's in-process encoder alone (`_Encoder` fed frames
decoded beforehand), and an ffmpeg process that only starts (`-version`) or only decodes (`-f null`).
The cost of a first MP3 request is measured apart (the product's `transcode` of the MP3 alone from
the original, against one ffmpeg process), with a check that it is byte for byte the MP3 made with
the others, and so is the ratio counting every message's MP3 requested once. STOI (`pystoi`) of
every rendition of both sides against the source.

Also reported, beside the goal's ratio and not instead of it: a like-for-like CLI, which first runs a
`volumedetect` pass (the product measures the level, and silence, before encoding; the plain loop
does not) and then makes the renditions at the gain the product chose.

Prints, per length, audio seconds per CPU second for each side, the ratio in-process/cli (goals:
>= 1.5 up to 30 s, >= 1.0 beyond) and the in-process real-time factor per core (goal >= 100), and writes
`bench/results/transcode.json` (git-ignored). Needs the ffmpeg CLI (Debian: `apt-get install -y
ffmpeg`; `make bench` installs it when missing).
"""

from __future__ import annotations

import functools
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

from bench.common import argument_parser, finish, new_result, results_path, timings
from devstack.make_sample_wav import speech_like_wav
from shared.adapters import audio_codec
from shared.adapters.audio_codec import NARROWBAND, RENDITIONS, WIDEBAND, transcode
from shared.domain.audio import LAZY_RENDITIONS, AudioLimits
from shared.services.renditions import AT_DEPOSIT

NAME = "transcode"
RESULTS = results_path(NAME)
RATE = 8_000
RATIO_GOALS = ((30.0, 1.5), (float("inf"), 1.0))  # (up to this many seconds, in-process/cli CPU ratio)
RTF_GOAL = 100.0  # in-process audio seconds per CPU second (one core)
LIMITS = AudioLimits(min_seconds=1, max_seconds=3600)
FFMPEG_COMMON = ("-nostdin", "-hide_banner", "-loglevel", "error", "-y")
INSTALL_HINT = "the ffmpeg CLI is not installed: apt-get update && apt-get install -y ffmpeg (or: make bench)"


def cli_commands(ffmpeg: str, source: Path, out_dir: Path, source_rate: int,
                 names: tuple[str, ...] = AT_DEPOSIT, gain_db: float = 0.0) -> list[tuple[str, list[str]]]:
    """One ffmpeg command per rendition of names (default: those the product makes at deposit), with
    the settings RENDITIONS gives the in-process encoders; gain_db other than 0: through a volume filter."""
    band = NARROWBAND if source_rate <= NARROWBAND else WIDEBAND  # the codec's band rule
    commands = []
    for rendition in (r for r in RENDITIONS if r.name in names):
        args = [ffmpeg, *FFMPEG_COMMON, "-i", str(source), "-c:a", rendition.codec]
        if rendition.bit_rate:
            args += ["-b:a", f"{rendition.bit_rate // 1000}k"]
        for key, value in rendition.options.items():
            args += [f"-{key}", value]
        args += ["-ac", "1", "-ar", str(rendition.rate or band)]
        if gain_db:
            args += ["-af", f"volume={gain_db:g}dB"]
        args.append(str(out_dir / f"{rendition.name}.{rendition.container}"))
        commands.append((rendition.name, args))
    return commands


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cli(commands: list[tuple[str, list[str]]]) -> dict[str, Any]:
    per_rendition: dict[str, float] = {}
    launcher, wall = time.process_time(), time.perf_counter()
    for name, args in commands:
        before = children_cpu()
        subprocess.run(args, check=True)
        per_rendition[name] = children_cpu() - before
    return {"cpu_s": sum(per_rendition.values()), "wall_s": time.perf_counter() - wall,
            "launcher_cpu_s": time.process_time() - launcher, "per_rendition_cpu_s": per_rendition}


def cli_level_pass(ffmpeg: str, source: Path) -> list[str]:
    """What a CLI backend that normalises the level, as the product does, runs first: one decode
    through volumedetect (its mean and peak level give the gain, and silence). Only its cost is
    measured: the renditions then take the gain the product chose."""
    return [ffmpeg, *FFMPEG_COMMON, "-i", str(source), "-af", "volumedetect", "-f", "null", "-"]


def run_cli_like_for_like(level_pass: list[str], commands: list[tuple[str, list[str]]]) -> dict[str, Any]:
    """The level pass, then the renditions at the gain the product chose: the same work as the product's."""
    before = children_cpu()
    subprocess.run(level_pass, check=True, capture_output=True)
    level_cpu = children_cpu() - before
    encode = run_cli(commands)
    return {"cpu_s": level_cpu + encode["cpu_s"], "level_pass_cpu_s": level_cpu}


def run_in_process(source: Path, out_dir: Path, names: tuple[str, ...] = AT_DEPOSIT) -> dict[str, Any]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = transcode(source, out_dir, LIMITS, renditions=names)
    return {"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall,
            "duration_ms": result.duration_ms, "gain_db": result.gain_db}


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def cpu_of(action: Callable[[], object], repeats: int, children: bool) -> float:
    """Median CPU seconds of action (this process's, or its children's)."""
    return statistics.median(timings(action, repeats, clock=children_cpu if children else time.process_time))


def encode_only(rendition: audio_codec.Rendition, frames: list[av.AudioFrame], path: Path, band: int) -> None:
    encoder = audio_codec._Encoder(rendition, path, band)
    for frame in frames:
        encoder.write(frame)
    encoder.close()


def in_process_encoders_cpu(source: Path, out_dir: Path, repeats: int) -> dict[str, float]:
    """CPU of each rendition's encoder alone (the product's _Encoder: encoder and muxer), fed
    frames decoded beforehand, as transcode's second pass feeds them."""
    with audio_codec._opened(source) as (container, stream, band):
        chunks = list(audio_codec._samples(container, stream, band, int(LIMITS.max_seconds * band)))
    frames = []
    for chunk in chunks:
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = band
        frames.append(frame)
    return {r.name: cpu_of(functools.partial(encode_only, r, frames, out_dir / f"only.{r.container}", band), repeats,
                           children=False)
            for r in RENDITIONS}


def sizes(out_dir: Path, names: tuple[str, ...] = AT_DEPOSIT) -> dict[str, int]:
    return {r.name: (out_dir / f"{r.name}.{r.container}").stat().st_size for r in RENDITIONS if r.name in names}


def lazy_cost(source: Path, ffmpeg: str, work: Path, repeats: int) -> dict[str, Any]:
    """What a first request of a lazy rendition (the MP3) costs: the product's `transcode` of that one
    rendition from the original (decode, measure, encode), CPU and wall, against one ffmpeg process
    making it; and whether it is byte for byte what making it with the others gives."""
    lazy_dir, cli_dir, eager_dir = work / "lazy", work / "lazy_cli", work / "eager"
    for folder in (lazy_dir, cli_dir, eager_dir):
        folder.mkdir(parents=True, exist_ok=True)
    commands = cli_commands(ffmpeg, source, cli_dir, RATE, LAZY_RENDITIONS)
    run_in_process(source, lazy_dir, LAZY_RENDITIONS)  # warm-up
    inproc = [run_in_process(source, lazy_dir, LAZY_RENDITIONS) for _ in range(repeats)]
    cli = [run_cli(commands) for _ in range(repeats)]
    eager = transcode(source, eager_dir, LIMITS)  # every rendition at once, as before this change
    same = all((lazy_dir / f"{r.name}.{r.container}").read_bytes() == eager.files[r.name].read_bytes()
               for r in RENDITIONS if r.name in LAZY_RENDITIONS)
    return {"renditions": list(LAZY_RENDITIONS),
            "in_process": {"cpu_s": median_of(inproc, "cpu_s"), "wall_s": median_of(inproc, "wall_s")},
            "cli": {"cpu_s": median_of(cli, "cpu_s"), "wall_s": median_of(cli, "wall_s")},
            "same_bytes_as_made_with_the_others": same,
            "eager_dir": eager_dir}


def stoi_scores(source: Path, folders: dict[str, Path]) -> dict[str, dict[str, float]]:
    """STOI (pystoi) of every rendition in each folder against the source, decoded at 8 kHz and aligned."""
    from bench.pipeline_e2e import decoded, stoi_score

    reference = decoded(source)
    return {side: {r.name: round(stoi_score(reference, decoded(folder / f"{r.name}.{r.container}")), 4)
                   for r in RENDITIONS if (folder / f"{r.name}.{r.container}").exists()}
            for side, folder in folders.items()}


def measure_length(seconds: float, ffmpeg: str, work: Path, repeats: int) -> dict[str, Any]:
    source = work / f"speech_{seconds:g}s.wav"
    source.write_bytes(speech_like_wav(seconds, rate=RATE))
    with wave.open(str(source), "rb") as check:
        audio_s = check.getnframes() / check.getframerate()
    in_dir, cli_dir = work / f"inproc_{seconds:g}", work / f"cli_{seconds:g}"
    in_dir.mkdir()
    cli_dir.mkdir()
    commands = cli_commands(ffmpeg, source, cli_dir, RATE)

    run_in_process(source, in_dir)  # warm-up, not measured
    run_cli(commands)
    inproc: list[dict[str, Any]] = []
    cli: list[dict[str, Any]] = []
    for index in range(repeats):  # alternate which side goes first, so drift on a shared box hits both
        if index % 2:
            cli.append(run_cli(commands))
            inproc.append(run_in_process(source, in_dir))
        else:
            inproc.append(run_in_process(source, in_dir))
            cli.append(run_cli(commands))

    breakdown_repeats = max(3, repeats // 2)
    breakdown = {
        "in_process_measuring_pass_cpu_s": cpu_of(lambda: audio_codec._measure(source, LIMITS), breakdown_repeats,
                                                  children=False),
        "in_process_encoder_only_cpu_s": in_process_encoders_cpu(source, work, breakdown_repeats),
        "cli_startup_only_cpu_s": cpu_of(
            lambda: subprocess.run([ffmpeg, *FFMPEG_COMMON, "-version"], check=True, stdout=subprocess.DEVNULL),
            breakdown_repeats, children=True),
        "cli_decode_only_cpu_s": cpu_of(
            lambda: subprocess.run([ffmpeg, *FFMPEG_COMMON, "-i", str(source), "-f", "null", "-"], check=True),
            breakdown_repeats, children=True),
    }

    # Like for like (reported beside the goal's ratio, not instead of it): the product measures the
    # level and applies a gain; the plain CLI loop above does neither.
    gain_db = inproc[-1]["gain_db"]
    level_dir = work / f"cli_level_{seconds:g}"
    level_dir.mkdir()
    level_commands = cli_commands(ffmpeg, source, level_dir, RATE, gain_db=gain_db)
    like = [run_cli_like_for_like(cli_level_pass(ffmpeg, source), level_commands) for _ in range(breakdown_repeats)]

    lazy = lazy_cost(source, ffmpeg, work / f"lazy_{seconds:g}", breakdown_repeats)
    eager_dir = lazy.pop("eager_dir")
    for _, args in cli_commands(ffmpeg, source, cli_dir, RATE, LAZY_RENDITIONS):  # the cli's MP3, for STOI
        subprocess.run(args, check=True)
    quality = stoi_scores(source, {"in_process_at_deposit": in_dir,
                                   "in_process_lazy": work / f"lazy_{seconds:g}" / "lazy",
                                   "in_process_all_at_once": eager_dir, "cli": cli_dir})

    in_cpu, cli_cpu = median_of(inproc, "cpu_s"), median_of(cli, "cpu_s")
    return {
        "audio_s": audio_s, "input_bytes": source.stat().st_size,
        "in_process": {"cpu_s": in_cpu, "wall_s": median_of(inproc, "wall_s"),
                       "audio_s_per_cpu_s": audio_s / in_cpu, "duration_ms": inproc[-1]["duration_ms"],
                       "gain_db": inproc[-1]["gain_db"], "output_bytes": sizes(in_dir),
                       "runs_cpu_s": [run["cpu_s"] for run in inproc]},
        "cli": {"cpu_s": cli_cpu, "wall_s": median_of(cli, "wall_s"), "audio_s_per_cpu_s": audio_s / cli_cpu,
                "launcher_cpu_s": median_of(cli, "launcher_cpu_s"),
                "per_rendition_cpu_s": {name: statistics.median(run["per_rendition_cpu_s"][name] for run in cli)
                                        for name, _ in commands},
                "output_bytes": sizes(cli_dir), "runs_cpu_s": [run["cpu_s"] for run in cli],
                "commands": [" ".join(["ffmpeg", *args[1:]]).replace(str(work) + "/", "") for _, args in commands]},
        "breakdown": breakdown,
        "first_request": lazy,
        "stoi": quality,
        # Every rendition, as if each message's MP3 were asked for once: deposit + first request.
        "ratio_with_every_mp3_requested": (cli_cpu + lazy["cli"]["cpu_s"]) / (in_cpu + lazy["in_process"]["cpu_s"]),
        "ratio_in_process_over_cli": cli_cpu / in_cpu,
        "like_for_like": {"gain_db": gain_db, "cli_cpu_s": median_of(like, "cpu_s"),
                          "cli_level_pass_cpu_s": median_of(like, "level_pass_cpu_s"),
                          "ratio": median_of(like, "cpu_s") / in_cpu},
        "in_process_rtf_per_core": audio_s / in_cpu,
    }


def versions(ffmpeg: str) -> dict[str, str]:
    first = subprocess.run([ffmpeg, "-hide_banner", "-version"], capture_output=True, text=True, check=True)
    libavcodec = ".".join(str(part) for part in av.library_versions["libavcodec"])
    return {"pyav": av.__version__, "pyav_libavcodec": libavcodec, "ffmpeg_cli": first.stdout.splitlines()[0]}


def table(result: dict[str, Any]) -> str:
    head = (f"{'input':>6} {'side':10} {'CPU s':>7} {'wall s':>7} {'audio-s/CPU-s':>14} "
            f"{'ratio in/cli':>13} {'RTF/core':>9}")
    lines = [head, "-" * len(head)]
    for length in result["lengths"]:
        label = f"{length['audio_s']:g} s"
        for side in ("in_process", "cli"):
            data = length[side]
            tail = (f" {length['ratio_in_process_over_cli']:>13.2f} {length['in_process_rtf_per_core']:>9.0f}"
                    if side == "in_process" else "")
            lines.append(f"{label:>6} {side.replace('_', '-'):10} {data['cpu_s']:>7.3f} {data['wall_s']:>7.3f} "
                         f"{data['audio_s_per_cpu_s']:>14.1f}{tail}")
    return "\n".join(lines)


def ratio_goal(audio_s: float) -> float:
    return next(goal for longest, goal in RATIO_GOALS if audio_s <= longest)


def verdicts(result: dict[str, Any]) -> list[str]:
    lines = []
    for length in result["lengths"]:
        ratio, rtf = length["ratio_in_process_over_cli"], length["in_process_rtf_per_core"]
        goal = ratio_goal(length["audio_s"])
        lines.append(f"{length['audio_s']:g} s: ratio {ratio:.2f} (goal >= {goal:g}: "
                     f"{'met' if ratio >= goal else 'NOT met'}), real-time factor per core {rtf:.0f} "
                     f"(goal >= {RTF_GOAL:g}: {'met' if rtf >= RTF_GOAL else 'NOT met'})")
        b = length["breakdown"]
        cli_each = ", ".join(f"{k} {v:.3f}" for k, v in length["cli"]["per_rendition_cpu_s"].items())
        encoders = ", ".join(f"{k} {v:.3f}" for k, v in b["in_process_encoder_only_cpu_s"].items())
        lines.append(f"    in-process: measuring pass {b['in_process_measuring_pass_cpu_s']:.3f} s, "
                     f"encoders alone {encoders} s")
        lines.append(f"    cli: per process {cli_each} s, of which start-up alone {b['cli_startup_only_cpu_s']:.3f} s "
                     f"and start-up + probe + decode {b['cli_decode_only_cpu_s']:.3f} s")
        like = length["like_for_like"]
        lines.append(f"    like for like (not the goal's ratio): a CLI that also measures the level (volumedetect, "
                     f"{like['cli_level_pass_cpu_s']:.3f} s) and applies the product's gain ({like['gain_db']:g} dB): "
                     f"{like['cli_cpu_s']:.3f} CPU s, ratio {like['ratio']:.2f}")
        first = length["first_request"]
        lines.append(f"    first request of {'/'.join(first['renditions'])}: in-process "
                     f"{first['in_process']['cpu_s']:.3f} CPU s ({first['in_process']['wall_s']:.3f} wall), "
                     f"cli {first['cli']['cpu_s']:.3f} CPU s; "
                     f"same bytes as made with the others: {first['same_bytes_as_made_with_the_others']}; "
                     f"ratio counting every mp3 requested once {length['ratio_with_every_mp3_requested']:.2f}")
        for side, scores in length["stoi"].items():
            lines.append(f"    STOI {side}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(NAME, __doc__)
    parser.add_argument("--repeats", type=int, default=5, help="measured runs per side and length (median)")
    parser.add_argument("--lengths", default="30,300", help="input lengths in seconds, comma-separated")
    args = parser.parse_args(argv)
    lengths = [float(part) for part in args.lengths.split(",") if part.strip()]
    if args.repeats < 1 or not lengths or min(lengths) < LIMITS.min_seconds or max(lengths) > LIMITS.max_seconds:
        parser.error(f"repeats must be >= 1 and lengths within {LIMITS.min_seconds:g}-{LIMITS.max_seconds:g} s")
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2

    began = time.perf_counter()
    result = new_result(NAME, argv, {"repeats": args.repeats, "rate": RATE,
                                     "limits": {"min_seconds": LIMITS.min_seconds, "max_seconds": LIMITS.max_seconds},
                                     "ratio_goals": [list(goal) for goal in RATIO_GOALS], "rtf_goal": RTF_GOAL},
                        versions=versions(ffmpeg))
    result["lengths"] = []
    with tempfile.TemporaryDirectory(prefix="bench-transcode-") as tmp:
        for seconds in lengths:
            print(f"{seconds:g} s speech-like WAV: {args.repeats} runs per side ...", flush=True)
            result["lengths"].append(measure_length(seconds, ffmpeg, Path(tmp), args.repeats))
    finish(result, began, RESULTS, table(result), "", *verdicts(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
