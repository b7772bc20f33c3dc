"""The caller's notifications: list, unread count, mark read, and e-mail preferences."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from obs_support import schemas
from obs_support.server.auth import CurrentUser
from obs_support.server.services import notifications as service
from obs_support.server.state import StateDep

router = APIRouter(prefix="/notifications", tags=["notifications"])


@router.get("", summary="Your notifications, newest first, with the unread count")
def list_notifications(
    state: StateDep,
    user: CurrentUser,
    unread: bool = False,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> schemas.NotificationPage:
    with state.db.read() as session:
        return service.page(session, user, unread_only=unread, cursor=cursor, limit=limit)


@router.post("/read", summary="Mark notifications read (some, or all)")
def mark_read(body: schemas.MarkRead, state: StateDep, user: CurrentUser) -> schemas.MarkedRead:
    with state.db.write() as session:
        return service.mark_read(session, user, body)


@router.get("/settings", summary="Which kinds of notification also come by e-mail")
def get_settings(user: CurrentUser) -> schemas.NotificationSettings:
    return service.settings_of(user)


@router.patch("/settings", summary="Turn e-mail on or off per kind of notification")
def update_settings(
    body: schemas.NotificationSettingsUpdate, state: StateDep, user: CurrentUser
) -> schemas.NotificationSettings:
    with state.db.write() as session:
        return service.update_settings(session, user, body)
