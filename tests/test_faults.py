"""Faults: the server killed with SIGKILL at random moments while people write.

Four writers file incidents, comment, change statuses and attach small files through the API
of a real `obs-support server run` (SQLite), retrying through the outages. The server is
killed (`kill -9`: no shutdown code runs) at a random moment, restarted on the same data, and
every write acknowledged (a 2xx) since the restart before is looked for while the writers
pause; then again, many times. At the end every acknowledged write is looked for once more,
the database must pass SQLite's integrity check, the incident numbers must have no gaps, and
`server gc` must leave exactly the stored files that attachments refer to.

The number of kills is 6 by default and 30 with `--slow` (which CI uses).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import free_port

Json = dict[str, Any]


@dataclass
class Acked:
    """Every acknowledged write, in the order the answers came: ("incident", ref, ""),
    ("event", ref, id) or ("file", ref, sha256)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    facts: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, kind: str, ref: str, what: str = "") -> None:
        with self.lock:
            self.facts.append((kind, ref, what))

    @property
    def refs(self) -> list[str]:
        with self.lock:
            return [ref for kind, ref, _ in self.facts if kind == "incident"]

    def count(self, kind: str) -> int:
        with self.lock:
            return sum(1 for k, _, _ in self.facts if k == kind)


def obs_support(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "obs_support", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout


@contextmanager
def serving(env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The server on `port`, its log appended to `log` (never a pipe nobody reads)."""
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "obs_support", "server", "run", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=sink,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start in 60 s"
            time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def writer(
    base: str,
    token: str,
    account: int,
    seed: int,
    acked: Acked,
    stop: threading.Event,
    working: threading.Event | None = None,
) -> None:
    """Write until `stop`; while `working` is clear, wait (the checker has the server)."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    mine: list[str] = []
    with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
        while not stop.is_set():
            if working is not None and not working.wait(0.1):
                continue
            try:
                step(http, rng, account, mine, acked)
            except httpx.TransportError:
                time.sleep(0.05)  # the server is down: try again when it is back


def step(
    http: httpx.Client, rng: random.Random, account: int, mine: list[str], acked: Acked
) -> None:
    op = rng.choice(["create", "comment", "status", "upload"]) if mine else "create"
    if op == "create":
        r = http.post(
            "/incidents",
            json={
                "type": "repair",
                "priority": "high",
                "message": "Dome",
                "client_account_id": account,
            },
        )
        if r.status_code == 201:
            acked.add("incident", r.json()["ref"])
            mine.append(r.json()["ref"])
    elif op == "comment":
        ref = rng.choice(mine)
        r = http.post(f"/incidents/{ref}/comments", json={"body": f"note {rng.random()}"})
        if r.status_code == 201:
            acked.add("event", ref, str(r.json()["id"]))
    elif op == "status":
        ref = rng.choice(mine)
        target = rng.choice(["in_progress", "open", "done"])
        r = http.post(f"/incidents/{ref}/status", json={"status": target, "reason": "test"})
        if r.status_code == 200:
            changes = [e["id"] for e in r.json()["events"] if e["kind"] == "status_changed"]
            for change in changes[-1:]:
                acked.add("event", ref, str(change))
    else:
        ref = rng.choice(mine)
        data = os.urandom(rng.randint(1, 256) * 1024)
        digest = hashlib.sha256(data).hexdigest()
        r = http.post(
            f"/incidents/{ref}/uploads",
            json={"filename": "log.bin", "size": len(data), "sha256": digest},
        )
        if r.status_code == 201:
            r = http.patch(
                f"/uploads/{r.json()['id']}",
                content=data,
                headers={"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
            )
            if r.status_code == 201:
                acked.add("file", ref, digest)


def missing(base: str, token: str, acked: Acked, since: int = 0) -> tuple[list[str], int]:
    """Acknowledged writes (from the `since`-th on) that the server does not have, and where
    the next check can start: each kill is followed by a check of what was acknowledged since
    the one before (so the checks do not grow with the run), and the end checks everything."""
    with acked.lock:
        facts = acked.facts[since:]
        end = since + len(facts)
    wanted: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for kind, ref, what in facts:
        wanted[ref][kind].add(what)
    lost: list[str] = []
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        for ref, kinds in wanted.items():
            r = http.get(f"/incidents/{ref}")
            if r.status_code != 200:
                lost.append(f"{ref}: {r.status_code}")
                continue
            have = {str(e["id"]) for e in r.json()["events"]}
            lost += [f"{ref} event {e}" for e in kinds["event"] - have]
            if kinds["file"]:
                stored = {a["sha256"] for a in http.get(f"/incidents/{ref}/attachments").json()}
                lost += [f"{ref} file {f[:12]}" for f in kinds["file"] - stored]
    return lost, end


def test_kill_9_at_random_moments_loses_nothing_acknowledged(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    kills = 30 if request.config.getoption("slow", default=False) else 6
    data = tmp_path / "data"
    env = {**os.environ, "OBS_SUPPORT_DATA_DIR": str(data), "OBS_SUPPORT_LOG_FORMAT": "text"}
    out = obs_support(
        env, "server", "init", "--observatory", "Crash", "--slug", "CRASH",
        "--admin-email", "admin@crash.example",
    )  # fmt: skip
    token = out.strip().splitlines()[-1].strip()
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    log = tmp_path / "server.log"
    acked = Acked()
    stop = threading.Event()
    rng = random.Random(1)
    with serving(env, port, log):
        headers = {"Authorization": f"Bearer {token}"}
        account = httpx.post(f"{base}/accounts", json={"name": "A"}, headers=headers).json()["id"]
    # The writers pause while the writes acknowledged before a kill are looked for: checking
    # against writers at full speed would take longer each round, as they outpace the check.
    working = threading.Event()
    threads = [
        threading.Thread(
            target=writer, args=(base, token, account, i, acked, stop, working), daemon=True
        )
        for i in range(4)
    ]
    for t in threads:
        t.start()
    checked = 0
    try:
        for n in range(kills):
            with serving(env, port, log) as proc:
                lost, checked = missing(base, token, acked, checked)
                assert lost == [], f"after {n} kills"
                working.set()
                time.sleep(rng.uniform(0.2, 1.2))  # writes under way at a random moment
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                working.clear()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    with serving(env, port, log):
        assert missing(base, token, acked)[0] == []
    assert acked.count("incident") >= kills, "the writers got work done between the kills"
    assert acked.count("file") > 0, "files were attached between kills"

    db = sqlite3.connect(data / "obs-support.sqlite3")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        numbers = [n for (n,) in db.execute("SELECT number FROM incident ORDER BY number")]
        assert numbers == list(range(1, len(numbers) + 1)), "no gaps, no duplicates"
        referenced = {s for (s,) in db.execute("SELECT DISTINCT sha256 FROM attachment")}
    finally:
        db.close()
    obs_support(env, "server", "gc", "--grace-minutes", "0")
    stored = {p.name for p in (data / "attachments" / "blobs").glob("*/*")}
    assert stored == referenced, "gc keeps exactly the files attachments refer to"


# --- PostgreSQL restarted under load ----------------------------------------------------------

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), Path("/nonexistent"))


def as_postgres(*command: str) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its tools as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


@dataclass
class Cluster:
    url: str
    ctl: list[str]  # pg_ctl with this cluster's folder, port and socket
    log: Path

    def start(self) -> None:
        run = as_postgres(*self.ctl, "-l", str(self.log), "start")
        subprocess.run(run, check=True, capture_output=True, timeout=120)

    def stop(self, mode: str = "fast") -> None:
        run = as_postgres(*self.ctl, "-m", mode, "stop")
        subprocess.run(run, check=True, capture_output=True, timeout=120)


@pytest.fixture
def private_postgres() -> Iterator[Cluster]:
    """A PostgreSQL cluster of this test's own (the shared one serves other tests meanwhile)."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL's server binaries are not installed (Debian: postgresql)")
    # Not under pytest's folders: those are private to root, and the postgres user must reach it.
    root = Path(tempfile.mkdtemp(prefix="obs-pg-"))
    data = root / "cluster"
    if os.geteuid() == 0:
        os.chmod(root, 0o777)  # noqa: S103 - a throwaway folder the postgres user must write
    subprocess.run(
        as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"),
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    ctl = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-t", "60"]
    cluster = Cluster(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", ctl, root / "log")
    cluster.start()
    try:
        yield cluster
    finally:
        subprocess.run(as_postgres(*ctl, "-m", "immediate", "stop"), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_postgresql_restarted_under_load_the_server_recovers_by_itself(
    tmp_path: Path, private_postgres: Cluster
) -> None:
    cluster = private_postgres
    url = cluster.url
    env = {
        **os.environ,
        "OBS_SUPPORT_DATA_DIR": str(tmp_path / "data"),
        "OBS_SUPPORT_DATABASE_URL": url,
        "OBS_SUPPORT_LOG_FORMAT": "text",
    }
    out = obs_support(
        env, "server", "init", "--observatory", "Restart", "--slug", "RESTART",
        "--admin-email", "admin@restart.example",
    )  # fmt: skip
    token = out.strip().splitlines()[-1].strip()
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    base = f"{root}/api/v1"
    headers = {"Authorization": f"Bearer {token}"}
    acked = Acked()
    stop = threading.Event()
    answers: list[int] = []

    def ready() -> int:
        try:
            return httpx.get(f"{root}/readyz", timeout=5).status_code
        except httpx.TransportError:
            return 0

    with serving(env, port, tmp_path / "server.log"):
        account = httpx.post(f"{base}/accounts", json={"name": "A"}, headers=headers).json()["id"]

        def writer_logging(seed: int) -> None:
            rng = random.Random(seed)
            mine: list[str] = []
            with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
                while not stop.is_set():
                    try:
                        r = http.get("/incidents/counts")
                        answers.append(r.status_code)
                        step(http, rng, account, mine, acked)
                    except httpx.TransportError:
                        time.sleep(0.05)

        threads = [threading.Thread(target=writer_logging, args=(i,), daemon=True) for i in (1, 2)]
        for t in threads:
            t.start()
        try:
            deadline = time.monotonic() + 30
            while len(acked.refs) < 5:
                assert time.monotonic() < deadline, "writes before the restart"
                time.sleep(0.05)
            assert ready() == 200
            cluster.stop()
            # While the database is away: not ready, and writes refused with 503, never a 500.
            deadline = time.monotonic() + 15
            while ready() != 503:
                assert time.monotonic() < deadline, "/readyz never said the database is away"
                time.sleep(0.1)
            time.sleep(1.0)
            before = len(acked.refs)
            cluster.start()
            deadline = time.monotonic() + 30
            while ready() != 200:
                assert time.monotonic() < deadline, "/readyz never came back"
                time.sleep(0.1)
            deadline = time.monotonic() + 30
            while len(acked.refs) < before + 5:
                assert time.monotonic() < deadline, "writes did not resume by themselves"
                time.sleep(0.05)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        assert missing(base, token, acked)[0] == []
        assert 503 in answers, "the outage was seen by the writers"
        assert not [a for a in answers if a >= 500 and a != 503], sorted(set(answers))
