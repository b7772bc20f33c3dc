"""Running the app under uvicorn so that stopping never waits on live streams.

Uvicorn stops by waiting for open requests to finish; a live stream never finishes by
itself. This server first tells the app's hub to end every stream (clients reconnect and
resume with Last-Event-ID), then stops as usual.
"""

from __future__ import annotations

import socket

import uvicorn
from fastapi import FastAPI

from obs_support.server.state import AppState


class Server(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        app = self.config.app
        if isinstance(app, FastAPI) and isinstance(getattr(app.state, "obs", None), AppState):
            app.state.obs.hub.close()
        await super().shutdown(sockets)


def config(app: FastAPI, host: str, port: int, **options: object) -> uvicorn.Config:
    options.setdefault("timeout_graceful_shutdown", 3)
    return uvicorn.Config(app, host=host, port=port, server_header=False, **options)  # type: ignore[arg-type]
