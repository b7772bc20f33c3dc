"""The CLI's newer commands, run for real against live servers.

`notifications` (list, mark read, e-mail settings), `incident watch` (a real subprocess that
follows the live stream, stopped with Ctrl-C, across a server restart), `observatory
branding`, `login --forgot`, `server outbox` and `server gc` (they read the database
directly), `invite` (the server e-mails the link) and the old form of invitation links.
Every wait has a deadline; no command may print a traceback.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col, select

from obs_support import schemas
from obs_support.server.db import Database, connect
from obs_support.server.models import Outbox, PasswordReset
from tests import support
from tests.cli_support import Cli, Run, cli_env
from tests.support import (
    PASSWORD,
    Api,
    LiveServer,
    Tenant,
    User,
    free_port,
    make_tenant,
    png_bytes,
    postgres_database,
    start_server,
)

Json = dict[str, Any]
T = TypeVar("T")

WAIT = 15.0  # the longest any single wait here may take before the test fails
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
KINDS = ("new_incident", "client_reply", "staff_reply", "status_changed", "assigned")
VALID = timedelta(hours=1)  # how long a reset link lasts (services/passwords.py)


# --- running the command ----------------------------------------------------------------------


class CheckedCli(Cli):
    """`Cli`, but no run may print a traceback on stderr, whatever it exits with."""

    def __call__(self, *args: str | Path, input: str | None = None, **env: str) -> Run:
        run = super().__call__(*args, input=input, **env)
        assert "Traceback" not in run.err, run.err
        return run


@pytest.fixture
def cli(tmp_path: Path) -> CheckedCli:
    return CheckedCli(tmp_path / "cfg", cli_env(tmp_path / "cfg"))


def refused(run: Run, code: int, *phrases: str) -> str:
    """The run failed with `code` and exactly one `error: …` line naming `phrases`."""
    assert run.code == code, (run.code, run.out, run.err)
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("error: "), run.err
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])
    return lines[0]


def poll(check: Callable[[], T], timeout: float) -> T | None:
    """`check()` once it is truthy, or None when `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def wait_for(check: Callable[[], T | None], what: str, timeout: float = WAIT) -> T:
    got = poll(check, timeout)
    if not got:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")
    return got


# --- writing through the API -----------------------------------------------------------------


def comment(api: Api, who: User, ref: str, text: str, internal: bool = False) -> int:
    body = {"body": text, "internal": internal}
    return int(api.as_(who).ok("POST", f"/incidents/{ref}/comments", json=body, expect=201)["id"])


def set_status(api: Api, who: User, ref: str, status: str) -> int:
    detail = api.as_(who).ok("POST", f"/incidents/{ref}/status", json={"status": status})
    return max(e["id"] for e in detail["events"] if e["kind"] == "status_changed")


def history(api: Api, who: User, ref: str) -> list[Json]:
    events: list[Json] = api.as_(who).ok("GET", f"/incidents/{ref}")["events"]
    return events


def inbox(api: Api, who: User, **params: Any) -> Json:
    page: Json = api.as_(who).ok("GET", "/notifications", params=params)
    return page


# --- databases of the tests' own ---------------------------------------------------------------


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of the kind the test is parametrized with."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'own.sqlite3'}"
        return
    base = os.environ.get("OBS_SUPPORT_TEST_POSTGRES_URL")
    if not base:
        message = "PostgreSQL pass needs OBS_SUPPORT_TEST_POSTGRES_URL (.ci/run sets it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with postgres_database(base, f"obs_cli_{uuid.uuid4().hex[:12]}") as url:
        yield url


BOTH = pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)


# --- notifications -----------------------------------------------------------------------------


def test_notifications_list_filters_and_marks_read_as_the_api_does(
    cli: CheckedCli, server: LiveServer, api: Api, tenant: Tenant
) -> None:
    cli.login(server, tenant.staff.token)
    empty = cli("notifications")
    assert (empty.code, empty.out.strip()) == (0, "No notifications.")

    first = tenant.incident(api, message="[bold]x[/bold] the dome is stuck")["ref"]
    second = tenant.incident(api, message="The focuser squeaks")["ref"]
    comment(api, tenant.client, first, "Any news?")
    api_page = inbox(api, tenant.staff)
    assert api_page["unread"] == 3

    listed = cli("notifications", "--json")
    assert listed.code == 0, listed.err
    assert listed.json() == api_page
    assert [n["kind"] for n in listed.json()["items"]] == [
        "client_reply",
        "new_incident",
        "new_incident",
    ]
    two = cli("notifications", "--limit", "2", "--json").json()
    assert two["items"] == api_page["items"][:2]
    assert two["next_cursor"] is not None

    people = cli("notifications")
    assert people.code == 0, people.err
    rows = people.out.splitlines()
    assert rows[-1] == "3 unread."
    assert sum(first in r for r in rows) == 2 and sum(second in r for r in rows) == 1
    reply = next(r for r in rows if "Client reply" in r)
    assert "●" in reply and "Client A" in reply and first in reply
    assert "[bold]x[/bold] the dome is stuck" in reply  # the summary, literally
    assert sum("New incident" in r for r in rows) == 2

    newest = api_page["items"][0]["id"]
    api.as_(tenant.staff).ok("POST", "/notifications/read", json={"ids": [newest]})
    unread = cli("notifications", "--unread", "--json").json()
    assert unread == inbox(api, tenant.staff, unread="true")
    assert [n["id"] for n in unread["items"]] == [n["id"] for n in api_page["items"][1:]]
    assert unread["unread"] == 2

    marked = cli("notifications", "--read-all")
    assert (marked.code, marked.out.strip()) == (0, "2 marked read; 0 left unread.")
    assert inbox(api, tenant.staff)["unread"] == 0
    assert inbox(api, tenant.admin)["unread"] == 3  # only the caller's own
    assert cli("notifications", "--read-all", "--json").json() == {"marked": 0, "unread": 0}
    assert cli("notifications", "--unread").out.strip() == "No notifications."
    assert cli("notifications", "--limit", "0").code == 2  # click's own usage error


def test_notifications_in_spanish(
    cli: CheckedCli, server: LiveServer, api: Api, tenant: Tenant
) -> None:
    cli.login(server, tenant.client.token)
    ref = tenant.incident(api)["ref"]
    comment(api, tenant.staff, ref, "Vamos mañana")
    set_status(api, tenant.staff, ref, "in_progress")
    es = cli("--lang", "es", "notifications")
    assert es.code == 0, es.err
    assert "Cambio de estado" in es.out
    assert "Respuesta del observatorio" in es.out
    assert "Staff Member" in es.out
    assert es.out.splitlines()[-1] == "2 sin leer."
    by_locale = cli("notifications", "settings", LANG="es_ES.UTF-8")
    assert "Por correo" in by_locale.out
    assert "Respuesta del observatorio" in by_locale.out
    assert "Preferencias guardadas." not in by_locale.out  # nothing was changed
    marked = cli("notifications", "--read-all", LANG="es_ES.UTF-8")
    assert marked.out.strip() == "2 marcados como leídos; quedan 0 sin leer."
    assert cli("notifications", "--json", LANG="es_ES.UTF-8").json()["items"][0]["kind"] == (
        "status_changed"
    )


def outbox_rows(db: Database, **where: Any) -> list[Outbox]:
    with db.read() as session:
        query = select(Outbox)
        for name, value in where.items():
            query = query.where(getattr(Outbox, name) == value)
        return list(session.exec(query.order_by(col(Outbox.id))).all())


def test_notification_settings_change_what_comes_by_email(
    cli: CheckedCli, server: LiveServer, api: Api, tenant: Tenant
) -> None:
    cli.login(server, tenant.staff.token)
    shown = cli("notifications", "settings", "--json")
    assert shown.code == 0, shown.err
    assert shown.json() == api.as_(tenant.staff).ok("GET", "/notifications/settings")
    assert shown.json() == {"email": dict.fromkeys(KINDS, True)}

    changed = cli(
        "notifications",
        "settings",
        "--email-off",
        "new_incident",
        "--email-off",
        "Respuesta del cliente",  # a Spanish label works as well as the API name
        "--email-on",
        "status_changed",
        "--json",
    )
    assert changed.code == 0, changed.err
    wanted = {"email": {**dict.fromkeys(KINDS, True), "new_incident": False, "client_reply": False}}
    assert changed.json() == wanted
    assert api.as_(tenant.staff).ok("GET", "/notifications/settings") == wanted
    assert api.as_(tenant.admin).ok("GET", "/notifications/settings") == {
        "email": dict.fromkeys(KINDS, True)
    }

    table = cli("notifications", "settings", "--email-off", "Cambio de estado")
    assert table.code == 0, table.err
    lines = table.out.splitlines()
    assert lines[-1] == "Settings saved."
    assert re.search(r"^status_changed\s+Status change\s+no\s*$", table.out, re.M), table.out
    assert re.search(r"^staff_reply\s+Observatory reply\s+yes\s*$", table.out, re.M), table.out
    assert re.search(r"^new_incident\s+New incident\s+no\s*$", table.out, re.M), table.out
    assert re.search(r"^assigned\s+Assigned to you\s+yes\s*$", table.out, re.M), table.out
    wanted["email"]["status_changed"] = False
    assert api.as_(tenant.staff).ok("GET", "/notifications/settings") == wanted

    spanish = cli("--lang", "es", "notifications", "settings", "--email-off", "Asignada a ti")
    assert spanish.code == 0, spanish.err
    assert spanish.out.splitlines()[-1] == "Preferencias guardadas."
    assert re.search(r"^assigned\s+Asignada a ti\s+no\s*$", spanish.out, re.M), spanish.out
    wanted["email"]["assigned"] = False
    assert api.as_(tenant.staff).ok("GET", "/notifications/settings") == wanted

    for bad in ("sms", ""):
        refused(
            cli("notifications", "settings", "--email-on", "staff_reply", "--email-off", bad),
            2,
            "--email-off",
            "notification kind",
        )
    assert api.as_(tenant.staff).ok("GET", "/notifications/settings") == wanted

    # the notice still comes in the app; the e-mail only to whoever left it on
    before = len(outbox_rows(server.db, user_id=tenant.staff.id, kind="new_incident"))
    admin_before = len(outbox_rows(server.db, user_id=tenant.admin.id, kind="new_incident"))
    ref = tenant.incident(api)["ref"]
    assert cli("notifications", "--json").json()["items"][0]["incident"] == ref
    assert len(outbox_rows(server.db, user_id=tenant.staff.id, kind="new_incident")) == before
    assert (
        len(outbox_rows(server.db, user_id=tenant.admin.id, kind="new_incident"))
        == admin_before + 1
    )

    # an assignment: in the app, and (turned off) not by e-mail
    assigned_before = len(outbox_rows(server.db, user_id=tenant.staff.id, kind="assigned"))
    api.as_(tenant.admin).ok("PATCH", f"/incidents/{ref}", json={"assignee_id": tenant.staff.id})
    newest = cli("notifications", "--json").json()["items"][0]
    assert (newest["kind"], newest["incident"]) == ("assigned", ref)
    assert len(outbox_rows(server.db, user_id=tenant.staff.id, kind="assigned")) == assigned_before
    listed = cli("notifications")
    assert any("Assigned to you" in row and ref in row for row in listed.out.splitlines())


# --- incident watch: a real process ------------------------------------------------------------


# Ctrl-C must reach the command as it does in a terminal, even when the tests were started
# in the background: a shell's background jobs ignore SIGINT, their children inherit that,
# and Python then leaves it ignored.
AS_IN_A_TERMINAL = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'obs-support'; runpy.run_module('obs_support', run_name='__main__')"
)


class Watch:
    """`obs-support incident watch …` as its own process; stdout is read line by line."""

    def __init__(self, cli: Cli, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", AS_IN_A_TERMINAL, "incident", "watch", *args],
            env={**os.environ, **cli.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.err: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _drain(self, stream: Any) -> None:
        for line in stream:
            self.err.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def read(self, deadline: float) -> str | None:
        """The next line, or None if none came before `deadline`."""
        try:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.0))
        except queue.Empty:
            return None
        if line is None:
            raise AssertionError(f"watch exited ({self.proc.wait(5)}): {self.stderr}")
        return line

    def until(self, done: Callable[[str], bool], timeout: float = WAIT) -> list[str]:
        """Every line up to and including the first that is `done`."""
        deadline = time.monotonic() + timeout
        got: list[str] = []
        while True:
            line = self.read(deadline)
            if line is None:
                raise AssertionError(f"not seen within {timeout}s; got {got}; {self.stderr}")
            got.append(line)
            if done(line):
                return got

    def connect(self, poke: Callable[[str], object], seen: Callable[[str, str], bool]) -> str:
        """Write until the watch shows a write: only then is it surely following the stream.

        `poke(marker)` makes a change carrying `marker`; `seen(line, marker)` recognises it.
        Returns the line of the change that was seen.
        """
        deadline = time.monotonic() + WAIT
        n = 0
        while True:
            marker = f"ping {n}"
            poke(marker)
            wait_until = min(time.monotonic() + 0.7, deadline)
            while (line := self.read(wait_until)) is not None:
                if seen(line, marker):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"the watch showed nothing in {WAIT}s: {self.stderr}")
            n += 1

    def interrupt(self) -> int:
        """Ctrl-C; the exit code once it has ended (within a deadline)."""
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=WAIT)
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def __enter__(self) -> Watch:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def json_marker(line: str, marker: str) -> bool:
    return bool(json.loads(line)["event"].get("body") == marker)


def text_marker(line: str, marker: str) -> bool:
    return line.strip() == marker


def test_watch_json_prints_every_change_once_as_the_api_has_it(
    cli: CheckedCli, server: LiveServer, api: Api, tenant: Tenant
) -> None:
    cli.login(server, tenant.staff.token)
    ref = tenant.incident(api)["ref"]
    with Watch(cli, "--json") as watch:
        start = json.loads(
            watch.connect(lambda m: comment(api, tenant.staff, ref, m), json_marker)
        )["id"]
        other = tenant.incident(api, tenant.client_b, message="Focuser [bold]stuck[/bold]")["ref"]
        comment(api, tenant.client, ref, "Any news?")
        comment(api, tenant.staff, ref, "Only for us", internal=True)
        moved = set_status(api, tenant.staff, ref, "in_progress")
        end = comment(api, tenant.staff, other, "the end")
        lines = watch.until(lambda line: json.loads(line)["id"] == end)
        code = watch.interrupt()
    assert code == 0, watch.stderr
    assert "Traceback" not in watch.stderr
    assert watch.stderr == ""  # --json: nothing for people, nothing went wrong
    got = [json.loads(line) for line in lines]
    events = {e["id"]: e for r in (ref, other) for e in history(api, tenant.staff, r)}
    on_ref = {e["id"] for e in history(api, tenant.staff, ref)}
    assert [g["id"] for g in got] == sorted(i for i in events if i > start)
    for item in got:
        schemas.LiveEvent.model_validate(item)
        assert item["event"] == events[item["id"]]
        assert item["kind"] == item["event"]["kind"]
        assert item["incident"]["ref"] == (ref if item["id"] in on_ref else other)
    status = {g["id"]: g["incident"]["status"] for g in got}
    assert status[moved] == "in_progress"
    assert all(s == "open" for i, s in status.items() if i < moved)
    listed = api.as_(tenant.staff).ok("GET", "/incidents")["items"]
    assert got[-1]["incident"] == next(i for i in listed if i["ref"] == other)


def test_watch_shows_one_incident_with_user_text_literally(
    cli: CheckedCli, server: LiveServer, api: Api, tenant: Tenant
) -> None:
    cli.login(server, tenant.client.token)
    ref = tenant.incident(api, message="[bold]x[/bold] dome\nIt stopped at noon.")["ref"]
    other = tenant.incident(api, message="Another thing")["ref"]
    number = ref.rsplit("-", 1)[1]
    with Watch(cli, number) as watch:  # the bare number names the same incident
        watch.connect(lambda m: comment(api, tenant.staff, ref, m), text_marker)
        comment(api, tenant.staff, ref, "[link=http://evil]y[/link] and [bold]x[/bold]")
        comment(api, tenant.staff, ref, "secret note", internal=True)
        set_status(api, tenant.staff, ref, "in_progress")
        api.as_(tenant.staff).ok("PATCH", f"/incidents/{ref}", json={"summary": "[red]new[/red]"})
        comment(api, tenant.staff, other, "elsewhere")
        comment(api, tenant.staff, ref, "the end")
        lines = watch.until(lambda line: line.strip() == "the end")
        code = watch.interrupt()
    assert code == 0, watch.stderr
    assert "Traceback" not in watch.stderr
    assert watch.stderr.strip() == f"Watching {ref} live (Ctrl-C to stop)…"
    heads = [line for line in lines if not line.startswith("    ")]
    bodies = [line[4:] for line in lines if line.startswith("    ")]
    assert heads and all(h.startswith(f"{ref}  ") for h in heads), lines
    assert bodies == [
        "[link=http://evil]y[/link] and [bold]x[/bold]",
        "[red]new[/red]",
        "the end",
    ]
    said, moved, renamed, last = heads
    when = r"\d{4}-\d\d-\d\d \d\d:\d\d"
    expected = f"{ref}  Open  {when}  Staff Member commented  " + re.escape("[bold]x[/bold] dome")
    assert re.fullmatch(expected, said), said
    assert "In progress" in moved and "changed status: Open → In progress" in moved, moved
    assert "changed the summary" in renamed and renamed.endswith("  [red]new[/red]"), renamed
    assert last.endswith("Staff Member commented  [red]new[/red]"), last
    text = "\n".join(lines)
    assert "secret note" not in text and other not in text and "elsewhere" not in text


def test_watch_of_an_unknown_incident_is_one_line(
    cli: CheckedCli, server: LiveServer, tenant: Tenant
) -> None:
    cli.login(server, tenant.client.token)
    run = cli("incident", "watch", "NOSUCH-9")
    # client/errors.py: 3 is "not found" (4 is not logged in / forbidden)
    refused(run, 3, "not found")
    assert run.out == ""
    theirs = cli("incident", "watch", "--json", f"{tenant.slug}-999")
    refused(theirs, 3, "not found")


@contextmanager
def server_process(
    database: str, data: Path, port: int, log: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`obs-support server run` on `port` as a process of its own (so it can really die)."""
    env = {**os.environ, "OBS_SUPPORT_DATABASE_URL": database, "OBS_SUPPORT_DATA_DIR": str(data)}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "obs_support", "server", "run", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, "the server process to answer", timeout=30)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


@BOTH
def test_watch_resumes_after_the_server_restarts_and_misses_nothing(
    cli: CheckedCli, database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    port = free_port()
    with (
        ExitStack() as stack,
        start_server(database, data) as other_server,
        Api(other_server.url) as elsewhere,
    ):
        tenant = make_tenant(other_server, elsewhere)
        ref = tenant.incident(elsewhere)["ref"]
        with (
            server_process(database, data, port, tmp_path / "server.log") as (url, process),
            Api(url) as api,
        ):
            assert cli("login", url, "--token", tenant.staff.token).code == 0
            watch = stack.enter_context(Watch(cli, "--json"))
            start = json.loads(
                watch.connect(lambda m: comment(api, tenant.staff, ref, m), json_marker)
            )["id"]
            before = comment(api, tenant.client, ref, "before the restart")
            [seen] = watch.until(lambda line: json.loads(line)["id"] == before)
            assert json.loads(seen)["event"]["body"] == "before the restart"
            process.kill()  # as in a crash or a host restart (SIGTERM has its own test)
            process.wait(timeout=10)
        # Meanwhile the incident moves on through another server on the same database.
        away = [
            comment(elsewhere, tenant.client, ref, "while it was away"),
            set_status(elsewhere, tenant.staff, ref, "in_progress"),
        ]
        monkeypatch.setattr(support, "free_port", lambda: port)
        with start_server(database, data) as again, Api(again.url) as api:
            assert again.url == url  # the same address the watch keeps trying
            lines = watch.until(lambda line: json.loads(line)["id"] == away[-1], timeout=30)
            after = comment(api, tenant.staff, ref, "after the restart")
            lines += watch.until(lambda line: json.loads(line)["id"] == after)
            code = watch.interrupt()
    assert code == 0, watch.stderr
    assert "Traceback" not in watch.stderr
    assert "connection lost; reconnecting…" in watch.stderr
    got = [json.loads(line) for line in lines]
    assert [g["id"] for g in got] == [*away, after]  # each once, in order, none repeated
    assert [g["event"]["body"] for g in got] == ["while it was away", None, "after the restart"]
    assert got[-1]["incident"]["status"] == "in_progress"
    assert start < before < away[0]


def test_server_run_stops_on_sigterm_while_a_watch_is_connected(
    cli: CheckedCli, tmp_path: Path
) -> None:
    """A restart (SIGTERM, as systemd sends) must not hang on the open live streams."""
    database = f"sqlite:///{tmp_path / 'own.sqlite3'}"
    data = tmp_path / "data"
    with start_server(database, data) as setup, Api(setup.url) as setup_api:
        tenant = make_tenant(setup, setup_api)
        ref = tenant.incident(setup_api)["ref"]
    log = tmp_path / "server.log"
    with (
        server_process(database, data, free_port(), log) as (url, proc),
        Api(url) as api,
    ):
        assert cli("login", url, "--token", tenant.staff.token).code == 0
        with Watch(cli, "--json") as watch:
            watch.connect(lambda m: comment(api, tenant.staff, ref, m), json_marker)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                raise AssertionError(
                    "`obs-support server run` did not stop within 5 s of SIGTERM while a "
                    f"watch was connected; its log:\n{log.read_text()}"
                ) from None
            # uvicorn re-raises the signal once it has shut down cleanly
            assert proc.returncode in (0, -signal.SIGTERM), log.read_text()
            wait_for(lambda: "reconnecting" in watch.stderr, "the watch to notice")
            assert watch.interrupt() == 0
            assert "Traceback" not in watch.stderr


# --- observatory branding ----------------------------------------------------------------------


def test_branding_by_the_admin_and_nothing_half_done(
    cli: CheckedCli, server: LiveServer, api: Api, tenant: Tenant, tmp_path: Path
) -> None:
    cli.login(server, tenant.admin.token, profile="admin")
    cli.login(server, tenant.staff.token, profile="staff")
    admin = ("--profile", "admin", "observatory", "branding")
    logo = tmp_path / "logo.png"
    picture = png_bytes(64, 48, note=uuid.uuid4().hex)
    logo.write_bytes(picture)
    name = "Observatorio [bold]Nuevo[/bold]"

    # Before any change: the labels in the reader's language, no logo, no contact yet.
    fresh = cli(*admin)
    assert fresh.code == 0, fresh.err
    assert fresh.out.splitlines() == [
        f"Observatory {tenant.slug} ({tenant.slug})",
        "  accent:    #1f6feb",
        "  logo:      no",
        "  contact:   —",
        "  language:  es",
    ]
    fresco = cli("--lang", "es", *admin)
    assert fresco.code == 0, fresco.err
    assert fresco.out.splitlines() == [
        f"Observatory {tenant.slug} ({tenant.slug})",
        "  color:     #1f6feb",
        "  logotipo:  no",
        "  contacto:  —",
        "  idioma:    es",
    ]

    done = cli(
        *admin,
        "--name",
        name,
        "--logo",
        logo,
        "--accent",
        "#1a2B3c",
        "--support-email",
        "soporte@nuevo.example",
        "--language",
        "en",
        "--json",
    )
    assert done.code == 0, done.err
    shown = api.as_(tenant.client).ok("GET", "/observatory")
    assert done.json() == shown
    assert shown["name"] == name
    assert shown["accent_color"].lower() == "#1a2b3c"
    assert (shown["support_email"], shown["default_language"], shown["has_logo"]) == (
        "soporte@nuevo.example",
        "en",
        True,
    )

    def stored_logo() -> bytes:
        got = api.as_(tenant.client).get("/observatory/logo")
        assert got.status_code == 200, got.text
        return got.content

    assert stored_logo() == picture

    people = cli(*admin)  # no options: only shows it
    assert people.code == 0, people.err
    assert people.out.splitlines() == [
        f"{name} ({tenant.slug})",
        f"  accent:    {shown['accent_color']}",
        "  logo:      yes",
        "  contact:   soporte@nuevo.example",
        "  language:  en",
    ]
    gente = cli(*admin, LANG="es_ES.UTF-8")  # the language follows the locale too
    assert gente.code == 0, gente.err
    assert gente.out.splitlines() == [
        f"{name} ({tenant.slug})",
        f"  color:     {shown['accent_color']}",
        "  logotipo:  sí",
        "  contacto:  soporte@nuevo.example",
        "  idioma:    en",
    ]
    saved = cli(*admin, "--support-email", "otro@nuevo.example")
    assert saved.out.splitlines()[1:] == [
        f"  accent:    {shown['accent_color']}",
        "  logo:      yes",
        "  contact:   otro@nuevo.example",
        "  language:  en",
        "Branding saved.",
    ]
    shown = api.as_(tenant.client).ok("GET", "/observatory")
    assert shown["support_email"] == "otro@nuevo.example"

    another = tmp_path / "another.png"
    another.write_bytes(png_bytes(32, 32, color="#ff0000", note="other"))
    fake = tmp_path / "fake.png"
    fake.write_text("this is not an image\n")
    gif = tmp_path / "logo.gif"
    gif.write_bytes(picture)
    # (arguments, the exit codes allowed, a phrase of the error): nothing may change
    attempts: list[tuple[tuple[str | Path, ...], tuple[int, ...], str]] = [
        (("--profile", "staff", "observatory", "branding", "--name", "Hacked"), (4,), "forbidden"),
        (("--profile", "staff", "observatory", "branding", "--logo", another), (4,), "forbidden"),
        ((*admin, "--accent", "red", "--logo", another, "--name", "Other"), (5,), "accent_color"),
        ((*admin, "--language", "fr", "--logo", another), (5,), "default_language"),
        ((*admin, "--support-email", "nope", "--logo", another), (5,), "support_email"),
        # the server's 415 maps to the generic 1 (client/errors.py); 5 would suit it as well
        ((*admin, "--logo", fake, "--name", "Other"), (1, 5), "PNG"),
        ((*admin, "--logo", tmp_path / "missing.png", "--name", "Other"), (2,), "--logo"),
        ((*admin, "--logo", gif, "--name", "Other"), (2,), "--logo"),
    ]
    for args, codes, phrase in attempts:
        run = cli(*args)
        assert run.code in codes, (args, run.code, run.err)
        refused(run, run.code, phrase)
        assert run.out == ""
        assert api.as_(tenant.client).ok("GET", "/observatory") == shown, args
        assert stored_logo() == picture, args
    assert "missing.png" in refused(cli(*admin, "--logo", tmp_path / "missing.png"), 2)


# --- login --forgot ----------------------------------------------------------------------------


def reset_mail(server: LiveServer, address: str) -> email.message.EmailMessage:
    """The reset message delivered to `address` as an .eml file (waits for it)."""

    def delivered() -> Path | None:
        rows = outbox_rows(server.db, to_addr=address, kind="password_reset", status="sent")
        if not rows:
            return None
        path = server.settings.mail_dir / f"{rows[-1].id:08d}-password_reset.eml"
        return path if path.exists() else None

    path = wait_for(delivered, f"the reset mail to {address}")
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_forgot_password_answers_the_same_and_mails_only_real_users(
    cli: CheckedCli, server: LiveServer, api: Api, tenant: Tenant
) -> None:
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.org"
    said: dict[str, str] = {}
    # The unknown address first: the link for the known one is looked up after it, so by the
    # time that link has been delivered the unknown address has long been looked up too.
    for address in (unknown, tenant.client.email):
        run = cli("login", server.url, "--forgot", address, "--observatory", tenant.slug)
        assert run.code == 0, run.err
        lines = run.out.strip().splitlines()
        assert len(lines) == 1
        said[address] = lines[0].replace(address, "EMAIL")
        assert run.err == ""
    assert said[tenant.client.email] == said[unknown]
    assert said[unknown] == (
        "If EMAIL has an account, a link to choose a new password is on its way (valid one hour)."
    )
    message = reset_mail(server, tenant.client.email)
    assert tenant.client.email in str(message["To"])
    body = message.get_body(("plain",))
    assert body is not None
    assert re.search(rf"/o/{tenant.slug.lower()}/reset/obsrst_\w+", body.get_content())
    assert outbox_rows(server.db, to_addr=unknown) == []
    assert not (cli.config / "config.json").exists()  # asking logs nobody in

    # with a saved profile the address and observatory come from it
    cli.login(server, tenant.staff.token)
    run = cli("login", "--forgot", tenant.staff.email)
    assert run.code == 0, run.err
    assert tenant.staff.email in run.out
    assert tenant.staff.email in str(reset_mail(server, tenant.staff.email)["To"])
    spanish = cli("--lang", "es", "login", "--forgot", unknown)
    assert spanish.out.strip().startswith(f"Si {unknown} tiene cuenta")
    assert outbox_rows(server.db, to_addr=unknown) == []
    assert cli("whoami", "--json").json()["id"] == tenant.staff.id  # still logged in

    refused(cli("login", server.url, "--forgot", "not-an-address"), 5, "email")
    refused(cli("--profile", "fresh", "login", "--forgot", unknown), 2, "server's address")
    # Several commands later, the Spanish request for the unknown address has been handled too.
    assert outbox_rows(server.db, to_addr=unknown) == []


# --- server outbox -----------------------------------------------------------------------------


def outbox_cli(cli: Cli, database: str, data: Path, *args: str) -> Run:
    env = {"OBS_SUPPORT_DATABASE_URL": database, "OBS_SUPPORT_DATA_DIR": str(data)}
    return cli("server", "outbox", *args, **env)


def test_outbox_lists_the_sent_mail_with_its_files(
    cli: CheckedCli, server: LiveServer, api: Api, tenant: Tenant
) -> None:
    ref = tenant.incident(api)["ref"]  # new_incident mail to the admin and the staff member
    comment(api, tenant.staff, ref, "On our way")  # staff_reply mail to the client
    ours = {tenant.admin.email, tenant.staff.email, tenant.client.email}

    def all_sent() -> list[Outbox]:
        rows = [r for r in outbox_rows(server.db) if r.to_addr in ours]
        return rows if len(rows) == 3 and all(r.status == "sent" for r in rows) else []

    rows = wait_for(all_sent, "our three messages to be delivered")
    data = server.settings.data_dir
    listed = outbox_cli(cli, server.database_url, data, "--json", "--limit", "10000")
    assert listed.code == 0, listed.err
    lines = [json.loads(line) for line in listed.out.splitlines()]
    assert [x["id"] for x in lines] == sorted((x["id"] for x in lines), reverse=True)
    mine = [x for x in lines if x["to"] in ours]
    assert [x["id"] for x in mine] == [r.id for r in reversed(rows)]
    for x, row in zip(mine, reversed(rows), strict=True):
        assert (x["status"], x["kind"], x["to"], x["subject"], x["attempts"]) == (
            "sent",
            row.kind,
            row.to_addr,
            row.subject,
            1,
        )
        assert x["last_error"] is None
        for moment in ("created_at", "sent_at", "next_attempt_at"):
            parsed = datetime.fromisoformat(x[moment])
            assert "T" in x[moment] and parsed.utcoffset() == timedelta(0), x[moment]
        assert datetime.fromisoformat(x["sent_at"]) == row.sent_at
        path = server.settings.mail_dir / f"{row.id:08d}-{row.kind}.eml"
        assert x["file"] == str(path)
        assert row.to_addr in path.read_text(encoding="utf-8", errors="replace")
    assert sorted(x["kind"] for x in mine) == ["new_incident", "new_incident", "staff_reply"]

    sent = outbox_cli(cli, server.database_url, data, "--status", "sent", "--json", "-n", "10000")
    only_sent = [json.loads(line) for line in sent.out.splitlines()]
    assert {x["status"] for x in only_sent} == {"sent"}
    assert [x for x in only_sent if x["to"] in ours] == mine
    pending = outbox_cli(cli, server.database_url, data, "--status", "pending", "--json")
    assert not [x for x in map(json.loads, pending.out.splitlines()) if x["to"] in ours]
    newest = outbox_cli(cli, server.database_url, data, "--json", "--limit", "1")
    assert [json.loads(line)["id"] for line in newest.out.splitlines()] == [lines[0]["id"]]

    people = outbox_cli(cli, server.database_url, data, "--limit", "10000")
    assert people.code == 0, people.err
    tally = r"\d+ pending, \d+ failed, \d+ sent · delivery: \.eml files in "
    assert re.fullmatch(tally + re.escape(str(data / "mail")), people.err.strip()), people.err
    row = next(line for line in people.out.splitlines() if line.startswith(f"{rows[-1].id} "))
    assert "sent" in row and "staff_reply" in row and tenant.client.email in row

    refused(outbox_cli(cli, server.database_url, data, "--status", "bogus"), 1, "--status")


@BOTH
def test_outbox_shows_failed_mail_and_sends_it_again(
    cli: CheckedCli, database: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    closed = free_port()  # nothing listens there: every SMTP attempt is refused
    with (
        start_server(
            database, data, smtp_url=f"smtp://127.0.0.1:{closed}", mail_max_attempts=1
        ) as failing,
        Api(failing.url) as api,
    ):
        tenant = make_tenant(failing, api)
        for who in (tenant.client, tenant.staff):
            api.ok("POST", "/auth/forgot", json={"email": who.email, "observatory": tenant.slug})

        def both_failed() -> list[Outbox]:
            rows = outbox_rows(failing.db)
            return rows if len(rows) == 2 and all(r.status == "failed" for r in rows) else []

        first, second = wait_for(both_failed, "both messages to fail")
    assert first.to_addr == tenant.client.email

    failed = outbox_cli(cli, database, data, "--status", "failed", "--json")
    assert failed.code == 0, failed.err
    lines = [json.loads(line) for line in failed.out.splitlines()]
    assert [x["id"] for x in lines] == [second.id, first.id]
    for x in lines:
        assert (x["status"], x["kind"], x["attempts"], x["file"]) == (
            "failed",
            "password_reset",
            1,
            None,
        )
        assert "Connection refused" in x["last_error"] or "ConnectionRefused" in x["last_error"]
    people = outbox_cli(cli, database, data, "--status", "failed")
    assert people.err.startswith("0 pending, 2 failed, 0 sent · delivery: .eml files in ")
    assert tenant.client.email in people.out and "Connection refused" in people.out
    assert outbox_cli(cli, database, data, "--status", "sent", "--json").out == ""

    mail = data / "mail" / f"{first.id:08d}-password_reset.eml"
    with start_server(database, data) as running, Api(running.url) as api:
        retried = outbox_cli(cli, database, data, "--retry", str(first.id))
        assert retried.code == 0, retried.err
        assert retried.err.startswith("1 failed message(s) queued again")
        statuses = {r.id: r.status for r in outbox_rows(running.db)}
        assert statuses[second.id] == "failed"
        # "the server sends them now". On PostgreSQL the servers sharing the database wake each
        # other with NOTIFY, so a running one should deliver at once. SQLite has no such
        # wake-up between processes: there new mail through the server wakes its worker.
        prompt = not running.db.is_sqlite and bool(poll(mail.exists, timeout=5))
        if not prompt:
            api.ok(
                "POST",
                "/auth/forgot",
                json={"email": tenant.admin.email, "observatory": tenant.slug},
            )
            wait_for(mail.exists, "the retried mail after a nudge")
        message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
        assert tenant.client.email in str(message["To"])

        def listed_as_sent() -> Json | None:
            run = outbox_cli(cli, database, data, "--json")
            rows = [json.loads(line) for line in run.out.splitlines()]
            return next((x for x in rows if x["id"] == first.id and x["status"] == "sent"), None)

        row = wait_for(listed_as_sent, "the retried mail to show as sent")
        assert (row["file"], row["attempts"], row["last_error"]) == (str(mail), 1, None)
        assert outbox_cli(cli, database, data, "--retry", str(first.id)).err.startswith("0 ")
        again = outbox_cli(cli, database, data, "--retry-failed")
        assert again.code == 0 and again.err.startswith("1 failed message(s) queued again")
        # back in the queue (this server may already be sending it)
        assert {r.id: r.status for r in outbox_rows(running.db)}[second.id] in ("pending", "sent")
    assert prompt or database.startswith("sqlite"), (
        "server outbox --retry says 'the server sends them now', but the running server on "
        "PostgreSQL did not deliver the retried mail within 5 s (only once other mail woke it)"
    )


def _aged(
    database: str, outbox: dict[int, dict[str, Any]], resets: dict[int, dict[str, Any]]
) -> None:
    """Set columns of outbox and password-reset rows straight in the database."""
    db = connect(database)
    try:
        with db.write() as session:
            for row_id, values in outbox.items():
                session.execute(update(Outbox).where(col(Outbox.id) == row_id).values(**values))
            for row_id, values in resets.items():
                session.execute(
                    update(PasswordReset).where(col(PasswordReset.id) == row_id).values(**values)
                )
    finally:
        db.dispose()


def _reset_ids(db: Database) -> list[int]:
    with db.read() as session:
        return [
            r.id or 0 for r in session.exec(select(PasswordReset).order_by(col(PasswordReset.id)))
        ]


@BOTH
def test_gc_forgets_mail_sent_over_a_month_ago_and_dead_reset_links(
    cli: CheckedCli, database: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    with start_server(database, data) as live, Api(live.url) as api:
        tenant = make_tenant(live, api)
        tenant.incident(api)  # new_incident mail to the admin and the staff member
        for who in (tenant.client, tenant.staff, tenant.admin):
            body = {"email": who.email, "observatory": tenant.slug}
            api.ok("POST", "/auth/forgot", json=body, expect=202)

        def all_sent() -> list[Outbox]:
            rows = outbox_rows(live.db)
            return rows if len(rows) == 5 and all(r.status == "sent" for r in rows) else []

        wait_for(all_sent, "five messages to be delivered")
    closed = free_port()  # mail that cannot go out stays pending
    with (
        start_server(database, data, smtp_url=f"smtp://127.0.0.1:{closed}") as down,
        Api(down.url) as api,
    ):
        body = {"email": tenant.client_b.email, "observatory": tenant.slug}
        api.ok("POST", "/auth/forgot", json=body, expect=202)
        # The link is prepared once the answer has gone (known and unknown addresses alike).
        rows = wait_for(lambda: r if len(r := outbox_rows(down.db)) == 6 else [], "the reset")
        resets = _reset_ids(down.db)
    assert [r.kind for r in rows] == ["new_incident"] * 2 + ["password_reset"] * 4
    assert [r.status for r in rows[-1:]] == ["pending"]
    assert len(resets) == 4

    now = datetime.now(UTC)
    day = timedelta(days=1)
    old_sent, month_sent, recent_sent, old_failed, other_sent, old_pending = (
        r.id or 0 for r in rows
    )
    dead_reset, used_reset, recently_dead, live_reset = resets
    _aged(
        database,
        outbox={
            old_sent: {"created_at": now - 31 * day, "sent_at": now - 31 * day},
            month_sent: {"created_at": now - 29 * day, "sent_at": now - 29 * day},
            old_failed: {"status": "failed", "sent_at": None, "created_at": now - 90 * day},
            old_pending: {"created_at": now - 90 * day, "next_attempt_at": now - 90 * day},
        },
        resets={
            dead_reset: {"created_at": now - 2 * day, "expires_at": now - 2 * day + VALID},
            used_reset: {
                "created_at": now - 2 * day,
                "expires_at": now - 2 * day + VALID,
                "used_at": now - 2 * day,
            },
            recently_dead: {"created_at": now - 2 * VALID, "expires_at": now - VALID},
        },
    )

    env = {"OBS_SUPPORT_DATABASE_URL": database, "OBS_SUPPORT_DATA_DIR": str(data)}
    first = cli("server", "gc", **env)
    assert first.code == 0, first.err
    assert " ".join(first.err.split()) == (
        "removed 0 expired upload(s), 0 stray part file(s), 0 unreferenced file(s), "
        "0 idempotency key(s) over a week old, 1 e-mail(s) sent over a month ago, "
        "2 dead reset link(s)"
    )
    db = connect(database)
    try:
        kept = {r.id or 0: r.status for r in outbox_rows(db)}
        assert kept == {
            month_sent: "sent",
            recent_sent: "sent",
            old_failed: "failed",
            other_sent: "sent",
            old_pending: "pending",
        }
        assert _reset_ids(db) == [recently_dead, live_reset]
    finally:
        db.dispose()
    listed = outbox_cli(cli, database, data, "--json")
    assert sorted(json.loads(line)["id"] for line in listed.out.splitlines()) == sorted(kept)

    again = cli("server", "gc", **env)
    assert again.code == 0, again.err
    assert " ".join(again.err.split()).endswith(
        ", 0 e-mail(s) sent over a month ago, 0 dead reset link(s)"
    )


# --- invite: the server sends the link ---------------------------------------------------------


def invitation_mail(server: LiveServer, address: str) -> email.message.EmailMessage:
    """The invitation delivered to `address` as an .eml file (waits for it)."""

    def delivered() -> Path | None:
        rows = outbox_rows(server.db, to_addr=address, kind="invitation", status="sent")
        if not rows:
            return None
        path = server.settings.mail_dir / f"{rows[-1].id:08d}-invitation.eml"
        return path if path.exists() else None

    path = wait_for(delivered, f"the invitation to {address}")
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_invite_says_the_mail_went_and_writes_it_in_the_language_asked_for(
    cli: CheckedCli, server: LiveServer, api: Api, tenant: Tenant
) -> None:
    cli.login(server, tenant.admin.token)
    link = re.compile(re.escape(f"{server.url}/o/{tenant.slug.lower()}/invite/") + r"obsinv_\w+")
    english = f"ana-{uuid.uuid4().hex[:8]}@example.org"
    run = cli("invite", english, "--role", "client", "--account", "Account A", "--language", "en")
    assert run.code == 0, run.err
    said, printed = run.out.splitlines()
    assert said == (
        f"Invitation for {english} (Client) sent by e-mail. "
        "The link, should you need to hand it over yourself:"
    )
    assert link.fullmatch(printed), printed
    message = invitation_mail(server, english)
    assert message["Content-Language"] == "en"
    assert str(message["Subject"]) == f"Invitation to Observatory {tenant.slug} support"
    body = message.get_body(("plain",))
    assert isinstance(body, email.message.EmailMessage)
    assert printed in link.findall(body.get_content())

    # Without --language the e-mail is in the observatory's language; the CLI in its own.
    spanish = f"luis-{uuid.uuid4().hex[:8]}@example.org"
    run = cli("--lang", "es", "invite", spanish, "--role", "staff")
    assert run.code == 0, run.err
    said, printed = run.out.splitlines()
    assert said == (
        f"Invitación para {spanish} (Personal) enviada por correo. "
        "El enlace, por si hace falta darlo en mano:"
    )
    assert link.fullmatch(printed), printed
    message = invitation_mail(server, spanish)
    assert message["Content-Language"] == "es"
    assert str(message["Subject"]) == f"Invitación al soporte de Observatory {tenant.slug}"

    issued = cli("invite", f"x-{spanish}", "--role", "staff", "--language", "en", "--json")
    assert issued.code == 0, issued.err
    assert link.fullmatch(issued.json()["link"])
    assert invitation_mail(server, f"x-{spanish}")["Content-Language"] == "en"

    nobody = f"nobody-{uuid.uuid4().hex[:8]}@example.org"
    refused(cli("invite", nobody, "--role", "staff", "--language", "fr"), 5, "language")
    pending = api.as_(tenant.admin).ok("GET", "/invitations")
    assert nobody not in {i["email"] for i in pending}
    assert outbox_rows(server.db, to_addr=nobody) == []


# --- accept-invite, the old link form ----------------------------------------------------------


def test_accept_invite_takes_the_old_link_form_and_refuses_garbage(
    cli: CheckedCli, server: LiveServer, api: Api, tenant: Tenant
) -> None:
    email_addr = f"old-{uuid.uuid4().hex[:8]}@example.org"
    body = {"email": email_addr, "role": "client", "client_account_id": tenant.account_a}
    inv = api.as_(tenant.admin).ok("POST", "/invitations", json=body, expect=201)
    assert "/invite/" in inv["link"]
    for garbage in (
        "nonsense",
        f"{server.url}/o/{tenant.slug.lower()}/invite/",
        f"{server.url}/invitation/{inv['token']}",
        f"{server.url}/invite#",
        f"ftp://127.0.0.1/invite#{inv['token']}",
    ):
        run = cli(
            "accept-invite", garbage, "--name", "Nope", "--password-stdin", input=PASSWORD + "\n"
        )
        refused(run, 2)
    assert not (cli.config / "config.json").exists()
    pending = api.as_(tenant.admin).ok("GET", "/invitations")
    assert next(i for i in pending if i["id"] == inv["id"])["accepted_at"] is None

    old = f"{server.url}/invite#{inv['token']}"
    run = cli("accept-invite", old, "--name", "Old Link", "--password-stdin", input=PASSWORD + "\n")
    assert run.code == 0, run.err
    assert run.out.strip() == "Logged in as Old Link (Client) at Observatory " + tenant.slug + "."
    who = cli("whoami", "--json").json()
    assert (who["email"], who["role"], who["observatory"]["slug"]) == (
        email_addr,
        "client",
        tenant.slug,
    )
