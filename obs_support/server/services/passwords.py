"""Forgotten passwords: a single-use reset link, valid one hour, sent by e-mail.

Asking answers the same whether or not the address has an account, so the endpoint cannot
be used to find out who is a user. Using the link sets the new password and revokes every
token the user had: whoever might have had access loses it.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from obs_support import schemas
from obs_support.server import secrets, throttle
from obs_support.server.errors import ApiError
from obs_support.server.mail import compose
from obs_support.server.mail.outbox import enqueue
from obs_support.server.messages import Msg
from obs_support.server.models import ApiToken, Observatory, PasswordReset, User
from obs_support.server.services.auth import issue_token
from obs_support.server.state import AppState
from obs_support.server.types import utcnow

RESET_PREFIX = "obsrst_"
VALID_FOR = timedelta(hours=1)
RESETS_PER_WINDOW = 5
ASKED = "if the address has an account here, a reset link is on its way; it is valid one hour"
BAD_RESET = ApiError(401, "invalid_reset", Msg("invalid_reset"))


def forgot(state: AppState, ip: str, body: schemas.PasswordForgot) -> schemas.Accepted:
    """Send a reset link if the e-mail belongs to an active user; answer the same either way."""
    with state.db.read() as session:
        query = select(Observatory)
        if body.observatory:
            query = query.where(Observatory.slug == body.observatory.upper())
        observatories = session.exec(query.limit(2)).all()
        slug = observatories[0].slug if len(observatories) == 1 else "-"
        # Per address, and per recipient: nobody can flood one person with reset e-mails.
        keys = {
            f"forgot:{ip}": state.settings.ip_max_failures,
            f"forgot-to:{slug}:{body.email.lower()}": RESETS_PER_WINDOW,
        }
        throttle.check(session, state, keys)
    # Every request counts towards the limit: the answer never says whether it "failed".
    throttle.record_failure(state, list(keys))
    if len(observatories) != 1:
        return schemas.Accepted(detail=ASKED)
    with state.db.write() as session:
        obs = observatories[0]
        user = session.exec(
            select(User).where(
                User.observatory_id == obs.id, User.email == body.email, col(User.active)
            )
        ).first()
        if user is None or user.id is None:
            return schemas.Accepted(detail=ASKED)
        secret = secrets.new_secret(RESET_PREFIX)
        session.add(
            PasswordReset(
                user_id=user.id,
                token_hash=secrets.hash_secret(secret),
                expires_at=utcnow() + VALID_FOR,
            )
        )
        letter = compose.password_reset(
            obs,
            language=user.language,
            name=user.display_name,
            link=compose.portal_url(state.settings, obs, "reset", secret),
        )
        enqueue(
            session,
            state.settings,
            obs,
            to_addr=user.email,
            to_name=user.display_name,
            user_id=user.id,
            kind="password_reset",
            letter=letter,
        )
    return schemas.Accepted(detail=ASKED)


def find_valid(session: Session, secret: str) -> tuple[PasswordReset, User] | None:
    if not secrets.looks_valid(secret, RESET_PREFIX):
        return None
    row = session.exec(
        select(PasswordReset, User)
        .join(User, col(User.id) == col(PasswordReset.user_id))
        .where(PasswordReset.token_hash == secrets.hash_secret(secret))
    ).first()
    if row is None:
        return None
    reset, user = row
    if reset.used_at is not None or reset.expires_at <= utcnow() or not user.active:
        return None
    return reset, user


def reset(
    state: AppState, ip: str, secret: str, password: str, *, issue: bool
) -> schemas.TokenIssued | None:
    """Set the new password and revoke every other token; optionally issue a fresh one."""
    with state.db.read() as session:
        throttle.check(session, state, {ip: state.settings.ip_max_failures})
    with state.db.write() as session:
        found = find_valid(session, secret)
        if found is not None:
            _row, user = found
            now = utcnow()
            # Every outstanding link for this user dies with this one.
            session.execute(
                update(PasswordReset)
                .where(col(PasswordReset.user_id) == user.id, col(PasswordReset.used_at).is_(None))
                .values(used_at=now)
            )
            session.execute(
                update(ApiToken)
                .where(col(ApiToken.user_id) == user.id, col(ApiToken.revoked_at).is_(None))
                .values(revoked_at=now)
            )
            user.password_hash = secrets.hash_password(password)
            session.add(user)
            return issue_token(session, user, "password reset") if issue else None
    throttle.record_failure(state, [ip])
    raise BAD_RESET
