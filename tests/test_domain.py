"""The domain rules, exhaustively: every status pair for every role, every label, every parse."""

from __future__ import annotations

import itertools

import pytest

from obs_support import domain
from obs_support.domain import IncidentType, Priority, Role, Status

FORWARD = {
    Status.OPEN: {Status.IN_PROGRESS, Status.BLOCKED, Status.DONE, Status.CANCELLED},
    Status.IN_PROGRESS: {Status.BLOCKED, Status.DONE, Status.CANCELLED},
    Status.BLOCKED: {Status.IN_PROGRESS, Status.CANCELLED, Status.DONE},
    Status.DONE: set(),
    Status.CANCELLED: set(),
}
FINAL = {Status.DONE, Status.CANCELLED}


def expected(current: Status, target: Status, role: Role, reason: str | None) -> str:
    """The rules of the spec, written independently of the implementation."""
    has_reason = bool(reason and reason.strip())
    if current == target:
        return "noop"
    if current in FINAL:
        if target != Status.OPEN:
            return "transition_not_allowed"
        if role == Role.CLIENT:
            return "forbidden"
        return "changed" if has_reason else "reason_required"
    if target not in FORWARD[current]:
        return "transition_not_allowed"
    if role == Role.CLIENT and target != Status.CANCELLED:
        return "forbidden"
    if target in (Status.BLOCKED, Status.CANCELLED) and not has_reason:
        return "reason_required"
    return "changed"


CASES = list(itertools.product(Status, Status, Role, [None, "", "   ", "waiting for a part"]))


@pytest.mark.parametrize(
    ("current", "target", "role", "reason"),
    CASES,
    ids=[f"{c.value}->{t.value}-{r.value}-{reason!r}" for c, t, r, reason in CASES],
)
def test_every_transition(current: Status, target: Status, role: Role, reason: str | None) -> None:
    verdict = domain.check_transition(current, target, role, reason)
    want = expected(current, target, role, reason)
    if want == "noop":
        assert verdict.allowed
        assert not verdict.changed
    elif want == "changed":
        assert verdict.allowed
        assert verdict.changed
    else:
        assert not verdict.allowed
        assert not verdict.changed
        assert verdict.refused is not None
        assert verdict.refused.code == want
        assert verdict.refused.message


def test_allowed_targets_match_the_rules() -> None:
    for current, role in itertools.product(Status, Role):
        want = [t for t in Status if expected(current, t, role, "why") == "changed"]
        assert domain.allowed_targets(current, role) == want


def test_staff_reopen_final_incident_with_reason_only() -> None:
    for final in FINAL:
        assert domain.check_transition(final, Status.OPEN, Role.STAFF, "client asked again").changed
        assert not domain.check_transition(final, Status.OPEN, Role.STAFF, None).allowed
        assert not domain.check_transition(final, Status.OPEN, Role.CLIENT, "please").allowed


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("reparacion", IncidentType.REPAIR),
        ("Reparación", IncidentType.REPAIR),
        ("REPARACIÓN", IncidentType.REPAIR),
        ("repair", IncidentType.REPAIR),
        ("  Repair ", IncidentType.REPAIR),
        ("consulta", IncidentType.QUESTION),
        ("question", IncidentType.QUESTION),
        ("Instalacion", IncidentType.INSTALLATION),
        ("actualización", IncidentType.UPGRADE),
        ("upgrade", IncidentType.UPGRADE),
        ("Visita", IncidentType.VISIT),
        ("visit", IncidentType.VISIT),
    ],
)
def test_parse_type_accepts_both_languages(text: str, value: IncidentType) -> None:
    assert domain.parse_type(text) is value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("open", Status.OPEN),
        ("Abierta", Status.OPEN),
        ("in_progress", Status.IN_PROGRESS),
        ("in progress", Status.IN_PROGRESS),
        ("En progreso", Status.IN_PROGRESS),
        ("en-progreso", Status.IN_PROGRESS),
        ("Bloqueada", Status.BLOCKED),
        ("finalizada", Status.DONE),
        ("DONE", Status.DONE),
        ("cancelada", Status.CANCELLED),
        ("cancelled", Status.CANCELLED),
    ],
)
def test_parse_status_accepts_both_languages(text: str, value: Status) -> None:
    assert domain.parse_status(text) is value


@pytest.mark.parametrize(
    ("given", "value"),
    [
        ("low", Priority.LOW),
        ("baja", Priority.LOW),
        (0, Priority.LOW),
        ("0", Priority.LOW),
        ("medium", Priority.MEDIUM),
        ("Media", Priority.MEDIUM),
        (5, Priority.MEDIUM),
        ("high", Priority.HIGH),
        ("ALTA", Priority.HIGH),
        (10, Priority.HIGH),
        (" 10 ", Priority.HIGH),
    ],
)
def test_parse_priority_name_or_number(given: str | int, value: Priority) -> None:
    assert domain.parse_priority(given) is value


@pytest.mark.parametrize("bad", [1, 7, -5, 11, "7", "urgent", "", "10.0", True, "1e1", "０"])
def test_parse_priority_refuses_anything_else(bad: str | int) -> None:
    with pytest.raises(ValueError, match="priority"):
        domain.parse_priority(bad)


@pytest.mark.parametrize("bad", ["", "fix", "repairs", "open!", "🔭"])
def test_unknown_values_are_refused_with_the_choices(bad: str) -> None:
    with pytest.raises(ValueError, match="expected one of"):
        domain.parse_type(bad)
    with pytest.raises(ValueError, match="expected one of"):
        domain.parse_status(bad)


def test_every_value_has_spanish_and_english_labels() -> None:
    for kind in (IncidentType, Status, Priority, Role):
        for member in kind:
            es, en = domain.label(member, "es"), domain.label(member, "en")
            assert es
            assert en
    assert domain.label(IncidentType.REPAIR, "es") == "Reparación"
    assert domain.label(Status.IN_PROGRESS, "es") == "En progreso"
    assert domain.label(Priority.HIGH, "en") == "High"


def test_labels_round_trip_through_parsing() -> None:
    for lang in domain.LANGUAGES:
        for t in IncidentType:
            assert domain.parse_type(domain.label(t, lang)) is t
        for s in Status:
            assert domain.parse_status(domain.label(s, lang)) is s
        for p in Priority:
            assert domain.parse_priority(domain.label(p, lang)) is p


def test_summary_is_first_nonblank_line_cut_at_120() -> None:
    assert domain.summary_from_message("\n\n  Dome stuck \nmore") == "Dome stuck"
    long = "x" * 300
    cut = domain.summary_from_message(long)
    assert len(cut) == 120
    assert cut.endswith("…")
    assert domain.summary_from_message("y" * 120) == "y" * 120


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("TEIDE-42", ("TEIDE", 42)), ("teide-7", ("TEIDE", 7)), ("42", (None, 42))],
)
def test_parse_reference(text: str, parsed: tuple[str | None, int]) -> None:
    assert domain.parse_reference(text) == parsed
    assert domain.incident_reference("teide", 42) == "TEIDE-42"


@pytest.mark.parametrize(
    "bad", ["", "-", "TEIDE-", "TEIDE-x", "-42", "TEIDE-1-", "4 2", "9" * 20, "٤٢"]
)
def test_parse_reference_refuses_garbage(bad: str) -> None:
    with pytest.raises(ValueError, match="reference"):
        domain.parse_reference(bad)
