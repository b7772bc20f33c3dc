"""Microphones: listing them, choosing one, and turning PortAudio's failures into one line."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from obs_support.audio.errors import AudioError

PORTAUDIO_HINT = (
    "the PortAudio library is missing: install it (Debian/Ubuntu: sudo apt-get install "
    "libportaudio2; Fedora: sudo dnf install portaudio; macOS: brew install portaudio)"
)
PORTAUDIO_HINT_ES = (
    "falta la biblioteca PortAudio: instálala (Debian/Ubuntu: sudo apt-get install "
    "libportaudio2; Fedora: sudo dnf install portaudio; macOS: brew install portaudio)"
)


def sounddevice() -> ModuleType:
    """The sounddevice module, or a clear error when PortAudio is not installed."""
    try:
        import sounddevice as sd
    except OSError as exc:  # raised at import when libportaudio cannot be loaded
        if "PortAudio" in str(exc):
            raise AudioError(PORTAUDIO_HINT, es=PORTAUDIO_HINT_ES) from None
        raise AudioError(
            f"cannot use the sound system: {exc}",
            es=f"no se puede usar el sistema de sonido: {exc}",
        ) from None
    module: ModuleType = sd
    return module


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    channels: int
    default_samplerate: float
    is_default: bool


def explain(exc: BaseException) -> AudioError:
    """PortAudio's errors, as one line that says what to do."""
    text = str(exc)
    low = text.lower()
    if "device unavailable" in low or "busy" in low:
        return AudioError(
            "the microphone is busy: another program is using it",
            es="el micrófono está ocupado: otro programa lo está usando",
        )
    if "permission" in low or "access denied" in low:
        return AudioError(
            "no permission to use the microphone: allow it for this terminal",
            es="no hay permiso para usar el micrófono: permíteselo a este terminal",
        )
    if "invalid number of channels" in low or "invalid device" in low:
        return AudioError(
            f"that device cannot record: {text}", es=f"ese dispositivo no puede grabar: {text}"
        )
    if "invalid sample rate" in low:
        return AudioError(
            "the microphone cannot record at 16 kHz; choose another with --device",
            es="el micrófono no puede grabar a 16 kHz; elige otro con --device",
        )
    return AudioError(f"the microphone failed: {text}", es=f"el micrófono ha fallado: {text}")


def inputs() -> list[InputDevice]:
    sd = sounddevice()
    try:
        devices: Any = sd.query_devices()
        default_in = sd.default.device[0]
    except sd.PortAudioError as exc:
        raise explain(exc) from None
    return [
        InputDevice(
            index=i,
            name=str(d["name"]),
            channels=int(d["max_input_channels"]),
            default_samplerate=float(d["default_samplerate"]),
            is_default=i == default_in,
        )
        for i, d in enumerate(devices)
        if int(d["max_input_channels"]) > 0
    ]


def choose(device: str | None) -> int | None:
    """The PortAudio index for `device` (an index or part of a name); None for the default."""
    available = inputs()
    if not available:
        raise AudioError(
            "no microphone found: connect one, or check the sound system is running "
            "(obs-support audio devices lists what is available)",
            es="no se encuentra ningún micrófono: conecta uno o comprueba que el sistema de "
            "sonido está en marcha (obs-support audio devices muestra los que hay)",
        )
    if device is None or device == "":
        if not any(d.is_default for d in available):
            return available[0].index
        return None
    if device.isdigit():
        if any(d.index == int(device) for d in available):
            return int(device)
        raise AudioError(
            f"no input device number {device}; see: obs-support audio devices",
            es=f"no hay ningún dispositivo de entrada número {device}; "
            "consulta: obs-support audio devices",
        )
    matches = [d for d in available if device.casefold() in d.name.casefold()]
    if len(matches) == 1:
        return matches[0].index
    if not matches:
        raise AudioError(
            f"no input device named like {device!r}; see: obs-support audio devices",
            es=f"no hay ningún dispositivo de entrada con un nombre como {device!r}; "
            "consulta: obs-support audio devices",
        )
    names = ", ".join(f"{d.index}: {d.name}" for d in matches)
    raise AudioError(
        f"{device!r} matches several devices ({names}); give its number",
        es=f"{device!r} coincide con varios dispositivos ({names}); indica su número",
    )
