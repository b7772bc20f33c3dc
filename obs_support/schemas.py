"""The REST API's request and response bodies, shared by the server and the client library.

Pydantic only (no database, no HTTP): the server validates with these models and the client
parses with them, so both sides agree on every field. Request bodies forbid unknown fields.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
)

from obs_support import domain
from obs_support.domain import (
    CommentSource,
    EventKind,
    IncidentType,
    InvalidValue,
    NotifyKind,
    Priority,
    Role,
    Status,
)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


class _Pattern:
    """Documents, in the JSON schema, the rule an `AfterValidator` enforces.

    The regular expressions are built from the same character classes the validators use;
    pydantic does not run them (the validators do), they only tell API clients and tools.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> Any:
        result = handler(schema)
        target = result if "type" in result else handler.resolve_ref_schema(result)
        target["pattern"] = self.pattern
        return result


def _without(chars: re.Pattern[str], extra: str = "") -> str:
    """A character class matching anything but `chars` (a `[...]` class) and `extra`."""
    return "[^" + chars.pattern[1:-1] + extra + "]"


_T, _L = _without(_CONTROL), _without(_LINE_CONTROL)
_TEXT = _Pattern(f"^{_T}*$")
_MESSAGE = _Pattern(rf"^{_T}*{_without(_CONTROL, chr(92) + 's')}{_T}*$")
# One-line values are stripped before they are checked: surrounding white space is fine.
_LINE = _Pattern(rf"^\s*(?:{_L}*{_without(_LINE_CONTROL, chr(92) + 's')})?\s*$")
_NAME = _Pattern(rf"^\s*{_L}*{_without(_LINE_CONTROL, chr(92) + 's')}\s*$")
_E = _without(_LINE_CONTROL, "@" + chr(92) + "s")
_EMAIL = _Pattern(rf"^\s*{_E}+@{_E}+\.{_E}+\s*$")


def _text(value: str) -> str:
    """Free text: any printable characters and line breaks; no NUL or other control codes."""
    if _CONTROL.search(value):
        raise InvalidValue("control_characters", "must not contain control characters")
    return value


def _line(value: str) -> str:
    """A one-line value (names, summaries, reasons): no line breaks or control codes."""
    value = value.strip()
    if _LINE_CONTROL.search(value):
        raise InvalidValue("single_line", "must be a single line without control characters")
    return value


def _nonblank(value: str) -> str:
    if not value.strip():
        raise InvalidValue("empty", "must not be empty")
    return value


def _email(value: str) -> str:
    value = _line(value).lower()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise InvalidValue("not_an_email", "is not an e-mail address")
    return value


def _parse_enum(parser: Any) -> Any:
    def parse(value: Any) -> Any:
        if isinstance(value, str):
            return parser(value)
        raise InvalidValue("not_a_string", "must be a string")

    return parse


def _parse_priority(value: Any) -> Priority:
    if isinstance(value, str | int):
        return domain.parse_priority(value)
    raise InvalidValue("priority_choices", "must be low, medium, high or 0, 5, 10")


Text = Annotated[str, AfterValidator(_text), _TEXT]
Line = Annotated[str, AfterValidator(_line), _LINE]
Name = Annotated[
    str,
    Field(min_length=1, max_length=200),
    AfterValidator(_line),
    AfterValidator(_nonblank),
    _NAME,
]
# Shorter names: the limit applies to the value as sent, like every other length in the schema.
Name120 = Annotated[
    str,
    Field(min_length=1, max_length=120),
    AfterValidator(_line),
    AfterValidator(_nonblank),
    _NAME,
]
Name100 = Annotated[
    str,
    Field(min_length=1, max_length=100),
    AfterValidator(_line),
    AfterValidator(_nonblank),
    _NAME,
]
Email = Annotated[str, Field(max_length=254), AfterValidator(_email), _EMAIL]
Password = Annotated[str, Field(min_length=10, max_length=1024), AfterValidator(_text), _TEXT]
Message = Annotated[
    str,
    Field(min_length=1, max_length=100_000),
    AfterValidator(_text),
    AfterValidator(_nonblank),
    _MESSAGE,
]
Reason = Annotated[str, Field(max_length=2000), AfterValidator(_text), _TEXT]
Summary = Annotated[
    str,
    Field(min_length=1, max_length=200),
    AfterValidator(_line),
    AfterValidator(_nonblank),
    _NAME,
]
Language = Literal["es", "en"]
# Request flags are JSON booleans: 0, 1 or "yes" are refused, as the schema says.
Flag = Annotated[bool, Strict()]
_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*")


