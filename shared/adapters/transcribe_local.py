"""The offline engine: PocketSphinx 5, whose US English model ships inside its PyPI package, so a
local run transcribes with no network and no download. It is here to run and test the flow, not to
judge accuracy: on narrowband (8 kHz) or synthetic speech it gets many words wrong.

Installed by requirements-dev.txt only (never in Azure): imported on first use, not at import time.
"""

from __future__ import annotations

import importlib.util
import threading
from typing import Any

from shared.adapters.speech_audio import SPEECH_RATE, speech_pcm
from shared.domain.transcripts import UNSUPPORTED_LANGUAGE, Recognized, TranscriptionRejected, clean_text

_NOT_WORDS = ("<s>", "</s>", "<sil>", "[")  # sentence marks, silence and fillers such as [NOISE]
# A narrower search than PocketSphinx's defaults: one pass (no flat-lexicon rescoring), tighter
# beams, at most 3000 HMMs a frame. About 2.5 times less CPU for a few more words wrong (measured
# in docs/benchmarks.md); the lattice's best path stays, for the words' posterior probabilities.
SEARCH = {"fwdflat": False, "bestpath": True, "maxhmmpf": 3000, "beam": 1e-40, "wbeam": 1e-30}


class PocketSphinxTranscriber:
    name = "local"
    languages = ("en",)  # the bundled model: US English (other English locales are close enough to try)

    def __init__(self) -> None:
        if importlib.util.find_spec("pocketsphinx") is None:
            raise RuntimeError("TRANSCRIPTION_ENGINE=local needs pocketsphinx (make install puts it in .venv)")
        self._lock = threading.Lock()  # one decoder per process, loaded once; it is not thread-safe
        self._decoder: Any = None

    def _loaded(self) -> Any:
        if self._decoder is None:
            from pocketsphinx import Decoder

            self._decoder = Decoder(samprate=SPEECH_RATE, loglevel="FATAL", **SEARCH)
        return self._decoder

    def warm(self) -> None:
        """Load the model now rather than on the first message (it takes about half a CPU second)."""
        with self._lock:
            self._loaded()

    def transcribe(self, audio: bytes, locale: str) -> Recognized:
        if locale.split("-", maxsplit=1)[0] not in self.languages:
            raise TranscriptionRejected(UNSUPPORTED_LANGUAGE, f"the local engine has no {locale} model")
        pcm = speech_pcm(audio)
        with self._lock:
            decoder = self._loaded()
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            hypothesis = decoder.hyp()
            words = [segment.prob for segment in decoder.seg() if not segment.word.startswith(_NOT_WORDS)]
        text = clean_text(hypothesis.hypstr) if hypothesis is not None else ""
        # Each word's posterior probability (PocketSphinx's own confidence measure), averaged.
        confidence = sum(words) / len(words) if words and text else None
        return Recognized(text, confidence)
