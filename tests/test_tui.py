"""The terminal app (`obs-support tui`), driven with Textual's Pilot against a real server.

Every test opens `ObsSupportApp` on a real server (SQLite, and PostgreSQL for the core
flows), presses keys as a person would and checks what the screens show and what the API
then says. Nothing sleeps a fixed time: `until()` polls the app (`pilot.pause`) until a
condition holds, with a deadline. One test runs the installed `obs-support tui` in a real
terminal under tmux.

After each app exits, its live-stream thread must end at once (a thread still reading the
stream keeps `App.run()` and the process from ending: `test_quitting_ends_the_process`).
Textual's thread workers run on daemon threads here, so a regression fails the tests
instead of hanging them.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from rich.console import Console
from rich.text import Text
from textual.color import Color
from textual.widgets import DataTable, Header, Input, Label, Select, Static, TextArea
from textual.widgets._header import HeaderTitle
from textual.widgets._toast import Toast
from textual_plotext import PlotextPlot

from obs_support import schemas
from obs_support.cli.i18n import Translator
from obs_support.client.api import ObsClient
from obs_support.domain import CommentSource, incident_reference
from obs_support.server import demo
from obs_support.server.app import create_app
from obs_support.server.db import connect
from obs_support.server.migrate import upgrade
from obs_support.server.models import User as UserRow
from obs_support.server.services import incidents as incident_service
from obs_support.tui.app import ObsSupportApp
from obs_support.tui.handoff import deliver
from obs_support.tui.incident import IncidentScreen
from obs_support.tui.modals import ChoiceModal, TextModal
from obs_support.tui.queue import QueueScreen
from tests.support import (
    PASSWORD,
    Api,
    LiveServer,
    Tenant,
    User,
    free_port,
    invite,
    make_tenant,
    server_settings,
)
from tests.terminal import Tmux, wait
from tests.tui_support import (
    EN,
    LIVE_BOUND,
    SIZE,
    Json,
    Run,
    assign,
    await_live_threads_end,
    count_of,
    drive,
    fetch,
    file,
    links_in,
    live_threads,
    plain,
    record_notifications,
    run_async,
    screen_text,
    set_status,
    shown_as,
    texts,
    until,
)


def test_the_queue_opens_branded_and_in_priority_then_age_order(
    server: LiveServer, api: Api, tenant: Tenant, other_tenant: Tenant
) -> None:
    api.as_(tenant.admin).ok("PATCH", "/observatory", json={"accent_color": "#aa3300"})
    priorities = ["low", "high", "medium", "high", "low"]
    refs = [file(api, tenant, f"Incident {i} ({p})", p) for i, p in enumerate(priorities)]
    rank = {"high": 0, "medium": 1, "low": 2}
    expected = sorted(refs, key=lambda r: rank[priorities[refs.index(r)]])  # stable: by age
    set_status(api, tenant.staff, refs[0], "in_progress")
    set_status(api, tenant.staff, refs[1], "blocked", "Waiting for the new encoder")
    set_status(api, tenant.staff, refs[2], "done")
    foreign = file(api, other_tenant, "Someone else's observatory")

    async def scenario(run: Run) -> None:
        await run.until(lambda: len(run.refs()) == 5, "five rows load")
        assert run.refs() == expected
        assert foreign not in run.refs()
        assert run.cell(refs[1], "status").plain == "Blocked"
        assert run.cell(refs[1], "priority").plain == "High"
        assert run.cell(refs[0], "summary").plain == "Incident 0 (low)"

        counts = run.counts_text()
        assert count_of(counts, "Open") == 2
        assert count_of(counts, "In progress") == 1
        assert count_of(counts, "Blocked") == 1
        assert count_of(counts, "Done") == 1
        assert count_of(counts, "Cancelled") == 0
        assert re.search(r"Σ 5\b", counts), counts

        name = f"Observatory {tenant.slug}"
        assert run.app.title == name
        assert name in str(run.queue.query_one(HeaderTitle).content)
        assert "Staff Member" in run.app.sub_title
        header = run.queue.query_one(Header)
        assert header.styles.background == Color.parse("#aa3300")

    drive(server, api, tenant, tenant.staff, scenario)


# --- 2. filters -----------------------------------------------------------------------------


def test_saved_views_and_search_show_exactly_the_matching_incidents(
    server: LiveServer, api: Api, tenant: Tenant
) -> None:
    mine = file(api, tenant, "Focuser drifts at night", "high")
    blocked = file(api, tenant, "Camera cooler fails")
    low = file(api, tenant, "Dome shutter squeaks", "low")
    high = file(api, tenant, "DOME SHUTTER jammed half open", "high")
    plain_one = file(api, tenant, "Guider loses the star")
    in_comment = file(api, tenant, "Strange noise", message="It comes from the dome shutter.")
    assign(api, tenant.admin, mine, tenant.staff)
    assign(api, tenant.admin, blocked, tenant.admin)
    set_status(api, tenant.staff, blocked, "blocked", "Waiting for the client")
    set_status(api, tenant.staff, high, "in_progress")
    everything = {mine, blocked, low, high, plain_one, in_comment}

    async def scenario(run: Run) -> None:
        await run.queue_shows(everything, "all")
        await run.view("2", "view_mine")
        await run.queue_shows({mine}, "mine")
        await run.view("3", "view_unassigned")
        await run.queue_shows({low, high, plain_one, in_comment}, "unassigned")
        await run.view("4", "view_high")
        await run.queue_shows({mine, high}, "high priority")
        await run.view("5", "view_blocked")
        await run.queue_shows({blocked}, "blocked")
        assert run.cell(blocked, "status").plain == "Blocked"
        await run.view("1", "view_all")
        await run.queue_shows(everything, "all again")

        await run.press("slash")
        await run.until(lambda: run.focus_id() == "search", "/ focuses the search box")
        await run.type("dome shutter")
        search = run.queue.query_one("#search", Input)
        await run.until(lambda: search.value == "dome shutter", "the search box holds the text")
        await run.press("enter")
        # Summaries in any case, and comments too (the search box says so).
        await run.queue_shows({low, high, in_comment}, "search 'dome shutter'")
        assert run.focus_id() == "queue"
        assert run.refs() == [high, in_comment, low]

    drive(server, api, tenant, tenant.staff, scenario)


def test_the_filter_bar_narrows_the_queue_and_the_views_set_it(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    api, tenant = lite_api, lite_tenant
    scope_0, scope_1 = tenant.telescopes[tenant.account_a]
    mount = file(api, tenant, "Mount stalls", "high", type="repair", telescope_id=scope_0)
    question = file(api, tenant, "How to flat-field?", "low", type="question", telescope_id=scope_1)
    upgrade = file(api, tenant, "New focuser", "medium", type="upgrade")
    assign(api, tenant.admin, mount, tenant.staff)
    set_status(api, tenant.staff, question, "blocked", "Waiting for frames")
    everything = {mount, question, upgrade}

    async def scenario(run: Run) -> None:
        await run.queue_shows(everything, "all")
        await run.pick("f-status", "Blocked")
        await run.queue_shows({question}, "status: blocked")
        # The filters are exactly the blocked view's, so the title names that view.
        await run.until(lambda: run.queue.sub_title == run.t("view_blocked"), "named view")

        await run.press("escape")
        assert run.focus_id() == "queue"
        await run.view("1", "view_all")
        await run.queue_shows(everything, "a view resets the bar")
        assert run.queue.query_one("#f-status", Select).is_blank()

        await run.pick("f-type", "Upgrade")
        await run.queue_shows({upgrade}, "type: upgrade")
        await run.until(lambda: run.queue.sub_title == run.t("view_filtered"), "filtered")
        await run.pick("f-type", "Repair")
        await run.pick("f-telescope", "Scope 2 · Account A")
        await run.queue_shows(set(), "repair on Scope 2: none")
        await run.pick("f-telescope", "Scope 1 · Account A")
        await run.queue_shows({mount}, "repair on Scope 1")

        await run.press("escape")
        await run.view("1", "view_all")
        await run.pick("f-assignee", "Staff Member")
        await run.queue_shows({mount}, "assigned to the staff member")
        await run.view("3", "view_unassigned")
        assert run.queue.query_one("#f-assignee", Select).value == "none"
        await run.queue_shows({question, upgrade}, "unassigned")
        await run.pick("f-priority", "Low")
        await run.queue_shows({question}, "unassigned and low")

        # A live change is judged by the same filters: a new low, unassigned incident joins,
        # a high one does not.
        joins = file(api, tenant, "Low and unassigned", "low")
        file(api, tenant, "High and unassigned", "high")
        await run.queue_shows({question, joins}, "live rows that match")

    drive(lite, api, tenant, tenant.staff, scenario)


def test_rows_fit_the_terminal_and_long_text_is_cut_with_an_ellipsis(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    api, tenant = lite_api, lite_tenant
    long = "The primary mirror cover opens halfway and then stops"
    ref = file(api, tenant, long, "high")

    async def scenario(run: Run) -> None:
        await run.queue_shows({ref}, "the incident")
        cell = run.cell(ref, "summary")
        assert cell.plain.endswith("…") and shown_as(cell, long)
        # Every column is on screen: no sideways scrolling at 120 columns.
        assert run.table.virtual_size.width <= run.table.scrollable_content_region.width
        assert run.t.age(datetime.now(UTC)) in screen_text(run.app)

        await run.pilot.resize_terminal(200, 40)
        await run.until(lambda: run.cell(ref, "summary").plain == long, "wider: all of it")

    drive(lite, api, tenant, tenant.staff, scenario)


def test_the_command_palette_runs_the_screens_actions_and_opens_references(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    from textual.command import CommandList, CommandPalette

    from obs_support.tui.dashboard import DashboardScreen

    api, tenant = lite_api, lite_tenant
    ref = file(api, tenant, "Reached from the palette")

    async def command(run: Run, text: str, first: str) -> None:
        await run.press("ctrl+p")
        await run.until(lambda: isinstance(run.app.screen, CommandPalette), "the palette")
        await run.type(text)
        found = run.app.screen.query_one(CommandList)

        def top() -> str:
            return str(found.get_option_at_index(0).prompt) if found.option_count else ""

        await run.until(lambda: first in top(), f"{first!r} is offered first")
        await run.press("enter")

    async def scenario(run: Run) -> None:
        await command(run, "dashb", "Dashboard")
        await run.until(lambda: isinstance(run.app.screen, DashboardScreen), "the dashboard")
        await run.press("escape")
        await command(run, "unassig", "Unassigned")
        await run.until(lambda: run.queue.sub_title == run.t("view_unassigned"), "the view")
        number = ref.rsplit("-", 1)[1]
        await command(run, number, f"Open {ref}")
        await run.until(
            lambda: isinstance(run.app.screen, IncidentScreen) and run.incident.ref == ref,
            "the incident opens",
        )

    drive(lite, api, tenant, tenant.staff, scenario)


def test_the_dashboard_counts_unfinished_work_and_follows_changes(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    from obs_support.tui.dashboard import DashboardScreen

    api, tenant = lite_api, lite_tenant
    refs = [file(api, tenant, f"Dashboard {i}", p) for i, p in enumerate(["high", "high", "low"])]
    set_status(api, tenant.staff, refs[0], "in_progress")
    set_status(api, tenant.staff, refs[2], "done")

    def dashboard() -> DashboardScreen:
        screen = run_app.screen
        assert isinstance(screen, DashboardScreen)
        return screen

    def table_rows() -> dict[str, list[str]]:
        table = dashboard().query_one("#unfinished", Static).content
        console = Console(width=120, color_system=None)
        with console.capture() as captured:
            console.print(table)
        text = captured.get()
        rows: dict[str, list[str]] = {}
        for line in text.splitlines():
            cells = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
            if cells and cells[0] in ("Open", "In progress", "Blocked", "Total"):
                rows[cells[0]] = cells[1:]
        return rows

    run_app: ObsSupportApp

    async def scenario(run: Run) -> None:
        nonlocal run_app
        run_app = run.app
        await run.press("d")
        await run.until(lambda: table_rows().get("Total") == ["2", "0", "0", "2"], "figures")
        # Columns: High, Medium, Low, Total.
        assert table_rows()["Open"] == ["1", "0", "0", "1"]
        assert table_rows()["In progress"] == ["1", "0", "0", "1"]
        chart = dashboard().query_one("#weekly", PlotextPlot)
        shown = plain(chart.render())
        assert "Filed and finished per week (last 12)" in shown
        today = datetime.now(UTC).date()
        assert (today - timedelta(days=today.weekday())).strftime("%d/%m") in shown

        # Someone else files a medium one: the figures follow without a key press.
        file(api, tenant, "Dashboard live", "medium")
        await run.until(lambda: table_rows().get("Open") == ["1", "1", "0", "2"], "live")
        await run.press("escape")
        await run.until(lambda: isinstance(run.app.screen, QueueScreen), "back to the queue")

    drive(lite, api, tenant, tenant.staff, scenario)


def test_switching_views_while_a_page_is_loading_shows_only_the_new_view(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    """A slow answer for the old view must not land in the new one."""
    api, tenant = lite_api, lite_tenant
    mine = file(api, tenant, "Assigned to me")
    others = {file(api, tenant, f"Not mine {i}") for i in range(3)}
    assign(api, tenant.admin, mine, tenant.staff)

    class SlowFirstPage(ObsClient):
        """The first (unfiltered) list takes a while, as on a slow link."""

        def list_incidents(self, **params: Any) -> schemas.IncidentPage:
            if "assignee" not in params:
                time.sleep(0.6)
            return super().list_incidents(**params)

    async def scenario(run: Run) -> None:
        await run.until(lambda: run.table.columns and run.app.focused is run.table, "queue ready")
        assert run.table.row_count == 0, "the first page is still on its way"
        await run.press("2")
        await run.until(lambda: run.queue.sub_title == run.t("view_mine"), "'mine' loads")
        await run.pilot.pause(1.0)  # the slow answer for "all" has arrived by now
        assert set(run.refs()) == {mine}, f"rows of the old view leaked in: {others}"

    drive(
        lite,
        api,
        tenant,
        tenant.staff,
        scenario,
        client_class=SlowFirstPage,
        wait_loaded=False,
    )


# --- 3. paging ------------------------------------------------------------------------------


def bulk_incidents(server: LiveServer, tenant: Tenant, n: int) -> list[tuple[int, str]]:
    """`n` incidents filed straight through the service layer in one transaction (fast)."""
    made = []
    with server.db.write() as session:
        client = session.get(UserRow, tenant.client.id)
        assert client is not None
        for i in range(n):
            priority = (0, 5, 10)[i % 3]
            body = schemas.IncidentCreate.model_validate(
                {
                    "type": "repair",
                    "priority": priority,
                    "message": f"Bulk incident number {i}.",
                    "summary": f"Bulk {i:03d}",
                }
            )
            detail = incident_service.create(session, server.settings, client, body)
            made.append((priority, detail.ref))
    return made


def test_the_queue_loads_further_pages_as_the_cursor_nears_the_end(
    server: LiveServer, api: Api, tenant: Tenant
) -> None:
    made = bulk_incidents(server, tenant, 250)
    expected = [ref for _, ref in sorted(made, key=lambda m: -m[0])]  # stable: age within

    async def scenario(run: Run) -> None:
        await run.until(lambda: run.table.row_count == 100, "the first page (100 rows) loads")
        await run.pilot.pause(0.3)
        assert run.table.row_count == 100, "only the first page loads before the cursor moves"
        assert run.refs() == expected[:100]
        for loaded in (200, 250):
            await run.press("ctrl+end")
            await run.until(
                lambda n=loaded: run.table.row_count == n,  # type: ignore[misc]
                f"the cursor at the end loads rows up to {loaded}",
            )
        assert run.refs() == expected
        await run.press("ctrl+end")
        await run.pilot.pause(0.3)
        assert run.table.row_count == 250, "no page after the last one"
        assert len(set(run.refs())) == 250

    drive(server, api, tenant, tenant.staff, scenario)


# --- 4. opening an incident -----------------------------------------------------------------


def test_enter_opens_the_incident_and_escape_goes_back(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    api, tenant = lite_api, lite_tenant
    first = file(api, tenant, "Mount stalls when slewing east", "high")
    ref = file(api, tenant, "Filter wheel stuck", "low", message="Position 3 never arrives.")
    api.as_(tenant.staff).ok(
        "POST", f"/incidents/{ref}/comments", json={"body": "Which firmware?\nv2 or v3?"}
    )

    async def scenario(run: Run) -> None:
        await run.queue_shows({first, ref}, "both incidents")
        await run.open(ref)
        head = run.header_text()
        assert ref in head and "Filter wheel stuck" in head
        assert "Low" in head and "Open" in head and "Account A" in head
        timeline = plain(run.timeline())
        assert "Position 3 never arrives." in timeline
        assert "Which firmware?\nv2 or v3?" in timeline.replace("    ", "")
        assert "Client A" in timeline and "Staff Member" in timeline
        await run.press("escape")
        await run.until(lambda: isinstance(run.app.screen, QueueScreen), "back to the queue")
        assert set(run.refs()) == {first, ref}

    drive(lite, api, tenant, tenant.staff, scenario)


def test_a_reply_that_arrives_after_its_screen_closed_is_dropped_quietly(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    """A worker's answer can come back after the person pressed Esc: showing it on the
    closed screen's widgets would fail the worker; it is dropped, while news meant for the
    app as a whole still arrives."""
    api, tenant = lite_api, lite_tenant
    ref = file(api, tenant, "Dome shutter jams half open")

    async def scenario(run: Run) -> None:
        await run.queue_shows({ref}, "the incident")
        await run.open(ref)
        closed = run.app.screen
        assert isinstance(closed, IncidentScreen) and closed.detail is not None
        detail = closed.detail
        await run.press("escape")
        await run.until(lambda: isinstance(run.app.screen, QueueScreen), "back to the queue")
        arrived: list[str] = []

        def late_replies() -> None:
            deliver(closed, closed._show, detail)
            deliver(run.app, arrived.append, "for the app")

        await asyncio.to_thread(late_replies)
        await run.until(lambda: arrived == ["for the app"], "the app's news arrives")
        assert isinstance(run.app.screen, QueueScreen)
        assert not run.noted("error"), run.notes

    drive(lite, api, tenant, tenant.staff, scenario)


def test_logging_in_from_the_login_screen_saves_the_login(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    """This server hosts several observatories: the code is asked for, then the queue opens."""
    from obs_support.tui.login import LoginScreen

    api, tenant = lite_api, lite_tenant
    make_tenant(lite, api)  # a second observatory on this server, whatever else ran before
    person = invite(api, tenant.admin, "staff", name="Night Shift")
    ref = file(api, tenant, "Seen after logging in")
    saved: list[tuple[str, str, str, str]] = []

    def save(url: str, token: str, email: str, slug: str) -> None:
        saved.append((url, token, email, slug))

    async def main() -> None:
        before = live_threads()
        app = ObsSupportApp(None, EN, login=LoginScreen(None, person.email, save))
        notes = record_notifications(app)
        failed = True
        try:
            async with app.run_test(size=SIZE, notifications=True) as pilot:
                await until(pilot, lambda: isinstance(app.screen, LoginScreen), "login opens")
                login = app.screen
                box = {i.id: i for i in login.query(Input)}
                assert app.focused is box["url"], "the first empty box has the cursor"
                assert box["email"].value == person.email and box["password"].password

                async def attempt(url: str, password: str, code: str) -> None:
                    box["url"].value, box["password"].value = url, password
                    box["observatory"].value = code
                    box["password"].focus()
                    await pilot.press("enter")

                await attempt("ftp://" + lite.url[7:], PASSWORD, "")
                await until(pilot, lambda: notes, "a refusal")
                assert notes[-1].message == EN("tui_login_bad_url")
                await attempt(lite.url, "not the password", tenant.slug)
                await until(pilot, lambda: len(notes) == 2, "a refusal")
                assert notes[-1].severity == "error" and "password" in notes[-1].message
                await attempt(lite.url, PASSWORD, "")
                await until(pilot, lambda: len(notes) == 3, "a refusal")
                assert "several observatories" in notes[-1].message
                assert isinstance(app.screen, LoginScreen) and not saved

                await attempt(lite.url, PASSWORD, tenant.slug.lower())
                await until(pilot, lambda: isinstance(app.screen, QueueScreen), "the queue")
                table = app.screen.query_one(DataTable)
                await until(
                    pilot, lambda: ref in [str(r.key.value) for r in table.ordered_rows], "rows"
                )
                app.exit()
            failed = False
        finally:
            await await_live_threads_end(app, before, failed)

    run_async(main)
    [(url, token, email, slug)] = saved
    assert (url, email, slug) == (lite.url, person.email, tenant.slug)
    me = api.as_(User(person.id, email, token, "staff", None)).ok("GET", "/me")
    assert me["display_name"] == "Night Shift"


def revoke(api: Api, who: User) -> None:
    """Revoke `who`'s token through the API (as from another of their devices)."""
    [mine] = [t for t in api.as_(who).ok("GET", "/tokens") if who.token.startswith(t["prefix"])]
    api.as_(who).ok("DELETE", f"/tokens/{mine['id']}", expect=204)


