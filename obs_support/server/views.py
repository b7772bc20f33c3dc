"""Turn rows into the API's response models, loading related names in one query per kind."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, select

from obs_support import domain, schemas
from obs_support.server.models import (
    ApiToken,
    ClientAccount,
    Event,
    Incident,
    Invitation,
    Observatory,
    Telescope,
    User,
)

M = TypeVar("M", bound=SQLModel)


def _by_id(session: Session, model: type[M], ids: Iterable[int | None]) -> dict[int, M]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    column: Any = model.id  # type: ignore[attr-defined]
    rows = session.exec(select(model).where(column.in_(wanted))).all()
    return {row.id: row for row in rows}  # type: ignore[attr-defined]


def user_ref(user: User) -> schemas.UserRef:
    return schemas.UserRef(
        id=user.id or 0, display_name=user.display_name, role=domain.Role(user.role)
    )


def user_public(user: User) -> schemas.UserPublic:
    return schemas.UserPublic.model_validate(user, from_attributes=True)


def observatory_public(obs: Observatory) -> schemas.ObservatoryPublic:
    return schemas.ObservatoryPublic(
        slug=obs.slug,
        name=obs.name,
        accent_color=obs.accent_color,
        support_email=obs.support_email,
        default_language=obs.default_language,
        has_logo=obs.logo is not None,
        attachment_size_limit=obs.attachment_size_limit,
    )


def me_public(user: User, obs: Observatory) -> schemas.MePublic:
    return schemas.MePublic(**user_public(user).model_dump(), observatory=observatory_public(obs))


def token_public(token: ApiToken) -> schemas.TokenPublic:
    return schemas.TokenPublic.model_validate(token, from_attributes=True)


def invitation_public(inv: Invitation) -> schemas.InvitationPublic:
    return schemas.InvitationPublic.model_validate(inv, from_attributes=True)


def account_public(account: ClientAccount) -> schemas.AccountPublic:
    return schemas.AccountPublic.model_validate(account, from_attributes=True)


def telescope_public(telescope: Telescope) -> schemas.TelescopePublic:
    return schemas.TelescopePublic.model_validate(telescope, from_attributes=True)


def incidents_public(
    session: Session, slug: str, incidents: Sequence[Incident]
) -> list[schemas.IncidentPublic]:
    users = _by_id(
        session, User, [i.creator_id for i in incidents] + [i.assignee_id for i in incidents]
    )
    accounts = _by_id(session, ClientAccount, [i.client_account_id for i in incidents])
    telescopes = _by_id(session, Telescope, [i.telescope_id for i in incidents])
    out = []
    for inc in incidents:
        account = accounts[inc.client_account_id]
        telescope = telescopes.get(inc.telescope_id) if inc.telescope_id else None
        assignee = users.get(inc.assignee_id) if inc.assignee_id else None
        out.append(
            schemas.IncidentPublic(
                ref=domain.incident_reference(slug, inc.number),
                number=inc.number,
                type=domain.IncidentType(inc.type),
                priority=inc.priority,
                priority_name=domain.Priority(inc.priority).key,
                status=domain.Status(inc.status),
                summary=inc.summary,
                telescope=schemas.TelescopeRef(id=telescope.id or 0, name=telescope.name)
                if telescope
                else None,
                visit_date=inc.visit_date,
                client_account=schemas.AccountRef(id=account.id or 0, name=account.name),
                creator=user_ref(users[inc.creator_id]),
                assignee=user_ref(assignee) if assignee else None,
                created_at=inc.created_at,
                updated_at=inc.updated_at,
            )
        )
    return out


def events_public(session: Session, events: Sequence[Event]) -> list[schemas.EventPublic]:
    actors = _by_id(session, User, [e.actor_id for e in events])
    return [
        schemas.EventPublic(
            id=e.id or 0,
            kind=domain.EventKind(e.kind),
            actor=user_ref(actors[e.actor_id]),
            created_at=e.created_at,
            body=e.body,
            internal=e.internal,
            source=domain.CommentSource(e.source) if e.source else None,
            data=e.data,
        )
        for e in events
    ]
