"""The queue: every incident in scope, highest priority and oldest first, updated live."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Select, Static
from textual.widgets.data_table import ColumnKey

from obs_support import schemas
from obs_support.cli.render import STATUS_STYLE
from obs_support.client.errors import ClientError
from obs_support.tui.filters import VIEWS, FilterBar, Filters, view_of
from obs_support.tui.handoff import deliver
from obs_support.tui.messages import LiveEventArrived, RequestFailed
from obs_support.tui.widgets import (
    COLUMNS,
    column_labels,
    column_widths,
    localize_bindings,
    queue_row,
    sort_key,
)

if TYPE_CHECKING:
    from obs_support.tui.app import ObsSupportApp

PAGE = 100


class QueueScreen(Screen[None]):
    # The table, not the search box, takes the keys when the screen opens: otherwise Textual's
    # default focus could land on the input first and "q" or "2" would be typed into it.
    AUTO_FOCUS = "#queue"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", show=False),
        Binding("slash", "search", "Search"),
        Binding("f", "filter", "Filter"),
        Binding("1", "view('all')", "All"),
        Binding("2", "view('mine')", "Mine"),
        Binding("3", "view('unassigned')", "Unassigned"),
        Binding("4", "view('high')", "High"),
        Binding("5", "view('blocked')", "Blocked"),
        Binding("f5", "reload", "Reload", show=False),  # rarely needed: the queue is live
        Binding("c", "new_incident", "New"),
        Binding("d", "dashboard", "Dashboard"),
        Binding("escape", "back_to_table", "Queue", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.incidents: dict[str, schemas.IncidentPublic] = {}
        self.filters = Filters()
        self.widths: dict[str, int] = {}
        self.next_cursor: str | None = None
        self.generation = 0
        self._fetching = False

    @property
    def obs(self) -> ObsSupportApp:
        from obs_support.tui.app import ObsSupportApp

        assert isinstance(self.app, ObsSupportApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="counts")
        yield FilterBar(self.obs.t, staff=self.obs.is_staff)
        yield DataTable(id="queue", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        localize_bindings(
            self,
            self.obs.t,
            {
                "search": "key_search",
                "view('all')": "view_all",
                "view('mine')": "view_mine",
                "view('unassigned')": "view_unassigned",
                "view('high')": "key_high",
                "view('blocked')": "view_blocked",
                "reload": "key_reload",
                "new_incident": "key_new",
                "filter": "key_filter",
                "dashboard": "key_dashboard",
            },
        )
        table = self.query_one(DataTable)
        self.widths = self._widths()
        for key, label in zip(COLUMNS, column_labels(self.obs.t), strict=True):
            table.add_column(label, key=key, width=self.widths[key])
        table.focus()
        self.action_reload()
        self.load_choices()

    # --- loading ---------------------------------------------------------------------------

    @work(thread=True, group="choices")
    def load_choices(self) -> None:
        """The telescopes and staff the filter bar offers."""
        try:
            client = self.obs.client
            telescopes = client.telescopes()
            accounts: list[schemas.AccountPublic] = []
            staff: list[schemas.UserPublic] = []
            if self.obs.is_staff:
                accounts = client.accounts()
                staff = [u for u in client.users() if u.role.is_staff and u.active]
        except ClientError as exc:
            self.post_message(RequestFailed(exc.message))
            return
        deliver(self, self._offer, telescopes, accounts, staff)

    def _offer(
        self,
        telescopes: list[schemas.TelescopePublic],
        accounts: list[schemas.AccountPublic],
        staff: list[schemas.UserPublic],
    ) -> None:
        self.query_one(FilterBar).offer(telescopes, accounts, staff)

    def action_reload(self) -> None:
        self.generation += 1  # pages still on their way for the old view are dropped
        self.incidents.clear()
        self.query_one(DataTable).clear()
        self.next_cursor = None
        self.load_page(None)
        self.load_counts()

    @work(thread=True, group="queue")
    def load_page(self, cursor: str | None) -> None:
        generation = self.generation
        self._fetching = True
        try:
            page = self.obs.client.list_incidents(
                **self.filters.params(), cursor=cursor, limit=PAGE, sort="priority"
            )
        except ClientError as exc:
            self.post_message(RequestFailed(exc.message))
            return
        finally:
            self._fetching = False
        deliver(self, self._add_page, page, generation)

    def _add_page(self, page: schemas.IncidentPage, generation: int) -> None:
        if generation != self.generation:
            return
        for incident in page.items:
            self._upsert(incident, resort=False)
        self._resort()
        self.next_cursor = page.next_cursor
        view = view_of(self.filters)
        self.sub_title = self.obs.t(VIEWS[view][0] if view else "view_filtered")

    @work(thread=True, exclusive=True, group="counts")
    def load_counts(self) -> None:
        try:
            counts = self.obs.client.counts()
        except ClientError as exc:
            self.post_message(RequestFailed(exc.message))
            return
        deliver(self, self._show_counts, counts)

    def _show_counts(self, counts: schemas.StatusCounts) -> None:
        t = self.obs.t
        parts: list[Text | str] = []
        for status, n in counts.counts.items():
            parts += [
                Text(f" {t.status(status.value)} ", style=STATUS_STYLE[status.value]),
                f"{n}  ",
            ]
        parts.append(Text(f"Σ {counts.total}", style="bold"))
        self.query_one("#counts", Static).update(Text.assemble(*parts))

    # --- rows ------------------------------------------------------------------------------

    def _upsert(self, incident: schemas.IncidentPublic, *, resort: bool = True) -> None:
        table = self.query_one(DataTable)
        cells = queue_row(self.obs.t, incident, self.widths)
        if incident.ref in self.incidents:
            for key, value in zip(COLUMNS, cells, strict=True):
                table.update_cell(incident.ref, key, value)
        else:
            table.add_row(*cells, key=incident.ref)
        self.incidents[incident.ref] = incident
        if resort:
            self._resort()

    def _widths(self) -> dict[str, int]:
        return column_widths(self.obs.t, self.obs.me.observatory.slug, self.app.size.width)

    def on_resize(self) -> None:
        """Cut names and summaries to the new width: every row fits without scrolling sideways."""
        widths = self._widths()
        if widths == self.widths:
            return
        self.widths = widths
        table = self.query_one(DataTable)
        for key, column_width in widths.items():
            table.columns[ColumnKey(key)].width = column_width
        for incident in list(self.incidents.values()):
            self._upsert(incident, resort=False)
        table.refresh()

    def _resort(self) -> None:
        table = self.query_one(DataTable)
        table.sort("ref", key=lambda ref: sort_key(self.incidents[ref.plain]))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        table = event.data_table
        near_end = event.cursor_row >= table.row_count - 10
        if near_end and self.next_cursor and not self._fetching:
            cursor, self.next_cursor = self.next_cursor, None
            self.load_page(cursor)

    @on(LiveEventArrived)
    def live(self, message: LiveEventArrived) -> None:
        incident = message.event.incident
        if not self._matches(incident):
            if incident.ref in self.incidents:  # it left this view (e.g. no longer blocked)
                del self.incidents[incident.ref]
                self.query_one(DataTable).remove_row(incident.ref)
        else:
            self._upsert(incident)
            table = self.query_one(DataTable)
            if message.event.kind.value == "created":
                self.notify(
                    f"{incident.ref}: {incident.summary}",
                    title=self.obs.t("tui_new"),
                    markup=False,
                )
            # A short highlight: move nothing, but flash the row's reference.
            table.update_cell(incident.ref, "ref", Text(incident.ref, style="bold reverse"))
            self.set_timer(2.0, lambda: self._unflash(incident.ref))
        self.load_counts()

    def _unflash(self, ref: str) -> None:
        if ref in self.incidents:
            self.query_one(DataTable).update_cell(ref, "ref", Text(ref, style="bold"))

    def _matches(self, incident: schemas.IncidentPublic) -> bool:
        """Whether a live change belongs in the current view (the server decides on reload)."""
        if not self.filters.matches(incident, self.obs.me.id):
            return False
        if self.filters.q and self.filters.q.casefold() not in incident.summary.casefold():
            return incident.ref in self.incidents  # it may match by a comment: keep what we have
        return True

    # --- actions ---------------------------------------------------------------------------

    def action_view(self, name: str) -> None:
        self.filters = replace(VIEWS[name][1], q=self.filters.q)
        self.query_one(FilterBar).show(self.filters)
        self.action_reload()

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_filter(self) -> None:
        self.query_one("#f-status", Select).focus()

    def action_back_to_table(self) -> None:
        self.query_one(DataTable).focus()

    @on(FilterBar.Changed)
    def filtered(self, event: FilterBar.Changed) -> None:
        self.filters = event.filters
        if isinstance(self.focused, Input):
            self.query_one(DataTable).focus()
        self.action_reload()

    def action_dashboard(self) -> None:
        from obs_support.tui.dashboard import DashboardScreen

        self.app.push_screen(DashboardScreen())

    def action_new_incident(self) -> None:
        self.open_form()

    @work(thread=True, exclusive=True, group="form")
    def open_form(self) -> None:
        """Fetch what the form offers (accounts for staff, telescopes), then show it."""
        from obs_support.tui.new_incident import NewIncidentScreen

        client = self.obs.client
        try:
            accounts = client.accounts() if self.obs.is_staff else None
            telescopes = client.telescopes()
        except ClientError as exc:
            self.post_message(RequestFailed(exc.message))
            return

        def filed(ref: str | None) -> None:
            if ref:
                self.obs.say(self.obs.t("created", ref=ref))

        deliver(self, self.app.push_screen, NewIncidentScreen(accounts, telescopes), filed)

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return
        ref = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if ref:
            self.obs.open_incident(ref)

    @on(DataTable.RowSelected)
    def selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.obs.open_incident(event.row_key.value)
