"""Wake-ups after a commit: new history events for the live stream, new mail for delivery.

A write marks its session with what it added (`mark`); when `Database.write` commits, the
database calls its listeners with those topics. On PostgreSQL the mark also sends a NOTIFY
inside the transaction, which PostgreSQL delivers only on commit, so the server processes
that share the database wake up too.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session

EVENTS = "events"
MAIL = "mail"
CHANNEL = "obs_support"
KEY = "obs_support_topics"


def mark(session: Session, topic: str) -> None:
    topics: set[str] = session.info.setdefault(KEY, set())
    if topic in topics:
        return
    topics.add(topic)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :topic)"), {"channel": CHANNEL, "topic": topic}
        )


def take(session: Session) -> frozenset[str]:
    """The topics marked in this session, forgetting them."""
    return frozenset(session.info.pop(KEY, ()))


def serialize_events(session: Session, observatory_id: int) -> None:
    """Make this observatory's history events commit in the order of their ids.

    The live stream resumes from the last event id a client saw. On PostgreSQL two
    transactions can take ids 7 and 8 and commit 8 first; a reader between the two commits
    would move past 7 for good. A transaction-scoped advisory lock per observatory, taken
    before anything else in every transaction that writes events, orders them. SQLite's
    single writer already does.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7707, :obs)"), {"obs": observatory_id})
