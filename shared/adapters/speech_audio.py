"""Audio as speech engines take it: 16 kHz, mono, 16-bit PCM, decoded in-process with PyAV from
anything the pipeline accepts (8 kHz telephony sources are resampled up; their missing upper band
stays missing, which is what narrowband speech is)."""

from __future__ import annotations

import io
import wave

import av

from shared.domain.transcripts import AUDIO_UNREADABLE, TranscriptionRejected

SPEECH_RATE = 16_000


def speech_pcm(audio: bytes, rate: int = SPEECH_RATE) -> bytes:
    """Mono 16-bit little-endian PCM at `rate`; TranscriptionRejected when it does not decode."""
    chunks: list[bytes] = []
    try:
        with av.open(io.BytesIO(audio)) as container:
            if not container.streams.audio:
                raise TranscriptionRejected(AUDIO_UNREADABLE, "no audio stream")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
            for frame in container.decode(container.streams.audio[0]):
                chunks.extend(out.to_ndarray().tobytes() for out in resampler.resample(frame))
            chunks.extend(out.to_ndarray().tobytes() for out in resampler.resample(None))
    except (av.error.FFmpegError, ValueError) as error:
        raise TranscriptionRejected(AUDIO_UNREADABLE, type(error).__name__) from None
    return b"".join(chunks)


def speech_wav(audio: bytes, rate: int = SPEECH_RATE) -> bytes:
    """The same PCM in a WAV file: the one format every engine accepts."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(speech_pcm(audio, rate))
    return out.getvalue()
