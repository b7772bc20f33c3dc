"""Apply the Alembic migrations programmatically (no alembic.ini needed at run time)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def pending(url: str) -> list[str]:
    """Revisions not yet applied to the database at `url`."""
    script = ScriptDirectory.from_config(alembic_config(url))
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()
    head = script.get_current_head()
    if head is None or head in current:
        return []
    revisions = []
    for rev in script.walk_revisions(base="base", head="heads"):
        if rev.revision in current:
            break
        revisions.append(rev.revision)
    return list(reversed(revisions))


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened; the message is one line for a person."""


def upgrade(url: str) -> list[str]:
    """Bring the database up to the newest schema; returns the revisions applied."""
    try:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        todo = pending(url)
        if todo:
            command.upgrade(alembic_config(url), "head")
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseUnavailable(f"cannot reach the database: {detail}") from exc
    except OSError as exc:
        raise DatabaseUnavailable(f"cannot open the database: {exc}") from exc
    return todo
