"""Every failure the API reports, as RFC 9457 problem details with a stable machine code.

Services raise `ApiError`s; the handlers here turn them — and validation errors, unknown
routes, database lock timeouts and anything unforeseen — into `application/problem+json`.
`title` and `detail` are written in the language the request asks for (Accept-Language:
Spanish or English, English by default); `code` and `field` never change with it.
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

from obs_support.domain import Language
from obs_support.server import openapi, validation
from obs_support.server.messages import Msg, language_of, say
from obs_support.server.storage import out_of_space

log = logging.getLogger("obs_support.server")

_TITLES = {
    status: Msg(f"title_{status}")
    for status in (400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503, 507)
}

FULL_DISK_DETAIL = Msg("disk_full")


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
        detail: str | Msg,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(str(detail))
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.headers = headers or {}


def not_found(detail: str | Msg | None = None) -> ApiError:
    return ApiError(404, "not_found", Msg("incident_not_found") if detail is None else detail)


def forbidden(detail: str | Msg) -> ApiError:
    return ApiError(403, "forbidden", detail)


def invalid(field: str, detail: str | Msg, code: str = "invalid") -> ApiError:
    return ApiError(422, code, Msg("field_problem", field=field, problem=detail), field=field)


def conflict(code: str, detail: str | Msg) -> ApiError:
    return ApiError(409, code, detail)


def problem(
    status: int,
    code: str,
    detail: str | Msg,
    *,
    language: Language = "en",
    field: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, Msg("title_other")).render(language),
        "status": status,
        "detail": say(detail, language),
        "code": code,
    }
    if field is not None:
        body["field"] = field
    if errors:
        body["errors"] = errors
    headers = dict(headers or {})
    headers["Content-Language"] = language
    vary = [v.strip() for v in headers.get("Vary", "").split(",") if v.strip()]
    headers["Vary"] = ", ".join([*vary, "Accept-Language"])
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )


def _language(request: Request) -> Language:
    return language_of(request.headers.get("accept-language"))


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return problem(
            exc.status,
            exc.code,
            exc.detail,
            language=_language(request),
            field=exc.field,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        language = _language(request)
        found = [
            (validation.field_name(tuple(e.get("loc", ()))), validation.message(e))
            for e in exc.errors()
        ] or [("body", Msg("v_invalid"))]
        errors = [{"field": f, "message": say(m, language)} for f, m in found]
        field, first = found[0]
        detail = Msg("field_problem", field=field, problem=first)
        return problem(422, "invalid", detail, language=language, field=field, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        detail: str | Msg = (
            exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            detail = Msg("route_not_found")
        if exc.status_code == 405:
            detail = Msg("method_not_allowed")
            # The router answers from the first route whose path matches, so its `Allow` names
            # only that route's methods; a path served by several routes needs them all.
            documented = openapi.allowed_methods(request.app.openapi(), request.url.path)
            headers["Allow"] = ", ".join(documented) or headers.get("Allow", "")
        return problem(exc.status_code, code, detail, language=_language(request), headers=headers)

    @app.exception_handler(OperationalError)
    async def _busy(request: Request, exc: OperationalError) -> JSONResponse:
        language = _language(request)
        if _disk_full(exc):
            log.error("database disk full: %s", type(exc.orig).__name__)
            return problem(507, "insufficient_storage", FULL_DISK_DETAIL, language=language)
        # A write lock held past the busy timeout (SQLite) or a lost connection (PostgreSQL):
        # nothing was committed, so the client may safely retry.
        log.warning("database unavailable: %s", type(exc.orig).__name__)
        return problem(
            503,
            "database_busy",
            Msg("database_busy"),
            language=language,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(DBAPIError)
    async def _db(request: Request, exc: DBAPIError) -> JSONResponse:
        log.error("database error: %s", type(exc.orig).__name__)
        return problem(
            503,
            "database_error",
            Msg("database_error"),
            language=_language(request),
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        language = _language(request)
        # Starlette answers these from outside every middleware: the access middleware cannot
        # add the request id, so the answer and the log line carry it from here.
        rid = str(getattr(request.state, "request_id", "") or "")
        tagged = {"x-request-id": rid} if rid else {}
        if out_of_space(exc):
            # Every write is a transaction or a file renamed into place: a failed one leaves
            # nothing behind, so "nothing was saved" holds here too.
            log.error("disk full: %s", exc, extra={"request_id": rid})
            return problem(
                507, "insufficient_storage", FULL_DISK_DETAIL, language=language, headers=tagged
            )
        log.exception("unexpected error", exc_info=exc, extra={"request_id": rid})
        return problem(
            500, "internal_error", Msg("internal_error"), language=language, headers=tagged
        )
