"""Decode any telephony or app audio by its content and encode the renditions clients play.

PyAV (its wheel bundles FFmpeg with Opus, LAME, opencore AMR, GSM, G.722, mu/A-law): nothing to
install in Azure's workers. The source is decoded once, frame by frame, so memory stays flat
whatever the length: that pass measures (exact duration from the decoded samples, level, speech
energy) and spools the mono samples to a file beside the renditions; the second pass reads them back
and encodes every rendition at once with the gain the first one chose.

AMR (what mobile networks record) is decoded by opencore, as phones and gateways write it: FFmpeg's
native AMR decoders stop at frames they do not implement ("not yet implemented"); opencore decodes
every bit rate and the DTX comfort-noise (SID) and NO_DATA frames.

`shared/adapters/transcode_pool.py` runs each transcode in a pool of worker processes, one per
core: PyAV holds the GIL while it encodes, so threads would transcode one message at a time.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from shared.domain.audio import MAX_CHANNELS, MAX_SOURCE_RATE, MIN_SOURCE_RATE, AudioLimits, AudioRejected, Transcoded

# Narrowband (telephony) sources are analysed and encoded at 8 kHz, the rest at 16 kHz: there is
# no point paying to encode bandwidth the recording never had.
NARROWBAND, WIDEBAND = 8_000, 16_000
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
    # Speech settings, chosen by CPU and STOI against the source (docs/benchmarks.md, "End to end"):
    # Opus VoIP tuning at complexity 5 in 60 ms frames (less CPU than 20 ms frames, and the same STOI
    # or better; complexity 0-3 cost less again but score a little lower); LAME at quality 9, its
    # fastest: a CBR MP3 at these rates comes out the same size and scores the same as at 7.
    Rendition("opus", "ogg", "libopus", None, 24_000, "audio/ogg",
              {"application": "voip", "compression_level": "5", "frame_duration": "60"}),
    Rendition("wav", "wav", "pcm_mulaw", 8_000, None, "audio/wav", {}),
    Rendition("mp3", "mp3", "libmp3lame", None, 32_000, "audio/mpeg", {"compression_level": "9"}),
)
# Decoders that handle what the network writes, where FFmpeg's own (chosen by default) do not.
DECODER_FOR = {"amrnb": "libopencore_amrnb", "amrwb": "libopencore_amrwb"}
# Content types that name headerless audio (RFC 2046 `audio/basic`; RFC 3551's RTP payload names, as
# PBXes store calls): a body with no container is read as that format, mono at its RTP clock rate.
_PCM8K = {"sample_rate": "8000", "ch_layout": "mono"}
HEADERLESS = {"audio/basic": ("mulaw", _PCM8K), "audio/pcmu": ("mulaw", _PCM8K), "audio/pcma": ("alaw", _PCM8K),
              "audio/g722": ("g722", {}), "audio/gsm": ("gsm", {})}
# A WAV of PCM or G.711 (what Asterisk and FreeSWITCH record) is read 64 KiB a packet, not 4 KiB: the
# cost of decoding it is per packet. Its header says all there is to know, so the probe reads no
# further than the header (a probe of big packets decodes several of them).
PCM_WAV_OPTIONS = {"max_size": "65536", "probesize": "32"}
CONTAINER_MAGIC = (b".snd", b"RIFF", b"OggS", b"fLaC", b"#!AMR", b"ID3", b"FORM")
SPOOL_NAME = "decoded.f32"  # the decoded mono samples, in the output directory
SPOOL_CHUNK = 32_768  # samples per read of the spool (128 KiB)
SAMPLES_BATCH = 16_384  # decoded samples gathered before the measuring pass looks at them (64 KiB)
_DIRECT = {"s16": (np.int16, 1 / 32768), "s16p": (np.int16, 1 / 32768), "flt": (np.float32, None),
           "fltp": (np.float32, None)}  # mono sample formats read without the resampler: dtype, scale
FLOAT_FORMATS = ("flt", "fltp")  # fed to encoders that take them (Opus, LAME): the samples are float already
PADDING_S = 0.1  # at most this much past what the container declares is an encoder's padding


def _dbfs(rms: float) -> float:
    return 20 * math.log10(rms) if rms > 0 else -200.0


def _how_to_open(source: Path, content_type: str | None) -> tuple[str | None, dict[str, str]]:
    """The demuxer and its options: a headerless body's format, as its content type names it
    (HEADERLESS); a WAV read in big packets (PCM_WAV_OPTIONS); else None (probe the content)."""
    with open(source, "rb") as head_file:
        head = head_file.read(12)
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav", PCM_WAV_OPTIONS
    raw = HEADERLESS.get((content_type or "").split(";")[0].strip().lower())
    if raw is None or head.startswith(CONTAINER_MAGIC):  # a Sun .au (also audio/basic)...: probe it
        return None, {}
    return raw


@contextlib.contextmanager
def _opened(source: Path, content_type: str | None = None
            ) -> Iterator[tuple[av.container.InputContainer, av.audio.stream.AudioStream, int]]:
    """The source's first audio stream and the band to work at; AudioRejected when there is none."""
    form, options = _how_to_open(source, content_type)
    container = _open(source, form, options)
    if options is PCM_WAV_OPTIONS and not _pcm(container):  # compressed audio in a WAV: its own packets
        container.close()
        container = _open(source, None, {})
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


