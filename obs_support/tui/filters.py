"""The queue's filter bar: status, type, priority, telescope, assignee and free text.

The saved views (all, mine, unassigned, high priority, blocked) are presets of the same
filters, so a view and the bar can never disagree about what the queue shows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from rich.console import RenderableType
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Select

from obs_support import domain, schemas
from obs_support.cli.i18n import Translator
from obs_support.tui.text import literal


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    type: str | None = None
    priority: int | None = None
    telescope: int | None = None
    assignee: str | None = None  # "me", "none" or a user id
    q: str = ""

    def params(self) -> dict[str, Any]:
        """The list endpoint's query parameters for these filters."""
        params: dict[str, Any] = {
            "status": [self.status] if self.status else None,
            "type": self.type,
            "priority": self.priority,
            "telescope": self.telescope,
            "assignee": self.assignee,
            "q": self.q or None,
        }
        return {k: v for k, v in params.items() if v is not None}

    def matches(self, incident: schemas.IncidentPublic, me: int) -> bool:
        """Whether a live change belongs in the queue. Free text is left to the server: a
        comment can match it without the summary doing so, so callers keep rows they have."""
        if self.status and incident.status.value != self.status:
            return False
        if self.type and incident.type.value != self.type:
            return False
        if self.priority is not None and int(incident.priority) != self.priority:
            return False
        if self.telescope and (
            incident.telescope is None or incident.telescope.id != self.telescope
        ):
            return False
        assignee = incident.assignee.id if incident.assignee else None
        if self.assignee == "none":
            return assignee is None
        if self.assignee == "me":
            return assignee == me
        return not (self.assignee and str(assignee) != self.assignee)


# Saved views: key → (label key, the filters it sets)
VIEWS: dict[str, tuple[str, Filters]] = {
    "all": ("view_all", Filters()),
    "mine": ("view_mine", Filters(assignee="me")),
    "unassigned": ("view_unassigned", Filters(assignee="none")),
    "high": ("view_high", Filters(priority=int(domain.Priority.HIGH))),
    "blocked": ("view_blocked", Filters(status=domain.Status.BLOCKED.value)),
}


def view_of(filters: Filters) -> str | None:
    """The saved view these filters are (ignoring the search text), if any."""
    plain = replace(filters, q="")
    return next((name for name, (_, f) in VIEWS.items() if f == plain), None)


class FilterBar(Horizontal):
    """One line of compact selects and the search box; posts `FilterBar.Changed`."""

    class Changed(Message):
        def __init__(self, filters: Filters) -> None:
            super().__init__()
            self.filters = filters

    def __init__(self, t: Translator, *, staff: bool) -> None:
        super().__init__(id="filters")
        self.t = t
        self.staff = staff
        self.filters = Filters()

    def compose(self) -> ComposeResult:
        t = self.t
        yield Select(
            [(t.status(s.value), s.value) for s in domain.Status],
            prompt=t("col_status"),
            id="f-status",
            compact=True,
        )
        yield Select(
            [(t.type(k.value), k.value) for k in domain.IncidentType],
            prompt=t("col_type"),
            id="f-type",
            compact=True,
        )
        yield Select(
            [(t.priority(int(p)), int(p)) for p in reversed(domain.Priority)],
            prompt=t("col_priority"),
            id="f-priority",
            compact=True,
        )
        yield Select([], prompt=t("col_telescope"), id="f-telescope", compact=True)
        if self.staff:
            yield Select(
                self._assignees([]), prompt=t("col_assignee"), id="f-assignee", compact=True
            )
        yield Input(placeholder=t("tui_search"), id="search", compact=True)

    def _assignees(self, staff: list[schemas.UserPublic]) -> list[tuple[RenderableType, str]]:
        people: list[tuple[RenderableType, str]] = [
            (literal(u.display_name), str(u.id)) for u in staff
        ]
        return [(self.t("tui_me"), "me"), (self.t("nobody"), "none"), *people]

    def offer(
        self,
        telescopes: list[schemas.TelescopePublic],
        accounts: list[schemas.AccountPublic],
        staff: list[schemas.UserPublic],
    ) -> None:
        """Fill the choices that come from the server, keeping what is selected.

        Names are people's text, shown literally; staff see each telescope with its client,
        since two clients may well name their telescopes alike.
        """
        client = {a.id: a.name for a in accounts}

        def label(t: schemas.TelescopePublic) -> Text:
            owner = client.get(t.client_account_id)
            return literal(f"{t.name} · {owner}" if owner else t.name)

        with self.prevent(Select.Changed):
            self.query_one("#f-telescope", Select).set_options((label(t), t.id) for t in telescopes)
            if self.staff:
                self.query_one("#f-assignee", Select).set_options(self._assignees(staff))
        self.show(self.filters)

    def show(self, filters: Filters) -> None:
        """Make the widgets display `filters` without announcing a change."""
        self.filters = filters
        values: dict[str, object] = {
            "#f-status": filters.status,
            "#f-type": filters.type,
            "#f-priority": filters.priority,
            "#f-telescope": filters.telescope,
        }
        if self.staff:
            values["#f-assignee"] = filters.assignee
        with self.prevent(Select.Changed):
            for selector, value in values.items():
                select: Select[Any] = self.query_one(selector, Select)
                known = any(v == value for _, v in select._options)
                select.value = value if value is not None and known else Select.NULL
        self.query_one("#search", Input).value = filters.q

    @on(Select.Changed)
    def _picked(self, event: Select.Changed) -> None:
        event.stop()
        value: Any = None if event.value is Select.NULL else event.value
        field = {
            "f-status": "status",
            "f-type": "type",
            "f-priority": "priority",
            "f-telescope": "telescope",
            "f-assignee": "assignee",
        }[event.select.id or ""]
        self.filters = replace(self.filters, **{field: value})
        self.post_message(self.Changed(self.filters))

    @on(Input.Submitted, "#search")
    def _searched(self, event: Input.Submitted) -> None:
        event.stop()
        self.filters = replace(self.filters, q=event.value.strip())
        self.post_message(self.Changed(self.filters))
