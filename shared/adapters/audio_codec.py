"""Decode any telephony or app audio by its content and encode the renditions clients play.

PyAV, in-process (its wheel bundles FFmpeg with Opus, LAME, AMR, GSM, G.722, mu/A-law): no
subprocess, nothing to install in Azure's workers. Two streaming passes over the source, frame by
frame, so memory stays flat whatever the length: the first measures (exact duration from the
decoded samples, level, speech energy), the second encodes every rendition at once with the gain
the first one chose.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from shared.domain.audio import AudioLimits, AudioRejected, Transcoded

# Narrowband (telephony) sources are analysed and encoded at 8 kHz, the rest at 16 kHz: there is
# no point paying to encode bandwidth the recording never had.
NARROWBAND, WIDEBAND = 8_000, 16_000
MIN_SOURCE_RATE, MAX_SOURCE_RATE, MAX_CHANNELS = 4_000, 384_000, 16
SILENT_DBFS = -55.0  # no 20 ms window louder than this: no speech energy at all
ACTIVE_DBFS = -45.0  # windows louder than this count as speech for the level
TARGET_DBFS, MAX_GAIN_DB, PEAK_LIMIT = -20.0, 20.0, 10 ** (-1.0 / 20)  # speech level, boost cap, -1 dBFS


@dataclass(frozen=True)
class Rendition:
    name: str
    container: str
    codec: str
    rate: int | None  # None: the source's band
    bit_rate: int | None
    content_type: str
    options: dict[str, str]


RENDITIONS = (
    # Speech settings: VoIP tuning at complexity 5 (complexity 10 costs twice the CPU for no
    # audible gain on speech); LAME at quality 7.
    Rendition("opus", "ogg", "libopus", None, 24_000, "audio/ogg", {"application": "voip", "compression_level": "5"}),
    Rendition("wav", "wav", "pcm_mulaw", 8_000, None, "audio/wav", {}),
    Rendition("mp3", "mp3", "libmp3lame", None, 32_000, "audio/mpeg", {"compression_level": "7"}),
)


def _dbfs(rms: float) -> float:
    return 20 * math.log10(rms) if rms > 0 else -200.0


@contextlib.contextmanager
def _opened(source: Path) -> Iterator[tuple[av.container.InputContainer, av.audio.stream.AudioStream, int]]:
    """The source's first audio stream and the band to work at; AudioRejected when there is none."""
    try:
        container = av.open(str(source), mode="r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise AudioRejected("invalid-audio", "not a recognised audio format") from error
    with container:
        if not container.streams.audio:
            raise AudioRejected("invalid-audio", "the file has no audio stream")
        stream = container.streams.audio[0]
        context = stream.codec_context
        if context is None or context.codec is None:
            raise AudioRejected("invalid-audio", "no decoder for this kind of audio")
        if not MIN_SOURCE_RATE <= (context.sample_rate or 0) <= MAX_SOURCE_RATE:
            raise AudioRejected("invalid-audio", f"sample rate {context.sample_rate} Hz is out of range")
        if (context.channels or 0) > MAX_CHANNELS:
            raise AudioRejected("invalid-audio", f"{context.channels} channels is too many")
        yield container, stream, NARROWBAND if context.sample_rate <= NARROWBAND else WIDEBAND


def _finite(samples: np.ndarray) -> np.ndarray:
    """Float sources can carry NaN, infinities or overs: silence the first two, clip the rest."""
    if not np.isfinite(samples).all():
        samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(samples, -1.0, 1.0, out=samples)


def _samples(container: av.container.InputContainer, stream: av.audio.stream.AudioStream, rate: int,
             max_samples: int) -> Iterator[np.ndarray]:
    """Mono float32 at rate, up to max_samples (and the rest of one frame, so truncation shows)."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    produced = 0
    try:
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                samples = _finite(out.to_ndarray().reshape(-1))
                produced += samples.size
                yield samples
            if produced > max_samples:
                return
        for out in resampler.resample(None):
            yield _finite(out.to_ndarray().reshape(-1))
    except av.FFmpegError as error:
        raise AudioRejected("invalid-audio", "the audio is corrupt or cut off") from error


@dataclass
class _Measure:
    rate: int
    samples: int = 0
    peak: float = 0.0
    loudest_window_dbfs: float = -200.0
    active_energy: float = 0.0
    active_samples: int = 0


def _measure(source: Path, limits: AudioLimits) -> _Measure:
    with _opened(source) as (container, stream, rate):
        measure = _Measure(rate)
        window = rate // 50  # 20 ms
        budget = int(limits.max_seconds * rate)
        carry = np.zeros(0, dtype=np.float32)
        for chunk in _samples(container, stream, rate, budget):
            kept = chunk[: max(0, budget + 1 - measure.samples)]  # one past the budget marks truncation
            measure.samples += kept.size
            if kept.size:
                measure.peak = max(measure.peak, float(np.max(np.abs(kept))))
            carry = np.concatenate([carry, kept])
            whole = carry.size // window * window
            if whole:
                windows = carry[:whole].reshape(-1, window).astype(np.float64)
                energy = np.mean(windows * windows, axis=1)
                loudest = _dbfs(math.sqrt(float(energy.max())))
                measure.loudest_window_dbfs = max(measure.loudest_window_dbfs, loudest)
                active = energy[energy > (10 ** (ACTIVE_DBFS / 10))]
                measure.active_energy += float(active.sum()) * window
                measure.active_samples += active.size * window
                carry = carry[whole:]
            if measure.samples > budget:
                break
        return measure


def _gain(measure: _Measure, normalize: bool) -> float:
    if not normalize or measure.active_samples == 0:
        return 1.0
    active_dbfs = _dbfs(math.sqrt(measure.active_energy / measure.active_samples))
    gain = 10 ** (min(MAX_GAIN_DB, max(-MAX_GAIN_DB, TARGET_DBFS - active_dbfs)) / 20)
    if measure.peak * gain > PEAK_LIMIT:  # never clip: the peak bounds the boost
        gain = PEAK_LIMIT / measure.peak
    return gain


class _Encoder:
    def __init__(self, rendition: Rendition, path: Path, band: int):
        self.rendition = rendition
        self.path = path
        rate = rendition.rate or band
        self.container = av.open(str(path), mode="w", format=rendition.container)
        self.stream = self.container.add_stream(rendition.codec, rate=rate, options=rendition.options)
        self.stream.layout = "mono"
        if rendition.bit_rate:
            self.stream.bit_rate = rendition.bit_rate
        self.stream.codec_context.open()
        self.frame_size = self.stream.codec_context.frame_size or 1024
        self.resampler = av.AudioResampler(format=self.stream.codec_context.format.name, layout="mono", rate=rate)
        self.fifo = av.AudioFifo()
        self.pts = 0

    def _drain(self, final: bool) -> None:
        while self.fifo.samples >= self.frame_size or (final and self.fifo.samples):
            frame = self.fifo.read(min(self.frame_size, self.fifo.samples))
            frame.pts = self.pts
            self.pts += frame.samples
            self.container.mux(self.stream.encode(frame))

    def write(self, frame: av.AudioFrame | None) -> None:
        for out in self.resampler.resample(frame):
            out.pts = None
            self.fifo.write(out)
        self._drain(final=frame is None)

    def close(self) -> None:
        self.write(None)
        self.container.mux(self.stream.encode(None))
        self.container.close()


def transcode(source: Path, out_dir: Path, limits: AudioLimits) -> Transcoded:
    """Renditions of source in out_dir, or AudioRejected (invalid-audio, too-short, silent)."""
    measure = _measure(source, limits)
    rate = measure.rate
    budget = int(limits.max_seconds * rate)
    if measure.samples == 0:
        raise AudioRejected("invalid-audio", "no audio could be decoded")
    kept = min(measure.samples, budget)
    if kept < limits.min_seconds * rate:
        raise AudioRejected("too-short", f"{kept / rate:.2f} s is shorter than {limits.min_seconds:g} s")
    if measure.loudest_window_dbfs < SILENT_DBFS:
        raise AudioRejected("silent", "no speech energy in the recording")
    gain = np.float32(_gain(measure, limits.normalize))
    encoders = [_Encoder(r, out_dir / f"{r.name}.{r.container}", rate) for r in RENDITIONS]
    written = 0
    with _opened(source) as (container, stream, _):
        for decoded in _samples(container, stream, rate, budget):
            chunk = decoded[: budget - written]
            if chunk.size == 0:
                break
            written += chunk.size
            scaled = np.clip(chunk * gain, -1.0, 1.0) if gain != 1.0 else chunk
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(scaled).reshape(1, -1), format="flt",
                                               layout="mono")
            frame.sample_rate = rate
            for encoder in encoders:
                encoder.write(frame)
    for encoder in encoders:
        encoder.close()
    return Transcoded(duration_ms=round(written * 1000 / rate), truncated=measure.samples > budget,
                      files={e.rendition.name: e.path for e in encoders}, gain_db=round(_dbfs(float(gain)), 1))


class PyAvTranscoder:
    """The Transcoder port, in-process."""

    def transcode(self, source: Path, out_dir: Path, limits: AudioLimits) -> Transcoded:
        return transcode(source, out_dir, limits)