def test_a_token_revoked_while_the_app_is_open_is_a_clear_notice(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    api, tenant = lite_api, lite_tenant
    person = invite(api, tenant.admin, "staff", name="Revoked Soon")
    file(api, tenant, "Still on screen after the token goes")

    async def scenario(run: Run) -> None:
        await run.until(lambda: run.app.connected, "the live stream connects")
        revoke(api, person)
        await run.press("f5")
        await run.until(lambda: run.noted("error", "log in again"), "a clear notice")
        assert isinstance(run.app.screen, QueueScreen), "the app keeps running"

    drive(lite, api, tenant, person, scenario)


def test_a_revoked_saved_login_opens_the_login_screen(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    from obs_support.tui.login import LoginScreen

    api, tenant = lite_api, lite_tenant
    person = invite(api, tenant.admin, "staff", name="Came Back")
    revoke(api, person)

    async def main() -> None:
        before = live_threads()
        login = LoginScreen(lite.url, person.email, lambda *_: None, tenant.slug)
        app = ObsSupportApp(ObsClient(lite.url, person.token), EN, login=login)
        notes = record_notifications(app)
        failed = True
        try:
            async with app.run_test(size=SIZE, notifications=True) as pilot:
                await until(pilot, lambda: isinstance(app.screen, LoginScreen), "login opens")
                assert any("log in again" in n.message for n in notes), notes
                await until(
                    pilot,
                    lambda: app.focused is not None and app.focused.id == "password",
                    "only the password is left to type",
                )
                app.screen.query_one("#password", Input).value = PASSWORD
                await pilot.press("enter")
                await until(pilot, lambda: isinstance(app.screen, QueueScreen), "the queue")
                app.exit()
            failed = False
        finally:
            await await_live_threads_end(app, before, failed)

    run_async(main)


def test_question_mark_shows_the_keys_in_the_users_language(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    from obs_support.tui.modals import HelpScreen

    file(lite_api, lite_tenant, "Anything at all")

    async def scenario(run: Run) -> None:
        await run.press("question_mark")
        await run.until(lambda: isinstance(run.app.screen, HelpScreen), "the help opens")
        shown = str(run.app.screen.query_one("#help-text", Label).render())
        assert "Enter open" in shown and "r reply" in shown and "Esc back" in shown
        await run.press("escape")
        await run.until(lambda: isinstance(run.app.screen, QueueScreen), "back to the queue")

    drive(lite, lite_api, lite_tenant, lite_tenant.staff, scenario)


def test_a_client_files_an_incident_from_the_form(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    """c opens the form; the client picks type, priority and telescope, writes, and sends."""
    from textual.widgets import Select

    from obs_support.tui.new_incident import NewIncidentScreen

    api, tenant = lite_api, lite_tenant
    file(api, tenant, "Something already open")
    scope_id = tenant.telescopes[tenant.account_a][1]

    async def main() -> None:
        app = ObsSupportApp(ObsClient(lite.url, tenant.client.token), EN)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, QueueScreen), "the queue opens")
            await until(pilot, lambda: app.screen.query_one(DataTable).row_count > 0, "rows")
            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, NewIncidentScreen), "the form")
            form = app.screen
            assert not form.query("#account"), "a client files for their own account only"
            form.query_one("#type", Select).value = "repair"
            form.query_one("#priority", Select).value = 10
            form.query_one("#telescope", Select).value = scope_id
            form.query_one("#message", TextArea).text = "The [b]dome[/b] motor hums\nand stops."
            await pilot.press("ctrl+s")
            await until(pilot, lambda: isinstance(app.screen, QueueScreen), "back to the queue")
            await until(
                pilot,
                lambda: any("dome" in i.summary for i in app.screen.incidents.values()),
                "the new incident in the queue",
            )
            app.exit()

    asyncio.run(main())
    filed = api.as_(tenant.client).ok("GET", "/incidents", params={"q": "motor hums"})["items"]
    assert len(filed) == 1
    detail = fetch(api, tenant.client, filed[0]["ref"])
    assert detail["type"] == "repair" and detail["priority"] == 10
    assert detail["telescope"]["id"] == scope_id
    assert detail["client_account"]["id"] == tenant.account_a
    assert detail["events"][1]["body"] == "The [b]dome[/b] motor hums\nand stops."


