"""The live stream: Server-Sent Events of everything new in the caller's scope.

Each SSE message is one history event (its `id:` is the event id), sent once it is committed.
A client that reconnects with `Last-Event-ID` (or `?last_event_id=`) gets everything after
that id, so nothing is missed across a dropped connection. The first message, `ready`, tells
a new subscriber where the stream starts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from obs_support import schemas
from obs_support.server import scope, views
from obs_support.server.auth import CurrentUser, authenticate
from obs_support.server.errors import ApiError, invalid
from obs_support.server.messages import Msg
from obs_support.server.models import Event, Incident, User
from obs_support.server.services.incidents import observatory_of
from obs_support.server.state import AppState, StateDep

router = APIRouter(tags=["live"])
log = logging.getLogger("obs_support.live")

BATCH = 200
MAX_ID = 2**31 - 1  # ids are 32-bit on every database


def _position(state: AppState, user: User, incident_id: int | None) -> int:
    """The newest event id the caller can see: where a fresh subscription starts."""
    with state.db.read() as session:
        query = (
            select(func.max(Event.id))
            .join(Incident, col(Incident.id) == col(Event.incident_id))
            .where(scope.incident_scope(user), scope.event_scope(user))
        )
        if incident_id is not None:
            query = query.where(Event.incident_id == incident_id)
        return int(session.exec(query).one() or 0)


def _fetch(
    state: AppState, user: User, after: int, incident_id: int | None
) -> list[schemas.LiveEvent]:
    with state.db.read() as session:
        query = (
            select(Event)
            .join(Incident, col(Incident.id) == col(Event.incident_id))
            .where(col(Event.id) > after, scope.incident_scope(user), scope.event_scope(user))
        )
        if incident_id is not None:
            query = query.where(Event.incident_id == incident_id)
        events = session.exec(query.order_by(col(Event.id)).limit(BATCH)).all()
        if not events:
            return []
        obs = observatory_of(session, user)
        incidents = session.exec(
            select(Incident).where(col(Incident.id).in_({e.incident_id for e in events}))
        ).all()
        by_id = {
            i.id: p
            for i, p in zip(
                incidents, views.incidents_public(session, obs.slug, incidents), strict=True
            )
        }
        return [
            schemas.LiveEvent(id=e.id or 0, kind=p.kind, incident=by_id[e.incident_id], event=p)
            for e, p in zip(events, views.events_public(session, events), strict=True)
        ]


def _incident_id(state: AppState, user: User, ref: str | None) -> int | None:
    if ref is None:
        return None
    with state.db.read() as session:
        obs = observatory_of(session, user)
        return scope.get_incident(session, user, ref, slug=obs.slug).id


def _message(item: schemas.LiveEvent) -> str:
    return f"id: {item.id}\nevent: {item.kind.value}\ndata: {item.model_dump_json()}\n\n"


@router.get(
    "/events",
    summary="Live stream (text/event-stream) of new events in your scope",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    request: Request,
    state: StateDep,
    user: CurrentUser,
    incident: Annotated[str | None, Query(max_length=40, description="Only this incident")] = None,
    last_event_id: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    last_event_header: Annotated[str | None, Header(alias="Last-Event-ID", max_length=24)] = None,
) -> StreamingResponse:
    if last_event_id is None and last_event_header:
        text = last_event_header.strip()
        if not (text.isascii() and text.isdigit() and int(text) <= MAX_ID):
            raise invalid("Last-Event-ID", Msg("last_event_id_invalid"))
        last_event_id = int(text)
    incident_id = await run_in_threadpool(_incident_id, state, user, incident)
    start = (
        last_event_id
        if last_event_id is not None
        else await run_in_threadpool(_position, state, user, incident_id)
    )

    async def messages() -> AsyncIterator[str]:
        after = start
        checked = time.monotonic()
        keepalive = state.settings.live_keepalive_seconds
        state.hub.subscribers += 1
        # The access line comes when the stream ends; this says where and when it began.
        log.info("live stream opened (%d open in this process)", state.hub.subscribers)
        try:
            ready = json.dumps({"last_event_id": after})
            yield f"retry: 2000\nid: {after}\nevent: ready\ndata: {ready}\n\n"
            while not state.hub.closing:
                wake = state.hub.current()  # taken before reading: no commit slips between
                items = await run_in_threadpool(_fetch, state, user, after, incident_id)
                for item in items:
                    yield _message(item)
                    after = item.id
                if time.monotonic() - checked >= keepalive:
                    # A revoked token or a deactivated user ends the stream, however busy.
                    checked = time.monotonic()
                    try:
                        await run_in_threadpool(authenticate, state, request)
                    except ApiError:
                        yield 'event: end\ndata: {"reason": "unauthenticated"}\n\n'
                        return
                if len(items) == BATCH:
                    continue
                try:
                    await asyncio.wait_for(wake.wait(), timeout=keepalive)
                except TimeoutError:
                    yield ": keepalive\n\n"
        finally:
            state.hub.subscribers -= 1

    return StreamingResponse(
        messages(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
