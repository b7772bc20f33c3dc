"""The staff triage app: `obs-support tui`.

All network I/O runs in worker threads; the screens only render what the workers post. A
worker follows the server's live stream for the whole session (reconnecting by itself) and
hands each event to the screen on top.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from obs_support import domain, schemas
from obs_support.cli.i18n import Translator
from obs_support.client.api import ObsClient
from obs_support.client.errors import ClientError, Unauthorized
from obs_support.client.live import Stopper
from obs_support.tui.commands import ReferenceProvider, screen_commands
from obs_support.tui.handoff import deliver
from obs_support.tui.login import LoginScreen
from obs_support.tui.messages import LinkChanged, LiveEventArrived, RequestFailed
from obs_support.tui.widgets import localize_bindings


class ObsSupportApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "obs-support"
    COMMANDS = App.COMMANDS | {ReferenceProvider}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(
        self,
        client: ObsClient | None,
        translator: Translator,
        *,
        live: bool = True,
        login: LoginScreen | None = None,
    ) -> None:
        """With no `client`, the `login` screen comes first."""
        super().__init__()
        self.client: ObsClient = client  # type: ignore[assignment]  # set by logged_in
        self.t = translator
        self.me: schemas.MePublic
        self.follow_live = live
        self.connected = False
        self._stopping = Stopper()
        self.login_screen = login

    @property
    def role(self) -> domain.Role:
        return domain.Role(self.me.role)

    @property
    def is_staff(self) -> bool:
        return self.role.is_staff

    def on_mount(self) -> None:
        localize_bindings(self, self.t, {"quit": "key_quit", "help": "key_help"})
        if self.client is None and self.login_screen is not None:
            self.push_screen(self.login_screen)
        else:
            self.start()

    def logged_in(self, client: ObsClient) -> None:
        self.client = client
        if self.login_screen is not None:
            self.login_screen.dismiss()
        self.start()

    @work(thread=True, exclusive=True, group="start")
    def start(self) -> None:
        try:
            self.me = self.client.me()
        except Unauthorized as exc:
            # A saved login that was revoked or has expired: ask for the password again.
            deliver(self, self.say, exc.message, severity="error", timeout=30)
            if self.login_screen is not None:
                deliver(self, self.push_screen, self.login_screen)
            return
        except ClientError as exc:
            deliver(self, self.say, exc.message, severity="error", timeout=30)
            return
        deliver(self, self._brand)
        if self.follow_live:
            self.follow()

    def _brand(self) -> None:
        from obs_support.tui.queue import QueueScreen

        obs = self.me.observatory
        self.title = obs.name
        self.sub_title = f"{self.me.display_name} · {self.t.label(self.role)}"
        self._accent = obs.accent_color  # the observatory's colour, as on its portal
        self.refresh_css()
        self.push_screen(QueueScreen())

    def get_css_variables(self) -> dict[str, str]:
        variables = super().get_css_variables()
        variables["accent-brand"] = getattr(self, "_accent", "#1f6feb")
        return variables

    @work(thread=True, exclusive=True, group="live")
    def follow(self) -> None:
        """Follow the live stream for as long as the app runs."""
        from obs_support.client.live import follow

        stream_client = ObsClient(
            self.client.base_url, self.client.token, language=self.client.language
        )
        try:
            for message in follow(stream_client, on_state=self._link, stop=self._stopping):
                if message.event in ("ready", "end"):
                    continue
                try:
                    event = schemas.LiveEvent.model_validate(message.data)
                except ValueError:
                    continue
                deliver(self, self._deliver, event)
        except ClientError as exc:
            self.post_message(RequestFailed(exc.message))
        finally:
            stream_client.close()

    def exit(self, *args: Any, **kwargs: Any) -> None:
        # The live stream's thread may be blocked reading: cut it, or quitting would wait.
        self._stopping.stop()
        super().exit(*args, **kwargs)

    def on_unmount(self) -> None:
        self._stopping.stop()

    def _link(self, state: str) -> None:
        self.post_message(LinkChanged(connected=state == "connected"))

    def _deliver(self, event: schemas.LiveEvent) -> None:
        # Every open screen, not only the top one: the queue under an incident stays current.
        for screen in self.screen_stack:
            screen.post_message(LiveEventArrived(event))

    @on(LinkChanged)
    def link_changed(self, message: LinkChanged) -> None:
        if message.connected != self.connected:
            self.connected = message.connected
            if not message.connected:
                self.notify(self.t("reconnecting"), severity="warning")

    @on(RequestFailed)
    def request_failed(self, message: RequestFailed) -> None:
        self.say(message.message, severity="error", timeout=8)

    def say(self, message: str, **options: Any) -> None:
        """A notification whose text is shown literally: it may quote what users typed."""
        self.notify(message, markup=False, **options)

    def open_incident(self, ref: str) -> None:
        from obs_support.tui.incident import IncidentScreen

        self.push_screen(IncidentScreen(ref))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The palette offers what the screen's keys do, named as in its footer (so in the
        user's language), instead of Textual's own English commands."""
        yield from screen_commands(self, screen)
        yield SystemCommand(self.t("tui_theme"), self.t("tui_theme_help"), self.action_change_theme)

    def action_help(self) -> None:
        from obs_support.tui.modals import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.t("tui_help_title"), self.t("tui_help")))
