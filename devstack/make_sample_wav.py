"""A deterministic, speech-like sample: 8 kHz, 16-bit PCM, mono WAV, from the standard library only.

Not a recording and not a tone: a source-filter sketch of speech. A glottal pulse train (Rosenberg
pulses, fundamental 110-180 Hz with phrase declination, stress, vibrato and jitter) drives a cascade
of three formant resonators whose frequencies glide from vowel to vowel; syllables get their own
amplitude envelope, some start with a fricative or a plosive burst, words are separated by short
gaps and phrases by longer pauses, and a faint noise floor runs underneath. The same seed gives the
same bytes.

    python devstack/make_sample_wav.py     # writes samples/hello.wav (about 4 s)

`speech_like_wav(seconds)` returns the bytes of any length (the API benchmark uses 30 s).
"""

from __future__ import annotations

import io
import math
import random
import struct
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "hello.wav"

# Formants F1-F3 (Hz) of a few vowels (Peterson & Barney averages, adult male); F3 < 4 kHz fits 8 kHz sampling.
VOWELS = {
    "a": (730, 1090, 2440), "e": (530, 1840, 2480), "i": (270, 2290, 3010),
    "o": (570, 840, 2410), "u": (300, 870, 2240), "ae": (660, 1720, 2410), "er": (490, 1350, 1690),
}
BANDWIDTHS = (90, 110, 170)  # Hz, per formant
PEAK = 0.7 * 32767  # about -3 dBFS
NOISE_FLOOR = 12.0  # standard deviation in 16-bit units, about -68 dBFS


@dataclass(frozen=True)
class Syllable:
    start: int  # sample index
    length: int  # samples
    vowel: str
    next_vowel: str  # the formants glide towards it over the syllable's end
    f0: float  # Hz at the syllable's start
    f0_end: float
    loudness: float
    onset: str  # "", "fricative" or "plosive"


class Resonator:
    """A two-pole formant resonator (Klatt), unit gain at DC; coefficients can change per sample."""

    def __init__(self, rate: int):
        self.rate = rate
        self.y1 = self.y2 = 0.0

    def step(self, x: float, frequency: float, bandwidth: float) -> float:
        r = math.exp(-math.pi * bandwidth / self.rate)
        b1 = 2.0 * r * math.cos(2.0 * math.pi * frequency / self.rate)
        b2 = -r * r
        y = (1.0 - b1 - b2) * x + b1 * self.y1 + b2 * self.y2
        self.y2, self.y1 = self.y1, y
        return y


def _plan(total: int, rate: int, rng: random.Random) -> list[Syllable]:
    """Phrases of words of syllables, with gaps, until the duration is filled."""
    syllables: list[Syllable] = []
    vowels = list(VOWELS)
    t = int(0.15 * rate)  # a little lead-in silence
    while t < total - int(0.3 * rate):
        phrase_f0 = rng.uniform(140.0, 175.0)  # declines over the phrase
        words = rng.randint(2, 4)
        for word in range(words):
            count = rng.choice((1, 1, 2, 2, 3))
            stressed = rng.randrange(count)
            for index in range(count):
                length = int(rng.uniform(0.14, 0.30) * rate)
                if t + length > total - int(0.1 * rate):
                    break
                decline = 1.0 - 0.22 * (word + index / count) / words
                f0 = phrase_f0 * decline * (1.08 if index == stressed else 1.0)
                f0 = min(180.0, max(110.0, f0))
                f0_end = min(180.0, max(110.0, f0 * rng.uniform(0.90, 1.0)))
                onset = rng.choice(("", "", "fricative", "plosive")) if index == 0 or rng.random() < 0.3 else ""
                syllables.append(Syllable(t, length, rng.choice(vowels), rng.choice(vowels), f0, f0_end,
                                          rng.uniform(0.75, 1.0) * (1.0 if index == stressed else 0.8), onset))
                t += length + int(rng.uniform(0.015, 0.04) * rate)  # a brief dip between syllables
            t += int(rng.uniform(0.06, 0.20) * rate)  # between words
        t += int(rng.uniform(0.25, 0.45) * rate)  # between phrases
    return syllables


def _envelope(position: float) -> float:
    """0 → 1 → 0 over a syllable: a quick raised-cosine attack, a plateau, a slower release."""
    attack, release = 0.15, 0.35
    if position < attack:
        return 0.5 - 0.5 * math.cos(math.pi * position / attack)
    if position > 1.0 - release:
        return 0.5 + 0.5 * math.cos(math.pi * (position - (1.0 - release)) / release)
    return 1.0


