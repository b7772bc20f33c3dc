"""/api/v1/observatory, /accounts, /telescopes, /users — the observatory's directory."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from obs_support import domain, schemas
from obs_support.server import views
from obs_support.server.auth import CurrentUser
from obs_support.server.errors import ApiError, invalid, not_found
from obs_support.server.messages import Msg, refusal
from obs_support.server.services import directory
from obs_support.server.services.incidents import observatory_of
from obs_support.server.state import StateDep

router = APIRouter(tags=["directory"])
IdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
IdQuery = Annotated[int | None, Query(ge=1, le=2**31 - 1)]


@router.get("/observatory", summary="Your observatory's name and branding")
def get_observatory(state: StateDep, user: CurrentUser) -> schemas.ObservatoryPublic:
    with state.db.read() as session:
        return views.observatory_public(observatory_of(session, user))


@router.patch("/observatory", summary="Change name, branding or limits (admin)")
def update_observatory(
    body: schemas.ObservatoryUpdate, state: StateDep, user: CurrentUser
) -> schemas.ObservatoryPublic:
    with state.db.write() as session:
        return directory.update_observatory(session, user, body)


@router.put(
    "/observatory/logo",
    summary="Upload the logo (admin): the raw PNG, JPEG or WebP bytes as the body",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                kind: {"schema": {"type": "string", "format": "binary"}}
                for kind in ("image/png", "image/jpeg", "image/webp")
            },
        }
    },
)
async def put_logo(
    request: Request, state: StateDep, user: CurrentUser
) -> schemas.ObservatoryPublic:
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > directory.LOGO_MAX_BYTES:
            raise ApiError(
                413, "too_large", Msg("logo_too_large", kib=directory.LOGO_MAX_BYTES // 1024)
            )
    return await run_in_threadpool(_store_logo, state, user, data)


def _store_logo(state: StateDep, user: CurrentUser, data: bytes) -> schemas.ObservatoryPublic:
    with state.db.write() as session:
        return directory.set_logo(session, user, data)


@router.get("/observatory/logo", summary="The observatory's logo image")
def get_logo(state: StateDep, user: CurrentUser) -> Response:
    with state.db.read() as session:
        obs = observatory_of(session, user)
    if obs.logo is None or obs.logo_content_type is None:
        raise not_found(Msg("logo_not_found"))
    return Response(
        obs.logo,
        media_type=obs.logo_content_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300"},
    )


@router.get("/accounts", summary="Client accounts (clients see their own)")
def list_accounts(state: StateDep, user: CurrentUser) -> list[schemas.AccountPublic]:
    with state.db.read() as session:
        return directory.list_accounts(session, user)


@router.post("/accounts", status_code=201, summary="Create a client account (staff)")
def create_account(
    body: schemas.AccountCreate, state: StateDep, user: CurrentUser
) -> schemas.AccountPublic:
    with state.db.write() as session:
        return directory.create_account(session, user, body)


@router.patch("/accounts/{account_id}", summary="Rename a client account (staff)")
def update_account(
    account_id: IdPath, body: schemas.AccountUpdate, state: StateDep, user: CurrentUser
) -> schemas.AccountPublic:
    with state.db.write() as session:
        return directory.update_account(session, user, account_id, body)


@router.get("/telescopes", summary="Telescopes (clients see their account's)")
def list_telescopes(
    state: StateDep, user: CurrentUser, client_account: IdQuery = None
) -> list[schemas.TelescopePublic]:
    with state.db.read() as session:
        return directory.list_telescopes(session, user, client_account)


@router.post(
    "/telescopes", status_code=201, summary="Register a telescope in a client account (staff)"
)
def create_telescope(
    body: schemas.TelescopeCreate, state: StateDep, user: CurrentUser
) -> schemas.TelescopePublic:
    with state.db.write() as session:
        return directory.create_telescope(session, user, body)


@router.patch("/telescopes/{telescope_id}", summary="Change a telescope's details (staff)")
def update_telescope(
    telescope_id: IdPath, body: schemas.TelescopeUpdate, state: StateDep, user: CurrentUser
) -> schemas.TelescopePublic:
    with state.db.write() as session:
        return directory.update_telescope(session, user, telescope_id, body)


@router.get("/users", summary="People in the observatory (staff); clients see themselves")
def list_users(
    state: StateDep,
    user: CurrentUser,
    role: Annotated[str | None, Query(max_length=20)] = None,
    client_account: IdQuery = None,
) -> list[schemas.UserPublic]:
    parsed = None
    if role is not None:
        try:
            parsed = domain.parse_role(role).value
        except ValueError as exc:
            raise invalid("role", refusal(exc)) from None
    with state.db.read() as session:
        return directory.list_users(session, user, parsed, client_account)


@router.patch("/users/{user_id}", summary="Deactivate or rename a user (admin)")
def update_user(
    user_id: IdPath, body: schemas.UserUpdate, state: StateDep, user: CurrentUser
) -> schemas.UserPublic:
    with state.db.write() as session:
        return directory.update_user(session, user, user_id, body)
