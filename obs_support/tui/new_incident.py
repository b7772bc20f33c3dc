"""The new-incident form: type, priority, (for staff) the client account, telescope, and what
is happening, typed or dictated, with files. The files (and a dictation's recording) are sent
once the incident exists, as `incident create --record --attach` does."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Select, Static, TextArea

from obs_support import domain, schemas
from obs_support.client.errors import ClientError
from obs_support.tui.handoff import deliver
from obs_support.tui.messages import RequestFailed
from obs_support.tui.text import clean, literal

if TYPE_CHECKING:
    from obs_support.tui.app import ObsSupportApp
    from obs_support.tui.voice import VoiceReply


class NewIncidentScreen(ModalScreen[str | None]):
    """Files the incident and dismisses with its reference; Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "send", "Send"),
        Binding("ctrl+r", "dictate", "Dictate"),
        Binding("ctrl+f", "attach", "Attach"),
    ]

    def __init__(
        self,
        accounts: list[schemas.AccountPublic] | None,
        telescopes: list[schemas.TelescopePublic],
    ) -> None:
        super().__init__()
        self.accounts = accounts  # None for a client: their own account
        self.telescopes = telescopes
        self.files: list[Path] = []
        self.recording: Path | None = None  # set by a dictation: the message is spoken
        self.sending = False

    @property
    def obs(self) -> ObsSupportApp:
        from obs_support.tui.app import ObsSupportApp

        assert isinstance(self.app, ObsSupportApp)
        return self.app

    def compose(self) -> ComposeResult:
        from obs_support.tui.app import ObsSupportApp

        app = self.app
        assert isinstance(app, ObsSupportApp)
        t = app.t
        with VerticalScroll(id="dialog", classes="form"):
            yield Label(t("tui_new_title"), id="dialog-title")
            yield Label(t("col_type"))
            yield Select(
                [(t.label(k), k.value) for k in domain.IncidentType],
                value=domain.IncidentType.QUESTION.value,
                allow_blank=False,
                id="type",
                compact=True,
            )
            yield Label(t("col_priority"))
            yield Select(
                [(t.label(p), int(p)) for p in reversed(domain.Priority)],
                value=int(domain.Priority.MEDIUM),
                allow_blank=False,
                id="priority",
                compact=True,
            )
            if self.accounts is not None:
                yield Label(t("col_account"))
                yield Select(
                    [(literal(a.name), a.id) for a in self.accounts],
                    prompt="—",
                    id="account",
                    compact=True,
                )
            yield Label(t("col_telescope"))
            yield Select(
                [(literal(s.name), s.id) for s in self.telescopes],
                prompt=t("tui_no_telescope"),
                id="telescope",
                compact=True,
            )
            yield Label(t("tui_message"))
            yield TextArea(id="message")
            yield Static(id="new-files")
            with Horizontal(id="buttons"):
                yield Button(t("tui_file"), variant="primary", id="send")
                yield Button(t("tui_dictate"), id="dictate")
                yield Button(t("tui_add_files"), id="attach")
                yield Button(t("tui_cancel"), id="cancel")

    def on_mount(self) -> None:
        self.query_one("#message", TextArea).focus()
        self._show_files()

    def action_cancel(self) -> None:
        if not self.sending:
            self.dismiss(None)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        actions = {"send": self.action_send, "dictate": self.action_dictate}
        actions |= {"attach": self.action_attach, "cancel": self.action_cancel}
        actions[event.button.id or "cancel"]()

    # --- dictation and files -----------------------------------------------------------------

    def action_dictate(self) -> None:
        from obs_support.tui.voice import VoiceModal

        names = [s.name for s in self.telescopes]  # the transcriber's vocabulary, as the CLI's
        modal = VoiceModal(self.obs.t, self.obs.t("tui_dictate_title"), names)
        self.app.push_screen(modal, self._dictated)

    def _dictated(self, reply: VoiceReply | None) -> None:
        if reply is None:
            return
        area = self.query_one("#message", TextArea)
        typed = area.text.strip()
        area.text = f"{typed}\n{reply.text}" if typed else reply.text
        self.recording = reply.recording
        self._show_files()
        area.focus()

    def action_attach(self) -> None:
        from obs_support.tui.media import AttachModal

        def chosen(paths: list[Path] | None) -> None:
            self.files += [p for p in paths or [] if p not in self.files]
            self._show_files()

        self.app.push_screen(AttachModal(self.obs.t, self.obs.t("tui_new_title")), chosen)

    def _show_files(self, line: str = "") -> None:
        """What will be sent with the incident, and the upload in progress if any."""
        t = self.obs.t
        names = [f"♪ {self.recording.name}"] if self.recording else []
        names += [p.name for p in self.files]
        shown = t("tui_with_files", names=", ".join(names)) if names else t("tui_no_files_yet")
        self.query_one("#new-files", Static).update(
            literal(f"{shown}\n{line}" if line else shown, "dim")
        )

    # --- filing --------------------------------------------------------------------------------

    def action_send(self) -> None:
        message = self.query_one("#message", TextArea).text.strip()
        if not message or self.sending:
            return
        values: dict[str, object] = {
            "type": self.query_one("#type", Select).value,
            "priority": self.query_one("#priority", Select).value,
            "message": message,
            "source": (domain.CommentSource.VOICE if self.recording else domain.CommentSource.TEXT),
        }
        telescope = self.query_one("#telescope", Select).value
        if telescope != Select.NULL:
            values["telescope_id"] = telescope
        if self.accounts is not None:
            account = self.query_one("#account", Select).value
            if account != Select.NULL:
                values["client_account_id"] = account
        self.sending = True
        self.file(values, [*([self.recording] if self.recording else []), *self.files])

    @work(thread=True, exclusive=True)
    def file(self, values: dict[str, object], files: list[Path]) -> None:
        from obs_support.client.transfer import upload

        app = self.obs
        try:
            created = app.client.create_incident(schemas.IncidentCreate.model_validate(values))
        except (ClientError, ValueError) as exc:
            self.sending = False
            self.post_message(RequestFailed(getattr(exc, "message", None) or str(exc)))
            return
        ref = created.ref
        for path in files:

            def progress(done: int, total: int, name: str = path.name) -> None:
                percent = done * 100 // max(total, 1)
                deliver(self, self._show_files, f"↑ {name} {percent}%")

            try:
                upload(app.client, ref, path, progress=progress)
            except (ClientError, OSError) as exc:
                # The incident exists: say so, and how to send the rest.
                reason = getattr(exc, "message", None) or str(exc)
                deliver(
                    app,
                    app.say,
                    app.t("tui_not_attached", ref=ref, name=clean(path.name), reason=reason),
                    severity="error",
                    timeout=12,
                )
                break
        deliver(self, self.dismiss, ref)