def _open(source: Path, form: str | None, options: dict[str, str]) -> av.container.InputContainer:
    try:
        return av.open(str(source), mode="r", format=form, options=dict(options))
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise AudioRejected("invalid-audio", "not a recognised audio format") from error


def _pcm(container: av.container.InputContainer) -> bool:
    audio = container.streams.audio
    context = audio[0].codec_context if audio else None
    return context is not None and context.codec is not None and context.name.startswith("pcm_")


def _finite(samples: np.ndarray) -> np.ndarray:
    """Float sources can carry NaN, infinities or overs: silence the first two, clip the rest."""
    if not np.isfinite(samples).all():
        samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(samples, -1.0, 1.0, out=samples)


def _direct(frame: av.AudioFrame, rate: int) -> np.ndarray | None:
    """A mono frame already at rate, as float32, without the resampler (it is most of the decoding
    cost of a PCM source, frame by small frame): the same values, as swresample scales s16 by 2^-15
    and passes flt through. None for any other frame."""
    kind = _DIRECT.get(frame.format.name)
    if kind is None or frame.sample_rate != rate or frame.layout.nb_channels != 1:
        return None
    samples = np.frombuffer(frame.planes[0], dtype=kind[0], count=frame.samples)
    return samples * np.float32(kind[1]) if kind[1] is not None else samples.copy()


