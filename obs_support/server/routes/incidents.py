"""/api/v1/incidents — file, list, read, comment on, and change incidents."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from obs_support import schemas
from obs_support.server import idempotency
from obs_support.server.auth import CurrentUser
from obs_support.server.messages import language_of
from obs_support.server.services import incidents
from obs_support.server.services.listing import SortName
from obs_support.server.state import StateDep
from obs_support.server.types import utcnow

router = APIRouter(prefix="/incidents", tags=["incidents"])

RefPath = Annotated[str, "incident reference such as TEIDE-42 (or just 42)"]


def _request(
    request: Request, body: schemas.Request | None
) -> tuple[str, str, schemas.Request | None]:
    return request.method, request.url.path, body


@router.post(
    "", status_code=201, response_model=schemas.IncidentDetail, summary="File a new incident"
)
def create_incident(
    body: schemas.IncidentCreate,
    request: Request,
    state: StateDep,
    user: CurrentUser,
    key: idempotency.KeyHeader = None,
) -> JSONResponse:
    return idempotency.run(
        state,
        user,
        key,
        _request(request, body),
        201,
        lambda s: incidents.create(s, state.settings, user, body),
    )


@router.get("", response_model=schemas.IncidentPage, summary="List incidents, a page at a time")
def list_incidents(
    state: StateDep,
    user: CurrentUser,
    status: Annotated[list[str], Query(max_length=40, description="Repeat for several")] = [],  # noqa: B006
    type: Annotated[str | None, Query(max_length=40)] = None,
    priority: Annotated[str | None, Query(max_length=10)] = None,
    telescope: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    client_account: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    assignee: Annotated[
        str | None, Query(max_length=12, description="user id, 'me' or 'none'")
    ] = None,
    created_after: schemas.Moment | None = None,
    created_before: schemas.Moment | None = None,
    updated_after: schemas.Moment | None = None,
    updated_before: schemas.Moment | None = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Text in the summary or comments")
    ] = None,
    sort: SortName = "priority",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> schemas.IncidentPage:
    filters = incidents.parse_filters(
        status=status,
        type_=type,
        priority=priority,
        telescope_id=telescope,
        client_account_id=client_account,
        assignee=assignee,
        user=user,
        created_after=created_after,
        created_before=created_before,
        updated_after=updated_after,
        updated_before=updated_before,
        q=q,
    )
    with state.db.read() as session:
        return incidents.list_page(session, user, filters, sort, cursor, limit)


@router.get("/counts", summary="How many incidents are in each status")
def status_counts(state: StateDep, user: CurrentUser) -> schemas.StatusCounts:
    with state.db.read() as session:
        return incidents.counts(session, user)


@router.get("/stats", summary="Unfinished incidents by status and priority; weekly flow")
def incident_stats(
    state: StateDep,
    user: CurrentUser,
    weeks: Annotated[int, Query(ge=1, le=104, description="How many weeks, this one last")] = 12,
) -> schemas.IncidentStats:
    with state.db.read() as session:
        return incidents.stats(session, user, weeks, utcnow())


@router.post("/bulk-status", summary="Change the status of many incidents at once")
def bulk_status(
    body: schemas.BulkStatusChange, request: Request, state: StateDep, user: CurrentUser
) -> schemas.BulkResult:
    """Each refusal's `message` is in the language Accept-Language asks for, as errors are."""
    language = language_of(request.headers.get("accept-language"))
    with state.db.write() as session:
        return incidents.bulk_status(session, state.settings, user, body, language)


@router.get("/{ref}", summary="One incident with its whole history")
def get_incident(ref: RefPath, state: StateDep, user: CurrentUser) -> schemas.IncidentDetail:
    with state.db.read() as session:
        return incidents.get(session, user, ref)


@router.patch("/{ref}", summary="Change priority, assignee or summary (staff)")
def update_incident(
    ref: RefPath, body: schemas.IncidentUpdate, state: StateDep, user: CurrentUser
) -> schemas.IncidentDetail:
    with state.db.write() as session:
        return incidents.update_incident(session, state.settings, user, ref, body)


@router.post(
    "/{ref}/comments", status_code=201, response_model=schemas.EventPublic, summary="Add a comment"
)
def add_comment(
    ref: RefPath,
    body: schemas.CommentCreate,
    request: Request,
    state: StateDep,
    user: CurrentUser,
    key: idempotency.KeyHeader = None,
) -> JSONResponse:
    return idempotency.run(
        state,
        user,
        key,
        _request(request, body),
        201,
        lambda s: incidents.comment(s, state.settings, user, ref, body),
    )


@router.post("/{ref}/status", response_model=schemas.IncidentDetail, summary="Change the status")
def change_status(
    ref: RefPath,
    body: schemas.StatusChange,
    request: Request,
    state: StateDep,
    user: CurrentUser,
    key: idempotency.KeyHeader = None,
) -> JSONResponse:
    return idempotency.run(
        state,
        user,
        key,
        _request(request, body),
        200,
        lambda s: incidents.change_status(s, state.settings, user, ref, body),
    )
