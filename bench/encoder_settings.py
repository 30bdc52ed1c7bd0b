"""What each encoder setting costs and what it does to speech: the renditions' candidate settings,
CPU against STOI, on the same spoken recording.

    .venv/bin/python -m bench.encoder_settings [--seconds 120] [--repeats 3]

The source is `bench.pipeline_e2e`'s spoken master (espeak-ng, looped), resampled to 8 kHz by the
ffmpeg CLI, decoded once; each candidate is the product's `_Encoder` fed those frames, `--repeats`
times (CPU: `time.process_time()`, min and median); its output is decoded and scored against the
source with STOI (`bench.pipeline_e2e.stoi_score`). Writes `bench/results/encoder_settings.json`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av

from bench.common import aligned, argument_parser, finish, new_result, results_path
from bench.pipeline_e2e import decoded, master_wav, stoi_score
from shared.adapters import audio_codec

NAME = "encoder_settings"
RESULTS = results_path(NAME)
VOIP = {"application": "voip"}
CANDIDATES = [
    *(audio_codec.Rendition(f"opus c{c} {fd} ms", "ogg", "libopus", None, 24_000, "audio/ogg",
                            {**VOIP, "compression_level": str(c), "frame_duration": fd})
      for c in (5, 3, 1, 0) for fd in ("20", "60")),
    *(audio_codec.Rendition(f"mp3 q{q}", "mp3", "libmp3lame", None, 32_000, "audio/mpeg", {"compression_level": str(q)})
      for q in (7, 9)),
    audio_codec.Rendition("wav mu-law", "wav", "pcm_mulaw", 8_000, None, "audio/wav", {}),
]


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(NAME, __doc__)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    result = new_result(NAME, argv, {"seconds": args.seconds, "repeats": args.repeats})
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-encoders-") as tmp:
        work = Path(tmp)
        source = work / "speech8k.wav"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(master_wav(args.seconds, work)),
                        "-ar", "8000", str(source)], check=True)
        reference = decoded(source)
        with audio_codec._opened(source) as (container, stream, band):
            chunks = list(audio_codec._samples(container, stream, band, 10**9))
        frames = []
        for chunk in chunks:
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = band
            frames.append(frame)
        for candidate in CANDIDATES:
            out = work / f"out.{candidate.container}"
            cpu = []
            for _ in range(args.repeats):
                started = time.process_time()
                encoder = audio_codec._Encoder(candidate, out, band)
                for frame in frames:
                    encoder.write(frame)
                encoder.close()
                cpu.append(time.process_time() - started)
            rows.append({"setting": candidate.name, "options": candidate.options, "cpu_min_s": min(cpu),
                         "cpu_median_s": statistics.median(cpu), "bytes": out.stat().st_size,
                         "stoi": stoi_score(reference, decoded(out))})
            print(f"  {candidate.name}: {rows[-1]['cpu_median_s']:.3f} s, STOI {rows[-1]['stoi']:.4f}", flush=True)
    result["settings"] = rows
    table = aligned([["setting", "CPU s min", "CPU s median", "bytes", "STOI"],
                     *([r["setting"], f"{r['cpu_min_s']:.3f}", f"{r['cpu_median_s']:.3f}", str(r["bytes"]),
                        f"{r['stoi']:.4f}"] for r in rows)], rule=True)
    finish(result, began, RESULTS, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
