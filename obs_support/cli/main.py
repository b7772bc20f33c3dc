"""The `obs-support` command: one sub-command group per noun."""

from __future__ import annotations

import typer

from obs_support import __version__
from obs_support.cli import demo_cmd, server_cmd

app = typer.Typer(
    name="obs-support",
    help="Support incidents between an astronomical observatory and its clients.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(server_cmd.app, name="server")
app.command("demo")(demo_cmd.demo)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"obs-support {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Support incidents between an astronomical observatory and its clients."""


def main() -> None:
    app()
