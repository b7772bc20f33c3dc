"""Running the app under uvicorn so that stopping never waits on live streams.

Uvicorn stops by waiting for open requests to finish; a live stream never finishes by
itself. This server first tells the app's hub to end every stream (clients reconnect and
resume with Last-Event-ID), then stops as usual. Worker processes run uvicorn's own server
class (its supervisor builds them); there the app ends its streams when the stop signal
arrives (`live.end_streams_on_exit_signal`), and `timeout_graceful_shutdown` bounds the rest.
"""

from __future__ import annotations

import socket
from typing import Any

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


def run_workers(host: str, port: int, workers: int, log_config: dict[str, Any]) -> None:
    """Serve with `workers` processes sharing one listening socket, until SIGINT or SIGTERM.

    Each worker builds its own app from the OBS_SUPPORT_* environment. The supervisor
    restarts a worker that dies or stops answering its health checks.
    """
    from uvicorn.supervisors import Multiprocess

    options = uvicorn.Config(
        "obs_support.server.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        server_header=False,
        timeout_graceful_shutdown=3,
        log_config=log_config,
        access_log=False,
    )
    sock = options.bind_socket()
    Multiprocess(options, sockets=[sock]).run()
