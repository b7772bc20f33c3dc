"""`obs-support demo` — a demo observatory on the embedded database, served locally."""

from __future__ import annotations

import sys

import typer

from obs_support.cli.output import stderr
from obs_support.cli.server_cmd import _migrate, _settings, serve


def demo(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    seed_only: bool = typer.Option(False, "--seed-only", help="Create the demo data and exit."),
    tui: bool = typer.Option(
        True,
        "--tui/--no-tui",
        help="On a terminal, open the TUI as the demo staff member (the server stops with it).",
    ),
) -> None:
    """Start the server with a demo observatory (created on first run, reused after).

    On a terminal it also opens the TUI, logged in as the demo staff member; without one (or
    with --no-tui) it only serves, until Ctrl-C.

    Example: obs-support demo --port 8000
    """
    settings = _settings()
    _migrate(settings.resolved_database_url)
    from obs_support.server import demo as data
    from obs_support.server.db import connect

    db = connect(settings.resolved_database_url)
    try:
        with db.write() as session:
            if data.exists(session):
                stderr.print(f"Reusing the demo data in {settings.data_dir}")
            else:
                data.seed(session, settings)
                stderr.print(f"Created the demo data in {settings.data_dir}")
    finally:
        db.dispose()
    url = f"http://{host}:{port}"
    stderr.print(data.describe(url))
    if seed_only:
        return
    if tui and sys.stdin.isatty() and sys.stdout.isatty():
        _serve_with_tui(ctx, host, port, url, data.STAFF_EMAIL, data.PASSWORD)
    else:
        serve(host, port, log_format="text")


def _serve_with_tui(
    ctx: typer.Context, host: str, port: int, url: str, email: str, password: str
) -> None:
    """The server in a background thread, the TUI in front; quitting the TUI stops both."""
    import threading
    import time

    from obs_support.cli.context import state
    from obs_support.client.api import ObsClient
    from obs_support.server.app import create_app
    from obs_support.server.runner import Server, config
    from obs_support.tui.app import ObsSupportApp

    settings = _settings()
    settings.public_url = url
    server = Server(config(create_app(settings), host, port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            stderr.print(f"error: the demo server could not start on {url}", markup=False)
            raise typer.Exit(1)
        time.sleep(0.05)
    try:
        with ObsClient(url, language=state(ctx).t.language) as anonymous:
            token = anonymous.login(email, password, token_name="demo tui").token  # noqa: S106
        client = ObsClient(url, token, language=state(ctx).t.language)
        ObsSupportApp(client, state(ctx).t).run()
        client.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
