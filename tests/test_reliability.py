"""Reliability: concurrent writers, idempotent retries, lock timeouts, crash durability."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text, update

from obs_support.server import idempotency
from obs_support.server.db import connect
from obs_support.server.models import IdempotencyKey
from obs_support.server.state import AppState
from obs_support.server.types import utcnow
from tests.support import Api, LiveServer, Tenant, free_port, make_tenant, start_server


def body(**extra: Any) -> dict[str, Any]:
    return {"type": "repair", "priority": "high", "message": "Dome motor fault", **extra}


class TestConcurrentCreation:
    def test_twenty_parallel_writers_get_gap_free_unique_numbers(
        self, api: Api, server: LiveServer, tenant: Tenant
    ) -> None:
        writers, per_writer = 20, 5

        def write(i: int) -> list[int]:
            who = tenant.client if i % 2 else tenant.client_b
            with Api(server.url, who.token) as mine:
                return [
                    mine.ok(
                        "POST", "/incidents", json=body(message=f"writer {i} #{n}"), expect=201
                    )["number"]
                    for n in range(per_writer)
                ]

        with ThreadPoolExecutor(max_workers=writers) as pool:
            numbers = [n for batch in pool.map(write, range(writers)) for n in batch]
        assert sorted(numbers) == list(range(1, writers * per_writer + 1))
        counts = api.as_(tenant.staff).ok("GET", "/incidents/counts")
        assert counts["counts"]["open"] == writers * per_writer

    def test_parallel_status_changes_keep_counters_exact(
        self, api: Api, server: LiveServer, tenant: Tenant
    ) -> None:
        """Ten first-ever moves into `blocked` at once all create the same counter row."""
        refs = [tenant.incident(api)["ref"] for _ in range(10)]

        def block(ref: str) -> int:
            with Api(server.url, tenant.staff.token) as mine:
                change = {"status": "blocked", "reason": "parts"}
                return mine.post(f"/incidents/{ref}/status", json=change).status_code

        with ThreadPoolExecutor(max_workers=10) as pool:
            assert set(pool.map(block, refs)) == {200}
        counts = api.as_(tenant.staff).ok("GET", "/incidents/counts")["counts"]
        assert (counts["open"], counts["blocked"]) == (0, 10)


class TestIdempotency:
    def test_retry_with_same_key_replays_the_first_answer(self, api: Api, tenant: Tenant) -> None:
        client = api.as_(tenant.client)
        key = {"Idempotency-Key": str(uuid.uuid4())}
        first = client.post("/incidents", json=body(), headers=key)
        again = client.post("/incidents", json=body(), headers=key)
        assert first.status_code == again.status_code == 201
        assert first.json() == again.json()
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert client.ok("GET", "/incidents/counts")["total"] == 1

    def test_same_key_different_body_is_refused(self, api: Api, tenant: Tenant) -> None:
        client = api.as_(tenant.client)
        key = {"Idempotency-Key": "k-1"}
        client.ok("POST", "/incidents", json=body(), headers=key, expect=201)
        r = client.post("/incidents", json=body(message="something else"), headers=key)
        assert r.status_code == 422
        assert r.json()["code"] == "idempotency_key_reused"
        assert client.ok("GET", "/incidents/counts")["total"] == 1

    def test_keys_are_scoped_to_the_caller(self, api: Api, tenant: Tenant) -> None:
        key = {"Idempotency-Key": "shared"}
        a = api.as_(tenant.client).ok("POST", "/incidents", json=body(), headers=key, expect=201)
        b = api.as_(tenant.client_b).ok("POST", "/incidents", json=body(), headers=key, expect=201)
        assert a["ref"] != b["ref"]

    def test_comment_and_status_retries_act_once(self, api: Api, tenant: Tenant) -> None:
        ref = tenant.incident(api)["ref"]
        staff = api.as_(tenant.staff)
        for _ in range(3):
            staff.ok(
                "POST",
                f"/incidents/{ref}/comments",
                json={"body": "once"},
                headers={"Idempotency-Key": "c1"},
                expect=201,
            )
            staff.ok(
                "POST",
                f"/incidents/{ref}/status",
                json={"status": "in_progress"},
                headers={"Idempotency-Key": "s1"},
            )
        events = staff.ok("GET", f"/incidents/{ref}")["events"]
        assert sum(e.get("body") == "once" for e in events) == 1
        assert sum(e["kind"] == "status_changed" for e in events) == 1

    def test_concurrent_retries_with_one_key_create_one_incident(
        self, api: Api, server: LiveServer, tenant: Tenant
    ) -> None:
        headers = {"Idempotency-Key": "burst", "Authorization": f"Bearer {tenant.client.token}"}

        def send(_: int) -> tuple[int, str]:
            r = httpx.post(
                f"{server.url}/api/v1/incidents", json=body(), headers=headers, timeout=30
            )
            return r.status_code, r.json().get("ref", "")

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(send, range(8)))
        assert {status for status, _ in results} == {201}
        assert len({ref for _, ref in results}) == 1
        assert api.as_(tenant.client).ok("GET", "/incidents/counts")["total"] == 1

    def test_keys_older_than_a_week_are_pruned(
        self, api: Api, server: LiveServer, tenant: Tenant
    ) -> None:
        client = api.as_(tenant.client)
        for key in ("old", "new"):
            client.ok(
                "POST",
                "/incidents",
                json=body(message=key),
                headers={"Idempotency-Key": key},
                expect=201,
            )
        with server.db.write() as session:
            session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.key == "old", IdempotencyKey.user_id == tenant.client.id)
                .values(created_at=utcnow() - timedelta(days=8))
            )
        assert idempotency.prune(AppState(settings=server.settings, db=server.db)) >= 1
        # The recent key still replays; the old one is forgotten (a new request files anew).
        again = client.post(
            "/incidents", json=body(message="new"), headers={"Idempotency-Key": "new"}
        )
        assert again.headers.get("Idempotent-Replayed") == "true"
        fresh = client.post(
            "/incidents", json=body(message="old"), headers={"Idempotency-Key": "old"}
        )
        assert fresh.status_code == 201
        assert "Idempotent-Replayed" not in fresh.headers
        assert client.ok("GET", "/incidents/counts")["total"] == 3

    @pytest.mark.parametrize("key", ["", "has space", "x" * 256, "ñ"])
    def test_malformed_keys_are_refused(self, api: Api, tenant: Tenant, key: str) -> None:
        r = api.as_(tenant.client).post(
            "/incidents", json=body(), headers={"Idempotency-Key": key.encode()}
        )
        assert r.status_code == 422
        assert api.as_(tenant.client).ok("GET", "/incidents/counts")["total"] == 0


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 'locks.sqlite3'}"
    with start_server(url, tmp_path / "data", sqlite_busy_timeout_ms=300) as live:
        yield live


class TestSqliteSettings:
    def test_wal_full_sync_and_foreign_keys(self, tmp_path: Path) -> None:
        db = connect(f"sqlite:///{tmp_path / 'x.sqlite3'}")
        with db.read() as session:
            pragmas = {
                p: session.execute(text(f"PRAGMA {p}")).scalar()
                for p in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
        db.dispose()
        assert pragmas == {
            "journal_mode": "wal",
            "synchronous": 2,
            "foreign_keys": 1,
            "busy_timeout": 5000,
        }

    def test_lock_held_past_timeout_answers_503_and_writes_nothing(
        self, sqlite_server: LiveServer
    ) -> None:
        with Api(sqlite_server.url) as api:
            tenant = make_tenant(sqlite_server, api)
            tenant.incident(api)
            path = sqlite_server.database_url.removeprefix("sqlite:///")
            blocker = sqlite3.connect(path, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            try:
                r = api.as_(tenant.client).post("/incidents", json=body())
                readable = api.as_(tenant.client).get("/incidents")
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            assert r.status_code == 503
            assert r.headers["Retry-After"] == "1"
            assert r.json()["code"] == "database_busy"
            assert readable.status_code == 200  # readers are never blocked by a writer
            after = api.as_(tenant.client).ok("POST", "/incidents", json=body(), expect=201)
            assert after["number"] == 2  # the refused request left no number, row or event
            assert api.as_(tenant.client).ok("GET", "/incidents/counts")["total"] == 2

    def test_writers_wait_for_each_other_instead_of_failing(
        self, sqlite_server: LiveServer
    ) -> None:
        """A deferred transaction that upgrades to a write would get SQLITE_BUSY at once."""
        with Api(sqlite_server.url) as api:
            tenant = make_tenant(sqlite_server, api)
            path = sqlite_server.database_url.removeprefix("sqlite:///")
            blocker = sqlite3.connect(path, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            with ThreadPoolExecutor(max_workers=1) as pool:
                pending = pool.submit(api.as_(tenant.client).post, "/incidents", json=body())
                time.sleep(0.1)
                blocker.execute("COMMIT")
                blocker.close()
                assert pending.result().status_code == 201


def _run_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    # The log goes to a file: a pipe nobody reads would fill up and stall the server.
    log = Path(env["OBS_SUPPORT_DATA_DIR"]).parent / "server.log"
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "obs_support", "server", "run", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=sink,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"server did not start: {log.read_text()[-3000:]}")


def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    env = {**os.environ, "OBS_SUPPORT_DATA_DIR": str(tmp_path / "data")}
    init = subprocess.run(
        [
            sys.executable,
            "-m",
            "obs_support",
            "server",
            "init",
            "--observatory",
            "Crash Test",
            "--slug",
            "CRASH",
            "--admin-email",
            "admin@crash.example",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    token = init.stdout.strip().splitlines()[-1]
    port = free_port()
    proc = _run_server(env, port)
    staff = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{port}/api/v1"
    account = httpx.post(f"{base}/accounts", json={"name": "A"}, headers=staff).json()["id"]
    acknowledged: list[str] = []

    def hammer(i: int) -> None:
        for n in range(200):
            try:
                r = httpx.post(
                    f"{base}/incidents",
                    json=body(client_account_id=account, message=f"{i}-{n}"),
                    headers=staff,
                    timeout=5,
                )
            except httpx.TransportError:
                return
            if r.status_code == 201:
                acknowledged.append(r.json()["ref"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(hammer, i) for i in range(4)]
        while len(acknowledged) < 30:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for f in futures:
            f.result()
    proc = _run_server(env, port)
    try:
        for ref in acknowledged:
            r = httpx.get(f"{base}/incidents/{ref}", headers=staff)
            assert r.status_code == 200, ref
            assert [e["kind"] for e in r.json()["events"]] == ["created", "comment"]
        total = httpx.get(f"{base}/incidents/counts", headers=staff).json()["total"]
        assert total >= len(acknowledged)
    finally:
        proc.terminate()
        proc.wait()
    check = sqlite3.connect(tmp_path / "data" / "obs-support.sqlite3")
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    numbers = [n for (n,) in check.execute("SELECT number FROM incident ORDER BY number")]
    assert numbers == list(range(1, len(numbers) + 1))
    check.close()


class TestAppendOnlyHistory:
    def test_the_database_refuses_to_rewrite_history(
        self, api: Api, server: LiveServer, tenant: Tenant
    ) -> None:
        ref = tenant.incident(api)["ref"]
        event_id = api.as_(tenant.staff).ok("GET", f"/incidents/{ref}")["events"][0]["id"]
        for statement in (
            "UPDATE event SET body = 'forged' WHERE id = :id",
            "DELETE FROM event WHERE id = :id",
        ):
            with pytest.raises(Exception, match="append-only"), server.db.write() as session:
                session.execute(text(statement), {"id": event_id})
        events = api.as_(tenant.staff).ok("GET", f"/incidents/{ref}")["events"]
        assert events[0]["id"] == event_id
        assert all(e.get("body") != "forged" for e in events)


class TestBodyLimit:
    def test_huge_bodies_are_refused_before_they_are_read(self, api: Api, tenant: Tenant) -> None:
        huge = b'{"type": "repair", "priority": 5, "message": "' + b"x" * (3 * 1024 * 1024) + b'"}'
        r = api.as_(tenant.client).post(
            "/incidents", content=huge, headers={"content-type": "application/json"}
        )
        assert r.status_code == 413
        assert r.json()["code"] == "too_large"

        def chunks() -> Any:
            for _ in range(40):
                yield b"x" * 100_000

        r = api.as_(tenant.client).post(
            "/incidents", content=chunks(), headers={"content-type": "application/json"}
        )
        assert r.status_code == 413
        assert api.as_(tenant.client).ok("GET", "/incidents/counts")["total"] == 0
