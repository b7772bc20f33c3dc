"""`server outbox` — the mail the server has sent, is sending, or could not send."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime

import typer

from obs_support.cli.output import fail, stderr


def outbox(
    status: str | None = typer.Option(
        None, "--status", help="Only pending, failed or sent messages."
    ),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=10_000, help="How many to list."),
    retry: list[int] = typer.Option(
        [], "--retry", help="Send this failed message again (repeatable)."
    ),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Send every failed one again."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per message."),
) -> None:
    """List outgoing mail, newest first, with where it stands.

    Example: obs-support server outbox --status failed
    """
    from obs_support.cli.server_cmd import _migrate, _settings

    if status is not None and status not in ("pending", "failed", "sent"):
        fail("--status must be pending, failed or sent")
    settings = _settings()
    _migrate(settings.resolved_database_url)
    from rich.table import Table
    from rich.text import Text

    from obs_support.cli.output import stdout
    from obs_support.server.db import connect
    from obs_support.server.mail import admin

    db = connect(settings.resolved_database_url)
    try:
        if retry or retry_failed:
            with db.write() as session:
                queued = admin.retry_failed(session, retry or None)
            stderr.print(
                f"{queued} failed message(s) queued again; "
                "the running server sends them within a few seconds"
            )
            return
        with db.read() as session:
            tally = admin.counts(session)
            rows = admin.lines(session, settings, status, limit)
    finally:
        db.dispose()
    if as_json:
        for row in rows:
            typer.echo(json.dumps(asdict(row), default=_json_value, ensure_ascii=False))
        return
    where = "SMTP" if settings.smtp_url else f".eml files in {settings.mail_dir}"
    stderr.print(
        f"{tally['pending']} pending, {tally['failed']} failed, {tally['sent']} sent · "
        f"delivery: {where}",
        markup=False,
    )
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("id", "status", "kind", "to", "subject", "tries", "detail"):
        table.add_column(name, overflow="fold" if name in ("subject", "detail") else "ellipsis")
    style = {"pending": "yellow", "failed": "bold red", "sent": "green"}
    for r in rows:
        detail = (
            r.last_error or r.file or (r.sent_at.isoformat(timespec="seconds") if r.sent_at else "")
        )
        table.add_row(
            str(r.id),
            Text(r.status, style=style.get(r.status, "")),
            r.kind,
            Text(r.to),
            Text(r.subject),
            str(r.attempts),
            Text(detail),
        )
    stdout.print(table)


def _json_value(value: object) -> str:
    """Times as ISO 8601 (`2026-11-26T10:42:07.120000+00:00`), as the API writes them."""
    return value.isoformat() if isinstance(value, datetime) else str(value)