def _samples(container: av.container.InputContainer, stream: av.audio.stream.AudioStream, rate: int,
             max_samples: int) -> Iterator[np.ndarray]:
    """Mono float32 at rate, up to max_samples (and the rest of one frame, so truncation shows), in
    chunks of about SAMPLES_BATCH: the measuring pass's numpy work and the spool's writes are per chunk."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    resampling = False  # once the resampler is used it stays in use: it may hold samples back
    produced, pending, held = 0, [], 0
    try:
        for frame in _frames(container, stream):
            direct = None if resampling else _direct(frame, rate)
            outs = [direct] if direct is not None else [out.to_ndarray().reshape(-1)
                                                        for out in resampler.resample(frame)]
            resampling = resampling or direct is None
            for out in outs:
                pending.append(out)
                held += out.size
                produced += out.size
            if produced > max_samples:
                break
            if held >= SAMPLES_BATCH:
                yield _finite(np.concatenate(pending))
                pending, held = [], 0
        else:
            pending += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)] if resampling else []
        if pending:
            yield _finite(np.concatenate(pending))
    except av.FFmpegError as error:
        raise AudioRejected("invalid-audio", "the audio is corrupt or cut off") from error


def _frames(container: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> Iterator[av.AudioFrame]:
    """The stream's decoded frames, by the decoder of DECODER_FOR when its codec has one there.

    A last packet that does not decode is dropped, as the ffmpeg CLI drops it: sox ends a WAV49 GSM
    file with a short block. Anywhere else a packet that does not decode makes the audio corrupt."""
    name = DECODER_FOR.get(stream.codec_context.name)
    decoder = stream.codec_context
    if name is not None:
        decoder = av.CodecContext.create(name, "r")
        decoder.sample_rate = stream.codec_context.sample_rate
    pending = None
    for packet in container.demux(stream):
        if not packet.size:  # the demuxer's flush packet: decode(None) below flushes
            continue
        if pending is not None:
            yield from decoder.decode(pending)
        pending = packet
    if pending is not None:
        try:
            last = decoder.decode(pending)
        except av.FFmpegError:
            last = []
        yield from last
    yield from decoder.decode(None)


def _declared_samples(container: av.container.InputContainer, stream: av.audio.stream.AudioStream,
                      rate: int) -> int | None:
    """How many samples at rate the container says the stream holds, where it says so exactly
    (WAV's fact chunk or data size, an MP4/3GP edit list), else None."""
    if not (container.format.name == "wav" or "mp4" in container.format.name.split(",")):
        return None
    if not stream.duration or stream.time_base is None:
        return None
    return round(stream.duration * stream.time_base * rate)


@dataclass
class _Measure:
    rate: int
    samples: int = 0
    declared: int | None = None  # what the container says the stream holds (see _declared_samples)
    peak: float = 0.0
    loudest_window_dbfs: float = -200.0
    active_energy: float = 0.0
    active_samples: int = 0


def _measure(source: Path, limits: AudioLimits, spool: Path | None = None, content_type: str | None = None
             ) -> _Measure:
    """Decode source once and measure it; with spool, also write the kept mono samples there."""
    with _opened(source, content_type) as (container, stream, rate), \
            (open(spool, "wb") if spool else contextlib.nullcontext()) as out:
        measure = _Measure(rate, declared=_declared_samples(container, stream, rate))
        window = rate // 50  # 20 ms
        budget = int(limits.max_seconds * rate)
        carry = np.zeros(0, dtype=np.float32)
        for chunk in _samples(container, stream, rate, budget):
            kept = chunk[: max(0, budget + 1 - measure.samples)]  # one past the budget marks truncation
            if out is not None:
                out.write(kept[: max(0, budget - measure.samples)].tobytes())
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
        if measure.declared is not None and 0 < measure.samples - measure.declared <= rate * PADDING_S:
            # The encoder padded its last frame (AAC, ADPCM blocks) and the container says where the
            # recording ends: keep what it says.
            measure.samples = measure.declared
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
    """One rendition's encoder and muxer, fed the band's float frames however long they are: PyAV's
    encode converts them to the codec's rate and sample format and cuts them to its frame size, in C
    (a FIFO of our own in front, frame by 20-60 ms frame, cost more than the muxing)."""

    def __init__(self, rendition: Rendition, path: Path, band: int):
        self.rendition = rendition
        self.path = path
        self.container = av.open(str(path), mode="w", format=rendition.container)
        self.stream = self.container.add_stream(rendition.codec, rate=rendition.rate or band, options=rendition.options)
        self.stream.layout = "mono"
        if rendition.bit_rate:
            self.stream.bit_rate = rendition.bit_rate
        formats = [f.name for f in self.stream.codec_context.codec.audio_formats]
        self.stream.format = next((f for f in FLOAT_FORMATS if f in formats), formats[0])
        self.stream.codec_context.open()

    def write(self, frame: av.AudioFrame) -> None:
        self.container.mux(self.stream.encode(frame))

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        self.container.close()


def _spooled(spool: Path, count: int) -> Iterator[np.ndarray]:
    """The first count samples written to spool, a chunk at a time."""
    with open(spool, "rb") as spooled:
        while count > 0:
            chunk = np.fromfile(spooled, dtype=np.float32, count=min(SPOOL_CHUNK, count))
            if chunk.size == 0:
                return
            count -= chunk.size
            yield chunk


def transcode(source: Path, out_dir: Path, limits: AudioLimits, content_type: str | None = None,
              renditions: tuple[str, ...] | None = None) -> Transcoded:
    """Renditions of source in out_dir, or AudioRejected (invalid-audio, too-short, silent). The
    format is found from the content; content_type matters only for headerless bodies (HEADERLESS).
    renditions: the names (of RENDITIONS) to make, default all. Each encoder is fed the same samples
    whatever the others, so a rendition made alone is byte for byte the one made with the rest."""
    chosen = tuple(r for r in RENDITIONS if renditions is None or r.name in renditions)
    if renditions is not None and len(chosen) != len(set(renditions)):
        raise ValueError(f"unknown renditions in {renditions}")
    spool = out_dir / SPOOL_NAME
    try:
        return _transcode(source, out_dir, limits, spool, content_type, chosen)
    finally:
        spool.unlink(missing_ok=True)


def _transcode(source: Path, out_dir: Path, limits: AudioLimits, spool: Path, content_type: str | None,
               renditions: tuple[Rendition, ...] = RENDITIONS) -> Transcoded:
    measure = _measure(source, limits, spool, content_type)
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
    encoders = [_Encoder(r, out_dir / f"{r.name}.{r.container}", rate) for r in renditions]
    written, time_base = 0, Fraction(1, rate)
    for chunk in _spooled(spool, kept):
        scaled = np.clip(chunk * gain, -1.0, 1.0) if gain != 1.0 else chunk
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(scaled).reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate, frame.time_base, frame.pts = rate, time_base, written
        written += chunk.size
        for encoder in encoders:
            encoder.write(frame)
    for encoder in encoders:
        encoder.close()
    return Transcoded(duration_ms=round(written * 1000 / rate), truncated=measure.samples > budget,
                      files={e.rendition.name: e.path for e in encoders}, gain_db=round(_dbfs(float(gain)), 1))