def test_the_footer_keys_are_in_the_users_language(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    file(lite_api, lite_tenant, "Anything at all")

    def shown(app: ObsSupportApp) -> set[str]:
        return {
            b.binding.description for b in app.screen.active_bindings.values() if b.binding.show
        }

    async def main() -> None:
        app = ObsSupportApp(ObsClient(lite.url, lite_tenant.staff.token), Translator("es"))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, QueueScreen), "the queue opens")
            await until(pilot, lambda: "Buscar" in shown(app), "Spanish keys")
            assert isinstance(app.focused, DataTable), "the queue, not the search box, has the keys"
            assert {"Todas", "Mías", "Sin asignar", "Bloqueadas", "Salir", "Ayuda"} <= shown(app)
            assert not {"Search", "Mine", "Quit"} & shown(app)
            await until(pilot, lambda: app.screen.query_one(DataTable).row_count > 0, "rows")
            await pilot.press("enter")
            await until(pilot, lambda: "Responder" in shown(app), "the incident's keys")
            assert {"Nota interna", "Estado", "Asignar", "Prioridad", "Volver"} <= shown(app)
            app.exit()

    asyncio.run(main())


# --- 5. actions -----------------------------------------------------------------------------


def test_staff_reply_note_status_assign_and_priority_from_the_incident(
    server: LiveServer, api: Api, tenant: Tenant
) -> None:
    ref = file(api, tenant, "Encoder errors on the declination axis", "low")

    def events(who: User = tenant.staff) -> list[Json]:
        result: list[Json] = fetch(api, who, ref)["events"]
        return result

    async def scenario(run: Run) -> None:
        await run.open(ref)

        await run.press("r")
        await run.write("We are on it")
        await run.until(
            lambda: any(e["body"] == "We are on it" and not e["internal"] for e in events()),
            "the reply is saved",
        )
        await run.until(lambda: "We are on it" in plain(run.timeline()), "the reply shows")

        await run.press("n")
        await run.write("Check the cable first")
        await run.until(
            lambda: any(e["body"] == "Check the cable first" and e["internal"] for e in events()),
            "the internal note is saved",
        )
        assert not any(e.get("body") == "Check the cable first" for e in events(tenant.client))

        await run.press("s")
        await run.choose("in_progress")
        await run.until(
            lambda: fetch(api, tenant.staff, ref)["status"] == "in_progress", "in progress"
        )
        await run.until(lambda: "In progress" in run.header_text(), "the header says so")

        await run.press("s")
        await run.choose("blocked")
        await run.write("Waiting for a spare encoder")
        await run.until(lambda: fetch(api, tenant.staff, ref)["status"] == "blocked", "blocked")
        change = [e for e in events() if e["kind"] == "status_changed"][-1]
        assert change["data"]["to"] == "blocked"
        assert change["data"]["reason"] == "Waiting for a spare encoder"

        await run.press("a")
        await run.choose(str(tenant.staff.id))  # "Me"
        await run.until(
            lambda: (fetch(api, tenant.staff, ref)["assignee"] or {}).get("id") == tenant.staff.id,
            "assigned to me",
        )

        await run.press("p")
        await run.choose("10")
        await run.until(lambda: fetch(api, tenant.staff, ref)["priority"] == 10, "high priority")
        await run.until(lambda: "High" in run.header_text(), "the header shows High")
        assert not run.noted("error"), run.notes

    drive(server, api, tenant, tenant.staff, scenario)


