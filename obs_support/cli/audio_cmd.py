"""`audio devices|record|transcribe` — the microphone and local transcription on their own."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from obs_support.cli import voice
from obs_support.cli.context import die, say, state
from obs_support.cli.output import stderr
from obs_support.client.localfiles import recordings_dir

app = typer.Typer(help="Record and transcribe voice, locally.", no_args_is_help=True)


@app.command()
def devices(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the list as JSON."),
) -> None:
    """The microphones this machine has (the default one is marked *).

    Example: obs-support audio devices
    """
    from dataclasses import asdict

    from obs_support.audio import devices as sound
    from obs_support.audio.errors import AudioError

    try:
        found = sound.inputs()
    except AudioError as exc:
        die(exc.say(state(ctx).t.language), code=voice.EXIT_AUDIO)
    if as_json:
        typer.echo(json.dumps([asdict(d) for d in found], indent=2, ensure_ascii=False))
        return
    if not found:
        die("no microphone found", code=voice.EXIT_AUDIO)
    for d in found:
        mark = "*" if d.is_default else " "
        say(f"{mark} {d.index:3d}  {d.name}  ({d.channels} ch, {d.default_samplerate:.0f} Hz)")


@app.command()
def record(
    ctx: typer.Context,
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Where to save it (.flac, .ogg or .wav)."
    ),
    device: str | None = voice.DeviceOpt,
    max_seconds: float | None = voice.MaxSecondsOpt,
    stop_on_silence: float | None = voice.SilenceOpt,
) -> None:
    """Record from the microphone until Enter, Ctrl-C, --max-seconds or --stop-on-silence.

    Example: obs-support audio record -o dome.flac --stop-on-silence 2.5
    """
    from obs_support.audio.dictation import DEFAULT_MAX_SECONDS
    from obs_support.audio.errors import AudioError
    from obs_support.audio.recorder import Recorder, save

    st = state(ctx)
    target = output or recordings_dir() / f"recording-{_stamp()}.flac"
    if target.suffix.lower() not in (".flac", ".ogg", ".wav"):
        die("--output: save recordings as .flac, .ogg (Opus) or .wav", code=2)
    try:
        recorder = Recorder(
            device,
            max_seconds=max_seconds or DEFAULT_MAX_SECONDS,
            stop_on_silence=stop_on_silence,
        ).start()
    except AudioError as exc:
        die(exc.say(st.t.language), code=voice.EXIT_AUDIO)
    voice.show_recording(st, recorder, None, max_seconds)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        save(recorder.audio(), target)
    except AudioError as exc:
        die(exc.say(st.t.language), code=voice.EXIT_AUDIO)
    stderr.print(
        st.t("recording_saved", path=str(target), seconds=f"{recorder.elapsed:.1f}"), markup=False
    )
    typer.echo(str(target))


@app.command()
def transcribe(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="A recording: WAV, FLAC, OGG/Opus, MP3, M4A…"),
    model: str | None = voice.ModelOpt,
    language: str | None = voice.LanguageOpt,
    as_json: bool = typer.Option(
        False, "--json", help="Text, language, and per-segment timings and confidence."
    ),
) -> None:
    """Transcribe a recording on this machine (nothing is sent anywhere).

    Example: obs-support audio transcribe dome.flac --language es
    """
    from obs_support.audio.errors import AudioError
    from obs_support.audio.recorder import load
    from obs_support.audio.transcriber import Transcriber

    st = state(ctx)
    if language not in (None, "es", "en"):
        die("--language must be es or en", code=2)
    if not file.is_file():
        die(f"{file}: no such file", code=2)
    try:
        samples = load(file)
        transcriber = Transcriber(model, language=language, hint=st.t.language)
        with stderr.status(st.t("transcribing")):
            result = transcriber.transcribe(samples)
    except AudioError as exc:
        die(exc.say(st.t.language), code=voice.EXIT_AUDIO)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    else:
        say(result.text)


def _stamp() -> str:
    from datetime import datetime

    return f"{datetime.now():%Y%m%d-%H%M%S}"
