"""Database engines and sessions.

SQLite is tuned for durability and concurrent writers: WAL, `synchronous=FULL` (an
acknowledged commit survives a crash), foreign keys on, a busy timeout, and write
transactions opened with `BEGIN IMMEDIATE` — a deferred transaction that later upgrades to
a write gets SQLITE_BUSY at once, ignoring the busy timeout, when another writer got there
first. Reads use plain deferred transactions so they never wait for writers.

SQLite has one write lock per file, and its busy handler retries with sleeps that favour no
one: under many concurrent writers a few can wait past the busy timeout and fail. Within one
server process, writers therefore queue for their turn on a lock of their own first, so the
file's lock is only ever contended by other processes (the CLI's maintenance commands).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session, create_engine

from obs_support.server import signals

_BEGIN_OPTION = "obs_support_begin"


@dataclass(frozen=True)
class Database:
    """The engine pair a server uses: `reader` for queries, `writer` for changes."""

    reader: Engine
    writer: Engine
    # Called after each commit with the topics the transaction marked (see `signals`).
    listeners: list[Callable[[frozenset[str]], None]] = field(
        default_factory=list, compare=False, hash=False
    )
    # SQLite only: this process's writers take turns here (see the module's docstring).
    gate: threading.RLock | None = field(default=None, compare=False, hash=False)
    gate_timeout: float = 5.0

    @property
    def is_sqlite(self) -> bool:
        return self.reader.dialect.name == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.reader, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction takes the write lock up front, committed on success."""
        with self._turn(), Session(self.writer, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                session.info.pop(signals.KEY, None)
                raise
            topics = signals.take(session)
        if topics:
            for listener in self.listeners:
                listener(topics)

    @contextmanager
    def _turn(self) -> Iterator[None]:
        if self.gate is None:
            yield
            return
        if not self.gate.acquire(timeout=self.gate_timeout):
            # Answered like SQLite's own busy timeout: 503, nothing saved, retry.
            raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("busy"))
        try:
            yield
        finally:
            self.gate.release()

    def dispose(self) -> None:
        self.reader.dispose()


def connect(url: str, *, busy_timeout_ms: int = 5000) -> Database:
    """Build the engines for `url`, applying the SQLite settings when it is SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url, busy_timeout_ms)
        return Database(
            reader=engine,
            writer=engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"}),
            gate=threading.RLock(),
            gate_timeout=busy_timeout_ms / 1000,
        )
    engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    return Database(reader=engine, writer=engine)


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _sqlite_engine(url: str, busy_timeout_ms: int) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        pool_size=20,
        max_overflow=20,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself, so it can choose IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()
        # SQLite's own lower() folds ASCII only; searches must match "ÓPTICA" with "óptica".
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "")
        connection.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine
