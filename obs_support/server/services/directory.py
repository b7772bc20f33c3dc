"""The observatory's directory: its branding, client accounts, telescopes and users."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from obs_support import schemas
from obs_support.server import scope, views
from obs_support.server.errors import ApiError, conflict, invalid
from obs_support.server.messages import Msg
from obs_support.server.models import ClientAccount, Observatory, Telescope, User


def _apply(row: Any, changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        setattr(row, key, value)


def update_observatory(
    session: Session, user: User, body: schemas.ObservatoryUpdate
) -> schemas.ObservatoryPublic:
    scope.require_admin(user, Msg("action_observatory_settings"))
    obs = session.get(Observatory, user.observatory_id)
    assert obs is not None
    _apply(obs, body.model_dump(exclude_unset=True, exclude_none=True))
    session.add(obs)
    return views.observatory_public(obs)


def list_accounts(session: Session, user: User) -> list[schemas.AccountPublic]:
    rows = session.exec(
        select(ClientAccount).where(scope.account_scope(user)).order_by(ClientAccount.name)
    ).all()
    return [views.account_public(a) for a in rows]


def _name_free(session: Session, model: Any, name: str, *where: Any) -> None:
    taken = session.exec(
        select(model.id).where(func.lower(model.name) == name.lower(), *where)
    ).first()
    if taken is not None:
        raise conflict("name_taken", Msg("name_taken", name=name))


def create_account(
    session: Session, user: User, body: schemas.AccountCreate
) -> schemas.AccountPublic:
    scope.require_staff(user, Msg("action_create_accounts"))
    _name_free(
        session, ClientAccount, body.name, ClientAccount.observatory_id == user.observatory_id
    )
    account = ClientAccount(observatory_id=user.observatory_id, name=body.name)
    session.add(account)
    session.flush()
    return views.account_public(account)


def update_account(
    session: Session, user: User, account_id: int, body: schemas.AccountUpdate
) -> schemas.AccountPublic:
    account = scope.get_account(session, user, account_id)
    scope.require_staff(user, Msg("action_rename_accounts"))
    if body.name is not None and body.name != account.name:
        _name_free(
            session,
            ClientAccount,
            body.name,
            ClientAccount.observatory_id == user.observatory_id,
            ClientAccount.id != account.id,
        )
        account.name = body.name
    session.add(account)
    return views.account_public(account)


def list_telescopes(
    session: Session, user: User, account_id: int | None
) -> list[schemas.TelescopePublic]:
    query = select(Telescope).where(scope.telescope_scope(user))
    if account_id is not None:
        query = query.where(Telescope.client_account_id == account_id)
    rows = session.exec(query.order_by(col(Telescope.client_account_id), col(Telescope.name))).all()
    return [views.telescope_public(t) for t in rows]


def create_telescope(
    session: Session, user: User, body: schemas.TelescopeCreate
) -> schemas.TelescopePublic:
    scope.require_staff(user, Msg("action_register_telescopes"))
    try:
        account = scope.get_account(session, user, body.client_account_id)
    except ApiError:
        raise invalid("client_account_id", Msg("no_such_account")) from None
    _name_free(session, Telescope, body.name, Telescope.client_account_id == account.id)
    assert account.id is not None
    telescope = Telescope(
        observatory_id=user.observatory_id,
        client_account_id=account.id,
        **body.model_dump(exclude={"client_account_id"}),
    )
    session.add(telescope)
    session.flush()
    return views.telescope_public(telescope)


def update_telescope(
    session: Session, user: User, telescope_id: int, body: schemas.TelescopeUpdate
) -> schemas.TelescopePublic:
    telescope = scope.get_telescope(session, user, telescope_id)
    scope.require_staff(user, Msg("action_change_telescopes"))
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name") is None:
        changes.pop("name", None)
    elif changes["name"] != telescope.name:
        _name_free(
            session,
            Telescope,
            changes["name"],
            Telescope.client_account_id == telescope.client_account_id,
            Telescope.id != telescope.id,
        )
    _apply(telescope, changes)
    session.add(telescope)
    return views.telescope_public(telescope)


def list_users(
    session: Session, user: User, role: str | None, account_id: int | None
) -> list[schemas.UserPublic]:
    query = select(User).where(scope.user_scope(user))
    if role is not None:
        query = query.where(User.role == role)
    if account_id is not None:
        query = query.where(User.client_account_id == account_id)
    return [views.user_public(u) for u in session.exec(query.order_by(User.display_name)).all()]


def update_user(
    session: Session, user: User, user_id: int, body: schemas.UserUpdate
) -> schemas.UserPublic:
    target = scope.get_user(session, user, user_id)
    scope.require_admin(user, Msg("action_change_users"))
    if body.active is False and target.id == user.id:
        raise conflict("cannot_deactivate_self", Msg("cannot_deactivate_self"))
    _apply(target, body.model_dump(exclude_unset=True, exclude_none=True))
    session.add(target)
    return views.user_public(target)


LOGO_MAX_BYTES = 512 * 1024
# Recognised from the bytes, never from what the uploader claims.
_LOGO_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def logo_type(data: bytes) -> str | None:
    for magic, content_type in _LOGO_MAGIC:
        if data.startswith(magic):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


LOGO_MIN_SIDE, LOGO_MAX_SIDE = 16, 2048


def _check_image(data: bytes) -> None:
    """The logo must decode as an image of a sane size, not just start like one."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ApiError(415, "unsupported_image", Msg("logo_unreadable")) from None
    if min(width, height) < LOGO_MIN_SIDE or max(width, height) > LOGO_MAX_SIDE:
        raise invalid(
            "body",
            Msg("logo_size", low=LOGO_MIN_SIDE, high=LOGO_MAX_SIDE),
            code="bad_logo_size",
        )


def set_logo(session: Session, user: User, data: bytes) -> schemas.ObservatoryPublic:
    scope.require_admin(user, Msg("action_observatory_logo"))
    if not data:
        raise invalid("body", Msg("logo_empty"))
    if len(data) > LOGO_MAX_BYTES:
        raise ApiError(413, "too_large", Msg("logo_too_large", kib=LOGO_MAX_BYTES // 1024))
    content_type = logo_type(data)
    if content_type is None:
        raise ApiError(415, "unsupported_image", Msg("logo_type"))
    _check_image(data)
    obs = session.get(Observatory, user.observatory_id)
    assert obs is not None
    obs.logo, obs.logo_content_type = data, content_type
    session.add(obs)
    return views.observatory_public(obs)
