"""Snapshots of the terminal app's screens at 120x40, in Spanish and in English.

Each snapshot is the SVG the app renders against a real server holding a fixed observatory
(TEIDE) whose incidents were filed at fixed moments. The clock is set to one fixed Monday
morning (time-machine) while the data is filed and while each screen is shown, so relative
ages ("3 d ago") and the dashboard's weeks are the same on every run. The accepted images
live in tests/__snapshots__/; after a deliberate change of look, review the new ones with
`pytest tests/test_tui_snapshots.py --snapshot-update` and commit them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from rich.table import Table
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, Static, TextArea

from obs_support.cli.i18n import Translator
from obs_support.client.api import ObsClient
from obs_support.tui.app import ObsSupportApp
from obs_support.tui.incident import IncidentScreen
from obs_support.tui.queue import QueueScreen
from tests.support import Api, LiveServer, Tenant, make_tenant, start_server
from tests.tui_support import until

SIZE = (120, 40)
NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # a Monday
Snap = Callable[..., bool]


def at(moment: datetime) -> Any:
    """The clock stands still at `moment` (for the server and the app alike)."""
    return time_machine.travel(moment, tick=False)


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    """Dates on screen are local time: make local time UTC for the snapshots."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.fixture(scope="module")
def teide(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Tenant]]:
    root = tmp_path_factory.mktemp("snapshots")
    with (
        start_server(f"sqlite:///{root / 'obs.db'}", root / "data") as server,
        Api(server.url) as api,
    ):
        tenant = make_tenant(server, api, slug="TEIDE")
        seed(api, tenant)
        yield server, tenant


def seed(api: Api, tenant: Tenant) -> None:
    """Twelve weeks of work, filed and finished at fixed moments before NOW."""
    staff, client = api.as_(tenant.staff), api.as_(tenant.client)
    scope_1, scope_2 = tenant.telescopes[tenant.account_a]

    def file(ago: timedelta, summary: str, priority: str, kind: str, **body: Any) -> str:
        with at(NOW - ago):
            return str(
                tenant.incident(
                    api, summary=summary, priority=priority, type=kind, message=summary, **body
                )["ref"]
            )

    def status(ago: timedelta, ref: str, to: str, reason: str | None = None) -> None:
        with at(NOW - ago):
            body = {"status": to} | ({"reason": reason} if reason else {})
            staff.ok("POST", f"/incidents/{ref}/status", json=body)

    for week in range(11, 0, -1):
        ref = file(timedelta(weeks=week, days=2), f"Revisión semanal {week}", "low", "question")
        if week % 3:
            status(timedelta(weeks=week - 1, days=4), ref, "done")
    mount = file(
        timedelta(days=3, hours=2),
        "La montura no sigue en AR",
        "high",
        "repair",
        telescope_id=scope_1,
    )
    with at(NOW - timedelta(days=3)):
        staff.ok("PATCH", f"/incidents/{mount}", json={"assignee_id": tenant.staff.id})
    status(timedelta(days=2, hours=20), mount, "in_progress")
    with at(NOW - timedelta(days=2, hours=19)):
        client.ok(
            "POST",
            f"/incidents/{mount}/comments",
            json={"body": "El motor de AR hace ruido al arrancar.\nAdjunto el registro."},
        )
        staff.ok(
            "POST",
            f"/incidents/{mount}/comments",
            json={"body": "Revisar el encoder antes de la visita.", "internal": True},
        )
    with at(NOW - timedelta(days=1, hours=5)):
        staff.ok(
            "POST",
            f"/incidents/{mount}/comments",
            json={"body": "Vamos el jueves con un encoder nuevo.", "source": "voice"},
        )
    dome = file(timedelta(days=6), "Cúpula atascada a medio abrir", "high", "repair")
    status(timedelta(days=5), dome, "blocked", "Esperando la pieza del motor")
    file(timedelta(days=1, hours=3), "Instalar el nuevo enfocador", "medium", "installation",
         telescope_id=scope_2)  # fmt: skip
    file(timedelta(hours=4), "¿Cómo hago flats con la CCD nueva?", "low", "question")


