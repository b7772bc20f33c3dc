"""A spoken text in the making: the microphone, the live transcript, and the recording kept.

The CLI (`incident create|comment --record`) and the terminal app's voice reply both dictate
through this, so they start, show, keep and transcribe a recording the same way; each only
draws its own view of `recorder.elapsed`, `recorder.level_db` and the words heard so far.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from obs_support.audio.errors import AudioError
from obs_support.audio.live import LiveTranscriber
from obs_support.audio.recorder import Recorder, save
from obs_support.audio.transcriber import Transcriber, Transcript

DEFAULT_MAX_SECONDS = 600.0  # a recording left running stops by itself after ten minutes


class Dictation:
    def __init__(self, transcriber: Transcriber, recorder: Recorder) -> None:
        self.transcriber = transcriber
        self.recorder = recorder
        self.committed = ""  # words that later audio can no longer change
        self.tentative = ""  # the latest quick guess at the phrase being spoken
        self.live = LiveTranscriber(transcriber, recorder.buffer, on_update=self._heard)

    def _heard(self, committed: str, tentative: str) -> None:
        self.committed, self.tentative = committed, tentative

    def start(self) -> Dictation:
        """Start loading the model, then recording, then transcribing as the audio comes.

        The model loads while the person starts talking: by the end of the first phrase it
        is usually ready. Raises AudioError when there is no microphone to record from.
        """
        self.transcriber.preload()
        self.recorder.start()
        self.live.start()
        return self

    def stop(self) -> None:
        self.recorder.stop()

    def keep(self, folder: Path) -> Path:
        """Write the recording to `folder` (Ogg/Opus) before anything else can fail."""
        folder.mkdir(parents=True, exist_ok=True)
        return save(self.recorder.audio(), folder / f"voice-{datetime.now():%Y%m%d-%H%M%S}.ogg")

    @property
    def error(self) -> AudioError | None:
        """Why transcription gave up early (no model, say): known before the recording ends."""
        return self.live.error

    def transcript(self, timeout: float = 600) -> Transcript:
        """The final text: only the audio after the last committed phrase is left to do."""
        return self.live.result(timeout=timeout)
