"""Transcribing while recording, so the text is ready about when the speaker stops.

Speech comes in phrases separated by short pauses. As soon as a pause closes a phrase, the
phrase is transcribed once, at full quality, and committed: later audio cannot change it.
Meanwhile quick passes over the phrase still being spoken give the tentative text shown as
it firms up. When the recording ends only the last phrase is left to transcribe — a few
seconds of audio instead of the whole recording — so the final text follows the end of
speech by about one short pass. A phrase with no pause for `MAX_PHRASE_SECONDS` is cut at
its quietest moment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from obs_support.audio.buffer import SAMPLE_RATE, AudioBuffer, Samples, has_speech_energy
from obs_support.audio.errors import AudioError
from obs_support.audio.transcriber import Segment, Transcriber, Transcript

FRAME = 480  # 30 ms
PAUSE_SECONDS = 0.3  # this much quiet after speech ends a phrase
QUIET_DB = -45.0
MIN_NEW_SECONDS = 1.0  # a tentative pass once this much new audio arrived
MIN_PHRASE_SECONDS = 4.0  # shorter phrases lose the context Whisper needs to be accurate
MAX_PHRASE_SECONDS = 12.0

Listener = Callable[[str, str], None]  # (committed text, tentative text)


def frame_db(samples: Samples) -> npt.NDArray[np.float64]:
    """Loudness of each 30 ms frame, in dBFS."""
    usable = samples[: samples.size - samples.size % FRAME].astype(np.float64)
    if usable.size == 0:
        return np.zeros(0)
    power = np.mean(np.square(usable.reshape(-1, FRAME)), axis=1)
    db: npt.NDArray[np.float64] = 10.0 * np.log10(np.maximum(power, 1e-12))
    return db


def phrase_end(samples: Samples, min_seconds: float = 0.0) -> int | None:
    """Where the first phrase of at least `min_seconds` in `samples` ends (the middle of the
    pause after it), if one has ended."""
    db = frame_db(samples)
    needed = int(PAUSE_SECONDS * SAMPLE_RATE / FRAME)
    shortest = int(min_seconds * SAMPLE_RATE / FRAME)
    spoke, quiet_run = False, 0
    for i, value in enumerate(db):
        if value > QUIET_DB:
            spoke, quiet_run = True, 0
            continue
        quiet_run += 1
        if spoke and quiet_run >= needed and i - quiet_run // 2 >= shortest:
            return (i - quiet_run // 2) * FRAME
    return None


def quietest_cut(samples: Samples) -> int:
    """A place to cut a phrase that never pauses: the quietest frame in its second half."""
    db = frame_db(samples)
    if db.size < 2:
        return samples.size
    half = db.size // 2
    return int((half + int(np.argmin(db[half:]))) * FRAME)


@dataclass
class LiveState:
    committed: list[Segment]
    tentative: list[Segment]
    passes: int = 0


class LiveTranscriber:
    def __init__(
        self,
        transcriber: Transcriber,
        buffer: AudioBuffer,
        *,
        on_update: Listener | None = None,
        quick_beam: int = 1,
    ) -> None:
        self.transcriber = transcriber
        self.buffer = buffer
        self.on_update = on_update
        self.quick_beam = quick_beam
        self.state = LiveState([], [])
        self.language: str | None = transcriber.language
        self._commit_at = 0  # where the phrase being spoken starts (sample index)
        self._covered = 0  # how far the last tentative pass heard
        self._result: Transcript | None = None
        self._error: AudioError | None = None
        self._done = threading.Event()

    def start(self) -> LiveTranscriber:
        threading.Thread(target=self._run, name="obs-support-live", daemon=True).start()
        return self

    @property
    def error(self) -> AudioError | None:
        """The error that ended transcription early (no model), once it has."""
        return self._error if self._done.is_set() else None

    def result(self, timeout: float | None = None) -> Transcript:
        """The final transcript: waits for the recording to end and the last pass."""
        if not self._done.wait(timeout):
            raise AudioError(
                "the transcription did not finish in time",
                es="la transcripción no ha terminado a tiempo",
            )
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def _prompt(self) -> str:
        said = " ".join(s.text for s in self.state.committed)[-200:]
        return f"{self.transcriber.prompt} {said}".strip()

    def _transcribe(
        self, start: int, end: int, *, quick: bool, final: bool = False
    ) -> list[Segment]:
        # A draft pass may hear a second of speech: too little to tell the language, so it
        # borrows the user's until a whole phrase (or the final pass) has decided it.
        draft = quick and not final
        language = self.language or (self.transcriber.hint if draft else None)
        result = self.transcriber.transcribe(
            self.buffer.read(start, end),
            prompt=self._prompt(),
            beam_size=self.quick_beam if quick else None,
            # No retries at higher temperatures: they are random and can take seconds.
            fallback=False,
            offset=start / SAMPLE_RATE,
            language=language,
        )
        if result.segments and self.language is None and not draft:
            self.language = result.language  # a whole phrase decides it for the rest
        self.state.passes += 1
        return result.segments

    def _notify(self) -> None:
        if self.on_update is not None:
            committed = " ".join(s.text for s in self.state.committed)
            self.on_update(committed, " ".join(s.text for s in self.state.tentative))

    def _commit_phrase(self, end: int) -> None:
        self.state.committed.extend(self._transcribe(self._commit_at, end, quick=False))
        self.state.tentative = []
        self._commit_at = self._covered = end
        self._notify()

    def _step(self) -> bool:
        """One unit of work while recording; False when there was nothing to do."""
        end = len(self.buffer)
        pending = self.buffer.read(self._commit_at, end)
        cut = phrase_end(pending, MIN_PHRASE_SECONDS)
        if cut is not None:
            self._commit_phrase(self._commit_at + cut)
            return True
        if pending.size > MAX_PHRASE_SECONDS * SAMPLE_RATE:
            self._commit_phrase(self._commit_at + quietest_cut(pending))
            return True
        if end - self._covered >= MIN_NEW_SECONDS * SAMPLE_RATE and has_speech_energy(pending):
            self.state.tentative = self._transcribe(self._commit_at, end, quick=True)
            self._covered = end
            self._notify()
            return True
        return False

    def _run(self) -> None:
        try:
            self.transcriber.model()  # loads (or waits for the preload) before the first pass
            while not self.buffer.closed.is_set():
                if not self._step():
                    time.sleep(0.03)
            self._finish()
        except AudioError as exc:
            self._error = exc
        finally:
            self._done.set()

    def _finish(self) -> None:
        end = len(self.buffer)
        rest = self.buffer.read(self._covered, end)
        if self._covered > self._commit_at and not has_speech_energy(rest) and self.language:
            final = self.state.tentative  # the last quick pass heard all that was said
        elif has_speech_energy(self.buffer.read(self._commit_at, end)):
            # Quick, like the passes the speaker watched: the last phrase is short, and the
            # wait after the end of speech is what this whole design exists to cut.
            final = self._transcribe(self._commit_at, end, quick=True, final=True)
        else:
            final = []
        self.state.committed.extend(final)
        self.state.tentative = []
        self._notify()
        segments = self.state.committed
        self._result = Transcript(
            text=" ".join(s.text for s in segments).strip(),
            language=self.language,
            language_probability=0.0,
            duration=round(end / SAMPLE_RATE, 2),
            segments=list(segments),
        )
