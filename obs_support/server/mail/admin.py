"""Looking at the outbox and sending failed mail again (for `obs-support server outbox`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, or_, update
from sqlmodel import Session, col, select

from obs_support.config import ServerSettings
from obs_support.server import signals
from obs_support.server.models import Outbox, PasswordReset
from obs_support.server.types import utcnow

STATUSES = ("pending", "failed", "sent")


@dataclass(frozen=True)
class OutboxLine:
    id: int
    status: str
    kind: str
    to: str
    subject: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime
    last_error: str | None
    file: str | None  # the .eml written, when no SMTP server is configured


def counts(session: Session) -> dict[str, int]:
    rows = session.exec(select(Outbox.status, func.count()).group_by(Outbox.status)).all()
    found = {status: int(n) for status, n in rows}
    return {s: found.get(s, 0) for s in STATUSES}


def lines(
    session: Session, settings: ServerSettings, status: str | None, limit: int
) -> list[OutboxLine]:
    query = select(Outbox)
    if status is not None:
        query = query.where(Outbox.status == status)
    rows = session.exec(query.order_by(col(Outbox.id).desc()).limit(limit)).all()
    return [
        OutboxLine(
            id=r.id or 0,
            status=r.status,
            kind=r.kind,
            to=r.to_addr,
            subject=r.subject,
            attempts=r.attempts,
            created_at=r.created_at,
            sent_at=r.sent_at,
            next_attempt_at=r.next_attempt_at,
            last_error=r.last_error,
            file=_eml(settings, r),
        )
        for r in rows
    ]


def _eml(settings: ServerSettings, row: Outbox) -> str | None:
    if settings.smtp_url or row.status != "sent":
        return None
    path: Path = settings.mail_dir / f"{row.id:08d}-{row.kind}.eml"
    return str(path) if path.exists() else None


def retry_failed(session: Session, ids: list[int] | None) -> int:
    """Put failed messages back in the queue, due now, with a fresh attempt count."""
    query = update(Outbox).where(col(Outbox.status) == "failed")
    if ids:
        query = query.where(col(Outbox.id).in_(ids))
    result = session.execute(
        query.values(status="pending", attempts=0, next_attempt_at=utcnow(), lease_until=None)
    )
    signals.mark(session, signals.MAIL)  # on PostgreSQL, running servers wake at commit
    return int(result.rowcount)  # type: ignore[attr-defined]


SENT_KEPT = timedelta(days=30)
RESETS_KEPT = timedelta(days=1)


def prune(session: Session, settings: ServerSettings) -> dict[str, int]:
    """Forget mail sent over a month ago (and its .eml file) and reset links dead for a day."""
    now = utcnow()
    old = col(Outbox.status) == "sent", col(Outbox.sent_at) < now - SENT_KEPT
    for outbox_id, kind in session.exec(select(Outbox.id, Outbox.kind).where(*old)).all():
        (settings.mail_dir / f"{outbox_id:08d}-{kind}.eml").unlink(missing_ok=True)
    sent = session.execute(delete(Outbox).where(*old))
    resets = session.execute(
        delete(PasswordReset).where(
            or_(col(PasswordReset.used_at).is_not(None), col(PasswordReset.expires_at) < now),
            col(PasswordReset.created_at) < now - RESETS_KEPT,
        )
    )
    return {
        "mail": int(sent.rowcount),  # type: ignore[attr-defined]
        "resets": int(resets.rowcount),  # type: ignore[attr-defined]
    }
