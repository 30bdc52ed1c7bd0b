"""A test corpus for the audio codec, synthesised and encoded here (PyAV), never downloaded.

`speech_like` is a vectorised source-filter sketch of speech (voiced harmonics of a gliding
fundamental, shaped by three formant resonances, syllable envelopes, word gaps and phrase pauses,
a faint noise floor); `tone` is a plain sine. `encode` writes either with any PyAV encoder into any
muxer, and `decoded_duration` measures what a file really holds by decoding it, for the formats whose
encoders add priming or pad the last frame. The `broken_*` helpers build the corrupt inputs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# Formants F1-F3 (Hz) of a few vowels (Peterson & Barney averages, adult male) and their bandwidths.
VOWELS = np.array([(730, 1090, 2440), (530, 1840, 2480), (270, 2290, 3010), (570, 840, 2410), (300, 870, 2240),
                   (660, 1720, 2410), (490, 1350, 1690)], dtype=np.float64)
BANDWIDTHS = np.array([90.0, 110.0, 170.0])
PEAK = 10 ** (-3 / 20)  # the signal's peak, about -3 dBFS
NOISE_FLOOR = 10 ** (-66 / 20)  # standard deviation of the floor, about -66 dBFS


def _envelope(n: int) -> np.ndarray:
    """0 -> 1 -> 0 over n samples: a raised-cosine attack (15 %), a plateau, a slower release (35 %)."""
    position = np.arange(n) / max(n, 1)
    out = np.ones(n)
    attack = position < 0.15
    out[attack] = 0.5 - 0.5 * np.cos(np.pi * position[attack] / 0.15)
    release = position > 0.65
    out[release] = 0.5 + 0.5 * np.cos(np.pi * (position[release] - 0.65) / 0.35)
    return out


def _syllable(n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """One voiced syllable: harmonics of a declining, slightly vibrato f0 under gliding formants."""
    t = np.arange(n) / rate
    f0_start = rng.uniform(110.0, 175.0)
    f0 = np.linspace(f0_start, f0_start * rng.uniform(0.88, 1.0), n)
    f0 *= 1.0 + 0.012 * np.sin(2 * np.pi * rng.uniform(4.5, 6.0) * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    start, end = VOWELS[rng.integers(len(VOWELS))], VOWELS[rng.integers(len(VOWELS))]
    glide = np.clip((np.arange(n) / n - 0.6) / 0.4, 0.0, 1.0)[:, None]
    formants = start + (end - start) * glide * glide * (3.0 - 2.0 * glide)  # (n, 3)
    top = min(0.45 * rate, 5_000.0)
    coarse = np.arange(0, n, max(1, rate // 500))  # the spectral envelope moves slowly: every 2 ms is plenty
    out = np.zeros(n)
    for k in range(1, int(top // f0.min()) + 1):
        frequency = k * f0[coarse]
        response = np.sum(1.0 / (1.0 + ((frequency[:, None] - formants[coarse]) / (BANDWIDTHS / 2)) ** 2), axis=1)
        response = np.where(frequency < top, response, 0.0) / k  # a -6 dB/octave glottal tilt
        out += np.interp(np.arange(n), coarse, response) * np.sin(k * phase)
    return out * _envelope(n) * rng.uniform(0.6, 1.0)


def speech_like(seconds: float, rate: int, seed: int = 7) -> np.ndarray:
    """Mono float32 speech-like audio: syllables, word gaps and phrase pauses; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    total = round(seconds * rate)
    signal = np.zeros(total)
    t = int(0.12 * rate)
    syllables = 0
    while t < total - int(0.3 * rate):
        length = min(int(rng.uniform(0.12, 0.28) * rate), total - int(0.1 * rate) - t)
        signal[t:t + length] += _syllable(length, rate, rng)
        t += length + int(rng.uniform(0.02, 0.05) * rate)
        syllables += 1
        if syllables % 3 == 0:
            t += int(rng.uniform(0.08, 0.2) * rate)  # between words
        if syllables % 8 == 0:
            t += int(rng.uniform(0.3, 0.45) * rate)  # between phrases
    peak = float(np.max(np.abs(signal))) or 1.0
    signal = signal * (PEAK / peak) + rng.normal(0.0, NOISE_FLOOR, total)
    return np.clip(signal, -1.0, 1.0).astype(np.float32)


def tone(seconds: float, rate: int, frequency: float = 440.0, dbfs: float = -12.0) -> np.ndarray:
    """A plain sine, peak at dbfs."""
    t = np.arange(round(seconds * rate)) / rate
    return (10 ** (dbfs / 20) * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def noise(seconds: float, rate: int, dbfs: float, seed: int = 3) -> np.ndarray:
    """White noise with an RMS of dbfs."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 10 ** (dbfs / 20), round(seconds * rate)).astype(np.float32)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0


@dataclass(frozen=True)
class Format:
    """How a voice platform might send audio: muxer, encoder and encoder settings."""

    container: str  # the muxer's name
    codec: str  # the encoder's name
    suffix: str
    bit_rate: int | None = None
    options: dict[str, str] = field(default_factory=dict)


def encode(samples: np.ndarray, rate: int, path: Path, fmt: Format, channels: int = 1) -> Path:
    """Write mono float samples (copied to every channel) at rate into path with fmt's encoder and muxer."""
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), mode="w", format=fmt.container) as container:
        stream = container.add_stream(fmt.codec, rate=rate, options=dict(fmt.options))
        stream.layout = layout
        if fmt.bit_rate:
            stream.bit_rate = fmt.bit_rate
        context = stream.codec_context
        context.open()
        frame_size = context.frame_size or 1024
        # An encoder without these capabilities only takes whole frames: pad the last one with silence.
        lenient = context.codec.capabilities & (av.codec.codec.Capabilities.small_last_frame
                                                | av.codec.codec.Capabilities.variable_frame_size)
        data = np.repeat(samples.reshape(1, -1), channels, axis=0)
        if not lenient and data.shape[1] % frame_size:
            data = np.pad(data, ((0, 0), (0, frame_size - data.shape[1] % frame_size)))
        resampler = av.AudioResampler(format=context.format.name, layout=layout, rate=rate)
        pts = 0
        for start in range(0, data.shape[1], frame_size):
            chunk = np.ascontiguousarray(data[:, start:start + frame_size])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate = rate
            for out in resampler.resample(frame):
                out.pts = pts
                out.time_base = Fraction(1, rate)
                pts += out.samples
                container.mux(stream.encode(out))
        container.mux(stream.encode(None))
    return path


