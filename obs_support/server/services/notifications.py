"""Who is told about what: in-app notifications and e-mails, written with the change itself.

- status changes: every active member of the incident's client account, and the assignee;
  when a client changed it, the staff who follow the incident too (see below);
- a public staff reply: the client account's members (internal notes tell nobody);
- a client's reply: the staff who follow the incident — its assignee, or every active staff
  member while it is unassigned (or its assignee is no longer active);
- a new incident: every active staff member, and — when staff filed it for a client — the
  client account's members;
- an assignment: the new assignee.
The person who acted is never told about their own action. Everyone affected gets the
in-app notification; the e-mail goes unless they turned that kind off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from obs_support import domain, schemas
from obs_support.config import ServerSettings
from obs_support.domain import NotifyKind, Role
from obs_support.server import views
from obs_support.server.errors import invalid
from obs_support.server.mail import compose
from obs_support.server.mail.letter import Letter
from obs_support.server.mail.outbox import enqueue
from obs_support.server.messages import Msg
from obs_support.server.models import (
    ClientAccount,
    Event,
    Incident,
    Notification,
    Observatory,
    User,
)
from obs_support.server.types import utcnow

STAFF_ROLES = (Role.STAFF.value, Role.ADMIN.value)


def _account_members(session: Session, incident: Incident) -> list[User]:
    return list(
        session.exec(
            select(User).where(
                User.client_account_id == incident.client_account_id, col(User.active).is_(True)
            )
        ).all()
    )


def _staff(session: Session, incident: Incident) -> list[User]:
    """The staff who follow an incident: its assignee, or all of them while nobody is."""
    everyone = list(
        session.exec(
            select(User).where(
                User.observatory_id == incident.observatory_id,
                col(User.role).in_(STAFF_ROLES),
                col(User.active).is_(True),
            )
        ).all()
    )
    assignee = [u for u in everyone if u.id == incident.assignee_id]
    return assignee or everyone


def _tell(
    session: Session,
    settings: ServerSettings,
    obs: Observatory,
    incident: Incident,
    event: Event,
    actor: User,
    kind: NotifyKind,
    people: Iterable[User],
    letter_for: Callable[[User], Letter],
) -> None:
    assert incident.id is not None and event.id is not None
    seen: set[int] = set()
    for person in sorted(people, key=lambda u: u.id or 0):
        if person.id is None or person.id == actor.id or person.id in seen:
            continue
        seen.add(person.id)
        session.add(
            Notification(
                user_id=person.id, incident_id=incident.id, event_id=event.id, kind=kind.value
            )
        )
        if kind.value in (person.email_off or []):
            continue
        letter = letter_for(person)
        enqueue(
            session,
            settings,
            obs,
            to_addr=person.email,
            to_name=person.display_name,
            user_id=person.id,
            kind=kind.value,
            letter=letter,
        )


def status_changed(
    session: Session,
    settings: ServerSettings,
    obs: Observatory,
    incident: Incident,
    actor: User,
    event: Event,
) -> None:
    data = event.data or {}
    people = _account_members(session, incident)
    if domain.Role(actor.role).is_staff:
        assignee = session.get(User, incident.assignee_id) if incident.assignee_id else None
        if assignee is not None and assignee.active:
            people.append(assignee)
    else:
        people += _staff(session, incident)

    def letter(person: User) -> Letter:
        return compose.status_changed(
            settings,
            obs,
            incident,
            language=person.language,
            name=person.display_name,
            actor=actor.display_name,
            old=str(data.get("from")),
            new=str(data.get("to")),
            reason=data.get("reason"),
        )

    _tell(session, settings, obs, incident, event, actor, NotifyKind.STATUS_CHANGED, people, letter)


def comment_added(
    session: Session,
    settings: ServerSettings,
    obs: Observatory,
    incident: Incident,
    actor: User,
    event: Event,
) -> None:
    if event.internal:
        return
    if domain.Role(actor.role).is_staff:
        kind, people = NotifyKind.STAFF_REPLY, _account_members(session, incident)
    else:
        kind, people = NotifyKind.CLIENT_REPLY, _staff(session, incident)

    def letter(person: User) -> Letter:
        return compose.reply(
            settings,
            obs,
            incident,
            language=person.language,
            name=person.display_name,
            actor=actor.display_name,
            body=event.body or "",
        )

    _tell(session, settings, obs, incident, event, actor, kind, people, letter)


def incident_created(
    session: Session,
    settings: ServerSettings,
    obs: Observatory,
    incident: Incident,
    actor: User,
    event: Event,
    message: str,
) -> None:
    account = session.get(ClientAccount, incident.client_account_id)
    account_name = account.name if account else ""

    def letter(person: User) -> Letter:
        return compose.new_incident(
            settings,
            obs,
            incident,
            language=person.language,
            name=person.display_name,
            actor=actor.display_name,
            account=account_name,
            message=message,
        )

    people = _staff(session, incident)
    if domain.Role(actor.role).is_staff:  # filed for a client: the client hears of it too
        people += _account_members(session, incident)
    _tell(session, settings, obs, incident, event, actor, NotifyKind.NEW_INCIDENT, people, letter)


def assigned(
    session: Session,
    settings: ServerSettings,
    obs: Observatory,
    incident: Incident,
    actor: User,
    event: Event,
) -> None:
    assignee = session.get(User, incident.assignee_id) if incident.assignee_id else None
    if assignee is None or not assignee.active:
        return

    def letter(person: User) -> Letter:
        return compose.assigned(
            settings,
            obs,
            incident,
            language=person.language,
            name=person.display_name,
            actor=actor.display_name,
        )

    _tell(session, settings, obs, incident, event, actor, NotifyKind.ASSIGNED, [assignee], letter)


# --- reading them ---------------------------------------------------------------------------


def _unread(session: Session, user: User) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user.id, col(Notification.read_at).is_(None))
        ).one()
    )


def page(
    session: Session, user: User, *, unread_only: bool, cursor: str | None, limit: int
) -> schemas.NotificationPage:
    query = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        query = query.where(col(Notification.read_at).is_(None))
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit() and 0 < int(cursor) < 2**31):
            raise invalid("cursor", Msg("notification_cursor_invalid"), code="invalid_cursor")
        query = query.where(col(Notification.id) < int(cursor))
    rows = session.exec(query.order_by(col(Notification.id).desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    incidents = {
        i.id: i
        for i in session.exec(
            select(Incident).where(col(Incident.id).in_({n.incident_id for n in rows}))
        ).all()
    }
    events = {
        e.id: e
        for e in session.exec(
            select(Event).where(col(Event.id).in_({n.event_id for n in rows}))
        ).all()
    }
    actors = {
        u.id: u
        for u in session.exec(
            select(User).where(col(User.id).in_({e.actor_id for e in events.values()}))
        ).all()
    }
    obs = session.get(Observatory, user.observatory_id)
    assert obs is not None
    items = []
    for n in rows:
        incident, event = incidents[n.incident_id], events[n.event_id]
        items.append(
            schemas.NotificationPublic(
                id=n.id or 0,
                kind=NotifyKind(n.kind),
                incident=domain.incident_reference(obs.slug, incident.number),
                summary=incident.summary,
                event_id=n.event_id,
                actor=views.user_ref(actors[event.actor_id]),
                created_at=n.created_at,
                read_at=n.read_at,
            )
        )
    return schemas.NotificationPage(
        items=items,
        unread=_unread(session, user),
        next_cursor=str(rows[-1].id) if more and rows else None,
    )


def mark_read(session: Session, user: User, body: schemas.MarkRead) -> schemas.MarkedRead:
    if not body.all and not body.ids:
        raise invalid("ids", Msg("mark_read_nothing"))
    query = update(Notification).where(
        col(Notification.user_id) == user.id, col(Notification.read_at).is_(None)
    )
    if not body.all:
        query = query.where(col(Notification.id).in_(body.ids))
    result = session.execute(query.values(read_at=utcnow()))
    return schemas.MarkedRead(
        marked=int(result.rowcount),  # type: ignore[attr-defined]
        unread=_unread(session, user),
    )


def settings_of(user: User) -> schemas.NotificationSettings:
    off = set(user.email_off or [])
    return schemas.NotificationSettings(email={k: k.value not in off for k in NotifyKind})


def update_settings(
    session: Session, user: User, body: schemas.NotificationSettingsUpdate
) -> schemas.NotificationSettings:
    row = session.get(User, user.id)
    assert row is not None
    off = set(row.email_off or [])
    for kind, wanted in body.email.items():
        if wanted:
            off.discard(kind.value)
        else:
            off.add(kind.value)
    row.email_off = sorted(off)
    session.add(row)
    return settings_of(row)
