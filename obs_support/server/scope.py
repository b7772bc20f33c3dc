"""Authorization, in one place: what each caller may see, and what each may do.

Every query for tenant data goes through the `*_scope` conditions below, and every lookup of
a single object through the `get_*` helpers, which answer 404 for anything outside the
caller's scope — exactly as for an object that does not exist, so scope cannot be probed.
Actions on objects in scope that the caller's role does not allow answer 403 (`require_*`).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, false, true
from sqlmodel import Session, SQLModel, col, select

from obs_support import domain
from obs_support.domain import Role
from obs_support.server.errors import ApiError, forbidden, not_found
from obs_support.server.messages import Msg, refusal
from obs_support.server.models import (
    ApiToken,
    ClientAccount,
    Event,
    Incident,
    IncidentCount,
    Invitation,
    Telescope,
    User,
)

M = TypeVar("M", bound=SQLModel)


def role(user: User) -> Role:
    return Role(user.role)


def is_staff(user: User) -> bool:
    return role(user).is_staff


def _account_scope(user: User, observatory_col: Any, account_col: Any) -> ColumnElement[bool]:
    same_observatory = observatory_col == user.observatory_id
    if is_staff(user):
        return and_(same_observatory, true())
    if user.client_account_id is None:
        return false()
    return and_(same_observatory, account_col == user.client_account_id)


def incident_scope(user: User) -> ColumnElement[bool]:
    return _account_scope(user, Incident.observatory_id, Incident.client_account_id)


def telescope_scope(user: User) -> ColumnElement[bool]:
    return _account_scope(user, Telescope.observatory_id, Telescope.client_account_id)


def account_scope(user: User) -> ColumnElement[bool]:
    return _account_scope(user, ClientAccount.observatory_id, ClientAccount.id)


def user_scope(user: User) -> ColumnElement[bool]:
    """Staff see every user of their observatory; clients see only themselves."""
    if is_staff(user):
        return col(User.observatory_id) == user.observatory_id
    return col(User.id) == user.id


def invitation_scope(user: User) -> ColumnElement[bool]:
    if is_staff(user):
        return col(Invitation.observatory_id) == user.observatory_id
    return false()


def count_scope(user: User) -> ColumnElement[bool]:
    """The status counters behind the caller's incidents (per client account)."""
    return _account_scope(user, IncidentCount.observatory_id, IncidentCount.client_account_id)


def token_scope(user: User) -> ColumnElement[bool]:
    """Everyone manages only their own API tokens, whatever their role."""
    return col(ApiToken.user_id) == user.id


def event_scope(user: User) -> ColumnElement[bool]:
    """Internal notes are for staff only."""
    if is_staff(user):
        return true()
    return col(Event.internal).is_(False)


def _get(session: Session, model: type[M], condition: ColumnElement[bool], missing: Msg) -> M:
    found = session.exec(select(model).where(condition)).first()
    if found is None:
        raise not_found(missing)
    return found


def get_incident(
    session: Session, user: User, ref: str, *, slug: str, lock: bool = False
) -> Incident:
    try:
        ref_slug, number = domain.parse_reference(ref)
    except ValueError:
        raise not_found(Msg("incident_not_found")) from None
    if ref_slug is not None and ref_slug != slug.upper():
        raise not_found(Msg("incident_not_found"))
    query = select(Incident).where(incident_scope(user), Incident.number == number)
    if lock:
        query = query.with_for_update()
    found = session.exec(query).first()
    if found is None:
        raise not_found(Msg("incident_not_found"))
    return found


def get_account(session: Session, user: User, account_id: int) -> ClientAccount:
    return _get(
        session,
        ClientAccount,
        and_(account_scope(user), col(ClientAccount.id) == account_id),
        Msg("account_not_found"),
    )


def get_telescope(session: Session, user: User, telescope_id: int) -> Telescope:
    return _get(
        session,
        Telescope,
        and_(telescope_scope(user), col(Telescope.id) == telescope_id),
        Msg("telescope_not_found"),
    )


def get_user(session: Session, user: User, user_id: int) -> User:
    return _get(
        session, User, and_(user_scope(user), col(User.id) == user_id), Msg("user_not_found")
    )


def get_invitation(session: Session, user: User, invitation_id: int) -> Invitation:
    return _get(
        session,
        Invitation,
        and_(invitation_scope(user), col(Invitation.id) == invitation_id),
        Msg("invitation_not_found"),
    )


def require_staff(user: User, action: Msg) -> None:
    if not is_staff(user):
        raise forbidden(Msg("staff_only", action=action))


def require_admin(user: User, action: Msg) -> None:
    if role(user) is not Role.ADMIN:
        raise forbidden(Msg("admin_only", action=action))


def require_can_invite(user: User, invited: Role) -> None:
    """Staff invite clients; only admins invite staff and other admins."""
    require_staff(user, Msg("action_invite_people"))
    if invited.is_staff:
        require_admin(user, Msg("action_invite_staff"))


def require_status_change(
    user: User, incident: Incident, target: domain.Status, reason: str | None
) -> domain.Transition:
    verdict = domain.check_transition(domain.Status(incident.status), target, role(user), reason)
    if verdict.refused is not None:
        status = {"forbidden": 403, "reason_required": 422}.get(verdict.refused.code, 409)
        raise ApiError(
            status,
            verdict.refused.code,
            refusal(verdict.refused),
            field="reason" if verdict.refused.code == "reason_required" else None,
        )
    return verdict
