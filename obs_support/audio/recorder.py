"""Recording from the microphone: 16 kHz mono float32 into an AudioBuffer, with a live level.

The PortAudio callback only copies the block and updates the level; everything slow (saving,
transcribing) reads the buffer from other threads. Recording ends when `stop()` is called
(Enter or Ctrl-C in the CLI), after `max_seconds`, or — with `stop_on_silence` — after that
many seconds of quiet once speech was heard.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from obs_support.audio import devices
from obs_support.audio.buffer import SAMPLE_RATE, AudioBuffer, Samples, rms_dbfs
from obs_support.audio.errors import AudioError

BLOCK = SAMPLE_RATE // 10  # 100 ms: the meter's refresh and the silence timer's step
SPEECH_DB = -40.0  # louder than this counts as someone talking


class Recorder:
    def __init__(
        self,
        device: str | None = None,
        *,
        max_seconds: float | None = None,
        stop_on_silence: float | None = None,
        speech_db: float = SPEECH_DB,
    ) -> None:
        self.device = device
        self.max_seconds = max_seconds
        self.stop_on_silence = stop_on_silence
        self.speech_db = speech_db
        self.buffer = AudioBuffer()
        self.level_db = -90.0
        self.peak_db = -90.0
        self.heard_speech = False
        self.reason: str | None = None  # why it stopped: "stopped", "max_seconds", "silence"
        self.finished = threading.Event()
        self._quiet_samples = 0
        self._stream: Any = None
        self._started = 0.0
        self.last_speech_at: float | None = None  # seconds into the recording

    @property
    def elapsed(self) -> float:
        return self.buffer.seconds

    def start(self) -> Recorder:
        sd = devices.sounddevice()
        index = devices.choose(self.device)
        try:
            self._stream = sd.InputStream(
                samplerate=SAMPLE_RATE,
                channels=1,
                dtype="float32",
                blocksize=BLOCK,
                device=index,
                callback=self._callback,
            )
            self._stream.start()
        except sd.PortAudioError as exc:
            raise devices.explain(exc) from None
        self._started = time.monotonic()
        return self

    def _callback(self, indata: Any, frames: int, _time: Any, _status: Any) -> None:
        if self.finished.is_set():
            return
        block: Samples = np.array(indata[:, 0], dtype=np.float32)
        self.buffer.append(block)
        self.level_db = rms_dbfs(block)
        self.peak_db = max(self.peak_db, self.level_db)
        if self.level_db > self.speech_db:
            self.heard_speech = True
            self._quiet_samples = 0
            self.last_speech_at = self.buffer.seconds
        else:
            self._quiet_samples += frames
        if self.max_seconds is not None and self.buffer.seconds >= self.max_seconds:
            self._finish("max_seconds")
        elif (
            self.stop_on_silence is not None
            and self.heard_speech
            and self._quiet_samples >= self.stop_on_silence * SAMPLE_RATE
        ):
            self._finish("silence")

    def _finish(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.buffer.close()
        self.finished.set()

    def stop(self) -> None:
        """Stop recording (idempotent); the audio so far stays in the buffer."""
        self._finish("stopped")
        if self._stream is not None:
            stream, self._stream = self._stream, None
            with contextlib.suppress(Exception):  # the device vanished; the audio is kept
                stream.stop()
                stream.close()

    def wait(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def audio(self) -> Samples:
        return self.buffer.read()


def save(samples: Samples, path: Path) -> Path:
    """Write the recording; the format follows the suffix (.flac, .ogg for Opus, .wav)."""
    import soundfile

    suffix = path.suffix.lower()
    kinds = {".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "OPUS"), ".wav": ("WAV", "PCM_16")}
    if suffix not in kinds:
        raise AudioError(
            f"{path.name}: save recordings as .flac, .ogg (Opus) or .wav",
            es=f"{path.name}: guarda las grabaciones como .flac, .ogg (Opus) o .wav",
        )
    fmt, subtype = kinds[suffix]
    try:
        soundfile.write(str(path), samples, SAMPLE_RATE, format=fmt, subtype=subtype)
    except (OSError, RuntimeError) as exc:
        raise AudioError(
            f"cannot write {path}: {exc}", es=f"no se puede escribir {path}: {exc}"
        ) from None
    return path


def load(path: Path) -> Samples:
    """Any recording (WAV, FLAC, OGG/Opus, MP3, M4A…) as 16 kHz mono float32."""
    from faster_whisper.audio import decode_audio

    if not path.is_file():
        raise AudioError(f"{path}: no such file", es=f"{path}: no existe ese archivo")
    try:
        samples = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except Exception as exc:  # PyAV raises many kinds; all mean "not audio"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioError(
            f"{path.name} is not a recording this can read ({first})",
            es=f"{path.name} no es una grabación que se pueda leer ({first})",
        ) from None
    return np.asarray(samples, dtype=np.float32)
