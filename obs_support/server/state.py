"""What every request can reach: the settings and the database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from obs_support.config import ServerSettings
from obs_support.server.db import Database


@dataclass(frozen=True)
class AppState:
    settings: ServerSettings
    db: Database


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.obs
    return state


StateDep = Annotated[AppState, Depends(get_state)]
