"""The `obs-support` command: one sub-command group per noun."""

from __future__ import annotations

import sys

import typer

from obs_support import __version__
from obs_support.cli import (
    attach_cmd,
    audio_cmd,
    auth_cmd,
    demo_cmd,
    directory_cmd,
    incident_cmd,
    notify_cmd,
    observatory_cmd,
    outbox_cmd,
    server_cmd,
    tui_cmd,
    watch_cmd,
)
from obs_support.cli.context import ErrorHandlingGroup, state
from obs_support.client.config import DEFAULT_PROFILE

app = typer.Typer(
    name="obs-support",
    help="Support incidents between an astronomical observatory and its clients.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=ErrorHandlingGroup,
)
app.command()(auth_cmd.login)
app.command()(auth_cmd.logout)
app.command()(auth_cmd.whoami)
app.command("accept-invite")(auth_cmd.accept_invite)
incident_cmd.app.command()(attach_cmd.attach)
incident_cmd.app.command()(attach_cmd.download)
incident_cmd.app.command()(watch_cmd.watch)
server_cmd.app.command()(outbox_cmd.outbox)
app.add_typer(incident_cmd.app, name="incident")
app.add_typer(directory_cmd.telescope_app, name="telescope")
app.add_typer(directory_cmd.account_app, name="account")
app.command()(directory_cmd.invite)
app.add_typer(directory_cmd.token_app, name="token")
app.add_typer(directory_cmd.user_app, name="user")
app.add_typer(notify_cmd.app, name="notifications")
app.add_typer(observatory_cmd.app, name="observatory")
app.add_typer(audio_cmd.app, name="audio")
app.add_typer(server_cmd.app, name="server")
app.command("demo")(demo_cmd.demo)
app.command("tui")(tui_cmd.tui)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"obs-support {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    profile: str = typer.Option(
        DEFAULT_PROFILE, "--profile", envvar="OBS_SUPPORT_PROFILE", help="Which saved login to use."
    ),
    lang: str | None = typer.Option(None, "--lang", help="es or en (default: from the locale)."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Support incidents between an astronomical observatory and its clients."""
    st = state(ctx)
    st.profile, st.lang, st.debug = profile, lang, debug
    if lang not in (None, "es", "en"):
        raise typer.BadParameter("use es or en", param_hint="--lang")


def main() -> None:
    # httpcore imports trio as it loads whenever trio is installed (selenium brings it along),
    # about 50 ms on every command. Nothing in this process runs on trio: mark it absent.
    # Only here, for the process a command starts: an application embedding the CLI keeps it.
    if "trio" not in sys.modules:
        sys.modules["trio"] = None  # type: ignore[assignment]
    app()
