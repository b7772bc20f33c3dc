"""What every request can reach: the settings, the database and the live-stream hub."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from obs_support.config import ServerSettings
from obs_support.server.db import Database
from obs_support.server.live import Hub
from obs_support.server.metrics import Metrics


@dataclass(frozen=True)
class AppState:
    settings: ServerSettings
    db: Database
    hub: Hub = field(default_factory=Hub)
    metrics: Metrics | None = None  # None when the `metrics` setting is off


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.obs
    return state


StateDep = Annotated[AppState, Depends(get_state)]
