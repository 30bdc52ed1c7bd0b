"""Audio from real networks and PBXes (tests/unit/adapters/network_corpus.py: sox, the ffmpeg CLI, and AMR
built frame by frame) becomes the three renditions, as long as the recording really is: within
20 ms of the master every file was made from (or, for the formats that cannot say how much priming
their encoder added, of what any decoder makes of the stream). The speech survives: the mu-law
rendition is intelligible against the master (STOI)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from pystoi import stoi

from shared.adapters.audio_codec import transcode
from shared.domain.audio import AudioLimits, AudioRejected
from tests.unit.adapters.audio_corpus import decode
from tests.unit.adapters.network_corpus import CASES, Case, corpus_file, master_samples, missing_tool

LIMITS = AudioLimits(min_seconds=1, max_seconds=120)
TOLERANCE_MS = 20
INTELLIGIBLE = 0.6  # STOI of the 8 kHz mu-law rendition against the master; garbage scores ~0.2


@pytest.fixture(scope="session")
def network_file():
    def get(case: Case) -> Path:
        tool = missing_tool(case)
        if tool:
            pytest.skip(f"{tool} is not installed (make install installs it)")
        return corpus_file(case.name)
    return get


def test_headerless_audio_needs_its_content_type(network_file, tmp_path):
    """Raw mu-law has no header to find it by: declared as audio/wav it is not audio at all."""
    source = tmp_path / "original"
    source.write_bytes(network_file(next(c for c in CASES if c.name == "sox-raw-ulaw")).read_bytes())
    with pytest.raises(AudioRejected) as rejected:
        transcode(source, tmp_path, LIMITS, "audio/wav")
    assert rejected.value.reason == "invalid-audio"


def plain_decode_ms(path: Path) -> int:
    """What FFmpeg's own decoder for the stream makes of it, with no help from the container."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return round(samples * 1000 / stream.rate)


def aligned_stoi(reference: np.ndarray, degraded: np.ndarray, rate: int) -> float:
    lags = range(-rate // 10, rate // 10 + 1)
    head = min(len(reference), len(degraded)) - rate // 10
    best = max(lags, key=lambda lag: float(np.dot(reference[rate // 10: head],
                                                  degraded[rate // 10 + lag: head + lag])))
    ref, deg = (reference, degraded[best:]) if best >= 0 else (reference[-best:], degraded)
    n = min(len(ref), len(deg))
    return float(stoi(ref[:n].astype(np.float64), deg[:n].astype(np.float64), rate))


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_network_audio_becomes_renditions_of_the_right_length(case, network_file, tmp_path):
    source = tmp_path / "original"  # no extension, as the pipeline stores it: found by its content
    source.write_bytes(network_file(case).read_bytes())
    out = tmp_path / "out"
    out.mkdir()

    result = transcode(source, out, LIMITS, case.content_type)  # what the depositor declared, as the pipeline passes it

    truth = plain_decode_ms(source) if case.unsignalled_delay else case.truth_ms
    assert abs(result.duration_ms - truth) <= TOLERANCE_MS, (result.duration_ms, truth)
    assert set(result.files) == {"opus", "wav", "mp3"}
    assert sorted(p.name for p in out.iterdir()) == ["mp3.mp3", "opus.ogg", "wav.wav"]  # nothing else left
    wav = decode(result.files["wav"])
    assert wav.rate == 8_000 and abs(wav.duration_ms - result.duration_ms) <= TOLERANCE_MS
    for name in ("opus", "mp3"):
        assert abs(decode(result.files[name]).duration_ms - result.duration_ms) <= 2 * TOLERANCE_MS, name
    if case.speech and not case.unsignalled_delay:
        assert aligned_stoi(master_samples(8_000), wav.samples, 8_000) >= INTELLIGIBLE


def test_amr_with_dtx_is_what_ffmpegs_own_decoder_cannot_read(network_file):
    """Why opencore decodes AMR: sox's files (DTX on) stop FFmpeg's native decoder at the first
    comfort-noise frame. If this ever passes, the native decoder has caught up."""
    path = network_file(next(c for c in CASES if c.name == "sox-amr-nb-mode7"))
    with pytest.raises(av.FFmpegError):
        plain_decode_ms(path)
