"""Transcoding streams: a 30-minute recording must not grow the process by more than 200 MB.

Measured in a fresh interpreter so nothing else this test session allocated gets in the way. The
child writes the 30-minute 8 kHz WAV to a temporary file chunk by chunk (one minute of speech-like
audio, generated once and written 30 times), then reads its memory just before and just after
`transcode`. Two measures:

- `ru_maxrss` (peak RSS, KiB on Linux), as asked of the process. It is a high-water mark that
  also counts the peak of the process that spawned it (the kernel keeps the old address space's
  peak across exec), so on its own it can hide growth below the pytest process's size;
- `VmHWM` from /proc/self/status, after resetting it (`echo 5 > /proc/self/clear_refs`) just
  before transcoding: the peak RSS of this address space during `transcode` alone.

Both must grow by less than 200 MB. About 25 s of CPU.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MINUTES = 30
LIMIT_KIB = 200 * 1000 * 1000 // 1024  # 200 MB
EXPECTED_MS = MINUTES * 60 * 1000

CHILD = f"""
import io, json, resource, tempfile, wave
from pathlib import Path

from shared.adapters.audio_codec import transcode
from shared.domain.audio import AudioLimits
from devstack.make_sample_wav import speech_like_wav

RATE = 8000


def status_kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def maxrss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


with tempfile.TemporaryDirectory(prefix="audio-memory-") as tmp:
    source = Path(tmp) / "long.wav"
    with wave.open(io.BytesIO(speech_like_wav(60.0, rate=RATE)), "rb") as piece:
        minute = piece.readframes(piece.getnframes())
    with wave.open(str(source), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        for _ in range({MINUTES}):
            out.writeframes(minute)
    del minute
    out_dir = Path(tmp) / "out"
    out_dir.mkdir()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        hwm_reset = True
    except OSError:
        hwm_reset = False
    before = {{"maxrss_kib": maxrss_kib(), "rss_kib": status_kib("VmRSS"), "hwm_kib": status_kib("VmHWM")}}
    result = transcode(source, out_dir, AudioLimits(min_seconds=1, max_seconds=3600))
    after = {{"maxrss_kib": maxrss_kib(), "rss_kib": status_kib("VmRSS"), "hwm_kib": status_kib("VmHWM")}}
    print(json.dumps({{"before": before, "after": after, "hwm_reset": hwm_reset,
                      "source_bytes": source.stat().st_size, "duration_ms": result.duration_ms,
                      "truncated": result.truncated,
                      "outputs": {{name: path.stat().st_size for name, path in result.files.items()}}}}))
"""


def test_thirty_minutes_transcode_in_flat_memory() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, timeout=240,
                          check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    before, after = report["before"], report["after"]
    print(json.dumps(report, indent=2))  # shown with -s, or on failure

    assert report["source_bytes"] == 44 + MINUTES * 60 * 8000 * 2
    assert not report["truncated"]
    assert abs(report["duration_ms"] - EXPECTED_MS) <= 20, report["duration_ms"]
    assert all(size > 0 for size in report["outputs"].values()), report["outputs"]

    maxrss_growth = after["maxrss_kib"] - before["maxrss_kib"]
    assert maxrss_growth < LIMIT_KIB, f"ru_maxrss grew by {maxrss_growth} KiB: {report}"
    if report["hwm_reset"] and before["rss_kib"] is not None:
        peak_growth = after["hwm_kib"] - before["rss_kib"]
        assert peak_growth < LIMIT_KIB, f"peak RSS during transcode grew by {peak_growth} KiB: {report}"


ORPHAN_CHILD = """
import json, os, tempfile
from pathlib import Path

from shared.adapters.transcode_pool import PyAvTranscoder
from shared.domain.audio import AudioLimits
from devstack.make_sample_wav import speech_like_wav
import psutil

transcoder = PyAvTranscoder(workers=2)
with tempfile.TemporaryDirectory() as tmp:
    source = Path(tmp) / "speech.wav"
    source.write_bytes(speech_like_wav(2.0, rate=8000))
    transcoder.transcode(source, Path(tmp), AudioLimits(min_seconds=1, max_seconds=60))
print(json.dumps([child.pid for child in psutil.Process().children(recursive=True)]), flush=True)
os._exit(0)  # gone without closing the pool, as a killed host is
"""


def test_transcoding_workers_do_not_outlive_their_process() -> None:
    """A host that dies (or stops without closing the pool) leaves no transcoding worker behind."""
    import psutil

    from tests.support import wait_until

    done = subprocess.run([sys.executable, "-c", ORPHAN_CHILD], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    workers = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(workers) >= 2  # the two workers (and the pool's resource tracker)

    def gone() -> bool:
        return not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                       for pid in workers)

    wait_until(gone, timeout=30, message="the orphaned workers to exit")
