"""The local transcription engine (PocketSphinx, TRANSCRIPTION_ENGINE=local): CPU seconds per minute
of audio, on spoken audio at 8 kHz and at 16 kHz.

    .venv/bin/python -m bench.transcribe [--seconds 60] [--repeats 3]

The audio is espeak-ng (Debian package, `make install` installs it) reading a voicemail-like text
for about `--seconds`, resampled to 8 kHz (telephony) and to 16 kHz (wideband), then transcoded by
the product's own pipeline (`PyAvTranscoder`): the Opus rendition is what the transcript service
hands the engine. For each rate the engine transcribes it once unmeasured (model load, caches),
then `--repeats` times; CPU is `time.process_time()` of this process (one thread), figures are
medians. Reported apart: the model load (once per process) and the decoding and resampling alone
(`speech_pcm`, included in the transcription's figure).

`said_words_heard` is the share of the distinct words said that appear in the text: a sanity
figure, not an accuracy measure (the local engine is for running the flow; see the README).
Prints a table and writes `bench/results/transcribe.json` (git-ignored).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import aligned, argument_parser, finish, new_result, results_path, timings
from shared.adapters.speech_audio import speech_pcm, speech_wav
from shared.adapters.transcode_pool import PyAvTranscoder
from shared.adapters.transcribe_local import PocketSphinxTranscriber
from shared.domain.audio import AudioLimits

NAME = "transcribe"
RESULTS = results_path(NAME)
SENTENCES = (
    "Hi, this is Alice from the dental office calling about your appointment on Thursday morning.",
    "Please call us back at your earliest convenience so we can confirm the time.",
    "If Thursday does not work for you, we also have openings on Friday afternoon.",
    "Thank you, and have a wonderful day.",
)


def spoken(seconds: float) -> bytes:
    """espeak-ng reading SENTENCES over and over, at least `seconds` long (its own 22.05 kHz WAV)."""
    words_per_second = 150 / 60
    text, words = [], 0
    while words < seconds * words_per_second:
        for sentence in SENTENCES:
            text.append(sentence)
            words += len(sentence.split())
    return subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "--stdout", " ".join(text)],
                          check=True, capture_output=True, timeout=300).stdout


def opus_rendition(wav: bytes) -> tuple[bytes, float]:
    """What the transcript service hands the engine, and its length in seconds."""
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "original"
        source.write_bytes(wav)
        result = PyAvTranscoder().transcode(source, Path(work), AudioLimits(1, 3600, True))
        return result.files["opus"].read_bytes(), result.duration_ms / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(NAME, __doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the spoken audio")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    result = new_result(NAME, argv, {"seconds": args.seconds, "repeats": args.repeats}, engine="pocketsphinx 5.1.1")
    engine = PocketSphinxTranscriber()
    load = timings(engine.warm, 1, time.process_time)[0]  # the model load alone
    result["model_load_cpu_s"] = round(load, 3)
    voice = spoken(args.seconds)
    said = {w.strip(".,").lower() for s in SENTENCES for w in s.split()}
    rows = [["rate", "audio s", "CPU s (median)", "CPU s per audio min", "real-time factor", "decode CPU s",
             "said words heard"]]
    result["rates"] = {}
    for rate in (8000, 16000):
        audio, seconds = opus_rendition(speech_wav(voice, rate))
        heard = engine.transcribe(audio, "en-US")  # unmeasured: caches
        cpu = statistics.median(timings(lambda a=audio: engine.transcribe(a, "en-US"), args.repeats,
                                        time.process_time))
        decode = statistics.median(timings(lambda a=audio: speech_pcm(a), args.repeats, time.process_time))
        share = len(said & set(heard.text.split())) / len(said)
        figures = {"audio_s": round(seconds, 2), "cpu_s": round(cpu, 3),
                   "cpu_s_per_audio_min": round(cpu / seconds * 60, 2), "realtime_factor": round(seconds / cpu, 2),
                   "decode_cpu_s": round(decode, 3),
                   "said_words_heard": round(share, 2), "text_start": heard.text[:120]}
        result["rates"][str(rate)] = figures
        rows.append([f"{rate} Hz", f"{seconds:.1f}", f"{cpu:.2f}", f"{figures['cpu_s_per_audio_min']:.1f}",
                     f"{figures['realtime_factor']:.1f}x", f"{decode:.3f}", f"{share:.0%}"])
    finish(result, began, RESULTS, aligned(rows), f"model load (once per process): {load:.2f} CPU s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
