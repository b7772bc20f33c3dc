"""Every failure the API reports, as RFC 9457 problem details with a stable machine code.

Services raise `ApiError`s; the handlers here turn them — and validation errors, unknown
routes, database lock timeouts and anything unforeseen — into `application/problem+json`.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from obs_support.server import openapi
from obs_support.server.storage import out_of_space

log = logging.getLogger("obs_support.server")

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
    507: "Insufficient storage",
}

FULL_DISK_DETAIL = "the server's disk is full; nothing was saved, tell the administrator"


def _disk_full(exc: DBAPIError) -> bool:
    """The database could not grow: SQLite's SQLITE_FULL, PostgreSQL's disk_full (53100)."""
    orig = exc.orig
    return getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or (
        getattr(orig, "sqlstate", None) == "53100"
    )


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.headers = headers or {}


def not_found(what: str = "incident") -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def forbidden(detail: str) -> ApiError:
    return ApiError(403, "forbidden", detail)


def invalid(field: str, detail: str, code: str = "invalid") -> ApiError:
    return ApiError(422, code, f"{field}: {detail}", field=field)


def conflict(code: str, detail: str) -> ApiError:
    return ApiError(409, code, detail)


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    field: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if field is not None:
        body["field"] = field
    if errors:
        body["errors"] = errors
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _validation_message(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "is invalid"))
    msg = msg.removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        return "is not a field you can set"
    if err.get("type") == "missing":
        return "is required"
    if err.get("type") == "json_invalid":
        return "the body is not valid JSON"
    return msg


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return problem(exc.status, exc.code, exc.detail, field=exc.field, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_name(tuple(e.get("loc", ()))), "message": _validation_message(e)}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "body", "message": "is invalid"}
        detail = f"{first['field']}: {first['message']}"
        return problem(422, "invalid", detail, field=first["field"], errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            detail = "not found"
        if exc.status_code == 405:
            # The router answers from the first route whose path matches, so its `Allow` names
            # only that route's methods; a path served by several routes needs them all.
            documented = openapi.allowed_methods(request.app.openapi(), request.url.path)
            headers["Allow"] = ", ".join(documented) or headers.get("Allow", "")
        return problem(exc.status_code, code, detail, headers=headers)

    @app.exception_handler(OperationalError)
    async def _busy(_request: Request, exc: OperationalError) -> JSONResponse:
        if _disk_full(exc):
            log.error("database disk full: %s", type(exc.orig).__name__)
            return problem(507, "insufficient_storage", FULL_DISK_DETAIL)
        # A write lock held past the busy timeout (SQLite) or a lost connection (PostgreSQL):
        # nothing was committed, so the client may safely retry.
        log.warning("database unavailable: %s", type(exc.orig).__name__)
        return problem(
            503,
            "database_busy",
            "the database is busy; nothing was saved, retry shortly",
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(DBAPIError)
    async def _db(_request: Request, exc: DBAPIError) -> JSONResponse:
        log.error("database error: %s", type(exc.orig).__name__)
        return problem(
            503,
            "database_error",
            "the database refused the request; nothing was saved",
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        if out_of_space(exc):
            # Every write is a transaction or a file renamed into place: a failed one leaves
            # nothing behind, so "nothing was saved" holds here too.
            log.error("disk full: %s", exc)
            return problem(507, "insufficient_storage", FULL_DISK_DETAIL)
        log.exception("unexpected error", exc_info=exc)
        return problem(500, "internal_error", "an unexpected error occurred; nothing was saved")
