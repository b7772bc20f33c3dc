"""Every problem the API reports, as a typed exception carrying the server's message."""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Base of everything the client library raises; `str(err)` is one line for a person.

    `exit_code` is what the CLI exits with: 3 not found, 4 not authenticated or forbidden,
    5 refused by the rules, 6 server unreachable, 1 anything else.
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        field: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.field = field
        self.body = body or {}


class ConnectionFailed(ClientError):
    """The server could not be reached (or stopped answering) after the retries."""

    exit_code = 6


class Unauthorized(ClientError):
    exit_code = 4


class Forbidden(ClientError):
    exit_code = 4


class NotFound(ClientError):
    exit_code = 3


class Conflict(ClientError):
    """The request contradicts the incident's state (e.g. a transition the rules forbid)."""

    exit_code = 5


class InvalidInput(ClientError):
    exit_code = 5


class RateLimited(ClientError):
    exit_code = 1

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerUnavailable(ClientError):
    exit_code = 6


class ServerError(ClientError):
    exit_code = 1


_BY_STATUS: dict[int, type[ClientError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: InvalidInput,
    429: RateLimited,
    503: ServerUnavailable,
}


def from_response(status: int, body: Any, retry_after: str | None) -> ClientError:
    """Map a problem-details answer to its exception class."""
    problem = body if isinstance(body, dict) else {}
    message = str(problem.get("detail") or f"the server answered HTTP {status}")
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else ClientError)
    kw: dict[str, Any] = {
        "status": status,
        "code": problem.get("code"),
        "field": problem.get("field"),
        "body": problem,
    }
    if kind is RateLimited:
        try:
            kw["retry_after"] = float(retry_after) if retry_after else None
        except ValueError:
            kw["retry_after"] = None
    return kind(message, **kw)