def _render_syllable(out: list[float], syllable: Syllable, rate: int, rng: random.Random) -> None:
    formants = [Resonator(rate) for _ in range(3)]
    start_f, end_f = VOWELS[syllable.vowel], VOWELS[syllable.next_vowel]
    phase, period_jitter = 0.0, 1.0
    previous_pulse = 0.0
    vibrato_rate, vibrato_phase = rng.uniform(4.5, 6.0), rng.uniform(0.0, 2.0 * math.pi)
    # Voiced part: the onset consonant, if any, takes the first few tens of milliseconds.
    voice_from = 0
    if syllable.onset == "fricative":
        voice_from = int(rng.uniform(0.04, 0.08) * rate)
        _render_noise(out, syllable.start, voice_from + int(0.01 * rate), rate, rng, centre=rng.uniform(2500, 3500),
                      level=0.004 * syllable.loudness)
    elif syllable.onset == "plosive":
        voice_from = int(rng.uniform(0.015, 0.03) * rate)
        _render_noise(out, syllable.start, voice_from, rate, rng, centre=rng.uniform(1200, 2200),
                      level=0.012 * syllable.loudness)
    voiced = syllable.length - voice_from
    for n in range(voiced):
        position = n / voiced
        # Formants hold the vowel, then glide towards the next one over the last 40 %.
        glide = max(0.0, (position - 0.6) / 0.4)
        glide = glide * glide * (3.0 - 2.0 * glide)
        frequencies = [a + (b - a) * glide for a, b in zip(start_f, end_f, strict=True)]
        f0 = syllable.f0 + (syllable.f0_end - syllable.f0) * position
        f0 *= 1.0 + 0.012 * math.sin(vibrato_phase + 2.0 * math.pi * vibrato_rate * n / rate)
        phase += f0 * period_jitter / rate
        if phase >= 1.0:
            phase -= 1.0
            period_jitter = 1.0 + rng.gauss(0.0, 0.008)  # jitter, period to period
        # Rosenberg glottal pulse: opening 40 % of the period, closing 16 %, then closed.
        if phase < 0.40:
            pulse = 0.5 * (1.0 - math.cos(math.pi * phase / 0.40))
        elif phase < 0.56:
            pulse = math.cos(0.5 * math.pi * (phase - 0.40) / 0.16)
        else:
            pulse = 0.0
        source = pulse - previous_pulse  # lip radiation: a first difference
        previous_pulse = pulse
        sample = source
        for resonator, frequency, bandwidth in zip(formants, frequencies, BANDWIDTHS, strict=True):
            sample = resonator.step(sample, frequency, bandwidth)
        breath = rng.gauss(0.0, 0.004)
        envelope = _envelope((n + voice_from) / syllable.length)
        index = syllable.start + voice_from + n
        if index < len(out):
            out[index] += (sample + breath) * envelope * syllable.loudness


def _render_noise(out: list[float], start: int, length: int, rate: int, rng: random.Random, centre: float,
                  level: float) -> None:
    """A consonant: white noise through one broad resonator, with its own short envelope."""
    resonator = Resonator(rate)
    previous = 0.0
    for n in range(length):
        white = rng.gauss(0.0, 1.0)
        bright = white - 0.85 * previous  # tilt towards the highs
        previous = white
        value = resonator.step(bright, centre, 900.0)
        index = start + n
        if index < len(out):
            out[index] += value * level * _envelope(n / length)


def speech_like_wav(seconds: float, rate: int = 8000, seed: int = 7) -> bytes:
    """WAV bytes (16-bit PCM, mono) of speech-like audio lasting `seconds`; deterministic for a seed."""
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    rng = random.Random(seed)  # noqa: S311 - not for secrets: a fixed seed makes the audio reproducible
    total = round(seconds * rate)
    signal = [0.0] * total
    for syllable in _plan(total, rate, rng):
        _render_syllable(signal, syllable, rate, rng)
    peak = max((abs(value) for value in signal), default=0.0) or 1.0
    scale = PEAK / peak
    frames = bytearray()
    for value in signal:
        sample = round(value * scale + rng.gauss(0.0, NOISE_FLOOR))
        frames += struct.pack("<h", max(-32768, min(32767, sample)))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return buffer.getvalue()


def main() -> int:
    seconds = 4.0
    data = speech_like_wav(seconds)
    SAMPLE.parent.mkdir(parents=True, exist_ok=True)
    SAMPLE.write_bytes(data)
    with wave.open(str(SAMPLE), "rb") as check:
        duration = check.getnframes() / check.getframerate()
    print(f"wrote {SAMPLE.relative_to(ROOT)}: {len(data)} bytes, {duration:.2f} s, 8000 Hz, 16-bit, mono")
    return 0


if __name__ == "__main__":
    sys.exit(main())
