"""Test fixtures: a real server on a local port, on a real SQLite file and on PostgreSQL.

Every test builds its own observatory (a tenant) through the real API, so tests never see
each other's data and need no cleanup, on either database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Api, LiveServer, Tenant, make_tenant, postgres_database, start_server
from tests.voice_support import speech, virtual_mic, voice_env, whisper_cache  # noqa: F401

# The terminal app's tests share a module-wide server (`lite`, `lite_api`, `lite_tenant`).
pytest_plugins = ["tests.tui_support"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow",
        action="store_true",
        default=False,
        help="run the long variants of the hostile-input tests (many more generated cases)",
    )


@pytest.fixture(scope="session")
def slow(request: pytest.FixtureRequest) -> bool:
    """Whether to run long variants: tests size themselves from it instead of skipping."""
    return bool(request.config.getoption("--slow"))


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing a test runs may touch the real user's data or config."""
    monkeypatch.setenv("OBS_SUPPORT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.delenv("OBS_SUPPORT_DATABASE_URL", raising=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI a skip is a failure: nothing may silently not run there."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true makes skips failures): {reason}"


def database_url(kind: str, tmp_root: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_root / 'server.sqlite3'}"
        return
    base = os.environ.get("OBS_SUPPORT_TEST_POSTGRES_URL")
    if not base:
        message = "PostgreSQL pass needs OBS_SUPPORT_TEST_POSTGRES_URL (.ci/run sets it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with postgres_database(base, f"obs_test_{uuid.uuid4().hex[:12]}") as url:
        yield url


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty PostgreSQL database of this test's own, dropped afterwards."""
    yield from database_url("postgres", tmp_path)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A real server on a free local port, one per database kind for the whole session."""
    root = tmp_path_factory.mktemp(f"server-{request.param}")
    for url in database_url(request.param, root):
        with start_server(url, root / "data") as live:
            yield live


@pytest.fixture
def api(server: LiveServer) -> Iterator[Api]:
    with Api(server.url) as client:
        yield client


@pytest.fixture
def tenant(server: LiveServer, api: Api) -> Tenant:
    """A fresh observatory: an admin, a staff member, two client accounts with a client each."""
    return make_tenant(server, api)


@pytest.fixture
def other_tenant(server: LiveServer, api: Api) -> Tenant:
    return make_tenant(server, api)
