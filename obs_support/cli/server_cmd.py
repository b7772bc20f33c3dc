"""`obs-support server …` — create, migrate and run the server (administrators)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from obs_support.cli.output import fail, stderr

if TYPE_CHECKING:
    from obs_support.config import ServerSettings

app = typer.Typer(help="Run and administer the server.", no_args_is_help=True)


def _settings() -> ServerSettings:
    from obs_support.config import ServerSettings

    try:
        return ServerSettings()
    except ValueError as exc:
        fail(f"bad OBS_SUPPORT_* setting: {str(exc).splitlines()[0]}")


def _migrate(url: str) -> list[str]:
    from obs_support.server.migrate import DatabaseUnavailable, upgrade

    try:
        return upgrade(url)
    except DatabaseUnavailable as exc:
        fail(str(exc))


@app.command()
def migrate() -> None:
    """Apply pending database migrations.

    Example: OBS_SUPPORT_DATABASE_URL=postgresql+psycopg://obs@db/obs obs-support server migrate
    """
    applied = _migrate(_settings().resolved_database_url)
    stderr.print(f"applied {len(applied)} migration(s)" if applied else "database is up to date")


@app.command()
def init(
    observatory: str = typer.Option(..., "--observatory", help="The observatory's name."),
    slug: str | None = typer.Option(
        None, help="Reference prefix, e.g. TEIDE (from the name if omitted)."
    ),
    admin_email: str = typer.Option(
        ..., "--admin-email", help="E-mail of the first administrator."
    ),
    admin_name: str = typer.Option("Administrator", "--admin-name", help="Their display name."),
    language: str = typer.Option("es", help="Default language for clients: es or en."),
) -> None:
    """Create the database, an observatory and its first admin; print the admin's API token once.

    Example: obs-support server init --observatory "Observatorio del Teide" --slug TEIDE
    --admin-email ana@teide.example
    """
    _create(observatory, slug, admin_email, admin_name, language)


@app.command()
def gc(
    grace_minutes: int = typer.Option(
        60, "--grace-minutes", min=0, help="Keep unreferenced files younger than this."
    ),
) -> None:
    """Remove expired uploads, unreferenced files, old idempotency keys, old mail and resets.

    Example: obs-support server gc
    """
    settings = _settings()
    _migrate(settings.resolved_database_url)
    from datetime import timedelta

    from obs_support.server import idempotency
    from obs_support.server.db import connect
    from obs_support.server.mail import admin as mail
    from obs_support.server.services.attachments import gc as collect
    from obs_support.server.state import AppState

    db = connect(settings.resolved_database_url)
    try:
        state = AppState(settings=settings, db=db)
        removed = collect(state, timedelta(minutes=grace_minutes))
        keys = idempotency.prune(state)
        with db.write() as session:
            old = mail.prune(session, settings)
    finally:
        db.dispose()
    stderr.print(
        f"removed {removed['uploads']} expired upload(s), {removed['parts']} stray part file(s), "
        f"{removed['blobs']} unreferenced file(s), {keys} idempotency key(s) over a week old, "
        f"{old['mail']} e-mail(s) sent over a month ago, {old['resets']} dead reset link(s)"
    )


observatory_app = typer.Typer(
    help="Observatories on this server (a host may serve several).", no_args_is_help=True
)
app.add_typer(observatory_app, name="observatory")


@observatory_app.command("add")
def observatory_add(
    name: str = typer.Argument(..., help="The observatory's name."),
    slug: str = typer.Option(..., "--slug", help="Reference prefix, e.g. ROQUE."),
    admin_email: str = typer.Option(
        ..., "--admin-email", help="E-mail of its first administrator."
    ),
    admin_name: str = typer.Option("Administrator", "--admin-name", help="Their display name."),
    language: str = typer.Option("es", help="Default language for clients: es or en."),
) -> None:
    """Add another observatory to this server; prints its admin's API token once.

    Example: obs-support server observatory add "Roque de los Muchachos" --slug ROQUE
    --admin-email admin@roque.example
    """
    _create(name, slug, admin_email, admin_name, language)


@observatory_app.command("list")
def observatory_list() -> None:
    """The observatories this server holds.

    Example: obs-support server observatory list
    """
    settings = _settings()
    _migrate(settings.resolved_database_url)
    from obs_support.server.db import connect
    from obs_support.server.services.setup import list_observatories

    db = connect(settings.resolved_database_url)
    try:
        with db.read() as session:
            rows = list_observatories(session)
    finally:
        db.dispose()
    for slug, name in rows:
        typer.echo(f"{slug}\t{name}")


def _create(name: str, slug: str | None, admin_email: str, admin_name: str, language: str) -> None:
    if language not in ("es", "en"):
        fail("--language must be es or en")
    settings = _settings()
    _migrate(settings.resolved_database_url)
    from obs_support.server.db import connect
    from obs_support.server.services.setup import SetupError, create_observatory

    db = connect(settings.resolved_database_url)
    try:
        with db.write() as session:
            obs, admin, issued = create_observatory(
                session,
                name=name,
                slug=slug,
                admin_email=admin_email,
                admin_name=admin_name,
                language=language,
            )
    except SetupError as exc:
        fail(str(exc))
    finally:
        db.dispose()
    stderr.print(f"Created observatory {obs.name} ({obs.slug}) with admin {admin.email}.")
    stderr.print("The admin's API token follows; it is shown only this once:")
    typer.echo(issued.token)


@app.command()
def run(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
) -> None:
    """Serve the API (applies pending migrations first).

    Example: obs-support server run --host 0.0.0.0 --port 8000
    """
    settings = _settings()
    _migrate(settings.resolved_database_url)
    serve(host, port)


def serve(host: str, port: int) -> None:
    import os

    from obs_support.server.app import create_app

    settings = _settings()
    if not os.environ.get("OBS_SUPPORT_PUBLIC_URL"):
        # Links in invitations must point where this server actually listens.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - comparing, not binding
        settings.public_url = f"http://{shown}:{port}"
    from obs_support.server.runner import Server, config

    Server(config(create_app(settings), host, port, log_level="info")).run()
