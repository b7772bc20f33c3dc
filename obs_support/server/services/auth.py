"""Logging in, invitations and API tokens.

Failures answer identically whatever went wrong (unknown e-mail, wrong password, used or
expired invitation), cost the same time, and are counted for rate limiting.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from obs_support import domain, schemas
from obs_support.server import scope, secrets, throttle, views
from obs_support.server.errors import ApiError, conflict, invalid, not_found
from obs_support.server.mail import compose
from obs_support.server.mail.outbox import enqueue
from obs_support.server.messages import Msg
from obs_support.server.models import ApiToken, Invitation, Observatory, User
from obs_support.server.state import AppState
from obs_support.server.types import utcnow

_BAD_LOGIN = ApiError(401, "invalid_credentials", Msg("invalid_credentials"))
_BAD_INVITE = ApiError(401, "invalid_invitation", Msg("invalid_invitation"))


def issue_token(session: Session, user: User, name: str) -> schemas.TokenIssued:
    secret = secrets.new_secret()
    assert user.id is not None
    token = ApiToken(
        user_id=user.id,
        name=name,
        prefix=secrets.display_prefix(secret),
        token_hash=secrets.hash_secret(secret),
    )
    session.add(token)
    session.flush()
    return schemas.TokenIssued(
        token=secret, token_info=views.token_public(token), user=views.user_public(user)
    )


def _observatory_for_login(session: Session, slug: str | None) -> Observatory | None:
    if slug:
        return session.exec(select(Observatory).where(Observatory.slug == slug.upper())).first()
    candidates = session.exec(select(Observatory).limit(2)).all()
    if len(candidates) != 1:
        raise invalid("observatory", Msg("observatory_ambiguous"))
    return candidates[0]


def login(state: AppState, ip: str, body: schemas.LoginRequest) -> schemas.TokenIssued:
    with state.db.read() as session:
        obs = _observatory_for_login(session, body.observatory)
        email_key = f"login:{obs.id if obs else '-'}:{body.email}"
        keys = {ip: state.settings.ip_max_failures, email_key: state.settings.login_max_failures}
        throttle.check(session, state, keys)
        user = None
        if obs is not None:
            user = session.exec(
                select(User).where(User.observatory_id == obs.id, User.email == body.email)
            ).first()
    ok = secrets.verify_password(user.password_hash if user else None, body.password)
    if not ok or user is None or not user.active:
        throttle.record_failure(state, list(keys))
        raise _BAD_LOGIN
    with state.db.write() as session:
        throttle.clear(session, email_key)
        return issue_token(session, user, body.token_name)


def create_invitation(
    session: Session, state: AppState, user: User, body: schemas.InvitationCreate
) -> schemas.InvitationIssued:
    scope.require_can_invite(user, body.role)
    if body.role is domain.Role.CLIENT:
        if body.client_account_id is None:
            raise invalid("client_account_id", Msg("client_invite_needs_account"))
        scope.get_account(session, user, body.client_account_id)
    elif body.client_account_id is not None:
        raise invalid("client_account_id", Msg("only_clients_have_account"))
    taken = session.exec(
        select(User.id).where(User.observatory_id == user.observatory_id, User.email == body.email)
    ).first()
    if taken is not None:
        raise conflict("email_taken", Msg("email_taken_invite", email=body.email))
    secret = secrets.new_secret(secrets.INVITE_PREFIX)
    assert user.id is not None
    inv = Invitation(
        observatory_id=user.observatory_id,
        email=body.email,
        role=body.role.value,
        client_account_id=body.client_account_id,
        token_hash=secrets.hash_secret(secret),
        language=body.language,
        expires_at=utcnow() + timedelta(days=state.settings.invitation_days),
        created_by_id=user.id,
    )
    session.add(inv)
    session.flush()
    obs = session.get(Observatory, user.observatory_id)
    assert obs is not None
    link = compose.portal_url(state.settings, obs, "invite", secret)
    letter = compose.invitation(
        obs,
        language=body.language or obs.default_language,
        inviter=user.display_name,
        link=link,
        expires=inv.expires_at,
    )
    enqueue(
        session,
        state.settings,
        obs,
        to_addr=inv.email,
        to_name=None,
        user_id=None,
        kind="invitation",
        letter=letter,
    )
    return schemas.InvitationIssued(
        **views.invitation_public(inv).model_dump(), token=secret, link=link
    )


def pending_invitation(session: Session, secret: str, *, lock: bool = False) -> Invitation | None:
    """The invitation for `secret` if it can still be accepted, else None."""
    if not secrets.looks_valid(secret, secrets.INVITE_PREFIX):
        return None
    query = select(Invitation).where(Invitation.token_hash == secrets.hash_secret(secret))
    inv = session.exec(query.with_for_update() if lock else query).first()
    if inv is None or inv.accepted_at is not None or inv.expires_at <= utcnow():
        return None
    return inv


def accept_invitation(
    state: AppState,
    ip: str,
    body: schemas.InvitationAccept,
    *,
    observatory_id: int | None = None,
    issue: bool = True,
) -> tuple[User, schemas.TokenIssued | None]:
    """Create the invited user; with `issue`, also a token to log in with.

    `observatory_id` restricts the invitation to one observatory (the portal page's).
    """
    with state.db.read() as session:
        throttle.check(session, state, {ip: state.settings.ip_max_failures})
    with state.db.write() as session:
        inv = pending_invitation(session, body.token, lock=True)
        failure: ApiError | None
        if inv is None or observatory_id not in (None, inv.observatory_id):
            failure = _BAD_INVITE
        else:
            taken = session.exec(
                select(User.id).where(
                    User.observatory_id == inv.observatory_id, User.email == inv.email
                )
            ).first()
            failure = conflict("email_taken", Msg("email_taken_accept")) if taken else None
        if failure is None and inv is not None:
            obs = session.get(Observatory, inv.observatory_id)
            assert obs is not None
            user = User(
                observatory_id=inv.observatory_id,
                email=inv.email,
                display_name=body.display_name,
                role=inv.role,
                language=body.language or inv.language or obs.default_language,
                client_account_id=inv.client_account_id,
                password_hash=secrets.hash_password(body.password),
            )
            session.add(user)
            inv.accepted_at = utcnow()
            session.add(inv)
            session.flush()
            return user, issue_token(session, user, "invitation") if issue else None
    throttle.record_failure(state, [ip])
    raise failure or _BAD_INVITE


def list_invitations(
    session: Session, user: User, pending_only: bool
) -> list[schemas.InvitationPublic]:
    scope.require_staff(user, Msg("action_see_invitations"))
    query = select(Invitation).where(scope.invitation_scope(user))
    if pending_only:
        query = query.where(
            col(Invitation.accepted_at).is_(None), col(Invitation.expires_at) > utcnow()
        )
    return [
        views.invitation_public(i) for i in session.exec(query.order_by(col(Invitation.id))).all()
    ]


def revoke_invitation(session: Session, user: User, invitation_id: int) -> None:
    inv = scope.get_invitation(session, user, invitation_id)
    scope.require_staff(user, Msg("action_revoke_invitations"))
    if inv.accepted_at is not None:
        raise conflict("invitation_accepted", Msg("invitation_accepted"))
    inv.expires_at = utcnow()
    session.add(inv)


def list_tokens(session: Session, user: User) -> list[schemas.TokenPublic]:
    rows = session.exec(
        select(ApiToken)
        .where(scope.token_scope(user), col(ApiToken.revoked_at).is_(None))
        .order_by(col(ApiToken.id))
    ).all()
    return [views.token_public(t) for t in rows]


def revoke_token(session: Session, user: User, token_id: int) -> None:
    token = session.exec(
        select(ApiToken).where(
            ApiToken.id == token_id, scope.token_scope(user), col(ApiToken.revoked_at).is_(None)
        )
    ).first()
    if token is None:
        raise not_found(Msg("token_not_found"))
    token.revoked_at = utcnow()
    session.add(token)


def update_me(session: Session, user: User, body: schemas.MeUpdate) -> schemas.MePublic:
    me = session.get(User, user.id)
    assert me is not None
    if body.password is not None:
        # A user created without a password (the first admin, who holds only a token) may
        # set one; anyone else proves they know the current one.
        current = body.current_password or ""
        if me.password_hash is not None and not secrets.verify_password(me.password_hash, current):
            raise invalid(
                "current_password", Msg("current_password_wrong"), code="invalid_credentials"
            )
        me.password_hash = secrets.hash_password(body.password)
    if body.display_name is not None:
        me.display_name = body.display_name
    if body.language is not None:
        me.language = body.language
    session.add(me)
    obs = session.get(Observatory, me.observatory_id)
    assert obs is not None
    return views.me_public(me, obs)
