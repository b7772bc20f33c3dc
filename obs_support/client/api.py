"""The one HTTP client the CLI and the TUI use to talk to the server.

Every write that may be retried (filing an incident, commenting, changing status) carries an
`Idempotency-Key`, generated once per logical request and reused on every retry, so a request
whose answer was lost on a flaky link is replayed by the server rather than done twice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from obs_support import schemas
from obs_support.client.errors import ClientError, ConnectionFailed, from_response

M = TypeVar("M", bound=BaseModel)
# "keyed": send an Idempotency-Key and retry; "safe": retry (a repeat changes nothing more);
# "auto": retry GETs only.
Retry = Literal["auto", "keyed", "safe"]

# Answers worth retrying: nothing was saved and the server says so.
_RETRY_STATUSES = {502, 503, 504}


class ObsClient:
    """A typed client for /api/v1. Use as a context manager, or call `close()`."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.25,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"User-Agent": "obs-support"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self._http = httpx.Client(
            base_url=f"{self.base_url}/api/v1",
            headers=headers,
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> ObsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
    ) -> Any:
        """Send a request, retrying when that is safe, and return the decoded JSON body.

        Reads, keyed writes and writes that set absolute values are retried on connection
        failures and 502/503/504; other writes are sent once, since a lost answer could hide
        a completed change.
        """
        headers: dict[str, str] = {}
        if retry == "keyed":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        safe = retry != "auto" or method == "GET"
        attempts = self.retries + 1 if safe else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._http.request(
                    method, path, json=json, params=params, headers=headers
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

    def _sleep(self, attempt: int, retry_after: str | None = None) -> None:
        delay = self.backoff * (2**attempt)
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), 30.0))
        time.sleep(delay)

    def _get(self, model: type[M], path: str, params: Any = None) -> M:
        return model.model_validate(self.request("GET", path, params=params))

    def _send(
        self,
        model: type[M],
        method: str,
        path: str,
        body: BaseModel | None = None,
        *,
        retry: Retry = "auto",
    ) -> M:
        payload = body.model_dump(mode="json", exclude_unset=True) if body is not None else None
        return model.model_validate(self.request(method, path, json=payload, retry=retry))

    # --- auth and people -------------------------------------------------------------------

    def login(
        self,
        email: str,
        password: str,
        observatory: str | None = None,
        token_name: str = "cli",  # noqa: S107 - a label
    ) -> schemas.TokenIssued:
        body = schemas.LoginRequest(
            email=email, password=password, observatory=observatory, token_name=token_name
        )
        return self._send(schemas.TokenIssued, "POST", "/auth/login", body)

    def accept_invitation(
        self, token: str, display_name: str, password: str
    ) -> schemas.TokenIssued:
        body = schemas.InvitationAccept(token=token, display_name=display_name, password=password)
        return self._send(schemas.TokenIssued, "POST", "/invitations/accept", body)

    def me(self) -> schemas.MePublic:
        return self._get(schemas.MePublic, "/me")

    def observatory(self) -> schemas.ObservatoryPublic:
        return self._get(schemas.ObservatoryPublic, "/observatory")

    def telescopes(self, client_account: int | None = None) -> list[schemas.TelescopePublic]:
        params = {"client_account": client_account} if client_account else None
        return _list(schemas.TelescopePublic, self.request("GET", "/telescopes", params=params))

    def users(self, role: str | None = None) -> list[schemas.UserPublic]:
        params = {"role": role} if role else None
        return _list(schemas.UserPublic, self.request("GET", "/users", params=params))

    def tokens(self) -> list[schemas.TokenPublic]:
        return _list(schemas.TokenPublic, self.request("GET", "/tokens"))

    def revoke_token(self, token_id: int) -> None:
        self.request("DELETE", f"/tokens/{int(token_id)}", retry="safe")

    def accounts(self) -> list[schemas.AccountPublic]:
        return _list(schemas.AccountPublic, self.request("GET", "/accounts"))

    def create_account(self, body: schemas.AccountCreate) -> schemas.AccountPublic:
        return self._send(schemas.AccountPublic, "POST", "/accounts", body)

    def create_telescope(self, body: schemas.TelescopeCreate) -> schemas.TelescopePublic:
        return self._send(schemas.TelescopePublic, "POST", "/telescopes", body)

    def invite(self, body: schemas.InvitationCreate) -> schemas.InvitationIssued:
        return self._send(schemas.InvitationIssued, "POST", "/invitations", body)

    def update_user(self, user_id: int, body: schemas.UserUpdate) -> schemas.UserPublic:
        return self._send(schemas.UserPublic, "PATCH", f"/users/{int(user_id)}", body, retry="safe")

    # --- incidents -------------------------------------------------------------------------

    def create_incident(self, body: schemas.IncidentCreate) -> schemas.IncidentDetail:
        return self._send(schemas.IncidentDetail, "POST", "/incidents", body, retry="keyed")

    def incident(self, ref: str) -> schemas.IncidentDetail:
        return self._get(schemas.IncidentDetail, f"/incidents/{_ref(ref)}")

    def list_incidents(self, **params: Any) -> schemas.IncidentPage:
        clean = {k: v for k, v in params.items() if v is not None and v != []}
        return self._get(schemas.IncidentPage, "/incidents", params=clean)

    def iter_incidents(self, **params: Any) -> Iterator[schemas.IncidentPublic]:
        """Every matching incident, following the cursors page by page."""
        cursor = None
        while True:
            page = self.list_incidents(**params, cursor=cursor)
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def counts(self) -> schemas.StatusCounts:
        return self._get(schemas.StatusCounts, "/incidents/counts")

    def comment(self, ref: str, body: schemas.CommentCreate) -> schemas.EventPublic:
        return self._send(
            schemas.EventPublic, "POST", f"/incidents/{_ref(ref)}/comments", body, retry="keyed"
        )

    def change_status(self, ref: str, body: schemas.StatusChange) -> schemas.IncidentDetail:
        return self._send(
            schemas.IncidentDetail, "POST", f"/incidents/{_ref(ref)}/status", body, retry="keyed"
        )

    def update_incident(self, ref: str, body: schemas.IncidentUpdate) -> schemas.IncidentDetail:
        return self._send(
            schemas.IncidentDetail, "PATCH", f"/incidents/{_ref(ref)}", body, retry="safe"
        )

    def bulk_status(self, body: schemas.BulkStatusChange) -> schemas.BulkResult:
        # Repeating a bulk change is harmless by design (already-changed incidents are
        # reported unchanged), so it is safe to retry without a key.
        return self._send(schemas.BulkResult, "POST", "/incidents/bulk-status", body, retry="safe")


def _list(model: type[M], data: Any) -> list[M]:
    return TypeAdapter(list[model]).validate_python(data)  # type: ignore[valid-type]


def _ref(ref: str) -> str:
    return httpx.URL(path=ref.strip()).raw_path.decode().replace("/", "%2F").replace("?", "%3F")


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


__all__ = ["ClientError", "ObsClient"]
