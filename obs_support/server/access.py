"""Per-request bookkeeping: a request id, one access log line, and the request metrics.

A pure ASGI middleware (not Starlette's BaseHTTPMiddleware, which would buffer live streams).
Requests are labelled with their route *template* (`/api/v1/incidents/{ref}`), never the raw
path: the label set stays bounded, and references or tokens in paths and query strings never
reach a log line or a metric.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from obs_support.server import logs
from obs_support.server.metrics import UNMATCHED, Metrics

log = logging.getLogger("obs_support.access")

HEADER = b"x-request-id"
# A caller's (or the proxy's) id is kept only when it cannot smuggle anything into a log line.
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            text = value.decode("latin-1")
            return text if _SANE_ID.fullmatch(text) else None
    return None


def route_of(scope: Scope) -> str:
    """The template of the route that answered, with the prefix of the router it came from."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    pattern = getattr(route, "path_regex", None)
    if not isinstance(template, str) or not isinstance(pattern, re.Pattern):
        return UNMATCHED
    # FastAPI hands over the route as declared in its router, without the prefix the router
    # was included under; that prefix is the part of the path before what the route matched.
    raw = str(scope.get("path", ""))
    for i, char in enumerate(raw):
        if char == "/" and pattern.match(raw[i:]):
            return raw[:i] + template
    return template


class AccessMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope) or uuid.uuid4().hex
        token = logs.request_id.set(rid)
        # Starlette's request.state lives in this dict; the auth dependency leaves user_id there.
        state: dict[str, Any] = scope.setdefault("state", {})
        # For the handler of unforeseen errors, which answers from outside this middleware.
        state["request_id"] = rid
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), (HEADER, rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            method = str(scope.get("method", "?"))
            route = route_of(scope)
            if self.metrics is not None:
                self.metrics.observe(method, route, status, seconds)
            log.info(
                "%s %s %d %.1fms",
                method,
                route,
                status,
                seconds * 1000,
                extra={
                    "request_id": rid,
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                    "user_id": state.get("user_id"),
                },
            )
            logs.request_id.reset(token)
