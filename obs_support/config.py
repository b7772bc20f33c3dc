"""Settings, one class per side, read from `OBS_SUPPORT_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

APP_NAME = "obs-support"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


class ServerSettings(BaseSettings):
    """How the server finds its data and behaves. Every field is `OBS_SUPPORT_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="OBS_SUPPORT_", extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the database, attachments and outgoing mail live.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; defaults to a SQLite file in the data dir. "
        "Use postgresql+psycopg://user@host/db for PostgreSQL.",
    )
    sqlite_busy_timeout_ms: int = Field(
        default=5000,
        ge=0,
        description="How long a SQLite writer waits for the lock before answering 503.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The address clients use; it appears in invitation links.",
    )
    login_max_failures: int = Field(
        default=10, ge=1, description="Failed logins allowed per e-mail per window before 429."
    )
    login_window_seconds: int = Field(
        default=900, ge=1, description="The window over which failed logins are counted."
    )
    ip_max_failures: int = Field(
        default=100,
        ge=1,
        description="Failed authentications allowed per client address per window before 429.",
    )
    max_attachments_per_incident: int = Field(
        default=200, ge=1, description="How many files one incident may hold."
    )
    storage_reserve_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="Room always left free on the attachment store's disk (the database and "
        "logs often share it): a file that would eat into it is refused (507) when announced.",
    )
    upload_expiry_hours: int = Field(
        default=72, ge=1, description="How long an unfinished upload can be resumed."
    )
    invitation_days: int = Field(default=7, ge=1, description="How long an invitation is valid.")
    smtp_url: str | None = Field(
        default=None,
        description="Where mail goes: smtp://user:pass@host:587?starttls=1 or smtps://host:465. "
        "Unset, each message is written as an .eml file under <data dir>/mail/.",
    )
    mail_from: str = Field(
        default="obs-support@localhost",
        description="The sender address of outgoing mail (the observatory's name is shown).",
    )
    mail_max_attempts: int = Field(
        default=200,
        ge=1,
        description="Delivery attempts before a message is marked failed (with retries every "
        "15 minutes at most, the default keeps trying for about two days).",
    )
    mail_retry_seconds: float = Field(
        default=5.0,
        gt=0,
        description="The first retry delay after a failed delivery; it doubles up to 15 minutes.",
    )

    live_keepalive_seconds: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="How often an idle live stream sends a keep-alive (and re-checks the token).",
    )

    log_format: Literal["json", "text"] = Field(
        default="json",
        description="Server logs on stderr: one JSON object per line (for log collectors), or "
        "plain text for a person at a terminal (`demo` uses text unless this is set).",
    )
    metrics: bool = Field(
        default=True,
        description="Serve Prometheus metrics at /metrics. They carry no tenant data, but keep "
        "the path off the public side of the reverse proxy.",
    )

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'obs-support.sqlite3'}"
