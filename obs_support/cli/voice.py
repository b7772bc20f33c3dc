"""Voice input for commands: record (or read a file), transcribe locally, confirm, then send.

The recording is kept in the user's data folder (`recordings/`) before anything is sent, so
a failed upload or a discarded transcript never loses what was said. Audio errors (no
microphone, no PortAudio, no model) end the command with one line and exit code 7.
"""

from __future__ import annotations

import select
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from obs_support.cli.context import State, die
from obs_support.cli.output import stderr, stderr_console
from obs_support.client.localfiles import recordings_dir

if TYPE_CHECKING:
    from obs_support.audio.dictation import Dictation
    from obs_support.audio.recorder import Recorder
    from obs_support.audio.transcriber import Transcriber

EXIT_AUDIO = 7

RecordOpt = typer.Option(False, "--record", help="Dictate the text: record and transcribe.")
AudioFileOpt = typer.Option(
    None, "--audio", help="Transcribe this recording (WAV, FLAC, OGG, MP3, M4A) and attach it."
)
DeviceOpt = typer.Option(None, "--device", help="Microphone: number or name (audio devices).")
MaxSecondsOpt = typer.Option(
    None, "--max-seconds", min=1, help="Stop recording after this long (default 600)."
)
SilenceOpt = typer.Option(
    None, "--stop-on-silence", min=0.5, help="Stop after this many seconds of quiet."
)
ModelOpt = typer.Option(
    None, "--model", help="Whisper model name or folder (default: base, multilingual)."
)
LanguageOpt = typer.Option(None, "--language", help="es or en (default: detected).")
YesOpt = typer.Option(False, "--yes", "-y", help="Send the transcript without asking.")


@dataclass
class VoiceOptions:
    record: bool = False
    audio: Path | None = None
    device: str | None = None
    max_seconds: float | None = None
    stop_on_silence: float | None = None
    model: str | None = None
    language: str | None = None
    yes: bool = False

    @property
    def active(self) -> bool:
        return self.record or self.audio is not None


def _check(opts: VoiceOptions) -> None:
    if opts.record and opts.audio is not None:
        die("give either --record or --audio, not both", code=2)
    if opts.language not in (None, "es", "en"):
        die("--language must be es or en", code=2)
    if opts.audio is not None and not opts.audio.is_file():
        die(f"--audio: no such file: {opts.audio}", code=2)


def capture(st: State, opts: VoiceOptions, vocabulary: list[str]) -> tuple[str, Path]:
    """The confirmed transcript and the audio file to attach."""
    from obs_support.audio.errors import AudioError

    _check(opts)
    try:
        text, audio = (
            _record(st, opts, vocabulary) if opts.record else _from_file(st, opts, vocabulary)
        )
    except AudioError as exc:
        die(exc.say(st.t.language), code=EXIT_AUDIO)
    return _confirm(st, text, audio, opts.yes), audio


def _transcriber(st: State, opts: VoiceOptions, vocabulary: list[str]) -> Transcriber:
    from obs_support.audio.transcriber import Transcriber, vocabulary_prompt

    return Transcriber(
        opts.model,
        language=opts.language,
        hint=st.t.language,
        prompt=vocabulary_prompt(vocabulary),
    )


def _from_file(st: State, opts: VoiceOptions, vocabulary: list[str]) -> tuple[str, Path]:
    from obs_support.audio.recorder import load

    assert opts.audio is not None
    samples = load(opts.audio)
    with stderr.status(st.t("transcribing")):
        result = _transcriber(st, opts, vocabulary).transcribe(samples)
    return result.text, opts.audio


def _record(st: State, opts: VoiceOptions, vocabulary: list[str]) -> tuple[str, Path]:
    from obs_support.audio.dictation import DEFAULT_MAX_SECONDS, Dictation
    from obs_support.audio.recorder import Recorder

    limit = opts.max_seconds or DEFAULT_MAX_SECONDS
    recorder = Recorder(opts.device, max_seconds=limit, stop_on_silence=opts.stop_on_silence)
    dictation = Dictation(_transcriber(st, opts, vocabulary), recorder).start()
    show_recording(st, recorder, dictation, opts.max_seconds)
    path = dictation.keep(recordings_dir())
    stderr.print(
        st.t("recording_saved", path=str(path), seconds=f"{recorder.elapsed:.1f}"),
        markup=False,
        style="dim",
    )
    with stderr.status(st.t("transcribing")):
        result = dictation.transcript(timeout=600)
    return result.text, path


def show_recording(
    st: State, recorder: Recorder, words: Dictation | None, limit: float | None
) -> None:
    """The meter, the clock and the words heard, until the recording stops (Enter, Ctrl-C,
    the time limit or silence)."""
    from rich.console import RenderableType
    from rich.live import Live

    from obs_support.audio.meter import recording_view

    # Enter is read between screen refreshes, never by a thread left waiting: the next
    # prompt (accept, edit or discard) must get the user's first keystroke.
    watch_enter = sys.stdin.isatty()
    hint = st.t("record_hint")

    def view() -> RenderableType:
        return recording_view(
            elapsed=recorder.elapsed,
            level_db=recorder.level_db,
            committed=words.committed if words else "",
            tentative=words.tentative if words else "",
            hint=hint,
            limit=limit,
        )

    try:
        with Live(
            view(), console=stderr_console(), refresh_per_second=10, transient=True
        ) as screen:
            while not recorder.wait(0.1):
                screen.update(view())
                if watch_enter and select.select([sys.stdin], [], [], 0)[0]:
                    sys.stdin.readline()
                    recorder.stop()
    except KeyboardInterrupt:
        pass  # Ctrl-C ends the recording; what was said is kept
    finally:
        recorder.stop()


def _confirm(st: State, text: str, audio: Path, yes: bool) -> str:
    from obs_support.cli.editor import edit_text

    if not text.strip():
        die(st.t("nothing_heard", path=str(audio)), code=EXIT_AUDIO)
    stderr.print(st.t("transcript_is"), style="bold", markup=False)
    stderr.print(text, markup=False, emoji=False, highlight=False)
    if yes:
        return text
    while True:
        choice = typer.prompt(st.t("accept_edit_discard"), default="a", err=True)
        choice = choice.strip().lower()[:1]
        if choice in ("a", "s", "y"):  # accept / sí / yes
            return text
        if choice == "e":
            edited = edit_text(text + "\n")
            text = edited.strip()
            if text:
                return text
            die(st.t("empty_message"))
        if choice in ("d", "n"):
            stderr.print(st.t("discarded", path=str(audio)), markup=False)
            raise typer.Exit(1)
