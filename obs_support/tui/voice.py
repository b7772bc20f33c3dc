"""The voice reply: record, watch the words arrive, correct them, send them with the recording.

Recording and transcription are the CLI's own (`audio.dictation`): the model loads in the
background as the recording starts, the live transcriber writes while the person talks, and
the recording is kept in the recordings folder before anything is sent, so neither a failed
send nor a discarded text loses what was said. The audio stack is imported only here, inside
the functions that record: the app starts without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static, TextArea

from obs_support.cli.i18n import Translator
from obs_support.client.localfiles import recordings_dir
from obs_support.tui.handoff import deliver
from obs_support.tui.text import clean, literal

if TYPE_CHECKING:
    from obs_support.audio.dictation import Dictation

Phase = Literal["starting", "recording", "transcribing", "editing", "closed"]


@dataclass(frozen=True)
class VoiceReply:
    text: str
    recording: Path


class VoiceModal(ModalScreen[VoiceReply | None]):
    """Enter or Space stops the recording; then Ctrl-S sends the text, Esc discards it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "stop", "Stop"),
        Binding("space", "stop", "Stop", show=False),
        Binding("ctrl+s", "send", "Send"),
        Binding("escape", "discard", "Discard"),
    ]

    def __init__(self, t: Translator, title: str, vocabulary: list[str]) -> None:
        super().__init__()
        self.t = t
        self.title = title
        self.vocabulary = vocabulary
        self.phase: Phase = "starting"
        self.dictation: Dictation | None = None
        self.recording: Path | None = None

    def compose(self) -> ComposeResult:
        t = self.t
        with Vertical(id="dialog"):
            yield Label(literal(self.title), id="dialog-title")
            yield Static(t("tui_voice_starting"), id="meter")
            yield Label(t("tui_voice_hint"), id="voice-hint", classes="hint")
            # Disabled until the transcript is in it: while recording, Enter and Space must
            # reach the bindings, not a text box.
            yield TextArea(id="text", disabled=True)

    def on_mount(self) -> None:
        self.query_one(TextArea).display = False
        self.start()
        self.set_interval(0.1, self._tick)

    def on_unmount(self) -> None:
        # However the dialog goes away (the app quitting included), the microphone closes.
        self.phase = "closed"
        if self.dictation is not None:
            self.dictation.stop()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.phase == "recording"
        if action == "send":
            return self.phase == "editing"
        return True

    def _ui(self, callback: Any, *args: Any) -> None:
        deliver(self, callback, *args)

    def _say(self, message: str, **options: Any) -> None:
        self.app.notify(message, markup=False, **options)

    # --- recording -------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="voice-start")
    def start(self) -> None:
        from obs_support.audio.dictation import DEFAULT_MAX_SECONDS, Dictation
        from obs_support.audio.errors import AudioError
        from obs_support.audio.recorder import Recorder
        from obs_support.audio.transcriber import Transcriber, vocabulary_prompt

        try:
            transcriber = Transcriber(
                None, hint=self.t.language, prompt=vocabulary_prompt(self.vocabulary)
            )
            dictation = Dictation(transcriber, Recorder(None, max_seconds=DEFAULT_MAX_SECONDS))
            dictation.start()
        except AudioError as exc:
            self._ui(self._fail, exc.say(self.t.language))
            return
        self._ui(self._recording, dictation)
        if self.phase == "closed":  # closed (or the app quit) while the microphone opened
            dictation.stop()

    def _recording(self, dictation: Dictation) -> None:
        if self.phase != "starting":  # discarded while the microphone was opening
            dictation.stop()
            return
        self.dictation = dictation
        self.phase = "recording"
        self.refresh_bindings()

    def _tick(self) -> None:
        dictation = self.dictation
        if self.phase != "recording" or dictation is None:
            return
        if dictation.error is not None:  # no model: known long before the speaker stops
            self._fail(dictation.error.message)
            return
        if dictation.recorder.finished.is_set():  # the time limit
            self.action_stop()
            return
        from obs_support.audio.meter import recording_view

        self.query_one("#meter", Static).update(
            recording_view(
                elapsed=dictation.recorder.elapsed,
                level_db=dictation.recorder.level_db,
                committed=clean(dictation.committed),
                tentative=clean(dictation.tentative),
                hint="",
            )
        )

    def action_stop(self) -> None:
        if self.phase != "recording" or self.dictation is None:
            return
        self.phase = "transcribing"
        self.dictation.stop()
        self.query_one("#meter", Static).update(self.t("transcribing"))
        self.query_one("#voice-hint", Label).display = False
        self.refresh_bindings()
        self.finish(self.dictation)

    @work(thread=True, exclusive=True, group="voice-finish")
    def finish(self, dictation: Dictation) -> None:
        from obs_support.audio.errors import AudioError

        try:
            path = dictation.keep(recordings_dir())
            text = dictation.transcript().text
        except AudioError as exc:
            self._ui(self._fail, exc.say(self.t.language))
            return
        self._ui(self._edit, text, path)

    # --- editing -----------------------------------------------------------------------------

    def _edit(self, text: str, path: Path) -> None:
        self.recording = path
        if self.phase != "transcribing":
            return  # discarded while transcribing; the recording is kept all the same
        self.phase = "editing"
        t = self.t
        self.query_one("#meter", Static).update(
            literal(t("tui_voice_edit") if text.strip() else t("tui_voice_nothing"), "dim")
        )
        area = self.query_one(TextArea)
        area.text = text.strip()
        area.disabled = False
        area.display = True
        self.call_after_refresh(area.focus)  # once enabled and shown, it can take the focus
        area.move_cursor(area.document.end)
        self.refresh_bindings()

    def action_send(self) -> None:
        if self.phase != "editing" or self.recording is None:
            return
        text = self.query_one(TextArea).text.strip()
        if not text:
            self._say(self.t("tui_empty"), severity="warning")
            return
        self.phase = "closed"
        self.dismiss(VoiceReply(text, self.recording))

    def action_discard(self) -> None:
        if self.phase == "closed":
            return
        self.phase = "closed"
        if self.dictation is not None:
            self.dictation.stop()
        if self.recording is not None:
            self._say(self.t("discarded", path=clean(str(self.recording))))
        else:
            self._say(self.t("tui_voice_discarded"))
        self.dismiss(None)

    def _fail(self, message: str) -> None:
        """An audio problem (no microphone, no PortAudio, no model): one line, and close."""
        if self.phase == "closed":
            return
        self.phase = "closed"
        if self.dictation is not None:
            self.dictation.stop()
        self._say(message, severity="error", timeout=10)
        self.dismiss(None)
