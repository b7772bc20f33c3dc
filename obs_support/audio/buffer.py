"""A growing buffer of 16 kHz mono samples, written by the recorder and read by transcribers."""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000
Samples = npt.NDArray[np.float32]


class AudioBuffer:
    """Append-only; readers take copies of any range while the writer keeps appending."""

    def __init__(self) -> None:
        self._blocks: list[Samples] = []
        self._length = 0
        self._lock = threading.Lock()
        self.closed = threading.Event()  # set when no more audio will come

    def append(self, block: Samples) -> None:
        with self._lock:
            self._blocks.append(block.reshape(-1).astype(np.float32, copy=False))
            self._length += block.size

    def __len__(self) -> int:
        return self._length

    @property
    def seconds(self) -> float:
        return self._length / SAMPLE_RATE

    def read(self, start: int = 0, end: int | None = None) -> Samples:
        with self._lock:
            if len(self._blocks) > 1:  # compact, so later reads slice one array
                self._blocks = [np.concatenate(self._blocks)]
            whole = self._blocks[0] if self._blocks else np.zeros(0, dtype=np.float32)
        return whole[start:end].copy()

    def close(self) -> None:
        self.closed.set()


def rms_dbfs(samples: Samples) -> float:
    """Loudness of a block in dB relative to full scale (silence is about -90)."""
    if samples.size == 0:
        return -90.0
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return max(20.0 * float(np.log10(rms)) if rms > 0 else -90.0, -90.0)


def has_speech_energy(samples: Samples, threshold_db: float = -45.0) -> bool:
    """Whether any 30 ms frame is louder than `threshold_db`: a cheap gate before the model."""
    frame = 480
    usable = samples[: samples.size - samples.size % frame]
    if usable.size == 0:
        return False
    frames = usable.reshape(-1, frame).astype(np.float64)
    loudest = float(np.sqrt(np.max(np.mean(np.square(frames), axis=1))))
    return loudest > 0 and 20.0 * float(np.log10(loudest)) > threshold_db