def app_for(server: LiveServer, tenant: Tenant, language: str) -> ObsSupportApp:
    return ObsSupportApp(ObsClient(server.url, tenant.staff.token), Translator(language))  # type: ignore[arg-type]


async def queue_ready(pilot: Pilot[None]) -> QueueScreen:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, QueueScreen), "the queue opens")
    queue = app.screen
    assert isinstance(queue, QueueScreen)
    await until(pilot, lambda: queue.query_one(DataTable).row_count == 15, "all rows")
    await until(pilot, lambda: "Σ" in str(queue.query_one("#counts", Static).content), "counts")
    telescopes = queue.query_one("#f-telescope", Select)
    await until(pilot, lambda: len(telescopes._options) > 1, "the filter bar's choices")
    assert isinstance(app, ObsSupportApp)
    await until(pilot, lambda: queue.sub_title == app.t("view_all"), "the view's name")
    await until(pilot, lambda: app.connected, "the live stream connects")
    return queue


async def steady(pilot: Pilot[None]) -> None:
    """No blinking cursor in a snapshot: it would be caught on or off at random. No toasts
    either (on a busy machine a slow first connection may raise one). And no table caught
    between receiving rows and measuring them: a DataTable sizes its columns on its next
    idle moment, so a picture taken before that shows columns cut to their header's width."""
    pilot.app.clear_notifications()
    for widget in pilot.app.screen.query("Input, TextArea"):
        assert isinstance(widget, Input | TextArea)
        widget.cursor_blink = False
    tables = list(pilot.app.screen.query(DataTable))
    await until(
        pilot,
        lambda: (
            not any(t._require_update_dimensions or t._new_rows or t._updated_cells for t in tables)
        ),
        "the tables measure their rows",
    )
    await pilot.pause()


@pytest.mark.parametrize("language", ["es", "en"])
def test_queue(snap_compare: Snap, teide: tuple[LiveServer, Tenant], language: str) -> None:
    server, tenant = teide

    async def ready(pilot: Pilot[None]) -> None:
        await queue_ready(pilot)
        await steady(pilot)

    with at(NOW):
        assert snap_compare(app_for(server, tenant, language), terminal_size=SIZE, run_before=ready)


@pytest.mark.parametrize("language", ["es", "en"])
def test_incident(snap_compare: Snap, teide: tuple[LiveServer, Tenant], language: str) -> None:
    server, tenant = teide

    async def ready(pilot: Pilot[None]) -> None:
        await queue_ready(pilot)
        # The second row: TEIDE-12, the mount (high priority, filed after the dome's TEIDE-13).
        await pilot.press("down", "enter")
        app = pilot.app
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, IncidentScreen)
                and app.screen.detail is not None
                and app.screen.detail.ref == "TEIDE-12"
            ),
            "the incident opens",
        )
        await steady(pilot)

    with at(NOW):
        assert snap_compare(app_for(server, tenant, language), terminal_size=SIZE, run_before=ready)


@pytest.mark.parametrize("language", ["es", "en"])
def test_new_incident(snap_compare: Snap, teide: tuple[LiveServer, Tenant], language: str) -> None:
    from obs_support.tui.new_incident import NewIncidentScreen

    server, tenant = teide

    async def ready(pilot: Pilot[None]) -> None:
        await queue_ready(pilot)
        await pilot.press("c")
        app = pilot.app
        await until(pilot, lambda: isinstance(app.screen, NewIncidentScreen), "the form opens")
        await pilot.pause()
        await steady(pilot)

    with at(NOW):
        assert snap_compare(app_for(server, tenant, language), terminal_size=SIZE, run_before=ready)


@pytest.mark.parametrize("language", ["es", "en"])
def test_dashboard(snap_compare: Snap, teide: tuple[LiveServer, Tenant], language: str) -> None:
    from obs_support.tui.dashboard import DashboardScreen

    server, tenant = teide

    async def ready(pilot: Pilot[None]) -> None:
        await queue_ready(pilot)
        await pilot.press("d")
        app = pilot.app
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, DashboardScreen)
                and isinstance(app.screen.query_one("#unfinished", Static).content, Table)
            ),
            "the figures load",
        )

    with at(NOW):
        assert snap_compare(app_for(server, tenant, language), terminal_size=SIZE, run_before=ready)