def test_the_queue_shows_changes_made_in_the_incident_screen(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    """Back from an incident, its row shows the new priority and status (and is re-sorted)."""
    api, tenant = lite_api, lite_tenant
    top = file(api, tenant, "Already high", "high")
    ref = file(api, tenant, "Raised to high in the TUI", "low")

    async def scenario(run: Run) -> None:
        await run.queue_shows({top, ref}, "both")
        await run.open(ref)
        await run.press("p")
        await run.choose("10")
        await run.until(lambda: "High" in run.header_text(), "the header shows High")
        await run.press("s")
        await run.choose("in_progress")
        await run.until(lambda: "In progress" in run.header_text(), "the header says so")
        await run.press("escape")
        await run.until(lambda: isinstance(run.app.screen, QueueScreen), "back to the queue")
        try:
            await run.until(
                lambda: (
                    run.cell(ref, "priority").plain == "High"
                    and run.cell(ref, "status").plain == "In progress"
                ),
                "the row shows the new priority and status",
                timeout=3,
            )
        except AssertionError:
            row = {c: run.cell(ref, c).plain for c in ("priority", "status")}
            now = fetch(api, tenant.staff, ref)
            raise AssertionError(
                f"back in the queue, {ref} still shows {row} (rows in order: {run.refs()}); "
                f"the API says priority {now['priority']}, status {now['status']}"
            ) from None
        assert run.refs() == [top, ref], "high priority, then oldest first"

    drive(lite, api, tenant, tenant.staff, scenario)


def test_a_refused_change_shows_the_servers_reason_and_changes_nothing(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    """The choices were computed before someone else closed the incident: the server says no."""
    api, tenant = lite_api, lite_tenant
    ref = file(api, tenant, "Closed by a colleague meanwhile")

    async def scenario(run: Run) -> None:
        await run.open(ref)
        await run.press("s")
        await run.until(lambda: isinstance(run.app.screen, ChoiceModal), "the choice opens")
        set_status(api, tenant.admin, ref, "cancelled", "Duplicate")
        await run.choose("in_progress")
        await run.until(lambda: run.noted("error"), "an error notification")
        assert isinstance(run.app.screen, IncidentScreen)
        assert fetch(api, tenant.staff, ref)["status"] == "cancelled"
        await run.until(lambda: "Cancelled" in run.header_text(), "the header catches up")

    drive(lite, api, tenant, tenant.staff, scenario)


def test_the_queue_catches_up_with_changes_made_while_an_incident_was_open(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    api, tenant = lite_api, lite_tenant
    ref = file(api, tenant, "Reading this one")

    async def scenario(run: Run) -> None:
        await run.until(lambda: run.app.connected, "the live stream connects")
        await run.open(ref)
        new = file(api, tenant, "Filed while staff read another", "high")
        set_status(api, tenant.admin, ref, "in_progress")
        await run.until(lambda: "In progress" in run.header_text(), "the open incident updates")
        await run.press("escape")
        await run.until(lambda: isinstance(run.app.screen, QueueScreen), "back to the queue")
        try:
            await run.until(lambda: new in run.refs(), "the new incident is in the queue", 3)
        except AssertionError:
            raise AssertionError(
                f"{new}, filed while {ref} was open, is missing from the queue {run.refs()}"
            ) from None
        assert run.cell(ref, "status").plain == "In progress"

    drive(lite, api, tenant, tenant.staff, scenario)


def test_an_incident_catches_up_with_comments_made_while_a_dialog_was_open(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    api, tenant = lite_api, lite_tenant
    ref = file(api, tenant, "A long reply in the making")

    async def scenario(run: Run) -> None:
        await run.until(lambda: run.app.connected, "the live stream connects")
        await run.open(ref)
        await run.press("r")
        await run.until(lambda: isinstance(run.app.screen, TextModal), "the reply box opens")
        api.as_(tenant.client).ok(
            "POST", f"/incidents/{ref}/comments", json={"body": "Never mind, it works now"}
        )
        await run.pilot.pause(0.5)  # the event has reached the app by now
        await run.press("escape")  # the reply is abandoned
        await run.until(lambda: isinstance(run.app.screen, IncidentScreen), "back")
        try:
            await run.until(
                lambda: "Never mind, it works now" in plain(run.timeline()),
                "the client's comment shows",
                3,
            )
        except AssertionError:
            raise AssertionError(
                "a comment that arrived while the reply box was open never shows in the "
                f"timeline:\n{plain(run.timeline())}"
            ) from None

    drive(lite, api, tenant, tenant.staff, scenario)


# --- 6. live --------------------------------------------------------------------------------


def test_changes_by_others_reach_the_open_queue_live(
    server: LiveServer, api: Api, tenant: Tenant
) -> None:
    existing = file(api, tenant, "Collimation is off")

    async def scenario(run: Run) -> None:
        await run.queue_shows({existing}, "the one incident")
        await run.until(lambda: run.app.connected, "the live stream connects")
        assert count_of(run.counts_text(), "Open") == 1

        new = tenant.incident(api, tenant.client, summary="Roof will not close", priority="high")
        await run.until(lambda: new["ref"] in run.refs(), "the new row appears", LIVE_BOUND)
        assert run.refs() == [new["ref"], existing], "high priority goes first"
        assert shown_as(run.cell(new["ref"], "summary"), "Roof will not close")
        toast = [n for n in run.notes if n.title == run.t("tui_new")]
        assert toast and new["ref"] in toast[0].message
        assert "Roof will not close" in toast[0].message
        await run.until(lambda: count_of(run.counts_text(), "Open") == 2, "the counts update")

        set_status(api, tenant.admin, existing, "in_progress")
        await run.until(
            lambda: run.cell(existing, "status").plain == "In progress",
            "the status cell updates",
            LIVE_BOUND,
        )
        assign(api, tenant.admin, existing, tenant.admin)
        await run.until(
            lambda: run.cell(existing, "assignee").plain != "—",
            "the assignee cell updates",
            LIVE_BOUND,
        )

    drive(server, api, tenant, tenant.staff, scenario)


def test_a_row_that_stops_matching_the_view_leaves_it(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    api, tenant = lite_api, lite_tenant
    ref = file(api, tenant, "Waiting for the courier")
    set_status(api, tenant.staff, ref, "blocked", "Parts are on their way")

    async def scenario(run: Run) -> None:
        await run.until(lambda: run.app.connected, "the live stream connects")
        await run.view("5", "view_blocked")
        await run.queue_shows({ref}, "blocked")
        set_status(api, tenant.admin, ref, "in_progress")
        try:
            await run.until(lambda: ref not in run.refs(), "it leaves the 'blocked' view", 3)
        except AssertionError:
            raise AssertionError(
                f"{ref} is in progress now but stays in the 'blocked' view, its status cell "
                f"saying {run.cell(ref, 'status').plain!r}"
            ) from None

    drive(lite, api, tenant, tenant.staff, scenario)


@pytest.mark.parametrize("summary", ["[b]Loud[/b] noise from the dome", "Dome [/b] stuck"])
def test_a_live_incident_toast_shows_its_summary_literally(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant, summary: str
) -> None:
    """A client's summary is shown as typed in the new-incident toast, and cannot crash it."""
    api, tenant = lite_api, lite_tenant
    failure: list[BaseException] = []

    async def scenario(run: Run) -> None:
        await run.until(lambda: run.app.connected, "the live stream connects")
        ref = file(api, tenant, summary)
        await run.until(lambda: ref in run.refs(), "the new row appears", LIVE_BOUND)
        await run.until(lambda: run.app.screen.query(Toast), "a toast shows")
        await run.pilot.pause(0.2)
        toasts = [str(t.render()) for t in run.app.screen.query(Toast)]
        assert any(summary in t for t in toasts), toasts

    try:
        drive(lite, api, tenant, tenant.staff, scenario)
    except Exception as exc:  # the app crashing shows up here
        failure.append(exc)
    assert not failure, f"the app failed on the summary {summary!r}: {failure[0]!r}"


# --- 7. the client's view -------------------------------------------------------------------


def test_a_client_sees_only_their_account_and_cannot_use_staff_actions(
    server: LiveServer, api: Api, tenant: Tenant
) -> None:
    own = file(api, tenant, "Our mount is noisy", "high")
    by_staff = tenant.incident(
        api,
        tenant.staff,
        summary="Filed for account A by staff",
        client_account_id=tenant.account_a,
    )["ref"]
    other = tenant.incident(api, tenant.client_b, summary="Account B's problem")["ref"]
    api.as_(tenant.staff).ok(
        "POST", f"/incidents/{own}/comments", json={"body": "Staff only remark", "internal": True}
    )

    async def scenario(run: Run) -> None:
        await run.queue_shows({own, by_staff}, "account A's incidents")
        assert other not in run.refs()
        assert re.search(r"Σ 2\b", run.counts_text()), run.counts_text()
        assert "Client" in run.app.sub_title

        await run.open(own)
        assert "Staff only remark" not in plain(run.timeline())
        for key in ("n", "p", "a"):
            before = len(run.noted("warning"))
            await run.press(key)
            await run.until(
                lambda n=before: len(run.noted("warning", run.t("tui_staff_only"))) > n,  # type: ignore[misc]
                f"a warning after {key!r}",
            )
            await run.pilot.pause(0.1)
            assert isinstance(run.app.screen, IncidentScreen), f"{key!r} opened a dialog"
        after = fetch(api, tenant.staff, own)
        assert after["priority"] == 10 and after["assignee"] is None
        assert sum(e["kind"] == "comment" for e in after["events"]) == 2

        await run.press("s")  # a client may only cancel, with a reason
        await run.choose("cancelled")
        await run.write("Solved it ourselves")
        await run.until(
            lambda: fetch(api, tenant.client, own)["status"] == "cancelled", "cancelled"
        )

    drive(server, api, tenant, tenant.client, scenario)


# --- 8. literal rendering -------------------------------------------------------------------


MARKUP = "[bold]x[/bold]"
LINK = "[link=https://evil.example]click[/link]"


def test_user_text_is_shown_literally_never_as_markup_or_terminal_control(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    api, tenant = lite_api, lite_tenant
    bold = file(api, tenant, MARKUP, "high")
    link = file(api, tenant, LINK, message=f"See {LINK} and {MARKUP}\nsecond line")
    # The API refuses C0 controls such as ESC in comments, but takes C1 ones and bidi marks.
    refused = api.as_(tenant.client).post(
        f"/incidents/{link}/comments", json={"body": "\x1b[31mred"}
    )
    assert refused.status_code == 422
    api.as_(tenant.client).ok(
        "POST", f"/incidents/{link}/comments", json={"body": "csi \x9b31mred \u202eevil"}
    )
    # An ESC sequence that reached the database some other way (older data, an import).
    with lite.db.write() as session:
        row = session.get(UserRow, tenant.client.id)
        assert row is not None
        incident_service.comment(
            session,
            lite.settings,
            row,
            link,
            schemas.CommentCreate.model_construct(
                body="\x1b[31mred\x07 \x1b]8;;https://evil.example\x1b\\x",
                internal=False,
                source=CommentSource.TEXT,
            ),
        )

    async def scenario(run: Run) -> None:
        await run.queue_shows({bold, link}, "both")
        for ref, summary in ((bold, MARKUP), (link, LINK)):
            cell = run.cell(ref, "summary")
            assert cell.plain == summary
            assert not cell.spans and not links_in(cell)
        for y in range(run.table.size.height):
            for segment in run.table.render_line(y):
                assert segment.style is None or not segment.style.link, segment
        await run.until(
            lambda: MARKUP in screen_text(run.app) and LINK in screen_text(run.app),
            "the screen shows both summaries verbatim",
        )
        assert "evil.example" not in re.sub(re.escape(LINK), "", screen_text(run.app))

        await run.open(link)
        assert LINK in run.header_text()
        header = run.incident.query_one("#incident-header", Static).content
        assert isinstance(header, Text) and not links_in(header)
        timeline = run.timeline()
        body = plain(timeline)
        assert f"See {LINK} and {MARKUP}" in body
        assert "␛[31mred" in body and "␛]8;;https://evil.example␛" in body
        assert "\x1b" not in body and "\x07" not in body and "\x9b" not in body
        assert "\u202e" not in body
        for text in texts(timeline):
            assert not links_in(text), text
        await run.until(
            lambda: LINK in screen_text(run.app) and MARKUP in screen_text(run.app),
            "the screen shows the comment verbatim",
        )
        assert "\x1b" not in run.app.export_screenshot()
        # BEL is made visible like ESC (text.py), not dropped on the way.
        assert "␛[31mred␇" in body, body

    # Wide enough for the whole summaries: what is checked is how they look, not the cut.
    drive(lite, api, tenant, tenant.staff, scenario, size=(200, 40))


@pytest.mark.parametrize("name", ["[b]Eve[/b]", "Mallory [/b]"])
def test_choices_show_names_literally(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant, name: str
) -> None:
    """Staff names in the assign dialog are people's text: shown as typed, never as markup."""
    api, tenant = lite_api, lite_tenant
    invite(api, tenant.admin, "staff", name=name)
    ref = file(api, tenant, "Needs an owner")
    failure: list[BaseException] = []

    async def scenario(run: Run) -> None:
        await run.open(ref)
        await run.press("a")
        await run.until(lambda: isinstance(run.app.screen, ChoiceModal), "the choice opens")
        await run.until(lambda: "Administrator" in screen_text(run.app), "the names show")
        shown = screen_text(run.app)
        assert name in shown, [line for line in shown.splitlines() if "▊" in line]

    try:
        drive(lite, api, tenant, tenant.staff, scenario)
    except Exception as exc:
        failure.append(exc)
    assert not failure, f"the assign dialog failed on the name {name!r}: {failure[0]!r}"


# --- 9. the server goes away and comes back ---------------------------------------------------


@contextmanager
def serve_on(database_url: str, data_dir: Path, port: int) -> Iterator[LiveServer]:
    """`tests.support.start_server`, on a port of our choosing (to restart on the same one)."""
    upgrade(database_url)
    settings = server_settings(database_url, data_dir, public_url=f"http://127.0.0.1:{port}")
    db = connect(database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    config = uvicorn.Config(
        create_app(settings, db),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"test server did not start on port {port}")
        time.sleep(0.01)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", database_url, settings, db)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()


def test_the_app_reconnects_and_catches_up_after_the_server_restarts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'restart.sqlite3'}"
    data = tmp_path / "data"
    port = free_port()
    servers = ExitStack()
    first = servers.enter_context(serve_on(url, data, port))
    api = Api(first.url)  # the same address before and after the restart
    tenant = make_tenant(first, api)
    quiet = file(api, tenant, "Changed while the server is down")
    loud = file(api, tenant, "Changed after it is back")

    def restart() -> None:
        servers.enter_context(serve_on(url, data, port))

    async def main() -> None:
        before = live_threads()
        app = ObsSupportApp(ObsClient(first.url, tenant.staff.token), EN)
        notes = record_notifications(app)
        failed = True
        try:
            async with app.run_test(size=SIZE, notifications=True) as pilot:
                run = Run(app, pilot, notes, api, tenant)
                await run.until(lambda: isinstance(app.screen, QueueScreen), "queue opens")
                await run.queue_shows({quiet, loud}, "both")
                await run.until(lambda: app.connected, "the live stream connects")

                await asyncio.to_thread(servers.close)  # the server goes away
                await run.until(
                    lambda: run.noted("warning", EN("reconnecting")),
                    "a 'reconnecting' warning shows",
                )
                assert not app.connected

                # While it is away, a change lands in the database (through another
                # server, say): only a stream that resumes from its Last-Event-ID gets it.
                db = connect(url)
                try:
                    with db.write() as session:
                        admin = session.get(UserRow, tenant.admin.id)
                        assert admin is not None
                        incident_service.change_status(
                            session,
                            first.settings,
                            admin,
                            quiet,
                            schemas.StatusChange.model_validate({"status": "in_progress"}),
                        )
                finally:
                    db.dispose()

                await asyncio.to_thread(restart)
                await run.until(lambda: app.connected, "the stream reconnects", 20)
                await run.until(
                    lambda: run.cell(quiet, "status").plain == "In progress",
                    "the change made while the server was away arrives",
                )
                set_status(api, tenant.admin, loud, "blocked", "Storm")
                await run.until(
                    lambda: run.cell(loud, "status").plain == "Blocked",
                    "a change after the restart arrives",
                    LIVE_BOUND,
                )
                assert not run.noted("error"), notes
            failed = False
        finally:
            await await_live_threads_end(app, before, failed)
            app.client.close()

    try:
        run_async(main)
    finally:
        api.http.close()
        servers.close()


# --- the app's lifetime -----------------------------------------------------------------------


QUIT_SCRIPT = """
import asyncio, os, sys, threading, time
from obs_support.cli.i18n import Translator
from obs_support.client.api import ObsClient
from obs_support.tui.app import ObsSupportApp
from obs_support.tui.handoff import deliver

def watchdog():
    time.sleep(float(sys.argv[3]))
    print("still running", flush=True)
    os._exit(3)

async def main():
    app = ObsSupportApp(ObsClient(sys.argv[1], sys.argv[2]), Translator("en"))
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 20
        while not app.connected:
            assert time.monotonic() < deadline, "the live stream never connected"
            await pilot.pause(0.05)
        await pilot.press("q")
    print("app closed", flush=True)
    threading.Thread(target=watchdog, daemon=True).start()

asyncio.run(main())
print("asyncio.run returned", flush=True)
"""


def test_quitting_ends_the_process(lite: LiveServer, lite_api: Api, lite_tenant: Tenant) -> None:
    """After `q`, nothing of the app keeps running: `App.run()` (asyncio.run) returns.

    The live stream runs in a worker thread of the loop's executor; `asyncio.run` waits for
    it, so it must stop (and stop reading) when the app exits. In its own process, so a
    thread that never ends cannot harm the other tests.
    """
    file(lite_api, lite_tenant, "Anything")
    grace = 3.0
    done = subprocess.run(
        [sys.executable, "-c", QUIT_SCRIPT, lite.url, lite_tenant.staff.token, str(grace)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    assert "app closed" in done.stdout, done.stderr
    assert "asyncio.run returned" in done.stdout, (
        f"the process was still running {grace} s after the app quit (its live-stream "
        f"thread had not ended)"
    )
    assert done.returncode == 0, done.stderr


# --- 10. a real terminal --------------------------------------------------------------------


def _terminal_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "OBS_SUPPORT_CONFIG_DIR": str(tmp_path / "cfg"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        **extra,
    }


def test_obs_support_tui_in_a_real_terminal(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant, tmp_path: Path
) -> None:
    script = Path(sys.executable).parent / "obs-support"
    assert script.exists(), script
    api, tenant = lite_api, lite_tenant
    ref = file(api, tenant, "Seeing monitor offline", "high")
    env = _terminal_env(tmp_path, OBS_SUPPORT_URL=lite.url, OBS_SUPPORT_TOKEN=tenant.staff.token)
    term = Tmux(tmp_path, env)
    term.start(f"{script} --lang es tui")
    try:
        shown = wait(lambda: ref in term.pane() and "Abierta" in term.pane(), 20)
        assert shown, f"the queue never showed {ref} (Abierta):\n{term.pane()}"
        screen = term.pane()
        assert f"Observatory {tenant.slug}" in screen
        assert "Prioridad" in screen and "Alta" in screen
        term.keys("q")
        assert wait(term.ended, 5), "`q` did not end `obs-support tui` within 5 s"
        term.run("kill-session", "-t", term.session)
        assert not term.alive()
    finally:
        term.close()


def test_the_demo_in_a_real_terminal(tmp_path: Path) -> None:
    """What `make run` starts: `obs-support demo` serves the demo observatory and opens the
    queue logged in as its staff member; quitting the app stops the server too."""
    script = Path(sys.executable).parent / "obs-support"
    port = free_port()
    env = _terminal_env(tmp_path, OBS_SUPPORT_DATA_DIR=str(tmp_path / "demo-data"))
    term = Tmux(tmp_path, env)
    term.start(f"{script} --lang es demo --port {port}")
    try:
        first = incident_reference(demo.SLUG, 1)
        shown = wait(lambda: first in term.pane() and "En progreso" in term.pane(), 60)
        assert shown, f"the demo queue never showed {first}:\n{term.pane()}"
        screen = term.pane()
        assert "Observatorio del Teide" in screen
        assert "Mías" in screen and "Sin asignar" in screen  # the staff member's views
        assert sum(line.count(f"{demo.SLUG}-") for line in screen.splitlines()) >= 10
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            assert http.get("/healthz").status_code == 200
        term.keys("q")
        assert wait(term.ended, 15), f"`q` did not end the demo:\n{term.pane()}"

        def refused() -> bool:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
            except httpx.TransportError:
                return True
            return False

        assert wait(refused, 10), "the demo server kept running after the app quit"
    finally:
        term.close()
