"""The dashboard: what is unfinished (by status and priority) and the weekly flow of work."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual_plotext import PlotextPlot

from obs_support import domain, schemas
from obs_support.cli.i18n import Translator
from obs_support.cli.render import priority_text, status_text
from obs_support.client.errors import ClientError
from obs_support.tui.handoff import deliver
from obs_support.tui.messages import LiveEventArrived, RequestFailed
from obs_support.tui.widgets import localize_bindings

if TYPE_CHECKING:
    from obs_support.tui.app import ObsSupportApp

WEEKS = 12
# Live changes arrive in bursts (a bulk status change is one event per incident): the figures
# are fetched again at most this often.
REFRESH_AFTER = 1.0


def unfinished_table(t: Translator, cells: list[schemas.OpenCell]) -> Table:
    """Statuses down, priorities across, with totals both ways."""
    priorities = list(reversed(domain.Priority))
    statuses = [s for s in domain.Status if s not in (domain.Status.DONE, domain.Status.CANCELLED)]
    grid = {(c.status.value, c.priority): c.count for c in cells}
    table = Table(title=t("tui_unfinished"), title_justify="left", expand=False)
    table.add_column("")
    for p in priorities:
        table.add_column(priority_text(t, int(p)), justify="right")
    table.add_column(t("tui_total"), justify="right", style="bold")
    for s in statuses:
        row = [grid.get((s.value, int(p)), 0) for p in priorities]
        table.add_row(status_text(t, s.value), *map(str, row), str(sum(row)))
    totals = [sum(grid.get((s.value, int(p)), 0) for s in statuses) for p in priorities]
    table.add_row(Text(t("tui_total"), style="bold"), *map(str, totals), str(sum(totals)))
    return table


class DashboardScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("f5", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._refresh_pending = False

    @property
    def obs(self) -> ObsSupportApp:
        from obs_support.tui.app import ObsSupportApp

        assert isinstance(self.app, ObsSupportApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="unfinished")
        yield PlotextPlot(id="weekly")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        localize_bindings(self, self.obs.t, {"app.pop_screen": "key_back", "reload": "key_reload"})
        self.sub_title = self.obs.t("tui_dashboard")
        self.action_reload()

    def action_reload(self) -> None:
        self._refresh_pending = False
        self.load()

    @work(thread=True, exclusive=True, group="dashboard")
    def load(self) -> None:
        try:
            stats = self.obs.client.stats(WEEKS)
        except ClientError as exc:
            self.post_message(RequestFailed(exc.message))
            return
        deliver(self, self._show, stats)

    def _show(self, stats: schemas.IncidentStats) -> None:
        t = self.obs.t
        self.query_one("#unfinished", Static).update(unfinished_table(t, stats.open))
        chart = self.query_one("#weekly", PlotextPlot)
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        labels = [w.week.strftime("%d/%m") for w in stats.weeks]
        weeks = list(range(len(labels)))
        created = [w.created for w in stats.weeks]
        finished = [w.finished for w in stats.weeks]
        # Two lines read more clearly than paired bars at terminal resolution.
        plt.plot(weeks, created, label=t("tui_filed"), color="orange", marker="hd")
        plt.plot(weeks, finished, label=t("tui_finished"), color="green", marker="hd")
        plt.xticks([float(w) for w in weeks], labels)
        plt.title(t("tui_weekly", n=len(stats.weeks)))
        # Whole incidents only on the axis (plotext would otherwise label 0.83, 1.67…).
        top = max([*created, *finished, 1])
        step = max(1, -(-top // 5))
        plt.yticks(list(range(0, top + step, step)))
        plt.ylim(0, top + step - 1 if top % step else top)
        chart.refresh()

    @on(LiveEventArrived)
    def live(self, _message: LiveEventArrived) -> None:
        if not self._refresh_pending:
            self._refresh_pending = True
            self.set_timer(REFRESH_AFTER, self.action_reload)
