"""The delivery worker: a thread in the server process that sends what the outbox holds.

Each message is claimed with a short lease (so several server processes never send the same
row at once), sent, then marked sent. A failure schedules a retry with a doubling delay; a
permanent refusal, or too many attempts, marks the row failed. A process that dies after
sending but before marking sends once more after the lease ends — with the same Message-ID,
so mail clients show one message.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from datetime import timedelta

from sqlalchemy import func, or_, update
from sqlmodel import col, select

from obs_support.config import ServerSettings
from obs_support.server import signals
from obs_support.server.db import Database
from obs_support.server.mail.outbox import build
from obs_support.server.mail.transport import (
    FileTransport,
    PermanentFailure,
    SmtpConfig,
    SmtpTransport,
    Transport,
)
from obs_support.server.models import Observatory, Outbox
from obs_support.server.types import utcnow

log = logging.getLogger("obs_support.mail")

LEASE = timedelta(seconds=60)
MAX_DELAY_SECONDS = 900.0
IDLE_SECONDS = 5.0  # also how soon mail queued by another process (SQLite) goes out
BATCH = 50


def make_transport(settings: ServerSettings) -> Transport:
    if settings.smtp_url:
        return SmtpTransport(SmtpConfig.parse(settings.smtp_url))
    return FileTransport(settings.mail_dir)


class Mailer:
    def __init__(self, db: Database, settings: ServerSettings) -> None:
        self.db = db
        self.settings = settings
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def on_commit(self, topics: frozenset[str]) -> None:
        if signals.MAIL in topics:
            self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="obs-support-mail", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT_JOIN)

    def _run(self) -> None:
        transport = make_transport(self.settings)
        try:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    self.deliver_due(transport)
                    delay = self._seconds_to_next()
                except Exception:  # the database is away: keep the worker alive and retry
                    log.exception("mail delivery pass failed")
                    delay = 5.0
                finally:
                    # Mail servers drop idle connections: hold one only while a batch lasts.
                    transport.close()
                self._wake.wait(timeout=delay)
        finally:
            transport.close()

    def _seconds_to_next(self) -> float:
        with self.db.read() as session:
            due = session.exec(
                select(func.min(Outbox.next_attempt_at)).where(Outbox.status == "pending")
            ).one()
        if due is None:
            return IDLE_SECONDS
        return min(max((due - utcnow()).total_seconds(), 0.05), IDLE_SECONDS)

    def deliver_due(self, transport: Transport) -> int:
        """Send every message that is due now; returns how many were sent."""
        sent = 0
        while not self._stop.is_set():
            now = utcnow()
            with self.db.read() as session:
                due = session.exec(
                    select(Outbox.id)
                    .where(Outbox.status == "pending", col(Outbox.next_attempt_at) <= now)
                    .order_by(col(Outbox.id))
                    .limit(BATCH)
                ).all()
            if not due:
                return sent
            for outbox_id in due:
                if outbox_id is not None and self._claim(outbox_id):
                    sent += self._deliver(transport, outbox_id)
            if len(due) < BATCH:
                return sent
        return sent

    def _claim(self, outbox_id: int) -> bool:
        now = utcnow()
        with self.db.write() as session:
            result = session.execute(
                update(Outbox)
                .where(
                    col(Outbox.id) == outbox_id,
                    col(Outbox.status) == "pending",
                    or_(col(Outbox.lease_until).is_(None), col(Outbox.lease_until) < now),
                )
                .values(lease_until=now + LEASE, attempts=col(Outbox.attempts) + 1)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def _deliver(self, transport: Transport, outbox_id: int) -> int:
        with self.db.read() as session:
            row = session.get(Outbox, outbox_id)
            assert row is not None
            obs = session.get(Observatory, row.observatory_id)
            assert obs is not None
        try:
            transport.send(
                build(row, obs, self.settings),
                self.settings.mail_from,
                row.to_addr,
                f"{row.id:08d}-{row.kind}",
            )
        except PermanentFailure as exc:
            self._failed(row, str(exc), final=True)
            return 0
        except (OSError, smtplib.SMTPException) as exc:
            self._failed(row, _one_line(exc), final=row.attempts >= self.settings.mail_max_attempts)
            return 0
        with self.db.write() as session:
            session.execute(
                update(Outbox)
                .where(col(Outbox.id) == outbox_id)
                .values(status="sent", sent_at=utcnow(), lease_until=None, last_error=None)
            )
        return 1

    def _failed(self, row: Outbox, error: str, *, final: bool) -> None:
        delay = min(
            self.settings.mail_retry_seconds * 2 ** min(max(row.attempts - 1, 0), 20),
            MAX_DELAY_SECONDS,
        )
        log.warning(
            "mail %s to user %s not delivered (attempt %d): %s",
            row.id,
            row.user_id,
            row.attempts,
            error,
        )
        with self.db.write() as session:
            session.execute(
                update(Outbox)
                .where(col(Outbox.id) == row.id)
                .values(
                    status="failed" if final else "pending",
                    next_attempt_at=utcnow() + timedelta(seconds=delay),
                    lease_until=None,
                    last_error=error[:500],
                )
            )


TIMEOUT_JOIN = 10.0


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]
