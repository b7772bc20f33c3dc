"""The login screen, shown when no saved login (or OBS_SUPPORT_TOKEN) is available."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label

from obs_support.client.api import ObsClient
from obs_support.client.errors import ClientError
from obs_support.tui.handoff import deliver

# (url, token, e-mail, observatory slug) → remember them, as `obs-support login` does
SaveLogin = Callable[[str, str, str, str], None]


class LoginScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = []

    def __init__(
        self, url: str | None, email: str | None, save: SaveLogin, observatory: str | None = None
    ) -> None:
        super().__init__()
        self.url = url or ""
        self.email = email or ""
        self.observatory = observatory or ""
        self.save = save

    def compose(self) -> ComposeResult:
        from obs_support.tui.app import ObsSupportApp

        assert isinstance(self.app, ObsSupportApp)
        t = self.app.t
        yield Header()
        with Vertical(id="dialog"):
            yield Label(t("tui_login_title"), id="dialog-title")
            yield Label(t("tui_login_url"))
            yield Input(self.url, placeholder="https://soporte.example.org", id="url")
            yield Label(t("col_email"))
            yield Input(self.email, id="email")
            yield Label(t("tui_login_password"))
            yield Input(password=True, id="password")
            yield Label(t("tui_login_observatory"))
            yield Input(self.observatory, placeholder="TEIDE", id="observatory")
            yield Button(t("tui_login_button"), variant="primary", id="login")
        yield Footer()

    def on_mount(self) -> None:
        # The first empty box that must be filled (the observatory code is optional).
        empty = next((i for i in self.query(Input) if not i.value and i.id != "observatory"), None)
        (empty or self.query_one("#password", Input)).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#login")
    def submit(self) -> None:
        url = self.query_one("#url", Input).value.strip().rstrip("/")
        email = self.query_one("#email", Input).value.strip()
        password = self.query_one("#password", Input).value
        observatory = self.query_one("#observatory", Input).value.strip() or None
        if url and email and password:
            self.log_in(url, email, password, observatory)

    @work(thread=True, exclusive=True)
    def log_in(self, url: str, email: str, password: str, observatory: str | None) -> None:
        from obs_support.tui.app import ObsSupportApp

        app = self.app
        assert isinstance(app, ObsSupportApp)
        if not url.startswith(("http://", "https://")):
            deliver(app, app.notify, app.t("tui_login_bad_url"), severity="error")
            return
        try:
            with ObsClient(url, language=app.t.language) as anonymous:
                token = anonymous.login(
                    email,
                    password,
                    observatory,
                    token_name="tui",  # noqa: S106 - a label
                ).token
            client = ObsClient(url, token, language=app.t.language)
            me = client.me()
        except (ClientError, ValueError) as exc:
            message = getattr(exc, "message", None) or str(exc).splitlines()[0]
            deliver(app, app.say, message, severity="error")
            return
        self.save(url, token, me.email, me.observatory.slug)
        deliver(app, app.logged_in, client)
