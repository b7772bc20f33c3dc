"""Local transcription with faster-whisper: one model per process, one transcription at a time.

Silence costs almost nothing: a cheap loudness gate skips the model entirely, and Silero VAD
(inside faster-whisper) drops the quiet parts of what remains. `condition_on_previous_text`
is off and segments the model itself thinks are not speech are dropped, so room noise gives
an empty transcript instead of invented text.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from obs_support.audio import model as models
from obs_support.audio.buffer import SAMPLE_RATE, Samples, has_speech_energy
from obs_support.audio.errors import AudioError

COMMON_TERMS = (
    "telescopio, montura, espejo primario, espejo secundario, cúpula, CCD, CMOS, enfocador, "
    "rueda de filtros, guiado, colimación, contrapeso, apertura, seeing, flat, dark, bias"
)
LANGUAGES = ("es", "en")
CLOSE_CALL = 0.15  # probabilities closer than this are decided by the user's language
NO_SPEECH_GATE = 0.6  # a segment the model rates more likely silence than speech is dropped

_models: dict[tuple[str, str], Any] = {}
_models_lock = threading.Lock()
# faster-whisper has leaked memory with concurrent calls on one model: one at a time.
_transcribe_lock = threading.Lock()


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    confidence: float  # exp(avg_logprob): 0..1
    no_speech_prob: float


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str | None
    language_probability: float
    duration: float
    segments: list[Segment] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def vocabulary_prompt(names: Iterable[str] = ()) -> str:
    """An initial prompt that biases the decoder towards the observatory's words."""
    extra = ", ".join(n.strip() for n in names if n.strip())
    return f"{COMMON_TERMS}{', ' + extra if extra else ''}."


def load_model(requested: str | None = None, compute_type: str = "int8") -> Any:
    """The WhisperModel for `requested`, loaded once per process."""
    choice = models.resolve(requested)
    key = (choice.path_or_name, compute_type)
    with _models_lock:
        if key in _models:
            return _models[key]
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise AudioError(
                f"faster-whisper is not installed: {exc}",
                es=f"faster-whisper no está instalado: {exc}",
            ) from None
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        try:
            loaded = WhisperModel(
                choice.path_or_name,
                device="cpu",
                compute_type=compute_type,
                cpu_threads=os.cpu_count() or 0,
                local_files_only=offline and choice.source == "download",
            )
        except Exception as exc:  # hub, network and CTranslate2 errors alike
            if choice.source == "download":
                raise AudioError(
                    f"no Whisper model {choice.path_or_name!r} on this machine, and it could "
                    f"not be downloaded; {models.HOW_TO_GET}",
                    es=f"no hay ningún modelo Whisper {choice.path_or_name!r} en este equipo y "
                    f"no se ha podido descargar; {models.HOW_TO_GET_ES}",
                ) from None
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise AudioError(
                f"cannot load the Whisper model in {choice.path_or_name}: {reason}",
                es=f"no se puede cargar el modelo Whisper de {choice.path_or_name}: {reason}",
            ) from None
        _models[key] = loaded
        return loaded


class Transcriber:
    """Transcribes recordings with the chosen model; `preload()` starts loading it at once."""

    def __init__(
        self,
        model: str | None = None,
        *,
        language: str | None = None,
        hint: str | None = None,
        prompt: str | None = None,
        beam_size: int = 5,
    ) -> None:
        self.requested = model
        self.language = language
        self.hint = hint
        self.prompt = prompt if prompt is not None else vocabulary_prompt()
        self.beam_size = beam_size
        self._loaded: Any = None
        self._error: AudioError | None = None
        self._ready = threading.Event()

    def preload(self) -> Transcriber:
        """Load the model in the background (e.g. while the user starts speaking)."""
        threading.Thread(target=self._load, name="obs-support-model", daemon=True).start()
        return self

    def _load(self) -> None:
        try:
            self._loaded = load_model(self.requested)
        except AudioError as exc:
            self._error = exc
        finally:
            self._ready.set()

    def model(self) -> Any:
        if not self._ready.is_set() and self._loaded is None:
            self._load()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self._loaded

    def detect_language(self, samples: Samples) -> tuple[str, float]:
        """Spanish or English, whichever the audio sounds more like.

        Our users speak one or the other; choosing between the two is far more reliable on
        a short phrase than an open guess among a hundred languages. When the two are
        close, the user's own language (`hint`) wins.
        """
        whisper = self.model()
        with _transcribe_lock:
            _lang, _prob, probs = whisper.detect_language(
                np.ascontiguousarray(samples[: 30 * SAMPLE_RATE], dtype=np.float32)
            )
        scores = {code: p for code, p in probs if code in LANGUAGES}
        es, en = scores.get("es", 0.0), scores.get("en", 0.0)
        if self.hint in LANGUAGES and abs(es - en) < CLOSE_CALL:
            return str(self.hint), max(es, en)
        return ("es", es) if es >= en else ("en", en)

    def transcribe(
        self,
        samples: Samples,
        *,
        language: str | None = None,
        prompt: str | None = None,
        beam_size: int | None = None,
        fallback: bool = True,
        offset: float = 0.0,
    ) -> Transcript:
        """Transcribe 16 kHz mono samples. `offset` shifts the timings (live passes)."""
        duration = samples.size / SAMPLE_RATE
        language = language or self.language
        if not has_speech_energy(samples):
            return Transcript("", language, 0.0, duration)
        whisper = self.model()
        probability: float | None = None
        if language not in (None, "en") and not getattr(whisper.model, "is_multilingual", True):
            raise AudioError(
                f"this model understands only English, not {language!r}: use --language en, "
                "or a multilingual model such as base",
                es=f"este modelo solo entiende inglés, no {language!r}: usa --language en "
                "o un modelo multilingüe como base",
            )
        if language is None:
            if getattr(whisper.model, "is_multilingual", True):
                language, probability = self.detect_language(samples)
            else:  # an English-only model (tiny.en) cannot be asked
                language, probability = "en", 1.0
        with _transcribe_lock:
            segments, info = whisper.transcribe(
                np.ascontiguousarray(samples, dtype=np.float32),
                language=language,
                beam_size=beam_size or self.beam_size,
                vad_filter=True,
                condition_on_previous_text=False,
                initial_prompt=prompt if prompt is not None else self.prompt,
                # The retries at higher temperatures can take seconds on a hard passage;
                # live passes skip them to keep their timing predictable.
                temperature=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0] if fallback else 0.0,
            )
            kept = [
                Segment(
                    # Whisper's last timestamp can overshoot the audio: keep timings inside it.
                    start=round(offset + min(s.start, duration), 2),
                    end=round(offset + min(s.end, duration), 2),
                    text=s.text.strip(),
                    confidence=round(float(np.exp(s.avg_logprob)), 3),
                    no_speech_prob=round(float(s.no_speech_prob), 3),
                )
                for s in segments
                if s.no_speech_prob < NO_SPEECH_GATE and s.text.strip()
            ]
        return Transcript(
            text=" ".join(s.text for s in kept).strip(),
            language=info.language if kept else language,
            # Given a language, Whisper reports 1.0; the detection's own figure says more.
            language_probability=round(
                probability if probability is not None else float(info.language_probability), 3
            ),
            duration=round(duration, 2),
            segments=kept,
        )
