"""Playing a recording through the default sound output (speakers or headphones).

Like recording, playback runs in PortAudio's own thread: the callback only copies the next
block, so the caller stays free to draw or to stop it.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from obs_support.audio import devices
from obs_support.audio.buffer import SAMPLE_RATE
from obs_support.audio.errors import AudioError

NO_OUTPUT = (
    "no sound output found: connect speakers or headphones, or check the sound system is running"
)
NO_OUTPUT_ES = (
    "no se encuentra ninguna salida de sonido: conecta altavoces o auriculares, o comprueba "
    "que el sistema de sonido está en marcha"
)

Frames = npt.NDArray[np.float32]  # (samples, channels)


def read(path: Path) -> tuple[Frames, int]:
    """The file's samples as frames of at most two channels, and their rate."""
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError):
        # What libsndfile cannot read (M4A, some MP3s), PyAV decodes, at 16 kHz mono.
        from obs_support.audio.recorder import load

        return load(path).reshape(-1, 1), SAMPLE_RATE
    frames: Frames = np.ascontiguousarray(data[:, :2], dtype=np.float32)
    return frames, int(rate)


def output_device() -> int | None:
    """The PortAudio index to play through: None for the system's default output."""
    sd = devices.sounddevice()
    try:
        found: Any = sd.query_devices()
        default_out = sd.default.device[1]
    except sd.PortAudioError as exc:
        raise AudioError(
            f"the sound output failed: {exc}", es=f"la salida de sonido ha fallado: {exc}"
        ) from None
    outputs = [i for i, d in enumerate(found) if int(d["max_output_channels"]) > 0]
    if not outputs:
        raise AudioError(NO_OUTPUT, es=NO_OUTPUT_ES)
    return None if default_out in outputs else outputs[0]


class Player:
    """One file, played once from the start; `stop()` cuts it short."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.finished = threading.Event()
        self.seconds = 0.0
        self._frames: Frames = np.zeros((0, 1), dtype=np.float32)
        self._position = 0
        self._stream: Any = None

    def start(self) -> Player:
        """Decode the file and start playing it; AudioError when nothing can play it."""
        sd = devices.sounddevice()
        index = output_device()  # before decoding: no sound output is the likelier problem
        self._frames, rate = read(self.path)
        self.seconds = len(self._frames) / rate
        if self.finished.is_set():  # stopped while the file was being read
            return self
        try:
            self._stream = sd.OutputStream(
                samplerate=rate,
                channels=self._frames.shape[1],
                dtype="float32",
                device=index,
                callback=self._callback,
                finished_callback=self.finished.set,
            )
            self._stream.start()
        except sd.PortAudioError as exc:
            self._stream = None
            raise AudioError(
                f"the sound output failed: {exc}", es=f"la salida de sonido ha fallado: {exc}"
            ) from None
        return self

    def _callback(self, outdata: Any, frames: int, _time: Any, _status: Any) -> None:
        chunk = self._frames[self._position : self._position + frames]
        self._position += len(chunk)
        outdata[: len(chunk)] = chunk
        if len(chunk) < frames:
            outdata[len(chunk) :] = 0
            import sounddevice

            raise sounddevice.CallbackStop  # plays out what is queued, then finishes

    def stop(self) -> None:
        """Stop playing (idempotent)."""
        if self._stream is not None:
            stream, self._stream = self._stream, None
            with contextlib.suppress(Exception):  # the device vanished: it is stopped anyway
                stream.stop()
                stream.close()
        self.finished.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)
