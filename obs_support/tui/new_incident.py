"""The new-incident form: type, priority, (for staff) the client account, telescope, message."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Select, TextArea

from obs_support import domain, schemas
from obs_support.client.errors import ClientError
from obs_support.tui.messages import RequestFailed
from obs_support.tui.text import literal


class NewIncidentScreen(ModalScreen[str | None]):
    """Files the incident and dismisses with its reference; Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "send", "Send"),
    ]

    def __init__(
        self,
        accounts: list[schemas.AccountPublic] | None,
        telescopes: list[schemas.TelescopePublic],
    ) -> None:
        super().__init__()
        self.accounts = accounts  # None for a client: their own account
        self.telescopes = telescopes

    def compose(self) -> ComposeResult:
        from obs_support.tui.app import ObsSupportApp

        app = self.app
        assert isinstance(app, ObsSupportApp)
        t = app.t
        with VerticalScroll(id="dialog"):
            yield Label(t("tui_new_title"), id="dialog-title")
            yield Label(t("col_type"))
            yield Select(
                [(t.label(k), k.value) for k in domain.IncidentType],
                value=domain.IncidentType.QUESTION.value,
                allow_blank=False,
                id="type",
            )
            yield Label(t("col_priority"))
            yield Select(
                [(t.label(p), int(p)) for p in reversed(domain.Priority)],
                value=int(domain.Priority.MEDIUM),
                allow_blank=False,
                id="priority",
            )
            if self.accounts is not None:
                yield Label(t("col_account"))
                yield Select(
                    [(literal(a.name), a.id) for a in self.accounts], prompt="—", id="account"
                )
            yield Label(t("col_telescope"))
            yield Select(
                [(literal(s.name), s.id) for s in self.telescopes],
                prompt=t("tui_no_telescope"),
                id="telescope",
            )
            yield Label(t("tui_message"))
            yield TextArea(id="message")
            with Horizontal(id="buttons"):
                yield Button(t("tui_file"), variant="primary", id="send")
                yield Button(t("tui_cancel"), id="cancel")

    def on_mount(self) -> None:
        self.query_one("#message", TextArea).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "send":
            self.action_send()
        else:
            self.action_cancel()

    def action_send(self) -> None:
        message = self.query_one("#message", TextArea).text.strip()
        if not message:
            return
        values: dict[str, object] = {
            "type": self.query_one("#type", Select).value,
            "priority": self.query_one("#priority", Select).value,
            "message": message,
        }
        telescope = self.query_one("#telescope", Select).value
        if telescope != Select.NULL:
            values["telescope_id"] = telescope
        if self.accounts is not None:
            account = self.query_one("#account", Select).value
            if account != Select.NULL:
                values["client_account_id"] = account
        self.file(values)

    @work(thread=True, exclusive=True)
    def file(self, values: dict[str, object]) -> None:
        from obs_support.tui.app import ObsSupportApp

        app = self.app
        assert isinstance(app, ObsSupportApp)
        try:
            created = app.client.create_incident(schemas.IncidentCreate.model_validate(values))
        except (ClientError, ValueError) as exc:
            self.post_message(RequestFailed(getattr(exc, "message", None) or str(exc)))
            return
        app.call_from_thread(self.dismiss, created.ref)
