"""/api/v1/auth, /me, /tokens and /invitations — who you are and how you get in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Request, Response

from obs_support import schemas
from obs_support.server import auth, views
from obs_support.server.auth import CurrentUser
from obs_support.server.services import auth as service
from obs_support.server.services import passwords
from obs_support.server.services.incidents import observatory_of
from obs_support.server.state import StateDep

router = APIRouter(tags=["auth"])
IdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/auth/login", summary="Log in with e-mail and password; returns a new API token")
def login(body: schemas.LoginRequest, request: Request, state: StateDep) -> schemas.TokenIssued:
    return service.login(state, auth.ip_key(request), body)


@router.post(
    "/auth/forgot",
    status_code=202,
    summary="E-mail a password reset link (answers the same for unknown addresses)",
)
def forgot_password(
    body: schemas.PasswordForgot, request: Request, state: StateDep, after: BackgroundTasks
) -> schemas.Accepted:
    observatory_id = passwords.ask(state, auth.ip_key(request), body)
    if observatory_id is not None:
        after.add_task(passwords.send_link, state, observatory_id, body.email)
    return schemas.Accepted(detail=passwords.ASKED)


@router.post(
    "/auth/reset",
    summary="Set a new password with a reset link's token; revokes all other tokens",
)
def reset_password(
    body: schemas.PasswordReset, request: Request, state: StateDep
) -> schemas.TokenIssued:
    issued = passwords.reset(state, auth.ip_key(request), body.token, body.password, issue=True)
    assert issued is not None
    return issued


@router.post(
    "/invitations/accept", summary="Accept an invitation: creates the user, returns a token"
)
def accept_invitation(
    body: schemas.InvitationAccept, request: Request, state: StateDep
) -> schemas.TokenIssued:
    _user, issued = service.accept_invitation(state, auth.ip_key(request), body)
    assert issued is not None
    return issued


@router.get("/me", summary="The caller, with their observatory's branding")
def me(state: StateDep, user: CurrentUser) -> schemas.MePublic:
    with state.db.read() as session:
        return views.me_public(user, observatory_of(session, user))


@router.patch("/me", summary="Change your name, language or password")
def update_me(body: schemas.MeUpdate, state: StateDep, user: CurrentUser) -> schemas.MePublic:
    with state.db.write() as session:
        return service.update_me(session, user, body)


@router.get("/tokens", summary="Your API tokens (never their secrets)")
def list_tokens(state: StateDep, user: CurrentUser) -> list[schemas.TokenPublic]:
    with state.db.read() as session:
        return service.list_tokens(session, user)


@router.post("/tokens", status_code=201, summary="Create another API token for yourself")
def create_token(
    body: schemas.TokenCreate, state: StateDep, user: CurrentUser
) -> schemas.TokenIssued:
    with state.db.write() as session:
        return service.issue_token(session, user, body.name)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke one of your tokens")
def revoke_token(token_id: IdPath, state: StateDep, user: CurrentUser) -> Response:
    with state.db.write() as session:
        service.revoke_token(session, user, token_id)
    return Response(status_code=204)


@router.post("/invitations", status_code=201, summary="Invite someone by e-mail (staff)")
def create_invitation(
    body: schemas.InvitationCreate, state: StateDep, user: CurrentUser
) -> schemas.InvitationIssued:
    with state.db.write() as session:
        return service.create_invitation(session, state, user, body)


@router.get("/invitations", summary="Invitations sent (staff)")
def list_invitations(
    state: StateDep, user: CurrentUser, pending: bool = False
) -> list[schemas.InvitationPublic]:
    with state.db.read() as session:
        return service.list_invitations(session, user, pending)


@router.delete(
    # `:int` so that `/invitations/accept` is never taken for an invitation id (a DELETE there
    # answers 405, not a validation error).
    "/invitations/{invitation_id:int}",
    status_code=204,
    summary="Revoke a pending invitation (staff)",
)
def revoke_invitation(invitation_id: IdPath, state: StateDep, user: CurrentUser) -> Response:
    with state.db.write() as session:
        service.revoke_invitation(session, user, invitation_id)
    return Response(status_code=204)
