"""The administrator's commands (`server init|migrate`, `demo`) and the CLI's import boundary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import func, select

from obs_support.domain import IncidentType, Priority, Status
from obs_support.server import demo
from obs_support.server.db import connect
from obs_support.server.models import Incident, Notification, Outbox
from tests.support import free_port

CLI = [sys.executable, "-m", "obs_support"]


def run(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=120)


def test_init_prints_the_admin_token_once_on_its_own_line(tmp_path: Path) -> None:
    result = run(
        "server",
        "init",
        "--observatory",
        "Observatorio del Teide",
        "--admin-email",
        "ana@teide.example",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("obs_")
    assert "TEIDE" in result.stderr
    again = run(
        "server",
        "init",
        "--observatory",
        "Otro",
        "--slug",
        "teide",
        "--admin-email",
        "b@teide.example",
    )
    assert again.returncode == 1
    assert again.stderr.strip().count("\n") == 0
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slug", "1BAD"], "slug"),
        (["--slug", "TOO-LONG-AND-DASHED"], "slug"),
        (["--admin-email", "nope"], "e-mail"),
        (["--language", "fr"], "language"),
    ],
)
def test_init_refuses_bad_input_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    base = {"--observatory": "Obs", "--admin-email": "a@b.example"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    flat = [x for pair in base.items() for x in pair]
    result = run("server", "init", *flat)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_is_idempotent_and_reports(tmp_path: Path) -> None:
    first = run("server", "migrate")
    assert first.returncode == 0
    assert "applied" in first.stderr
    second = run("server", "migrate")
    assert "up to date" in second.stderr


def test_unreachable_database_is_one_clear_line() -> None:
    result = run(
        "server",
        "migrate",
        env_extra={"OBS_SUPPORT_DATABASE_URL": "postgresql+psycopg://x@127.0.0.1:1/x"},
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach the database")
    assert "Traceback" not in result.stderr


def test_demo_seeds_once_and_covers_every_value(tmp_path: Path) -> None:
    first = run("demo", "--seed-only")
    assert first.returncode == 0, first.stderr
    assert "Created the demo data" in first.stderr
    assert demo.STAFF_EMAIL in first.stderr
    second = run("demo", "--seed-only")
    assert "Reusing the demo data" in second.stderr
    db = connect(f"sqlite:///{Path(os.environ['OBS_SUPPORT_DATA_DIR']) / 'obs-support.sqlite3'}")
    with db.read() as session:
        rows = session.exec(select(Incident.status, Incident.type, Incident.priority)).all()
        total = session.exec(select(func.count()).select_from(Incident)).one()
        mail = session.exec(select(func.count()).select_from(Outbox)).one()
        told = session.exec(select(func.count()).select_from(Notification)).one()
    db.dispose()
    assert total == 30
    # Made-up incidents e-mail nobody; the in-app notifications stay for the demo to show.
    assert mail == 0
    assert told > 0
    assert {r[0] for r in rows} == {s.value for s in Status}
    assert {r[1] for r in rows} == {t.value for t in IncidentType}
    assert {r[2] for r in rows} == {int(p) for p in Priority}


def test_demo_serves_and_its_printed_login_works(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "demo", "--port", str(port)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stderr is not None
        banner = ""
        while "API documentation" not in banner:
            line = proc.stderr.readline()
            assert line, banner
            banner += line
        assert f"http://127.0.0.1:{port}" in banner
        for _ in range(200):
            try:
                r = httpx.post(
                    f"http://127.0.0.1:{port}/api/v1/auth/login",
                    json={"email": demo.STAFF_EMAIL, "password": demo.PASSWORD},
                )
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert r.status_code == 200
        token = r.json()["token"]
        page = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/incidents",
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert len(page["items"]) == 30
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_start_up_loads_no_server_or_heavy_modules() -> None:
    code = (
        "import sys, json; import obs_support.cli.main; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'sqlalchemy','sqlmodel','fastapi','uvicorn','alembic','faster_whisper','numpy','textual'}"
        " or m.startswith('obs_support.server'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_help_and_version() -> None:
    assert run("--help").returncode == 0
    version = run("--version")
    assert version.stdout.startswith("obs-support ")
    assert "Example:" in run("server", "init", "--help").stdout
    shown = run("incident", "show", "--help", env_extra={"COLUMNS": "120"}).stdout
    assert "TEIDE-42 or 42." in shown  # arguments carry their help too
    assert "\\[" not in shown  # and no escaped markup leaks into it


def test_a_host_can_serve_several_observatories(tmp_path: Path) -> None:
    first = run(
        "server",
        "init",
        "--observatory",
        "Teide",
        "--slug",
        "TEIDE",
        "--admin-email",
        "a@teide.example",
    )
    second = run(
        "server",
        "observatory",
        "add",
        "Roque de los Muchachos",
        "--slug",
        "ROQUE",
        "--admin-email",
        "a@roque.example",
    )
    assert first.returncode == second.returncode == 0, second.stderr
    assert second.stdout.strip().startswith("obs_")
    listed = run("server", "observatory", "list")
    assert listed.stdout.splitlines() == ["ROQUE\tRoque de los Muchachos", "TEIDE\tTeide"]
