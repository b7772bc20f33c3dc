"""The tables. Schema changes go through Alembic migrations (see `migrations/`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from obs_support.server.types import UTCDateTime, utcnow

DEFAULT_ATTACHMENT_LIMIT = 2 * 1024**3


def _ts(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, **kw))


def _ts_opt() -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class Observatory(SQLModel, table=True):
    """A tenant: one observatory with its own clients, staff, branding and counter."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=20, unique=True)
    name: str = Field(max_length=200)
    accent_color: str = Field(default="#1f6feb", max_length=7)
    logo: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    logo_content_type: str | None = Field(default=None, max_length=50)
    support_email: str | None = Field(default=None, max_length=254)
    default_language: str = Field(default="es", max_length=2)
    attachment_size_limit: int = Field(
        default=DEFAULT_ATTACHMENT_LIMIT, sa_column=Column(BigInteger, nullable=False)
    )
    # Last incident number handed out; bumped inside the creating transaction, so gap-free.
    incident_seq: int = Field(default=0)
    created_at: datetime = _ts()


class ClientAccount(SQLModel, table=True):
    __tablename__ = "client_account"
    __table_args__ = (UniqueConstraint("observatory_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    observatory_id: int = Field(foreign_key="observatory.id", index=True)
    name: str = Field(max_length=200)
    created_at: datetime = _ts()


class Telescope(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("client_account_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    observatory_id: int = Field(foreign_key="observatory.id", index=True)
    client_account_id: int = Field(foreign_key="client_account.id", index=True)
    name: str = Field(max_length=120)
    model: str | None = Field(default=None, max_length=200)
    mount: str | None = Field(default=None, max_length=200)
    location: str | None = Field(default=None, max_length=200)
    created_at: datetime = _ts()


class User(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("observatory_id", "email"),)

    id: int | None = Field(default=None, primary_key=True)
    observatory_id: int = Field(foreign_key="observatory.id", index=True)
    email: str = Field(max_length=254)
    display_name: str = Field(max_length=200)
    role: str = Field(max_length=10)
    language: str = Field(default="es", max_length=2)
    client_account_id: int | None = Field(default=None, foreign_key="client_account.id", index=True)
    password_hash: str | None = Field(default=None, max_length=255)
    active: bool = Field(default=True)
    # Kinds of notification this user does not want by e-mail (the in-app one is always kept).
    email_off: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    created_at: datetime = _ts()


class Incident(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("observatory_id", "number"),
        # The default queue order (priority high first, then oldest first) for staff and clients.
        Index("ix_incident_queue", "observatory_id", text("priority DESC"), "id"),
        Index(
            "ix_incident_account_queue",
            "observatory_id",
            "client_account_id",
            text("priority DESC"),
            "id",
        ),
        Index("ix_incident_status_queue", "observatory_id", "status", text("priority DESC"), "id"),
        Index("ix_incident_updated", "observatory_id", "updated_at", "id"),
        Index(
            "ix_incident_account_updated", "observatory_id", "client_account_id", "updated_at", "id"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    observatory_id: int = Field(foreign_key="observatory.id")
    number: int
    type: str = Field(max_length=20)
    priority: int
    status: str = Field(max_length=20)
    telescope_id: int | None = Field(default=None, foreign_key="telescope.id", index=True)
    visit_date: date | None = None
    summary: str = Field(max_length=200)
    client_account_id: int = Field(foreign_key="client_account.id")
    creator_id: int = Field(foreign_key="user.id")
    assignee_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Event(SQLModel, table=True):
    """One entry of an incident's history. Append-only: never updated or deleted."""

    __table_args__ = (Index("ix_event_incident", "incident_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id")
    kind: str = Field(max_length=30)
    actor_id: int = Field(foreign_key="user.id")
    created_at: datetime = _ts()
    body: str | None = None
    internal: bool = Field(default=False)
    source: str | None = Field(default=None, max_length=10)
    data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class IncidentCount(SQLModel, table=True):
    """Incidents per account and status, kept in step with every change (no COUNT(*) to serve)."""

    __tablename__ = "incident_count"

    client_account_id: int = Field(foreign_key="client_account.id", primary_key=True)
    status: str = Field(max_length=20, primary_key=True)
    observatory_id: int = Field(foreign_key="observatory.id", index=True)
    n: int = Field(default=0)


class Invitation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    observatory_id: int = Field(foreign_key="observatory.id", index=True)
    email: str = Field(max_length=254)
    role: str = Field(max_length=10)
    client_account_id: int | None = Field(default=None, foreign_key="client_account.id")
    token_hash: str = Field(max_length=64, unique=True)
    # The e-mail's language when the inviter chose one: the new user's, unless they choose.
    language: str | None = Field(default=None, max_length=2)
    expires_at: datetime = _ts()
    accepted_at: datetime | None = _ts_opt()
    created_by_id: int = Field(foreign_key="user.id")
    created_at: datetime = _ts()


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _ts()
    last_used_at: datetime | None = _ts_opt()
    revoked_at: datetime | None = _ts_opt()


class Notification(SQLModel, table=True):
    __table_args__ = (Index("ix_notification_user", "user_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id")
    incident_id: int = Field(foreign_key="incident.id")
    event_id: int = Field(foreign_key="event.id")
    kind: str = Field(max_length=30)
    created_at: datetime = _ts()
    read_at: datetime | None = _ts_opt()


class IdempotencyKey(SQLModel, table=True):
    """The first answer to a keyed write, replayed on retries with the same key and body."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id")
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    status_code: int
    response: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts()


class AuthThrottle(SQLModel, table=True):
    """Failed authentication attempts per key (client address or e-mail) in the current window."""

    __tablename__ = "auth_throttle"

    key: str = Field(primary_key=True, max_length=300)
    window_start: datetime = _ts()
    failures: int = Field(default=0)


class Attachment(SQLModel, table=True):
    """A finished file on an incident. Its bytes live in the content-addressed store."""

    __table_args__ = (Index("ix_attachment_incident", "incident_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id")
    uploader_id: int = Field(foreign_key="user.id")
    filename: str = Field(max_length=255)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=20)
    mime: str = Field(max_length=100)
    created_at: datetime = _ts()


class Upload(SQLModel, table=True):
    """An upload in progress: its bytes so far are in `uploads/<id>.part`."""

    id: str = Field(primary_key=True, max_length=64)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    filename: str = Field(max_length=255)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts()
    expires_at: datetime = _ts()


class Outbox(SQLModel, table=True):
    """An e-mail written in the same transaction as the change it tells about.

    The delivery worker sends pending rows and marks them sent; `message_id` is fixed when the
    row is written, so a resend after a crash is the same message to every mail client.
    """

    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    observatory_id: int = Field(foreign_key="observatory.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="user.id")
    to_addr: str = Field(max_length=254)
    to_name: str | None = Field(default=None, max_length=200)
    kind: str = Field(max_length=30)
    language: str = Field(max_length=2)
    subject: str = Field(max_length=400)
    body_text: str
    body_html: str
    message_id: str = Field(max_length=200, unique=True)
    status: str = Field(default="pending", max_length=10)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = _ts()
    lease_until: datetime | None = _ts_opt()
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = _ts()
    sent_at: datetime | None = _ts_opt()


class PasswordReset(SQLModel, table=True):
    """A single-use password reset link; only its hash is kept."""

    __tablename__ = "password_reset"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    expires_at: datetime = _ts()
    used_at: datetime | None = _ts_opt()
    created_at: datetime = _ts()
