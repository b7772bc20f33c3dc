"""Forgotten passwords: a single-use reset link, valid one hour, sent by e-mail.

Asking answers the same whether or not the address has an account, so the endpoint cannot
be used to find out who is a user. Using the link sets the new password and revokes every
token the user had: whoever might have had access loses it.
"""

from __future__ import annotations

import logging
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

log = logging.getLogger("obs_support.server")

RESET_PREFIX = "obsrst_"
VALID_FOR = timedelta(hours=1)
RESETS_PER_WINDOW = 5
ASKED = "if the address has an account here, a reset link is on its way; it is valid one hour"
BAD_RESET = ApiError(401, "invalid_reset", Msg("invalid_reset"))


def ask(state: AppState, ip: str, body: schemas.PasswordForgot) -> int | None:
    """Count a request for a reset link against its limits; the observatory to look in.

    Whether the address has an account is looked up afterwards (`send_link`, once the answer
    is on its way), so a known address and an unknown one are answered alike and as fast.
    """
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
    return observatories[0].id if len(observatories) == 1 else None


def send_link(state: AppState, observatory_id: int, email: str) -> None:
    """E-mail a reset link if `email` is an active user of the observatory; else nothing."""
    try:
        _send_link(state, observatory_id, email)
    except Exception:  # the answer has gone already: nobody else would hear of it
        log.exception("could not prepare a password reset e-mail")


def _send_link(state: AppState, observatory_id: int, email: str) -> None:
    with state.db.write() as session:
        obs = session.get(Observatory, observatory_id)
        user = session.exec(
            select(User).where(
                User.observatory_id == observatory_id, User.email == email, col(User.active)
            )
        ).first()
        if obs is None or user is None or user.id is None:
            return
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