def _moment(value: Any) -> Any:
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        raise InvalidValue("moment_format", "must be a date and time such as 2026-01-31T12:00:00Z")
    return value


# A point in time in a query: ISO 8601 as the schema says, not a bare number of seconds.
Moment = Annotated[datetime, BeforeValidator(_moment)]
DbId = Annotated[int, Field(ge=1, le=2**31 - 1)]

TypeIn = Annotated[IncidentType, BeforeValidator(_parse_enum(domain.parse_type))]
StatusIn = Annotated[Status, BeforeValidator(_parse_enum(domain.parse_status))]
RoleIn = Annotated[Role, BeforeValidator(_parse_enum(domain.parse_role))]
PriorityIn = Annotated[Priority, BeforeValidator(_parse_priority), PlainSerializer(int)]


class Request(BaseModel):
    """Base of every request body: unknown fields are refused, never ignored or applied."""

    model_config = ConfigDict(extra="forbid")


class Response(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --- people and accounts -------------------------------------------------------------------


class UserRef(Response):
    id: int
    display_name: str
    role: Role


class UserPublic(UserRef):
    email: str
    language: Language
    client_account_id: int | None
    active: bool
    created_at: datetime


class MePublic(UserPublic):
    observatory: ObservatoryPublic


class MeUpdate(Request):
    display_name: Name | None = None
    language: Language | None = None
    password: Password | None = None
    current_password: Annotated[str, Field(max_length=1024)] | None = None


class UserUpdate(Request):
    active: Flag | None = None
    display_name: Name | None = None


class ObservatoryPublic(Response):
    slug: str
    name: str
    accent_color: str
    support_email: str | None
    default_language: Language
    has_logo: bool
    attachment_size_limit: int


class ObservatoryUpdate(Request):
    name: Name | None = None
    accent_color: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] | None = None
    support_email: Email | None = None
    default_language: Language | None = None
    attachment_size_limit: Annotated[int, Field(ge=1, le=2**50)] | None = None


class AccountRef(Response):
    id: int
    name: str


class AccountPublic(AccountRef):
    created_at: datetime


class AccountCreate(Request):
    name: Name


class AccountUpdate(Request):
    name: Name | None = None


class TelescopeRef(Response):
    id: int
    name: str


class TelescopePublic(TelescopeRef):
    client_account_id: int
    model: str | None
    mount: str | None
    location: str | None
    created_at: datetime


class TelescopeCreate(Request):
    client_account_id: DbId
    name: Name120
    model: Name | None = None
    mount: Name | None = None
    location: Name | None = None


class TelescopeUpdate(Request):
    name: Name120 | None = None
    model: Name | None = None
    mount: Name | None = None
    location: Name | None = None


# --- auth -----------------------------------------------------------------------------------


class LoginRequest(Request):
    email: Email
    password: Annotated[str, Field(max_length=1024)]
    observatory: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,20}$")] | None = None
    token_name: Name100 = "cli"  # noqa: S105 - a label


class TokenCreate(Request):
    name: Name100


class TokenPublic(Response):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


class TokenIssued(Response):
    """A new API token. `token` is shown this once and never again."""

    token: str
    token_info: TokenPublic
    user: UserPublic


class InvitationCreate(Request):
    email: Email
    role: RoleIn
    client_account_id: DbId | None = None
    language: Language | None = Field(
        default=None, description="The e-mail's language; the observatory's by default."
    )


class InvitationPublic(Response):
    id: int
    email: str
    role: Role
    client_account_id: int | None
    expires_at: datetime
    accepted_at: datetime | None
    created_at: datetime


class InvitationIssued(InvitationPublic):
    """A new invitation. `token` and `link` are shown this once; only a hash is kept."""

    token: str
    link: str


class InvitationAccept(Request):
    token: Annotated[str, Field(max_length=200)]
    display_name: Name
    password: Password
    language: Language | None = None


# --- incidents ------------------------------------------------------------------------------


class IncidentCreate(Request):
    type: TypeIn
    priority: PriorityIn
    message: Message
    source: CommentSource = CommentSource.TEXT
    summary: Summary | None = None
    telescope_id: DbId | None = None
    telescope: Name120 | None = None
    visit_date: date | None = None
    client_account_id: DbId | None = Field(
        default=None, description="Staff filing for a client say which account; clients omit it."
    )


