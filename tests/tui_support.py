"""What the terminal app's tests share: a module-wide server, Pilot helpers and screen readers."""

from __future__ import annotations

import asyncio
import html
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from rich.console import Group, RenderableType
from rich.style import Style
from rich.text import Text
from textual import events
from textual.pilot import Pilot
from textual.widgets import DataTable, OptionList, Select, Static, TextArea
from textual.widgets._select import SelectOverlay

from obs_support.cli.i18n import Translator
from obs_support.client.api import ObsClient
from obs_support.tui.app import ObsSupportApp
from obs_support.tui.incident import IncidentScreen
from obs_support.tui.modals import ChoiceModal, TextModal
from obs_support.tui.queue import QueueScreen
from tests.support import (
    Api,
    LiveServer,
    Tenant,
    User,
    make_tenant,
    start_server,
)

SIZE = (120, 40)
WAIT = 5.0  # the longest an ordinary wait may take before the test fails
LIVE_BOUND = 2.0  # a change by someone else reaches the open queue within this
EN = Translator("en")
Json = dict[str, Any]
Scenario = Callable[["Run"], Awaitable[None]]


# --- the app under test ---------------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    """One notification the app raised (recorded as it is raised: toasts expire)."""

    message: str
    title: str
    severity: str
    markup: bool


@dataclass
class Run:
    """One running app and what the scenario needs around it."""

    app: ObsSupportApp
    pilot: Pilot[None]
    notes: list[Note]
    api: Api
    tenant: Tenant

    @property
    def t(self) -> Translator:
        return self.app.t

    async def until(
        self, predicate: Callable[[], object], what: str, timeout: float = WAIT
    ) -> None:
        await until(self.pilot, predicate, what, timeout)

    async def press(self, *keys: str) -> None:
        await self.pilot.press(*keys)

    async def type(self, text: str) -> None:
        """Key presses for `text` (letters, digits and spaces), as the terminal sends them.

        `pilot.press` waits for the process to idle after every key, which on a busy machine
        makes typing a sentence take seconds; here the keys go in a row (callers then wait
        for what they expect to see).
        """
        for char in text:
            assert char.isalnum() or char == " ", f"type() sends letters and spaces: {char!r}"
            key = events.Key("space" if char == " " else char, char)
            key.set_sender(self.app)
            self.app.post_message(key)
        await self.pilot.pause(0.05)

    # queue

    @property
    def queue(self) -> QueueScreen:
        screen = self.app.screen
        assert isinstance(screen, QueueScreen), f"expected the queue, found {screen!r}"
        return screen

    @property
    def table(self) -> DataTable[Any]:
        return self.queue.query_one("#queue", DataTable)

    def refs(self) -> list[str]:
        return [str(row.key.value) for row in self.table.ordered_rows]

    def cell(self, ref: str, column: str) -> Text:
        value = self.table.get_cell(ref, column)
        assert isinstance(value, Text), value
        return value

    def counts_text(self) -> str:
        content = self.queue.query_one("#counts", Static).content
        return content.plain if isinstance(content, Text) else str(content)

    async def view(self, key: str, label: str) -> None:
        await self.press(key)
        await self.until(lambda: self.queue.sub_title == self.t(label), f"view {label} loads")

    async def pick(self, select_id: str, label: str) -> None:
        """Choose `label` in the filter bar's select `select_id` with the keyboard only:
        f to reach the bar, Tab to the select, Enter to open it, arrows, Enter."""
        await self.press("f")
        for _ in range(8):
            if self.focus_id() == select_id:
                break
            await self.press("tab")
        assert self.focus_id() == select_id, f"Tab never reached {select_id}"
        select = self.queue.query_one(f"#{select_id}", Select)
        await self.press("enter")
        await self.until(lambda: select.expanded, f"{select_id} opens")
        options = select.query_one(SelectOverlay)
        prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert label in prompts, f"{label!r} is not among {prompts}"
        target = prompts.index(label)
        for _ in range(options.option_count + 1):
            if options.highlighted == target:
                break
            await self.press("down" if (options.highlighted or 0) < target else "up")
        await self.press("enter")
        await self.until(lambda: not select.expanded, f"{select_id} closes")

    async def queue_shows(self, refs: set[str], what: str) -> None:
        await self.until(lambda: set(self.refs()) == refs, f"{what}: rows are {sorted(refs)}")

    # incident

    @property
    def incident(self) -> IncidentScreen:
        screen = self.app.screen
        assert isinstance(screen, IncidentScreen), f"expected an incident, found {screen!r}"
        return screen

    async def open(self, ref: str) -> IncidentScreen:
        """Move the cursor to `ref` with the arrow keys and press Enter."""
        self.table.focus()
        target = self.table.get_row_index(ref)
        while self.table.cursor_row != target:
            await self.press("down" if self.table.cursor_row < target else "up")
        await self.press("enter")
        await self.until(
            lambda: self.incident.detail is not None and self.incident.detail.ref == ref,
            f"incident {ref} opens",
        )
        return self.incident

    def header_text(self) -> str:
        content = self.incident.query_one("#incident-header", Static).content
        assert isinstance(content, Text)
        return content.plain

    def timeline(self) -> RenderableType:
        return self.incident.query_one("#events", Static).content  # type: ignore[return-value]

    async def choose(self, value: str) -> None:
        """In the open ChoiceModal, move to the option `value` and press Enter."""
        await self.until(lambda: isinstance(self.app.screen, ChoiceModal), "a choice opens")
        options = self.app.screen.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert value in ids, f"{value!r} is not among the choices {ids}"
        target = ids.index(value)
        for _ in range(options.option_count + 1):
            if options.highlighted == target:
                break
            await self.press("down" if (options.highlighted or 0) <= target else "up")
        assert options.highlighted == target
        await self.press("enter")

    async def write(self, text: str) -> None:
        """In the open TextModal, type `text` and send it with Ctrl-S."""
        await self.until(lambda: isinstance(self.app.screen, TextModal), "a text box opens")
        await self.until(lambda: isinstance(self.app.focused, TextArea), "the text box has focus")
        await self.type(text)
        await self.until(lambda: self.app.screen.query_one(TextArea).text == text, "typed")
        await self.press("ctrl+s")
        await self.until(lambda: not isinstance(self.app.screen, TextModal), "the text box closes")

    def focus_id(self) -> str | None:
        return self.app.focused.id if self.app.focused is not None else None

    def noted(self, severity: str, message: str | None = None) -> list[Note]:
        return [
            n
            for n in self.notes
            if n.severity == severity and (message is None or message in n.message)
        ]


