"""Audio as networks, phones and PBXes write it: files made by other encoders than PyAV.

The corpus `tests/unit/adapters/audio_corpus.py` builds is encoded by PyAV itself, so it only ever holds
frames PyAV's own encoders write. This one is written by Debian's sox (opencore AMR-NB with DTX,
WAV49 GSM, IMA and MS ADPCM, PCM WAV at 16 and 24 bits and in float, libsox's LAME and Vorbis) and
the ffmpeg CLI (G.722, G.726 at every rate, G.723.1, GSM, Speex, Opus, AAC, MP3, FLAC, G.711, a WAV
streamed with its sizes never filled in, AMR remuxed into 3GP; headerless G.711 and
G.722 that only their content type names), from one spoken
sentence (espeak-ng; a speech-like signal where it is missing). AMR-WB and every AMR frame type (all
bit rates, SID, NO_DATA, SPEECH_LOST) have no encoder on Debian: those files are built here, frame
by frame, in the storage format of RFC 4867 section 5 (random speech bits: a decoder cannot tell).

The master is MASTER_SECONDS long, a whole number of every codec's frame (20 ms and 30 ms), so an
encoder that pads its last frame adds nothing. Files are made once and cached under `.cache/`
(git-ignored); a case whose tool is missing is skipped (`make install` installs sox, the ffmpeg CLI
and espeak-ng). Making the whole corpus takes a few seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.unit.adapters.audio_corpus import speech_like

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / ".cache" / "audio-corpus" / "v1"
MASTER_SECONDS = 4.2
TRUTH_MS = 4_200
SENTENCE = "Please call me back about the meeting tomorrow morning."
# Bytes per frame, header byte included (RFC 4867 section 5.3; 3GPP TS 26.101 and 26.201).
AMR_NB_FRAME_BYTES = (13, 14, 16, 18, 20, 21, 27, 32, 6, 1, 1, 1, 1, 1, 1, 1)  # modes 0-7, SID, -, NO_DATA
AMR_WB_FRAME_BYTES = (18, 24, 33, 37, 41, 47, 51, 59, 61, 6, 1, 1, 1, 1, 1, 1)  # modes 0-8, SID, -, LOST, NO_DATA
FFMPEG = ("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y")


@dataclass(frozen=True)
class Case:
    name: str
    tool: str  # what must be installed: sox, ffmpeg, or "" (built here)
    make: Callable[[dict[str, Path], Path], None]  # (masters by rate, output path)
    suffix: str
    content_type: str
    truth_ms: int = TRUTH_MS
    # None: the file itself says how long it is (delay and padding signalled, or none). Otherwise the
    # format has no way to say (ADTS AAC, an MP3 without a LAME tag): the encoder's priming is part of
    # the stream for every decoder, so the truth is what a plain decode of the stream gives.
    unsignalled_delay: bool = False
    speech: bool = True  # the real sentence (else random frames: noise-like)


def _sox(*args: str) -> Callable[[dict[str, Path], Path], None]:
    rate, *rest = args
    return lambda masters, out: _run(["sox", str(masters[int(rate)]), *rest, str(out)])


def _ffmpeg(rate: int, *args: str) -> Callable[[dict[str, Path], Path], None]:
    return lambda masters, out: _run([*FFMPEG, "-i", str(masters[rate]), *args, "-ac", "1", str(out)])


def _ffmpeg_piped(rate: int, *args: str) -> Callable[[dict[str, Path], Path], None]:
    """The ffmpeg CLI writing to its standard output, which it cannot seek back in."""
    def make(masters: dict[str, Path], out: Path) -> None:
        with open(out, "wb") as sink:
            subprocess.run([*FFMPEG, "-i", str(masters[rate]), *args, "-ac", "1", "pipe:1"], check=True,
                           stdout=sink, stderr=subprocess.PIPE, timeout=60)
    return make


def _remuxed(source: str, fmt: str) -> Callable[[dict[str, Path], Path], None]:
    """Another case's file, its frames copied into another container by the ffmpeg CLI."""
    def make(masters: dict[str, Path], out: Path) -> None:
        _run([*FFMPEG, "-i", str(corpus_file(source)), "-c", "copy", "-f", fmt, str(out)])
    return make


def _run(args: list[str]) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=60)


