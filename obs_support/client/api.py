"""The typed client library the CLI and the TUI use: the API's models in, the API's models out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from obs_support import schemas
from obs_support.client.errors import ClientError, ConnectionFailed, from_response
from obs_support.client.http import HttpClient, Retry

M = TypeVar("M", bound=BaseModel)


class ObsClient(HttpClient):
    """A typed client for /api/v1. Use as a context manager, or call `close()`."""

    def __enter__(self) -> ObsClient:
        return self

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

    def forgot_password(self, email: str, observatory: str | None = None) -> schemas.Accepted:
        body = schemas.PasswordForgot(email=email, observatory=observatory)
        return self._send(schemas.Accepted, "POST", "/auth/forgot", body, retry="safe")

    def me(self) -> schemas.MePublic:
        return self._get(schemas.MePublic, "/me")

    def observatory(self) -> schemas.ObservatoryPublic:
        return self._get(schemas.ObservatoryPublic, "/observatory")

    def update_observatory(self, body: schemas.ObservatoryUpdate) -> schemas.ObservatoryPublic:
        return self._send(schemas.ObservatoryPublic, "PATCH", "/observatory", body, retry="safe")

    def set_logo(self, data: bytes, content_type: str) -> schemas.ObservatoryPublic:
        return schemas.ObservatoryPublic.model_validate(
            self.request(
                "PUT",
                "/observatory/logo",
                content=data,
                headers={"Content-Type": content_type},
                retry="safe",
            )
        )

    # --- notifications ---------------------------------------------------------------------

    def notifications(
        self, *, unread: bool = False, cursor: str | None = None, limit: int = 50
    ) -> schemas.NotificationPage:
        params = _clean({"unread": "true" if unread else None, "cursor": cursor, "limit": limit})
        return self._get(schemas.NotificationPage, "/notifications", params)

    def mark_read(self, ids: list[int] | None = None) -> schemas.MarkedRead:
        body = schemas.MarkRead(ids=ids) if ids else schemas.MarkRead(all=True)
        return self._send(schemas.MarkedRead, "POST", "/notifications/read", body, retry="safe")

    def notification_settings(self) -> schemas.NotificationSettings:
        return self._get(schemas.NotificationSettings, "/notifications/settings")

    def update_notification_settings(self, email: dict[str, bool]) -> schemas.NotificationSettings:
        body = schemas.NotificationSettingsUpdate.model_validate({"email": email})
        return self._send(
            schemas.NotificationSettings, "PATCH", "/notifications/settings", body, retry="safe"
        )

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
        return self._get(schemas.IncidentPage, "/incidents", params=_clean(params))

    def iter_incidents(self, **params: Any) -> Iterator[schemas.IncidentPublic]:
        """Every matching incident, following the cursors page by page."""
        for item in self.paged("/incidents", _clean(params)):
            yield schemas.IncidentPublic.model_validate(item)

    def attachments(self, ref: str) -> list[schemas.AttachmentPublic]:
        return _list(
            schemas.AttachmentPublic, self.request("GET", f"/incidents/{_ref(ref)}/attachments")
        )

    def thumbnail(self, ref: str, attachment_id: int) -> bytes:
        """A small PNG preview of an image attachment (`no_preview` for any other file)."""
        url = f"/incidents/{_ref(ref)}/attachments/{int(attachment_id)}/thumbnail"
        try:
            response = self.raw.get(url)
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"cannot reach {self.base_url}: {exc}") from None
        if response.is_success:
            return response.content
        try:
            body = response.json()
        except ValueError:
            body = None
        raise from_response(response.status_code, body, response.headers.get("Retry-After"))

    def counts(self) -> schemas.StatusCounts:
        return self._get(schemas.StatusCounts, "/incidents/counts")

    def stats(self, weeks: int = 12) -> schemas.IncidentStats:
        return self._get(schemas.IncidentStats, "/incidents/stats", params={"weeks": weeks})

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


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None and v != []}


def _list(model: type[M], data: Any) -> list[M]:
    return TypeAdapter(list[model]).validate_python(data)  # type: ignore[valid-type]


def _ref(ref: str) -> str:
    return httpx.URL(path=ref.strip()).raw_path.decode().replace("/", "%2F").replace("?", "%3F")


__all__ = ["ClientError", "ObsClient"]
