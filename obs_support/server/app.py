"""The FastAPI application factory: one app (and one engine) per call, never module-level."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from obs_support import __version__, schemas
from obs_support.config import ServerSettings
from obs_support.server import errors, health, openapi
from obs_support.server.access import AccessMiddleware
from obs_support.server.db import Database, connect
from obs_support.server.limits import BodySizeLimit
from obs_support.server.live import PgListener, end_streams_on_exit_signal
from obs_support.server.mail.delivery import Mailer
from obs_support.server.metrics import Metrics
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

log = logging.getLogger("obs_support.server")


def create_app(settings: ServerSettings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or ServerSettings()
    database = db or connect(
        settings.resolved_database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )

    metrics = Metrics(database) if settings.metrics else None
    state = AppState(settings=settings, db=database, metrics=metrics)
    if metrics is not None:
        state.hub.on_subscribers = metrics.subscribers.set
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
        undo_signals = end_streams_on_exit_signal(state.hub)
        log.info(
            "obs-support %s serving on %s (metrics %s)",
            __version__,
            database.reader.dialect.name,
            "on" if metrics is not None else "off",
        )
        try:
            yield
        finally:
            undo_signals()
            if listener is not None:
                listener.stop()
            mailer.stop()
            database.listeners.clear()
            database.dispose()
            if metrics is not None:
                metrics.process_exited()

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
    # Outermost of ours, so refused bodies are logged and counted too.
    app.add_middleware(AccessMiddleware, metrics=metrics)
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

    openapi.install(app, API_PREFIX)
    app.include_router(portal.router)
    app.include_router(health.router)
    if metrics is not None:
        app.include_router(health.metrics_router)

    return app
