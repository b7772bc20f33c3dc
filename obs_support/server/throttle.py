"""Rate limiting of failed authentication (login, invitation acceptance, bad tokens).

Failures are counted in the database, so the limit holds across server processes. A key is
a client address or an observatory+e-mail pair; past the limit within the window, requests
for that key answer 429 with Retry-After until the window ends.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from obs_support.server.errors import ApiError
from obs_support.server.messages import Msg
from obs_support.server.models import AuthThrottle
from obs_support.server.state import AppState
from obs_support.server.types import utcnow


def check(session: Session, state: AppState, keys: dict[str, int]) -> None:
    """Refuse with 429 if any key (mapped to its own limit) has too many recent failures."""
    window = timedelta(seconds=state.settings.login_window_seconds)
    now = utcnow()
    rows = session.exec(select(AuthThrottle).where(col(AuthThrottle.key).in_(list(keys)))).all()
    for row in rows:
        if row.window_start + window > now and row.failures >= keys[row.key]:
            retry = int((row.window_start + window - now).total_seconds()) + 1
            raise ApiError(
                429,
                "too_many_attempts",
                Msg("too_many_attempts"),
                headers={"Retry-After": str(retry)},
            )


def record_failure(state: AppState, keys: list[str]) -> None:
    """Count one failure per key, in its own transaction (the request itself is failing)."""
    window = timedelta(seconds=state.settings.login_window_seconds)
    now = utcnow()
    with state.db.write() as session:
        for key in sorted(keys):
            row = session.get(AuthThrottle, key)
            if row is None:
                session.add(AuthThrottle(key=key, window_start=now, failures=1))
            elif row.window_start + window <= now:
                row.window_start, row.failures = now, 1
                session.add(row)
            else:
                row.failures += 1
                session.add(row)


def clear(session: Session, key: str) -> None:
    row = session.get(AuthThrottle, key)
    if row is not None:
        session.delete(row)