class IncidentUpdate(Request):
    priority: PriorityIn | None = None
    assignee_id: DbId | None = None
    unassign: Flag = False
    summary: Summary | None = None


class CommentCreate(Request):
    body: Message
    internal: Flag = False
    source: CommentSource = CommentSource.TEXT


class StatusChange(Request):
    status: StatusIn
    reason: Reason | None = None


class BulkStatusChange(Request):
    refs: Annotated[
        list[Annotated[str, Field(max_length=40)]], Field(min_length=1, max_length=1000)
    ]
    status: StatusIn
    reason: Reason | None = None
    dry_run: Flag = False


class BulkItemResult(Response):
    ref: str
    result: Literal["changed", "unchanged", "refused", "not_found"]
    code: str | None = None
    message: str | None = None


class BulkResult(Response):
    dry_run: bool
    status: Status
    changed: int
    unchanged: int
    refused: int
    not_found: int
    results: list[BulkItemResult]


class EventPublic(Response):
    id: int
    kind: EventKind
    actor: UserRef
    created_at: datetime
    body: str | None = None
    internal: Flag = False
    source: CommentSource | None = None
    data: dict[str, Any] | None = None


class IncidentPublic(Response):
    ref: str
    number: int
    type: IncidentType
    priority: int
    priority_name: str
    status: Status
    summary: str
    telescope: TelescopeRef | None
    visit_date: date | None
    client_account: AccountRef
    creator: UserRef
    assignee: UserRef | None
    created_at: datetime
    updated_at: datetime


class IncidentDetail(IncidentPublic):
    events: list[EventPublic]
    allowed_statuses: list[Status]


class IncidentPage(Response):
    items: list[IncidentPublic]
    next_cursor: str | None


class StatusCounts(Response):
    counts: dict[Status, int]
    total: int


class OpenCell(Response):
    """How many unfinished incidents have this status and this priority."""

    status: Status
    priority: int
    count: int


class WeekCount(Response):
    """Incidents filed and finished (done or cancelled) in the week from Monday `week` (UTC)."""

    week: date
    created: int
    finished: int


class IncidentStats(Response):
    open: list[OpenCell]
    weeks: list[WeekCount]


class UploadCreate(Request):
    """Announce a file before sending its bytes (see docs/api.md, "Attachments")."""

    filename: Annotated[str, Field(min_length=1, max_length=1000)]
    size: Annotated[int, Field(ge=0, le=2**50)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | None = None


class UploadPublic(Response):
    id: str
    offset: int
    size: int
    expires_at: datetime


class AttachmentPublic(Response):
    id: int
    filename: str
    size: int
    sha256: str
    kind: str
    mime: str
    uploader: UserRef
    created_at: datetime


class Problem(Response):
    """An error, as RFC 9457 problem details plus a stable machine `code`."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    errors: list[dict[str, Any]] | None = None


MePublic.model_rebuild()


# --- notifications and the live stream ------------------------------------------------------


class NotificationPublic(Response):
    id: int
    kind: NotifyKind
    incident: str  # the reference, e.g. TEIDE-42
    summary: str
    event_id: int
    actor: UserRef
    created_at: datetime
    read_at: datetime | None = None


class NotificationPage(Response):
    items: list[NotificationPublic]
    unread: int
    next_cursor: str | None


class MarkRead(Request):
    """Mark some notifications read (`ids`), or all of them (`all`)."""

    ids: Annotated[list[DbId], Field(max_length=1000)] = []
    all: Flag = False


class MarkedRead(Response):
    marked: int
    unread: int


class NotificationSettings(Response):
    """Which kinds of notification also arrive by e-mail (the in-app one always does)."""

    email: dict[NotifyKind, bool]


class NotificationSettingsUpdate(Request):
    email: dict[NotifyKind, Flag]


class LiveEvent(Response):
    """One entry of the live stream: a history event and the incident as it is now."""

    id: int
    kind: EventKind
    incident: IncidentPublic
    event: EventPublic


# --- forgotten passwords ---------------------------------------------------------------------


class PasswordForgot(Request):
    email: Email
    observatory: Annotated[str, Field(max_length=20)] | None = None


class PasswordReset(Request):
    token: Annotated[str, Field(max_length=200)]
    password: Password


class Accepted(Response):
    detail: str