def amr_storage(wideband: bool, frame_types: list[int], seed: int = 5) -> bytes:
    """An AMR (or AMR-WB) file in the storage format: the magic, then one header byte (frame type,
    quality bit) and the frame's bits per 20 ms; the speech bits are random."""
    rng = np.random.default_rng(seed)
    sizes = AMR_WB_FRAME_BYTES if wideband else AMR_NB_FRAME_BYTES
    out = bytearray(b"#!AMR-WB\n" if wideband else b"#!AMR\n")
    for frame_type in frame_types:
        out.append(frame_type << 3 | 0x04)
        out += rng.integers(0, 256, sizes[frame_type] - 1, dtype=np.uint8).tobytes()
    return bytes(out)


def _every_frame_type(wideband: bool) -> list[int]:
    """TRUTH_MS of frames: every bit rate, with DTX stretches (a SID, then NO_DATA) between them,
    and (wideband) a lost frame: 210 frames."""
    modes = range(9) if wideband else range(8)
    sid = 9 if wideband else 8
    types: list[int] = []
    while len(types) < TRUTH_MS // 20:
        for mode in modes:
            types += [mode] * 12 + [sid] + [15] * 6 + ([14] if wideband else [])
    return types[: TRUTH_MS // 20]


def _built(wideband: bool) -> Callable[[dict[str, Path], Path], None]:
    return lambda masters, out: out.write_bytes(amr_storage(wideband, _every_frame_type(wideband)))


CASES = (
    # sox: opencore AMR-NB at every bit rate (-C), with DTX (SID and NO_DATA frames) as it writes it
    *(Case(f"sox-amr-nb-mode{mode}", "sox", _sox("8000", "-t", "amr-nb", "-C", str(mode)), "amr", "audio/amr")
      for mode in range(8)),
    Case("sox-wav-ulaw", "sox", _sox("8000", "-e", "u-law"), "wav", "audio/wav"),
    # PCM WAV as PBXes (Asterisk's `wav`, FreeSWITCH's default) and apps write it; read in big packets
    Case("sox-wav-s16", "sox", _sox("8000", "-e", "signed-integer", "-b", "16"), "wav", "audio/wav"),
    Case("sox-wav-s24-extensible", "sox", _sox("16000", "-b", "24"), "wav", "audio/wav"),
    Case("sox-wav-float", "sox", _sox("16000", "-e", "floating-point", "-b", "32"), "wav", "audio/wav"),
    Case("sox-wav-alaw", "sox", _sox("8000", "-e", "a-law"), "wav", "audio/wav"),
    Case("sox-au-ulaw", "sox", _sox("8000", "-e", "u-law", "-t", "au"), "au", "audio/basic"),
    # headerless, as RFC 2046 `audio/basic` and RTP payload types name it: only the content type tells
    Case("sox-raw-ulaw", "sox", _sox("8000", "-t", "ul"), "ul", "audio/basic"),
    Case("sox-raw-alaw", "sox", _sox("8000", "-t", "al"), "al", "audio/PCMA"),
    Case("sox-wav49-gsm", "sox", _sox("8000", "-e", "gsm-full-rate"), "wav", "audio/wav"),
    Case("sox-gsm", "sox", _sox("8000", "-t", "gsm"), "gsm", "audio/x-gsm"),
    Case("sox-wav-ima-adpcm", "sox", _sox("8000", "-e", "ima-adpcm"), "wav", "audio/wav"),
    Case("sox-wav-ms-adpcm", "sox", _sox("8000", "-e", "ms-adpcm"), "wav", "audio/wav"),
    Case("sox-flac", "sox", _sox("16000"), "flac", "audio/flac"),
    Case("sox-ogg-vorbis", "sox", _sox("16000"), "ogg", "audio/ogg"),
    Case("sox-mp3", "sox", _sox("16000", "-C", "32"), "mp3", "audio/mpeg", unsignalled_delay=True),
    # the ffmpeg CLI (Debian's FFmpeg 5.1 and its libraries)
    Case("ffmpeg-wav-g722", "ffmpeg", _ffmpeg(16000, "-c:a", "g722"), "wav", "audio/wav"),
    Case("ffmpeg-raw-g722", "ffmpeg", _ffmpeg(16000, "-c:a", "g722", "-f", "g722"), "g722", "audio/G722"),
    *(Case(f"ffmpeg-wav-g726-{kbps}k", "ffmpeg", _ffmpeg(8000, "-c:a", "g726", "-b:a", f"{kbps}k"), "wav",
           "audio/wav") for kbps in (16, 24, 32, 40)),
    Case("ffmpeg-wav-g723_1", "ffmpeg", _ffmpeg(8000, "-c:a", "g723_1", "-b:a", "6.3k"), "wav", "audio/wav"),
    Case("ffmpeg-wav-gsm-ms", "ffmpeg", _ffmpeg(8000, "-c:a", "libgsm_ms"), "wav", "audio/wav"),
    Case("ffmpeg-wav-ulaw", "ffmpeg", _ffmpeg(8000, "-c:a", "pcm_mulaw"), "wav", "audio/wav"),
    # written to a pipe, as a recorder that streams it: the sizes in its header were never filled in
    Case("ffmpeg-wav-s16-streamed", "ffmpeg", _ffmpeg_piped(8000, "-c:a", "pcm_s16le", "-f", "wav"), "wav",
         "audio/wav"),
    Case("ffmpeg-au-alaw", "ffmpeg", _ffmpeg(8000, "-c:a", "pcm_alaw"), "au", "audio/basic"),
    Case("ffmpeg-ogg-speex-nb", "ffmpeg", _ffmpeg(8000, "-c:a", "libspeex"), "ogg", "audio/ogg"),
    Case("ffmpeg-ogg-speex-wb", "ffmpeg", _ffmpeg(16000, "-c:a", "libspeex"), "spx", "audio/ogg"),
    Case("ffmpeg-ogg-opus", "ffmpeg", _ffmpeg(16000, "-c:a", "libopus", "-b:a", "16k"), "ogg", "audio/ogg"),
    Case("ffmpeg-webm-opus", "ffmpeg", _ffmpeg(16000, "-c:a", "libopus"), "webm", "audio/webm"),
    Case("ffmpeg-m4a-aac", "ffmpeg", _ffmpeg(16000, "-c:a", "aac", "-b:a", "32k"), "m4a", "audio/mp4"),
    Case("ffmpeg-3gp-aac", "ffmpeg", _ffmpeg(16000, "-c:a", "aac", "-b:a", "24k"), "3gp", "audio/3gpp"),
    Case("ffmpeg-adts-aac", "ffmpeg", _ffmpeg(16000, "-c:a", "aac", "-b:a", "32k"), "aac", "audio/aac",
         unsignalled_delay=True),
    Case("ffmpeg-mp3", "ffmpeg", _ffmpeg(16000, "-c:a", "libmp3lame", "-b:a", "24k"), "mp3", "audio/mpeg"),
    Case("ffmpeg-flac", "ffmpeg", _ffmpeg(16000, "-c:a", "flac"), "flac", "audio/flac"),
    Case("ffmpeg-3gp-amr-nb", "ffmpeg", _remuxed("sox-amr-nb-mode7", "3gp"), "3gp", "audio/3gpp"),
    # built here: every frame type of the storage formats, and AMR-WB in 3GP
    Case("amr-nb-every-frame-type", "", _built(False), "amr", "audio/amr", speech=False),
    Case("amr-wb-every-frame-type", "", _built(True), "awb", "audio/amr-wb", speech=False),
    Case("ffmpeg-3gp-amr-wb", "ffmpeg", _remuxed("amr-wb-every-frame-type", "3gp"), "3gp", "audio/3gpp",
         speech=False),
)
BY_NAME = {case.name: case for case in CASES}


def missing_tool(case: Case) -> str | None:
    """The tool a case needs that is not installed (its source case's too), or None."""
    if case.tool and shutil.which(case.tool) is None:
        return case.tool
    return None


def master(rate: int) -> Path:
    """The spoken sentence, mono 16-bit at rate, exactly MASTER_SECONDS (silence around it)."""
    path = CACHE / f"master-{rate}.wav"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part.wav")
    if shutil.which("espeak-ng") and shutil.which("sox"):
        spoken = CACHE / "spoken.wav"
        _run(["espeak-ng", "-w", str(spoken), SENTENCE])
        _run(["sox", str(spoken), "-r", str(rate), "-c", "1", "-b", "16", str(partial),
              "pad", "0.4", f"{MASTER_SECONDS}", "trim", "0", f"{MASTER_SECONDS}"])
    else:
        samples = speech_like(MASTER_SECONDS, rate)
        with wave.open(str(partial), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    with wave.open(str(partial), "rb") as check:
        assert check.getnframes() == round(MASTER_SECONDS * rate), check.getnframes()
    partial.replace(path)
    return path


def master_samples(rate: int) -> np.ndarray:
    with wave.open(str(master(rate)), "rb") as source:
        return np.frombuffer(source.readframes(source.getnframes()), dtype="<i2").astype(np.float32) / 32768


def corpus_file(name: str) -> Path:
    """The case's file, made (and cached) on first use."""
    case = BY_NAME[name]
    path = CACHE / f"{case.name}.{case.suffix}"
    if not path.exists():
        partial = CACHE / f"{case.name}.part.{case.suffix}"
        case.make({8000: master(8000), 16000: master(16000)}, partial)
        partial.replace(path)
    return path
