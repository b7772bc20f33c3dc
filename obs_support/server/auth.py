"""Who is calling: the bearer token in the Authorization header, and nothing else.

Tokens in query strings are never read (they end up in logs and browser history).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from obs_support.server import secrets, throttle
from obs_support.server.errors import ApiError
from obs_support.server.messages import Msg
from obs_support.server.models import ApiToken, User
from obs_support.server.state import AppState, StateDep
from obs_support.server.types import utcnow

log = logging.getLogger("obs_support.server")

# How stale `last_used_at` may get before a request refreshes it (saves a write per request).
_LAST_USED_GRANULARITY = timedelta(minutes=1)

_INVALID = ApiError(
    401,
    "invalid_token",
    Msg("invalid_token"),
    headers={"WWW-Authenticate": "Bearer"},
)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def ip_key(request: Request) -> str:
    return f"ip:{client_address(request)}"


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(
            401,
            "unauthenticated",
            Msg("unauthenticated"),
            headers={"WWW-Authenticate": "Bearer"},
        )
    return value.strip()


def authenticate(
    state: AppState, request: Request, background: BackgroundTasks | None = None
) -> User:
    token = _bearer(request)
    ip = ip_key(request)
    with state.db.read() as session:
        throttle.check(session, state, {ip: state.settings.ip_max_failures})
        row = None
        if secrets.looks_valid(token):
            row = session.exec(
                select(ApiToken, User)
                .join(User, col(User.id) == col(ApiToken.user_id))
                .where(ApiToken.token_hash == secrets.hash_secret(token))
            ).first()
    if row is None or row[0].revoked_at is not None or not row[1].active:
        throttle.record_failure(state, [ip])
        raise _INVALID
    api_token, user = row
    stale = (
        api_token.last_used_at is None or utcnow() - api_token.last_used_at > _LAST_USED_GRANULARITY
    )
    if stale and background is not None:
        background.add_task(_touch, state, api_token.id)
    return user


def _touch(state: AppState, token_id: int | None) -> None:
    """Record when a token was last used, after the answer is sent; best effort only."""
    try:
        with state.db.write() as session:
            fresh = session.get(ApiToken, token_id)
            if fresh is not None:
                fresh.last_used_at = utcnow()
                session.add(fresh)
    except SQLAlchemyError:
        log.info("could not record token use; will retry on a later request")


# Declared so the OpenAPI document shows how to authenticate; `authenticate` reads the header.
_bearer_scheme = HTTPBearer(auto_error=False, description="An API token: obs_…")


def current_user(
    request: Request,
    state: StateDep,
    background: BackgroundTasks,
    _scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
) -> User:
    user = authenticate(state, request, background)
    request.state.user_id = user.id
    return user


CurrentUser = Annotated[User, Depends(current_user)]
