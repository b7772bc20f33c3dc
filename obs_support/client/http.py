"""The HTTP transport under the client library: retries, idempotency keys, typed errors.

It knows nothing of the API's models (no pydantic), so scripts and the CLI's fast paths can
use it without paying for them. Every write that may be retried (filing an incident,
commenting, changing status) carries an `Idempotency-Key`, generated once per logical
request and reused on every retry, so a request whose answer was lost on a flaky link is
replayed by the server rather than done twice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

import httpx

from obs_support.client.errors import ConnectionFailed, from_response

# "keyed": send an Idempotency-Key and retry; "safe": retry (a repeat changes nothing more);
# "auto": retry GETs only.
Retry = Literal["auto", "keyed", "safe"]

# Answers worth retrying: nothing was saved and the server says so.
_RETRY_STATUSES = {502, 503, 504}


class HttpClient:
    """JSON over HTTP to /api/v1. Use as a context manager, or call `close()`."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.25,
        transport: httpx.BaseTransport | None = None,
        language: str | None = None,
    ) -> None:
        headers = {"User-Agent": "obs-support"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if language:
            # The server writes its refusals (`detail`) in this language; codes never change.
            headers["Accept-Language"] = language
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.language = language
        self.retries = retries
        self.backoff = backoff
        self._http = httpx.Client(
            # Plain-HTTP servers (a laptop demo, a local proxy) need no TLS context, whose
            # creation alone costs tens of milliseconds; HTTPS always verifies certificates.
            verify=self.base_url.startswith("https://"),
            base_url=f"{self.base_url}/api/v1",
            headers=headers,
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def raw(self) -> httpx.Client:
        """The underlying httpx client, for streaming transfers."""
        return self._http

    def close(self) -> None:
        self._http.close()

    # --- transport -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        retry: Retry = "auto",
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Send a request, retrying when that is safe, and return the decoded JSON body.

        Reads, keyed writes and writes that set absolute values are retried on connection
        failures and 502/503/504; other writes are sent once, since a lost answer could hide
        a completed change.
        """
        headers = dict(headers or {})
        if retry == "keyed":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        safe = retry != "auto" or method == "GET"
        attempts = self.retries + 1 if safe else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._http.request(
                    method, path, json=json, params=params, headers=headers, content=content
                )
            except httpx.TransportError as exc:
                if last:
                    raise ConnectionFailed(
                        f"cannot reach {self.base_url}: {_reason(exc)}"
                    ) from None
                self._sleep(attempt)
                continue
            if response.status_code in _RETRY_STATUSES and not last:
                self._sleep(attempt, response.headers.get("Retry-After"))
                continue
            return _decode(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def paged(self, path: str, params: dict[str, Any]) -> Iterator[Any]:
        """Every item of a cursor-paginated list, following `next_cursor` to the end."""
        cursor = None
        while True:
            page = self.request(
                "GET", path, params={**params, "cursor": cursor} if cursor else params
            )
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def _sleep(self, attempt: int, retry_after: str | None = None) -> None:
        delay = self.backoff * (2**attempt)
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), 30.0))
        time.sleep(delay)


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _decode(response: httpx.Response) -> Any:
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
    if response.is_success:
        return body
    raise from_response(response.status_code, body, response.headers.get("Retry-After"))
