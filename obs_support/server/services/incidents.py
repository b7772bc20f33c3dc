"""Incidents: filing, reading, commenting, changing status, priority and assignee.

Each public function runs inside one write (or read) session opened by the caller, so the
change, its history events, notifications and status counters commit together or not at all.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from obs_support import domain, schemas
from obs_support.config import ServerSettings
from obs_support.domain import EventKind, Language, Status
from obs_support.server import scope, signals, views
from obs_support.server.errors import ApiError, forbidden, invalid
from obs_support.server.messages import Msg, refusal, say
from obs_support.server.models import (
    Event,
    Incident,
    IncidentCount,
    Observatory,
    Telescope,
    User,
)
from obs_support.server.services import listing
from obs_support.server.services import notifications as notify


def observatory_of(session: Session, user: User) -> Observatory:
    obs = session.get(Observatory, user.observatory_id)
    assert obs is not None  # users cannot exist without their observatory (foreign key)
    return obs


def adjust_counts(session: Session, observatory_id: int, deltas: Counter[tuple[int, str]]) -> None:
    """Apply status-count changes as upserts, in a fixed key order.

    The upsert lets two transactions create the same counter row at once; the fixed order
    means concurrent writers always lock counter rows in the same sequence (no deadlock).
    """
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for (account_id, status), delta in sorted(deltas.items()):
        if delta == 0:
            continue
        row = insert(IncidentCount).values(
            client_account_id=account_id, status=status, observatory_id=observatory_id, n=delta
        )
        session.execute(
            row.on_conflict_do_update(
                index_elements=["client_account_id", "status"],
                set_={"n": IncidentCount.__table__.c.n + row.excluded.n},  # type: ignore[attr-defined]
            )
        )


def _event(
    session: Session, incident: Incident, actor: User, kind: EventKind, **values: Any
) -> Event:
    assert incident.id is not None and actor.id is not None
    ev = Event(incident_id=incident.id, kind=kind.value, actor_id=actor.id, **values)
    session.add(ev)
    signals.mark(session, signals.EVENTS)
    incident.updated_at = ev.created_at
    session.add(incident)
    session.flush()
    return ev


def _resolve_telescope(
    session: Session, user: User, account_id: int, body: schemas.IncidentCreate
) -> int | None:
    if body.telescope_id is None and body.telescope is None:
        return None
    query = select(Telescope).where(
        scope.telescope_scope(user), Telescope.client_account_id == account_id
    )
    if body.telescope_id is not None:
        query = query.where(Telescope.id == body.telescope_id)
    if body.telescope is not None:
        query = query.where(func.lower(Telescope.name) == body.telescope.lower())
    found = session.exec(query).first()
    if found is None:
        name = "telescope_id" if body.telescope_id is not None else "telescope"
        raise invalid(name, Msg("unknown_telescope"), code="unknown_telescope")
    return found.id


def create(
    session: Session, settings: ServerSettings, user: User, body: schemas.IncidentCreate
) -> schemas.IncidentDetail:
    signals.serialize_events(session, user.observatory_id)
    obs = observatory_of(session, user)
    if scope.is_staff(user):
        if body.client_account_id is None:
            raise invalid("client_account_id", Msg("staff_name_account"))
        account_id = scope.get_account(session, user, body.client_account_id).id
    else:
        if body.client_account_id not in (None, user.client_account_id):
            raise invalid("client_account_id", Msg("clients_own_account"))
        account_id = user.client_account_id
    if account_id is None:
        raise forbidden(Msg("no_client_account"))
    if body.visit_date is not None and body.type is not domain.IncidentType.VISIT:
        raise invalid("visit_date", Msg("visit_date_only_visits"))
    telescope_id = _resolve_telescope(session, user, account_id, body)
    summary = body.summary or domain.summary_from_message(body.message)

    # Take the next reference number: the row lock (PostgreSQL) or the write lock taken by
    # BEGIN IMMEDIATE (SQLite) serialises creators, and a rollback returns the number.
    session.execute(
        update(Observatory)
        .where(col(Observatory.id) == obs.id)
        .values(incident_seq=col(Observatory.incident_seq) + 1)
    )
    number = session.exec(select(Observatory.incident_seq).where(Observatory.id == obs.id)).one()
    assert user.id is not None and obs.id is not None
    incident = Incident(
        observatory_id=obs.id,
        number=number,
        type=body.type.value,
        priority=int(body.priority),
        status=Status.OPEN.value,
        telescope_id=telescope_id,
        visit_date=body.visit_date,
        summary=summary,
        client_account_id=account_id,
        creator_id=user.id,
    )
    session.add(incident)
    session.flush()
    created = _event(
        session,
        incident,
        user,
        EventKind.CREATED,
        data={"type": incident.type, "priority": incident.priority, "status": incident.status},
    )
    _event(session, incident, user, EventKind.COMMENT, body=body.message, source=body.source.value)
    adjust_counts(session, obs.id, Counter({(account_id, Status.OPEN.value): 1}))
    notify.incident_created(session, settings, obs, incident, user, created, body.message)
    return detail(session, user, obs, incident)


def detail(
    session: Session, user: User, obs: Observatory, incident: Incident
) -> schemas.IncidentDetail:
    events = session.exec(
        select(Event)
        .where(Event.incident_id == incident.id, scope.event_scope(user))
        .order_by(col(Event.id))
    ).all()
    public = views.incidents_public(session, obs.slug, [incident])[0]
    return schemas.IncidentDetail(
        **public.model_dump(),
        events=views.events_public(session, events),
        allowed_statuses=domain.allowed_targets(Status(incident.status), scope.role(user)),
    )


def get(session: Session, user: User, ref: str) -> schemas.IncidentDetail:
    obs = observatory_of(session, user)
    return detail(session, user, obs, scope.get_incident(session, user, ref, slug=obs.slug))


@dataclass
class ListFilters:
    status: list[Status] = field(default_factory=list)
    type: domain.IncidentType | None = None
    priority: domain.Priority | None = None
    telescope_id: int | None = None
    client_account_id: int | None = None
    assignee: int | None = None
    unassigned: bool = False
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    q: str | None = None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _conditions(user: User, f: ListFilters) -> list[ColumnElement[bool]]:
    cond: list[Any] = [scope.incident_scope(user)]
    if f.status:
        cond.append(col(Incident.status).in_([s.value for s in f.status]))
    if f.type is not None:
        cond.append(Incident.type == f.type.value)
    if f.priority is not None:
        cond.append(Incident.priority == int(f.priority))
    if f.telescope_id is not None:
        cond.append(Incident.telescope_id == f.telescope_id)
    if f.client_account_id is not None:
        cond.append(Incident.client_account_id == f.client_account_id)
    if f.assignee is not None:
        cond.append(Incident.assignee_id == f.assignee)
    if f.unassigned:
        cond.append(col(Incident.assignee_id).is_(None))
    for column, bound, after in (
        (Incident.created_at, f.created_after, True),
        (Incident.created_at, f.created_before, False),
        (Incident.updated_at, f.updated_after, True),
        (Incident.updated_at, f.updated_before, False),
    ):
        if bound is not None:
            cond.append(column >= bound if after else column < bound)
    if f.q:
        pattern = f"%{_escape_like(f.q.lower())}%"
        in_comments = exists().where(
            col(Event.incident_id) == col(Incident.id),
            col(Event.kind) == EventKind.COMMENT.value,
            func.lower(Event.body).like(pattern, escape="\\"),
            scope.event_scope(user),
        )
        cond.append(or_(func.lower(Incident.summary).like(pattern, escape="\\"), in_comments))
    return cond


def list_page(
    session: Session, user: User, f: ListFilters, sort: str, cursor: str | None, limit: int
) -> schemas.IncidentPage:
    obs = observatory_of(session, user)
    rows, next_cursor = listing.page(session, _conditions(user, f), sort, cursor, limit)
    return schemas.IncidentPage(
        items=views.incidents_public(session, obs.slug, rows), next_cursor=next_cursor
    )


def counts(session: Session, user: User) -> schemas.StatusCounts:
    query = select(IncidentCount.status, func.sum(IncidentCount.n)).where(scope.count_scope(user))
    per_status = {
        Status(s): int(n or 0) for s, n in session.exec(query.group_by(IncidentCount.status)).all()
    }
    result = {s: per_status.get(s, 0) for s in Status}
    return schemas.StatusCounts(counts=result, total=sum(result.values()))


FINISHED = (Status.DONE.value, Status.CANCELLED.value)


def week_of(moment: datetime) -> date:
    """The Monday (UTC) of the week `moment` falls in."""
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def stats(session: Session, user: User, weeks: int, now: datetime) -> schemas.IncidentStats:
    """The dashboard: unfinished incidents by status and priority, and the last `weeks` weeks.

    Weeks are bucketed here rather than in SQL because date truncation differs between SQLite
    and PostgreSQL; only the timestamps inside the window are read.
    """
    unfinished = [s.value for s in Status if s.value not in FINISHED]
    grid = session.exec(
        select(Incident.status, Incident.priority, func.count())
        .where(scope.incident_scope(user), col(Incident.status).in_(unfinished))
        .group_by(col(Incident.status), col(Incident.priority))
    ).all()
    cells = [
        schemas.OpenCell(status=Status(st), priority=int(p), count=int(n))
        for st, p, n in sorted(grid, key=lambda r: (unfinished.index(r[0]), -int(r[1])))
    ]
    first = week_of(now) - timedelta(weeks=weeks - 1)
    since = datetime.combine(first, datetime.min.time(), UTC)
    created = Counter(
        week_of(at)
        for at in session.exec(
            select(Incident.created_at).where(
                scope.incident_scope(user), col(Incident.created_at) >= since
            )
        )
    )
    moved_to = Event.__table__.c.data["to"].as_string()  # type: ignore[attr-defined]
    finished = Counter(
        week_of(at)
        for at in session.exec(
            select(Event.created_at)
            .join(Incident, col(Incident.id) == col(Event.incident_id))
            .where(
                scope.incident_scope(user),
                col(Event.kind) == EventKind.STATUS_CHANGED.value,
                col(Event.created_at) >= since,
                moved_to.in_(FINISHED),
            )
        )
    )
    days = [first + timedelta(weeks=i) for i in range(weeks)]
    return schemas.IncidentStats(
        open=cells,
        weeks=[schemas.WeekCount(week=d, created=created[d], finished=finished[d]) for d in days],
    )


def comment(
    session: Session, settings: ServerSettings, user: User, ref: str, body: schemas.CommentCreate
) -> schemas.EventPublic:
    signals.serialize_events(session, user.observatory_id)
    obs = observatory_of(session, user)
    incident = scope.get_incident(session, user, ref, slug=obs.slug, lock=True)
    if body.internal:
        scope.require_staff(user, Msg("action_internal_notes"))
    ev = _event(
        session,
        incident,
        user,
        EventKind.COMMENT,
        body=body.body,
        internal=body.internal,
        source=body.source.value,
    )
    notify.comment_added(session, settings, obs, incident, user, ev)
    return views.events_public(session, [ev])[0]


def _apply_status(
    session: Session,
    settings: ServerSettings,
    obs: Observatory,
    user: User,
    incident: Incident,
    target: Status,
    reason: str | None,
) -> Event:
    old = incident.status
    incident.status = target.value
    ev = _event(
        session,
        incident,
        user,
        EventKind.STATUS_CHANGED,
        data={"from": old, "to": target.value, "reason": (reason or "").strip() or None},
    )
    notify.status_changed(session, settings, obs, incident, user, ev)
    adjust_counts(
        session,
        incident.observatory_id,
        Counter(
            {(incident.client_account_id, old): -1, (incident.client_account_id, target.value): 1}
        ),
    )
    return ev


def change_status(
    session: Session, settings: ServerSettings, user: User, ref: str, body: schemas.StatusChange
) -> schemas.IncidentDetail:
    signals.serialize_events(session, user.observatory_id)
    obs = observatory_of(session, user)
    incident = scope.get_incident(session, user, ref, slug=obs.slug, lock=True)
    verdict = scope.require_status_change(user, incident, body.status, body.reason)
    if verdict.changed:
        _apply_status(session, settings, obs, user, incident, body.status, body.reason)
    return detail(session, user, obs, incident)


def bulk_status(
    session: Session,
    settings: ServerSettings,
    user: User,
    body: schemas.BulkStatusChange,
    language: Language = "en",
) -> schemas.BulkResult:
    signals.serialize_events(session, user.observatory_id)
    obs = observatory_of(session, user)
    results: list[schemas.BulkItemResult] = []
    seen: set[int] = set()
    for ref in body.refs:
        try:
            incident = scope.get_incident(session, user, ref, slug=obs.slug, lock=True)
        except ApiError:
            results.append(
                schemas.BulkItemResult(
                    ref=ref,
                    result="not_found",
                    code="not_found",
                    message=say(Msg("incident_not_found"), language),
                )
            )
            continue
        canonical = domain.incident_reference(obs.slug, incident.number)
        if incident.id in seen:
            results.append(schemas.BulkItemResult(ref=canonical, result="unchanged"))
            continue
        seen.add(incident.id or 0)
        verdict = domain.check_transition(
            Status(incident.status), body.status, scope.role(user), body.reason
        )
        if verdict.refused is not None:
            results.append(
                schemas.BulkItemResult(
                    ref=canonical,
                    result="refused",
                    code=verdict.refused.code,
                    message=say(refusal(verdict.refused), language),
                )
            )
        elif not verdict.changed:
            results.append(schemas.BulkItemResult(ref=canonical, result="unchanged"))
        else:
            if not body.dry_run:
                _apply_status(session, settings, obs, user, incident, body.status, body.reason)
            results.append(schemas.BulkItemResult(ref=canonical, result="changed"))
    tally = Counter(r.result for r in results)
    return schemas.BulkResult(
        dry_run=body.dry_run,
        status=body.status,
        results=results,
        changed=tally["changed"],
        unchanged=tally["unchanged"],
        refused=tally["refused"],
        not_found=tally["not_found"],
    )


def update_incident(
    session: Session, settings: ServerSettings, user: User, ref: str, body: schemas.IncidentUpdate
) -> schemas.IncidentDetail:
    signals.serialize_events(session, user.observatory_id)
    obs = observatory_of(session, user)
    incident = scope.get_incident(session, user, ref, slug=obs.slug, lock=True)
    scope.require_staff(user, Msg("action_update_incident"))
    if body.unassign and body.assignee_id is not None:
        raise invalid("unassign", Msg("assignee_or_unassign"))
    if body.priority is not None and int(body.priority) != incident.priority:
        old = incident.priority
        incident.priority = int(body.priority)
        _event(
            session,
            incident,
            user,
            EventKind.PRIORITY_CHANGED,
            data={"from": old, "to": incident.priority},
        )
    new_assignee = incident.assignee_id
    if body.assignee_id is not None:
        assignee = session.exec(
            select(User).where(
                scope.user_scope(user),
                User.id == body.assignee_id,
                col(User.active).is_(True),
            )
        ).first()
        if assignee is None or not scope.is_staff(assignee):
            raise invalid("assignee_id", Msg("assignee_not_staff"), code="invalid_assignee")
        new_assignee = assignee.id
    elif body.unassign:
        new_assignee = None
    if new_assignee != incident.assignee_id:
        data = {"from": incident.assignee_id, "to": new_assignee}
        incident.assignee_id = new_assignee
        ev = _event(session, incident, user, EventKind.ASSIGNED, data=data)
        notify.assigned(session, settings, obs, incident, user, ev)
    if body.summary is not None and body.summary != incident.summary:
        data_s = {"from": incident.summary, "to": body.summary}
        incident.summary = body.summary
        _event(session, incident, user, EventKind.SUMMARY_CHANGED, data=data_s)
    return detail(session, user, obs, incident)


def parse_filters(
    *,
    status: list[str],
    type_: str | None,
    priority: str | None,
    telescope_id: int | None,
    client_account_id: int | None,
    assignee: str | None,
    user: User,
    created_after: datetime | None,
    created_before: datetime | None,
    updated_after: datetime | None,
    updated_before: datetime | None,
    q: str | None,
) -> ListFilters:
    """Query-string values to filters, refusing unknown values with the field's name."""

    def parse(name: str, fn: Any, value: Any) -> Any:
        try:
            return fn(value)
        except ValueError as exc:
            raise invalid(name, refusal(exc)) from None

    f = ListFilters(
        status=[parse("status", domain.parse_status, s) for s in status],
        type=parse("type", domain.parse_type, type_) if type_ else None,
        priority=parse("priority", domain.parse_priority, priority) if priority else None,
        telescope_id=telescope_id,
        client_account_id=client_account_id,
        created_after=created_after,
        created_before=created_before,
        updated_after=updated_after,
        updated_before=updated_before,
        q=q.strip() or None if q else None,
    )
    if q is not None and not q.isprintable():
        raise invalid("q", Msg("not_printable"))
    for name, stamp in (
        ("created_after", created_after),
        ("created_before", created_before),
        ("updated_after", updated_after),
        ("updated_before", updated_before),
    ):
        if stamp is not None and stamp.tzinfo is None:
            raise invalid(name, Msg("needs_timezone"))
    if assignee:
        if assignee == "me":
            f.assignee = user.id
        elif assignee == "none":
            f.unassigned = True
        elif assignee.isascii() and assignee.isdigit() and int(assignee) < 2**31:
            f.assignee = int(assignee)
        else:
            raise invalid("assignee", Msg("assignee_filter"))
    return f
