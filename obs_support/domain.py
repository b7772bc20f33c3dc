"""The rules of the support domain: incident types, priorities, statuses and transitions.

Pure: no I/O, no framework. Everything here is unit-tested exhaustively and is the single
source of truth for which values exist, how they are spelled in Spanish and English, and
which status changes are allowed.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass, field
from typing import Literal, TypeVar

Language = Literal["es", "en"]
LANGUAGES: tuple[Language, ...] = ("es", "en")

E = TypeVar("E", bound=enum.Enum)


class IncidentType(enum.StrEnum):
    QUESTION = "question"
    INSTALLATION = "installation"
    REPAIR = "repair"
    UPGRADE = "upgrade"
    VISIT = "visit"


class Status(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    DONE = "done"
    CANCELLED = "cancelled"


class Priority(enum.IntEnum):
    LOW = 0
    MEDIUM = 5
    HIGH = 10

    @property
    def key(self) -> str:
        return self.name.lower()


class Role(enum.StrEnum):
    ADMIN = "admin"
    STAFF = "staff"
    CLIENT = "client"

    @property
    def is_staff(self) -> bool:
        return self is not Role.CLIENT


class EventKind(enum.StrEnum):
    CREATED = "created"
    COMMENT = "comment"
    STATUS_CHANGED = "status_changed"
    PRIORITY_CHANGED = "priority_changed"
    ASSIGNED = "assigned"
    ATTACHMENT_ADDED = "attachment_added"
    SUMMARY_CHANGED = "summary_changed"


class NotifyKind(enum.StrEnum):
    """Why a person is told about an incident; each can be turned off for e-mail."""

    NEW_INCIDENT = "new_incident"  # staff: a client filed one
    CLIENT_REPLY = "client_reply"  # staff: a client wrote on an incident they follow
    STAFF_REPLY = "staff_reply"  # clients: the observatory answered
    STATUS_CHANGED = "status_changed"  # clients (and the assignee): the status moved
    ASSIGNED = "assigned"  # staff: an incident was given to them


class CommentSource(enum.StrEnum):
    TEXT = "text"
    VOICE = "voice"


# The catalog: every value a person reads, in both languages. Labels live only here.
LABELS: dict[enum.Enum, dict[Language, str]] = {
    IncidentType.QUESTION: {"es": "Consulta", "en": "Question"},
    IncidentType.INSTALLATION: {"es": "Instalación", "en": "Installation"},
    IncidentType.REPAIR: {"es": "Reparación", "en": "Repair"},
    IncidentType.UPGRADE: {"es": "Actualización", "en": "Upgrade"},
    IncidentType.VISIT: {"es": "Visita", "en": "Visit"},
    Status.OPEN: {"es": "Abierta", "en": "Open"},
    Status.IN_PROGRESS: {"es": "En progreso", "en": "In progress"},
    Status.BLOCKED: {"es": "Bloqueada", "en": "Blocked"},
    Status.DONE: {"es": "Finalizada", "en": "Done"},
    Status.CANCELLED: {"es": "Cancelada", "en": "Cancelled"},
    Priority.LOW: {"es": "Baja", "en": "Low"},
    Priority.MEDIUM: {"es": "Media", "en": "Medium"},
    Priority.HIGH: {"es": "Alta", "en": "High"},
    Role.ADMIN: {"es": "Administración", "en": "Admin"},
    Role.STAFF: {"es": "Personal", "en": "Staff"},
    Role.CLIENT: {"es": "Cliente", "en": "Client"},
    NotifyKind.NEW_INCIDENT: {"es": "Incidencia nueva", "en": "New incident"},
    NotifyKind.CLIENT_REPLY: {"es": "Respuesta del cliente", "en": "Client reply"},
    NotifyKind.STAFF_REPLY: {"es": "Respuesta del observatorio", "en": "Observatory reply"},
    NotifyKind.STATUS_CHANGED: {"es": "Cambio de estado", "en": "Status change"},
    NotifyKind.ASSIGNED: {"es": "Asignada a ti", "en": "Assigned to you"},
}


def label(value: enum.Enum, language: Language = "es") -> str:
    """The human label of a domain value in the given language."""
    return LABELS[value][language]


def _fold(text: str) -> str:
    """Fold case, accents and separators: `Reparación`, `reparacion`, `REPARACION` match."""
    decomposed = unicodedata.normalize("NFKD", text.strip().casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.replace("-", "_").replace(" ", "_")


class InvalidValue(ValueError):
    """A value a rule refuses, said so that either side can word it in Spanish or English.

    `str()` is the English sentence (`english` formatted with `params`); `key` names the same
    sentence in the server's message catalogue, which has it in both languages.
    """

    def __init__(self, key: str, english: str, **params: object) -> None:
        super().__init__(english.format(**params))
        self.key = key
        self.params = params


def _lookup(kind: type[E], text: str) -> E | None:
    wanted = _fold(text)
    for member in kind:
        names = {_fold(str(member.value)), _fold(member.name)}
        names.update(_fold(label) for label in LABELS.get(member, {}).values())
        if wanted in names:
            return member
    return None


def _parse(kind: type[E], text: str, key: str, english: str) -> E:
    """`text` as a member of `kind`, or an `InvalidValue` (`english` names the choices)."""
    if (found := _lookup(kind, text)) is None:
        choices = ", ".join(
            member.name.lower() if isinstance(member, Priority) else str(member.value)
            for member in kind
        )
        raise InvalidValue(key, english, value=text, choices=choices)
    return found


def parse_type(text: str) -> IncidentType:
    """Accepts the API name or either label, in any case, with or without accents."""
    return _parse(
        IncidentType,
        text,
        "unknown_type",
        "unknown incident type {value!r}; expected one of: {choices}",
    )


def parse_status(text: str) -> Status:
    return _parse(
        Status, text, "unknown_status", "unknown status {value!r}; expected one of: {choices}"
    )


def parse_role(text: str) -> Role:
    return _parse(Role, text, "unknown_role", "unknown role {value!r}; expected one of: {choices}")


def parse_notify_kind(text: str) -> NotifyKind:
    return _parse(
        NotifyKind,
        text,
        "unknown_notify_kind",
        "unknown notification kind {value!r}; expected one of: {choices}",
    )


def parse_priority(value: str | int) -> Priority:
    """Accepts the name (`high`, `Alta`) or the number (10, "10"); nothing else."""
    if isinstance(value, bool):
        raise InvalidValue("priority_expected", "priority must be low, medium, high or 0, 5, 10")
    if isinstance(value, int):
        try:
            return Priority(value)
        except ValueError:
            raise InvalidValue(
                "unknown_priority_number",
                "unknown priority {value!r}; expected 0, 5 or 10",
                value=value,
            ) from None
    text = value.strip()
    # No look-alike digits such as "０": every label is ASCII.
    if text.isascii() and text.lstrip("-").isdigit():
        return parse_priority(int(text))
    found = _lookup(Priority, text) if text.isascii() else None
    if found is None:
        raise InvalidValue(
            "unknown_priority",
            "unknown priority {value!r}; expected low, medium, high or 0, 5, 10",
            value=value,
        )
    return found


FINAL_STATUSES = frozenset({Status.DONE, Status.CANCELLED})
REASON_REQUIRED = frozenset({Status.BLOCKED, Status.CANCELLED})

# Forward moves anyone allowed to act on the incident may make (subject to role limits below).
_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.IN_PROGRESS, Status.BLOCKED, Status.DONE, Status.CANCELLED}),
    Status.IN_PROGRESS: frozenset({Status.BLOCKED, Status.DONE, Status.CANCELLED}),
    Status.BLOCKED: frozenset({Status.IN_PROGRESS, Status.CANCELLED, Status.DONE}),
    Status.DONE: frozenset(),
    Status.CANCELLED: frozenset(),
}


RefusalCode = Literal["transition_not_allowed", "reason_required", "forbidden"]


@dataclass(frozen=True)
class TransitionRefused:
    """Why a status change is not allowed: a stable machine code and an English message.

    `key` and `params` name the message in the server's catalogue, for the Spanish wording.
    """

    code: RefusalCode
    message: str
    key: str
    params: dict[str, Status] = field(default_factory=dict)


@dataclass(frozen=True)
class Transition:
    """The verdict on a requested status change."""

    changed: bool
    refused: TransitionRefused | None = None

    @property
    def allowed(self) -> bool:
        return self.refused is None


def check_transition(
    current: Status, target: Status, role: Role, reason: str | None = None
) -> Transition:
    """Decide whether `role` may move an incident from `current` to `target`.

    Setting the status it already has is a no-op (allowed, nothing changes). Clients may only
    cancel incidents that are not final; staff may make every forward move and may reopen a
    final incident with a reason.
    """
    if current == target:
        return Transition(changed=False)
    has_reason = bool(reason and reason.strip())
    if current in FINAL_STATUSES:
        if target is not Status.OPEN:
            return _refuse(
                "transition_not_allowed",
                "status_final",
                "{current.value} is final; it can only be reopened",
                current=current,
            )
        if not role.is_staff:
            return _refuse(
                "forbidden", "reopen_staff_only", "only observatory staff may reopen an incident"
            )
        if not has_reason:
            return _refuse(
                "reason_required", "reopen_needs_reason", "reopening an incident requires a reason"
            )
        return Transition(changed=True)
    if target not in _TRANSITIONS[current]:
        return _refuse(
            "transition_not_allowed",
            "cannot_move",
            "cannot move from {current.value} to {target.value}",
            current=current,
            target=target,
        )
    if not role.is_staff and target is not Status.CANCELLED:
        return _refuse(
            "forbidden", "clients_only_cancel", "clients may only cancel their incidents"
        )
    if target in REASON_REQUIRED and not has_reason:
        return _refuse(
            "reason_required",
            "status_needs_reason",
            "{target.value} requires a reason",
            target=target,
        )
    return Transition(changed=True)


def _refuse(code: RefusalCode, key: str, english: str, **params: Status) -> Transition:
    refused = TransitionRefused(code, english.format(**params), key, params)
    return Transition(changed=False, refused=refused)


def allowed_targets(current: Status, role: Role) -> list[Status]:
    """The statuses `role` may move an incident to from `current` (given a reason where needed)."""
    return [
        s for s in Status if s != current and check_transition(current, s, role, reason="x").allowed
    ]


SUMMARY_MAX = 120


def summary_from_message(message: str) -> str:
    """The first non-empty line of the first comment, cut at 120 characters."""
    for line in message.splitlines():
        line = line.strip()
        if line:
            if len(line) <= SUMMARY_MAX:
                return line
            return line[: SUMMARY_MAX - 1].rstrip() + "…"
    return ""


def incident_reference(slug: str, number: int) -> str:
    return f"{slug.upper()}-{number}"


def parse_reference(text: str) -> tuple[str | None, int]:
    """`TEIDE-42` -> ("TEIDE", 42); `42` -> (None, 42). Raises ValueError otherwise."""
    text = text.strip()
    slug, sep, number = text.rpartition("-")
    if not sep:
        slug, number = "", text
    if not (number.isascii() and number.isdigit()) or len(number) > 12 or (sep and not slug):
        raise InvalidValue("not_a_reference", "not an incident reference: {value!r}", value=text)
    return (slug.upper() or None), int(number)
