"""Health probes, and the Prometheus endpoint. No credential needed, no tenant data shown.

`/healthz` says the process serves (restart it if not); `/readyz` says it can do its work right
now — the database answers and the attachment store takes a write — so a proxy sends it
traffic. A failing check is named in the body, with one line of cause and never a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from obs_support.server.metrics import CONTENT_TYPE
from obs_support.server.state import AppState, StateDep
from obs_support.server.storage import Store

log = logging.getLogger("obs_support.server")

router = APIRouter(include_in_schema=False)


def _one_line(exc: BaseException) -> str:
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {detail[0]}" if detail else type(exc).__name__


def check_database(state: AppState) -> str | None:
    try:
        with state.db.read() as session:
            session.execute(text("SELECT 1")).scalar_one()
    except SQLAlchemyError as exc:
        return _one_line(exc)
    return None


def check_storage(state: AppState) -> str | None:
    """Write, sync and remove a small file where attachments are stored."""
    root = Store(state.settings.data_dir).root
    probe = root / f".readyz-{os.getpid()}-{uuid.uuid4().hex}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        with probe.open("wb") as handle:
            handle.write(b"ok")
            handle.flush()
            os.fsync(handle.fileno())
        probe.unlink()
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return None


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(state: StateDep) -> JSONResponse:
    checks: dict[str, str] = {}
    for name, check in (("database", check_database), ("storage", check_storage)):
        problem = check(state)
        checks[name] = "ok" if problem is None else problem
        if problem is not None:
            log.warning("not ready: %s: %s", name, problem)
    ready = all(value == "ok" for value in checks.values())
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


# Mounted only when the `metrics` setting is on (see app.py).
metrics_router = APIRouter(include_in_schema=False)


@metrics_router.get("/metrics")
def metrics(state: StateDep) -> Response:
    assert state.metrics is not None
    return Response(state.metrics.render(), media_type=CONTENT_TYPE)