async def until(
    pilot: Pilot[None], predicate: Callable[[], object], what: str, timeout: float = WAIT
) -> None:
    """Let the app run until `predicate()` is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            if predicate():
                return
            last = None
        except Exception as exc:  # not there yet (no such screen, widget or row)
            last = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last!r})" if last else ""
            raise AssertionError(f"timed out after {timeout:.1f}s waiting until {what}{detail}")
        await pilot.pause(0.05)


def record_notifications(app: ObsSupportApp) -> list[Note]:
    """Every notification the app raises, with the flags it was raised with."""
    notes: list[Note] = []
    original = app.notify

    def notify(
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        notes.append(Note(message, title, str(severity), markup))
        original(message, title=title, severity=severity, timeout=timeout, markup=markup)

    app.notify = notify  # type: ignore[method-assign]
    return notes


def live_threads() -> set[int]:
    """Threads currently inside `obs_support.client.live` (following a live stream)."""
    found = set()
    for ident, frame in sys._current_frames().items():
        f: Any = frame
        while f is not None:
            if f.f_code.co_filename.endswith(os.path.join("obs_support", "client", "live.py")):
                found.add(ident)
                break
            f = f.f_back
    return found


def stacks(idents: set[int]) -> str:
    frames = sys._current_frames()
    return "".join(
        line
        for ident in idents
        if ident in frames
        for line in traceback.format_stack(frames[ident])
    )


class DaemonExecutor(ThreadPoolExecutor):
    """The loop's default executor (Textual's thread workers), on daemon threads.

    A worker that never ends (see `test_quitting_ends_the_process`) then cannot keep
    `asyncio.run` or the test process from ending; the tests still check that it ends.
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()

        def run() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:
                    future.set_exception(exc)

        threading.Thread(target=run, name="tui-test-worker", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None


def run_async(main: Callable[[], Awaitable[None]]) -> None:
    async def with_daemon_workers() -> None:
        asyncio.get_running_loop().set_default_executor(DaemonExecutor())
        await main()

    asyncio.run(with_daemon_workers())


async def await_live_threads_end(app: ObsSupportApp, before: set[int], failed: bool) -> None:
    """After the app exited, its live-stream thread must end, and at once."""
    deadline = time.monotonic() + WAIT
    while stuck := live_threads() - before:
        if time.monotonic() > deadline:
            if failed:  # the app may have crashed before it could stop its stream
                stopper = getattr(app, "_stopping", None)
                for name in ("stop", "set"):
                    if callable(getattr(stopper, name, None)):
                        getattr(stopper, name)()
                        break
                return  # the test's own failure says more; daemon threads cannot hang it
            raise AssertionError(f"the app's live-stream thread did not end:\n{stacks(stuck)}")
        await asyncio.sleep(0.05)


def drive(
    server: LiveServer,
    api: Api,
    tenant: Tenant,
    who: User,
    scenario: Scenario,
    *,
    client_class: type[ObsClient] = ObsClient,
    wait_loaded: bool = True,
    size: tuple[int, int] = SIZE,
) -> None:
    """Open the app as `who`, wait for the queue, and play `scenario` on it."""

    async def main() -> None:
        before = live_threads()
        obs = client_class(server.url, who.token)
        app = ObsSupportApp(obs, EN)
        notes = record_notifications(app)
        failed = True
        try:
            async with app.run_test(size=size, notifications=True) as pilot:
                run = Run(app, pilot, notes, api, tenant)
                await run.until(lambda: isinstance(app.screen, QueueScreen), "the queue opens")
                if wait_loaded:
                    await run.until(
                        lambda: (
                            run.queue.sub_title == run.t("view_all") and "Σ" in run.counts_text()
                        ),
                        "the queue and its counts load",
                    )
                await scenario(run)
            failed = False
        finally:
            await await_live_threads_end(app, before, failed)
            obs.close()

    run_async(main)


# --- arranging data ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A SQLite server for the tests that need not run on both databases."""
    root = tmp_path_factory.mktemp("tui-server")
    with start_server(f"sqlite:///{root / 'tui.sqlite3'}", root / "data") as live:
        yield live


@pytest.fixture
def lite_api(lite: LiveServer) -> Iterator[Api]:
    with Api(lite.url) as client:
        yield client


@pytest.fixture
def lite_tenant(lite: LiveServer, lite_api: Api) -> Tenant:
    return make_tenant(lite, lite_api)


def file(api: Api, tenant: Tenant, summary: str, priority: str = "medium", **body: Any) -> str:
    ref: str = tenant.incident(api, summary=summary, priority=priority, **body)["ref"]
    return ref


def set_status(api: Api, who: User, ref: str, status: str, reason: str | None = None) -> None:
    body: Json = {"status": status} | ({"reason": reason} if reason else {})
    api.as_(who).ok("POST", f"/incidents/{ref}/status", json=body)


def assign(api: Api, who: User, ref: str, assignee: User) -> None:
    api.as_(who).ok("PATCH", f"/incidents/{ref}", json={"assignee_id": assignee.id})


def fetch(api: Api, who: User, ref: str) -> Json:
    result: Json = api.as_(who).ok("GET", f"/incidents/{ref}")
    return result


def shown_as(cell: Text, full: str) -> bool:
    """Whether a queue cell shows `full`, whole or cut to the column with an ellipsis."""
    text = cell.plain
    return text == full or (text.endswith("…") and len(text) > 1 and full.startswith(text[:-1]))


def plain(renderable: object) -> str:
    if isinstance(renderable, Text):
        return renderable.plain
    if isinstance(renderable, Group):
        return "\n".join(plain(r) for r in renderable.renderables)
    return str(renderable)


def texts(renderable: object) -> Iterator[Text]:
    if isinstance(renderable, Text):
        yield renderable
    elif isinstance(renderable, Group):
        for r in renderable.renderables:
            yield from texts(r)


def links_in(text: Text) -> list[str]:
    styles = [text.style, *(span.style for span in text.spans)]
    parsed = [s if isinstance(s, Style) else Style.parse(s) for s in styles]
    return [s.link for s in parsed if s.link]


def screen_text(app: ObsSupportApp) -> str:
    """What the terminal shows, as text (from the SVG screenshot).

    Toasts are cleared first: a notice about another test's incident (the tenant is shared)
    could otherwise cover the very text being looked for.
    """
    app.clear_notifications()
    svg = app.export_screenshot()
    runs = re.findall(r"<text[^>]*>(.*?)</text>", svg, flags=re.S)
    return html.unescape("".join(runs)).replace("\xa0", " ")


def count_of(counts: str, label: str) -> int:
    match = re.search(rf"(?:^|\s){re.escape(label)}\s+(\d+)", counts)
    assert match, f"{label!r} not in the counts bar {counts!r}"
    return int(match.group(1))


# --- 1. start -----------------------------------------------------------------------------------
