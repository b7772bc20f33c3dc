"""The FastAPI application factory: one app (and one engine) per call, never module-level."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from obs_support import __version__, schemas
from obs_support.config import ServerSettings
from obs_support.server import errors
from obs_support.server.db import Database, connect
from obs_support.server.limits import BodySizeLimit
from obs_support.server.live import PgListener
from obs_support.server.mail.delivery import Mailer
from obs_support.server.routes import (
    attachments,
    auth,
    directory,
    incidents,
    live,
    notifications,
    portal,
)
from obs_support.server.state import AppState

API_PREFIX = "/api/v1"


def create_app(settings: ServerSettings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or ServerSettings()
    database = db or connect(
        settings.resolved_database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )

    state = AppState(settings=settings, db=database)
    mailer = Mailer(database, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.hub.bind(asyncio.get_running_loop())
        database.listeners[:] = [state.hub.on_commit, mailer.on_commit]
        listener = (
            None
            if database.is_sqlite
            else PgListener(settings.resolved_database_url, [state.hub.on_commit, mailer.on_commit])
        )
        mailer.start()
        if listener is not None:
            listener.start()
        try:
            yield
        finally:
            if listener is not None:
                listener.stop()
            mailer.stop()
            database.listeners.clear()
            database.dispose()

    app = FastAPI(
        title="obs-support",
        version=__version__,
        summary="Incidents between an astronomical observatory and its clients.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.obs = state
    errors.install(app)
    # File bytes stream to disk under their own limits; every other body is capped.
    app.add_middleware(BodySizeLimit, streamed=(f"{API_PREFIX}/uploads/",))
    # Every error is problem details; say so in the OpenAPI document for each route.
    problems: dict[int | str, dict[str, Any]] = {
        status: {"model": schemas.Problem, "description": text}
        for status, text in (
            (401, "Not authenticated"),
            (403, "Not allowed for your role"),
            (404, "Not found, or outside your scope"),
            (409, "Refused by the rules"),
            (422, "Invalid input; `field` names it"),
            (429, "Too many failed attempts"),
            (503, "Database busy; nothing saved, retry"),
        )
    }
    for router in (
        incidents.router,
        attachments.router,
        auth.router,
        directory.router,
        notifications.router,
        live.router,
    ):
        app.include_router(router, prefix=API_PREFIX, responses=problems)

    app.include_router(portal.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
