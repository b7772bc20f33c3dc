"""Idempotency keys: a retried write returns its first answer instead of acting twice.

The key is scoped to the caller. The first successful answer is stored in the same
transaction as the change it reports, so either both exist or neither does. A retry with the
same key and the same request replays that answer; the same key with a different request is
refused with 422.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from obs_support.server.errors import ApiError
from obs_support.server.messages import Msg
from obs_support.server.models import IdempotencyKey, User
from obs_support.server.state import AppState
from obs_support.server.types import utcnow

KeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="A unique value per logical request; retries with it replay the first answer.",
    ),
]


def _fingerprint(method: str, path: str, body: BaseModel | None) -> str:
    payload = body.model_dump(mode="json") if body is not None else None
    raw = json.dumps([method, path, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def _replay(session: Session, user: User, key: str, fingerprint: str) -> JSONResponse | None:
    stored = session.exec(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user.id, IdempotencyKey.key == key)
    ).first()
    if stored is None:
        return None
    if stored.request_hash != fingerprint:
        raise ApiError(
            422,
            "idempotency_key_reused",
            Msg("idempotency_key_reused"),
            field="Idempotency-Key",
        )
    return JSONResponse(
        stored.response, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"}
    )


def run(
    state: AppState,
    user: User,
    key: str | None,
    request: tuple[str, str, BaseModel | None],
    status_code: int,
    action: Callable[[Session], BaseModel],
) -> JSONResponse:
    """Run `action` in one write transaction, recording (or replaying) its answer under `key`."""
    fingerprint = _fingerprint(*request)
    try:
        with state.db.write() as session:
            if key is not None and (replayed := _replay(session, user, key, fingerprint)):
                return replayed
            result = action(session).model_dump(mode="json")
            if key is not None:
                assert user.id is not None
                session.add(
                    IdempotencyKey(
                        user_id=user.id,
                        key=key,
                        request_hash=fingerprint,
                        status_code=status_code,
                        response=result,
                    )
                )
                session.flush()
    except IntegrityError:
        # A concurrent request with the same key committed first (PostgreSQL): replay it.
        if key is None:
            raise
        with state.db.read() as session:
            replayed = _replay(session, user, key, fingerprint)
        if replayed is None:
            raise
        return replayed
    return JSONResponse(result, status_code=status_code)


# A client retries within seconds or minutes; a day of keys is ample, a week is generous.
KEY_LIFETIME = timedelta(days=7)


def prune(state: AppState, older_than: timedelta = KEY_LIFETIME) -> int:
    """Forget keyed answers older than `older_than`; returns how many were removed."""
    cutoff = utcnow() - older_than
    with state.db.write() as session:
        result = session.execute(
            delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < cutoff)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