@dataclass(frozen=True)
class Decoded:
    codec: str
    format: str  # container
    rate: int
    channels: int
    samples: np.ndarray  # mono float32 (the first channel)

    @property
    def duration_ms(self) -> float:
        return self.samples.size * 1000 / self.rate


def decode(path: Path) -> Decoded:
    """Every sample of the first audio stream, at the stream's own rate (first channel, float32)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        context = stream.codec_context
        rate, channels = context.sample_rate, context.channels
        resampler = av.AudioResampler(format="fltp", rate=rate)  # keeps the layout: only the sample format
        chunks = [out.to_ndarray()[0] for frame in container.decode(stream) for out in resampler.resample(frame)]
        chunks += [out.to_ndarray()[0] for out in resampler.resample(None)]
        return Decoded(context.codec.canonical_name, container.format.name, rate, channels,
                       np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32))


def opus_input_rate(path: Path) -> int:
    """The input sample rate an Ogg/Opus file declares in its OpusHead (decoders always output 48 kHz)."""
    data = path.read_bytes()
    head = data.index(b"OpusHead")
    return struct.unpack_from("<I", data, head + 12)[0]


def wav_bytes(samples: np.ndarray, rate: int) -> bytearray:
    """A canonical 44-byte-header 16-bit PCM mono WAV, for patching header fields."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16, 1, 1, rate, rate * 2,
                         2, 16, b"data", len(pcm))
    return bytearray(header + pcm)


# Field -> (offset, struct format) in the canonical 44-byte header.
WAV_FIELDS = {"riff_size": (4, "<I"), "format_tag": (20, "<H"), "channels": (22, "<H"), "rate": (24, "<I"),
              "byte_rate": (28, "<I"), "block_align": (32, "<H"), "bits": (34, "<H"), "data_size": (40, "<I")}


def patched_wav(samples: np.ndarray, sample_rate: int, **fields: int) -> bytes:
    """A 16-bit PCM WAV of samples at sample_rate whose header then gets the given fields overwritten."""
    data = wav_bytes(samples, sample_rate)
    for name, value in fields.items():
        offset, layout = WAV_FIELDS[name]
        struct.pack_into(layout, data, offset, value)
    return bytes(data)


def wav_claiming(samples: np.ndarray, rate: int, claimed_seconds: float) -> bytes:
    """A WAV whose RIFF and data sizes claim claimed_seconds, followed by only the real samples."""
    claimed = min(int(claimed_seconds * rate * 2), 0xFFFFFFFF - 36)
    return patched_wav(samples, rate, riff_size=claimed + 36, data_size=claimed)


def wav_claiming_rate(samples: np.ndarray, rate: int, claimed_rate: int) -> bytes:
    """A WAV whose header claims another sample rate than the data was made at."""
    return patched_wav(samples, rate, rate=claimed_rate, byte_rate=claimed_rate * 2)


def video_without_audio(path: Path, fmt: str, codec: str, frames: int = 12) -> Path:
    """A short video (moving grey gradient), no audio stream."""
    with av.open(str(path), mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=12)
        stream.width, stream.height = 64, 48
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for index in range(frames):
            image = np.full((48, 64, 3), (index * 20) % 256, dtype=np.uint8)
            image[:, : index * 4] = 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def image(path: Path, codec: str) -> Path:
    """One still image (png or mjpeg -> JPEG) written by the image2 muxer."""
    with av.open(str(path), mode="w", format="image2") as container:
        stream = container.add_stream(codec, rate=1)
        stream.width, stream.height = 32, 24
        stream.pix_fmt = "rgb24" if codec == "png" else "yuvj420p"
        frame = av.VideoFrame.from_ndarray(np.arange(32 * 24 * 3, dtype=np.uint8).reshape(24, 32, 3), format="rgb24")
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def at_rms(samples: np.ndarray, dbfs: float) -> np.ndarray:
    """samples scaled so that their RMS over the whole length is dbfs."""
    return (samples * (10 ** (dbfs / 20) / rms(samples))).astype(np.float32)


def garbage(size: int, seed: int = 11) -> bytes:
    """Deterministic random bytes."""
    return np.random.default_rng(seed).bytes(size)


def ogg_pages(data: bytes) -> list[int]:
    """The offsets of the Ogg pages ("OggS" capture patterns) in data."""
    pages, at = [], data.find(b"OggS")
    while at >= 0:
        pages.append(at)
        at = data.find(b"OggS", at + 1)
    return pages
