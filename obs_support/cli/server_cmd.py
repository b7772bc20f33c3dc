"""`obs-support server …` — create, migrate and run the server (administrators)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

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


@app.command()
def backup(
    path: Path = typer.Argument(..., help="Directory for the backup (new, or an earlier backup)."),
) -> None:
    """Back up the database and the attachment files into PATH, while the server runs.

    SQLite is copied through its online backup API; for PostgreSQL, pg_dump runs when it is
    installed (otherwise the command to run is printed). Into an earlier backup, only new
    attachment files are copied.

    Example: obs-support server backup /var/backups/obs-support/2026-06-01
    """
    from obs_support.server.backup import BackupError
    from obs_support.server.backup import backup as run_backup

    settings = _settings()
    try:
        done = run_backup(settings, path)
    except (BackupError, OSError) as exc:
        fail(_one_line(exc))
    for note in done.notes:
        stderr.print(note, markup=False)
    stderr.print(
        f"backed up the {done.database} database (schema {done.revision}) and "
        f"{done.blobs} attachment file(s), {done.bytes} bytes ({done.copied} new) to {path}",
        markup=False,
    )


@app.command()
def restore(
    path: Path = typer.Argument(..., help="A directory written by `server backup`."),
    force: bool = typer.Option(
        False, "--force", help="Replace a data dir that is not empty (it is moved aside)."
    ),
) -> None:
    """Restore a backup into the data dir, after checking every file against the manifest.

    Stop the server first. Nothing changes unless everything checks out.

    Example: obs-support server restore /var/backups/obs-support/2026-06-01
    """
    from obs_support.server.backup import BackupError
    from obs_support.server.backup import restore as run_restore

    settings = _settings()
    try:
        done = run_restore(settings, path, force=force)
    except (BackupError, OSError) as exc:
        fail(_one_line(exc))
    stderr.print(
        f"restored {done.blobs} attachment file(s), {done.bytes} bytes"
        + (" and the SQLite database" if done.database == "sqlite" else "")
        + f" into {done.path}",
        markup=False,
    )
    for note in done.notes:
        stderr.print(note, markup=False)


def _one_line(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


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
    workers: int = typer.Option(
        1, min=1, max=64, help="Worker processes (above 1 needs PostgreSQL)."
    ),
) -> None:
    """Serve the API (applies pending migrations first); logs are JSON lines on stderr.

    Example: obs-support server run --host 0.0.0.0 --port 8000 --workers 4
    """
    settings = _settings()
    if workers > 1 and settings.resolved_database_url.startswith("sqlite"):
        fail(
            "--workers above 1 needs PostgreSQL (set OBS_SUPPORT_DATABASE_URL); "
            "SQLite is served by one process",
            code=2,
        )
    _migrate(settings.resolved_database_url)
    serve(host, port, workers=workers)


def serve(host: str, port: int, *, workers: int = 1, log_format: str = "json") -> None:
    """Run the server; `log_format` applies unless OBS_SUPPORT_LOG_FORMAT says otherwise."""
    import os

    from obs_support.server import logs

    settings = _settings()
    if not os.environ.get("OBS_SUPPORT_PUBLIC_URL"):
        # Links in invitations must point where this server actually listens.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - comparing, not binding
        settings.public_url = f"http://{shown}:{port}"
    chosen: logs.LogFormat = (
        settings.log_format
        if os.environ.get("OBS_SUPPORT_LOG_FORMAT")
        else ("text" if log_format == "text" else "json")
    )
    log_config = logs.config(chosen)
    if workers > 1:
        _serve_workers(host, port, workers, settings.public_url, chosen, log_config)
        return
    from obs_support.server.app import create_app
    from obs_support.server.runner import Server, config

    _fresh_metrics_dir()
    app = create_app(settings)
    Server(config(app, host, port, log_config=log_config, access_log=False)).run()


def _fresh_metrics_dir() -> str | None:
    """Empty PROMETHEUS_MULTIPROC_DIR when it is set: an earlier run's values would count again."""
    import os

    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
    return given


def _serve_workers(
    host: str, port: int, workers: int, public_url: str, log_format: str, log_config: dict[str, Any]
) -> None:
    """Several processes: each builds its app from the environment, so settle it here first."""
    import os
    import shutil
    import tempfile

    os.environ["OBS_SUPPORT_PUBLIC_URL"] = public_url
    os.environ["OBS_SUPPORT_LOG_FORMAT"] = log_format
    # Metrics from every worker, added up at each scrape (prometheus-client multiprocess mode),
    # in a directory of their own unless one is given.
    given = _fresh_metrics_dir()
    directory = given or tempfile.mkdtemp(prefix="obs-support-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    from obs_support.server.runner import run_workers

    try:
        run_workers(host, port, workers, log_config)
    finally:
        if not given:
            shutil.rmtree(directory, ignore_errors=True)
