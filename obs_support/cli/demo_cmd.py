"""`obs-support demo` — a demo observatory on the embedded database, served locally."""

from __future__ import annotations

import typer

from obs_support.cli.output import stderr
from obs_support.cli.server_cmd import _migrate, _settings, serve


def demo(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    seed_only: bool = typer.Option(False, "--seed-only", help="Create the demo data and exit."),
) -> None:
    """Start the server with a demo observatory (created on first run, reused after).

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
    if not seed_only:
        serve(host, port)
