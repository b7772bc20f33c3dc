"""Benchmark of the incident API with 1,000 and with 1,000,000 incidents.

For each size it builds a fresh database, seeds it with bulk SQL (filing a million incidents
through the API would take hours), starts the real server as a subprocess on a local port,
and measures through real HTTP:

- incidents filed per second with POST /api/v1/incidents, from one client thread and from
  several at once;
- the latency of the first page and of deep pages of the default list (priority high first,
  then oldest first), as a staff member (whole observatory) and as a client (one account).

With --skewed the data is skewed the way real histories can be, which is where a database's
planner may pick a poor index: medium priority only in the older half of the incidents, and
a fourth client account that holds about 40% of them, all among the most recent. It times
the pages that cross from medium to low priority, then files one new medium incident for
that account and times the same page again, now that medium incidents resume after a gap.

Ratios compare the largest size with the smallest one measured in the same run, so the
machine's speed cancels out. This is a benchmark that prints figures, not a test.

    .venv/bin/python bench/api_bench.py                 # SQLite, 1,000 and 1,000,000
    .venv/bin/python bench/api_bench.py --quick         # SQLite, 1,000 and 100,000
    .venv/bin/python bench/api_bench.py --postgres postgresql+psycopg://postgres@127.0.0.1/test
    .venv/bin/python bench/api_bench.py --skewed --explain   # skewed data, with query plans
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from obs_support import __version__, domain
from obs_support.domain import EventKind, IncidentType, Priority, Status
from obs_support.server import demo
from obs_support.server.db import connect
from obs_support.server.migrate import upgrade
from obs_support.server.models import ClientAccount, Incident, Telescope, User
from obs_support.server.services import incidents
from obs_support.server.services.auth import issue_token
from obs_support.server.services.listing import encode_cursor
from obs_support.server.services.setup import create_observatory

PAGE = 50  # the API's default page size
SORT = "priority"  # the default list order: priority high first, then oldest first
CHUNK = 20_000  # rows per bulk-insert batch: large enough to amortise, small enough for memory
WARMUP = 3  # untimed requests per page before measuring (connection, plan and page caches)
SEED_YEARS = 5  # seeded incidents are spread over this many years before now

# Shares of the seeded data, roughly what a busy observatory's history looks like: most old
# incidents are closed, most are medium priority, repairs and questions dominate.
STATUS_WEIGHTS = {
    Status.OPEN: 12,
    Status.IN_PROGRESS: 8,
    Status.BLOCKED: 4,
    Status.DONE: 66,
    Status.CANCELLED: 10,
}
PRIORITY_WEIGHTS = {Priority.LOW: 30, Priority.MEDIUM: 50, Priority.HIGH: 20}
TYPE_WEIGHTS = {
    IncidentType.REPAIR: 35,
    IncidentType.QUESTION: 25,
    IncidentType.INSTALLATION: 15,
    IncidentType.UPGRADE: 15,
    IncidentType.VISIT: 10,
}
# Unequal accounts, so the client's list is not simply a fixed fraction of everything.
ACCOUNTS = {
    "Agrupación Astronómica de Canarias": 50,
    "Universidad de Leiden": 30,
    "Instituto de Astrofísica Remota": 20,
}
# --skewed: medium priority only among the first half of the incidents (by id), and a fourth
# account that files two in three of the incidents after the first 40%, about 40% of all, and
# nothing before. The other incidents are spread over the three accounts as above.
SKEWED_ACCOUNT = "Consorcio del Telescopio Robótico"
SKEW_MEDIUM_UNTIL = 0.5  # share of the ids (oldest first) that can be medium priority
SKEW_ACCOUNT_FROM = 0.4  # share of the ids (oldest first) before the skewed account's first
SKEW_ACCOUNT_SHARE = 2 / 3  # the skewed account's share of the ids after that
LATE_PRIORITY_WEIGHTS = {Priority.LOW: 30, Priority.HIGH: 20}  # no medium in the newer half
STAFF = ["Carlos Pérez", "Elena Rodríguez"]
MESSAGES = demo.MESSAGES  # the demo's believable texts
INCIDENT_COLUMNS = (
    "id",
    "observatory_id",
    "number",
    "type",
    "priority",
    "status",
    "telescope_id",
    "visit_date",
    "summary",
    "client_account_id",
    "creator_id",
    "assignee_id",
    "created_at",
    "updated_at",
)
EVENT_COLUMNS = (
    "id",
    "incident_id",
    "kind",
    "actor_id",
    "created_at",
    "body",
    "internal",
    "source",
    "data",
)

Row = tuple[Any, ...]


# ---------------------------------------------------------------------------------------------
# The observatory the benchmark runs against


@dataclass(frozen=True)
class Member:
    """A user with an API token; `account_id` is None for staff."""

    id: int
    token: str
    account_id: int | None


@dataclass(frozen=True)
class Tenant:
    observatory_id: int
    staff: list[Member]
    clients: dict[int, list[Member]]  # client account id -> its members
    telescopes: dict[int, list[int]]  # client account id -> its telescope ids
    skewed_account: int | None = None  # the fourth account, with --skewed only

    @property
    def accounts(self) -> list[int]:
        """The three accounts the incidents are spread over (not the skewed one)."""
        return [a for a in self.clients if a != self.skewed_account]


def setup_tenant(
    url: str, skewed: bool = False, slug: str = "TEIDE", name: str = "Observatorio del Teide"
) -> Tenant:
    """One observatory with staff, three client accounts, their people and telescopes.

    With `skewed`, a fourth account (SKEWED_ACCOUNT) with its people and telescopes too.

    Built with the server's own models and services so the rows are exactly what the API
    would have written; only the incidents are bulk-loaded.
    """
    db = connect(url)
    try:
        with db.write() as session:
            obs, admin, issued = create_observatory(
                session,
                name=name,
                slug=slug,
                admin_email=f"admin@{slug.lower()}.example",
                admin_name="Ana Admin",
            )
            assert obs.id is not None and admin.id is not None
            staff = [Member(admin.id, issued.token, None)]
            for i, name in enumerate(STAFF):
                user = User(
                    observatory_id=obs.id,
                    email=f"staff{i}@{slug.lower()}.example",
                    display_name=name,
                    role=domain.Role.STAFF.value,
                )
                session.add(user)
                session.flush()
                assert user.id is not None
                staff.append(Member(user.id, issue_token(session, user, "bench").token, None))
            clients: dict[int, list[Member]] = {}
            telescopes: dict[int, list[int]] = {}
            names = list(ACCOUNTS)
            if skewed:
                # Created second, so its id lies between the others'. With the highest id, the
                # account column would follow the row order (its rows are the newest) and
                # PostgreSQL's correlation statistic would make the per-account index look
                # cheap enough to hide a poor plan choice; in between, it does not.
                names.insert(1, SKEWED_ACCOUNT)
            for a, name in enumerate(names):
                account = ClientAccount(observatory_id=obs.id, name=name)
                session.add(account)
                session.flush()
                assert account.id is not None
                scopes = [
                    Telescope(
                        observatory_id=obs.id, client_account_id=account.id, name=f"Scope {t}"
                    )
                    for t in (1, 2)
                ]
                session.add_all(scopes)
                people = []
                for p in (1, 2):
                    user = User(
                        observatory_id=obs.id,
                        email=f"client{a}-{p}@example.org",
                        display_name=f"Client {a}-{p}",
                        role=domain.Role.CLIENT.value,
                        client_account_id=account.id,
                    )
                    session.add(user)
                    session.flush()
                    assert user.id is not None
                    token = issue_token(session, user, "bench").token
                    people.append(Member(user.id, token, account.id))
                clients[account.id] = people
                telescopes[account.id] = [t.id for t in scopes if t.id is not None]
            skewed_id = list(clients)[1] if skewed else None
            return Tenant(obs.id, staff, clients, telescopes, skewed_id)
    finally:
        db.dispose()


# ---------------------------------------------------------------------------------------------
# Bulk seeding


def generate(
    tenant: Tenant, n: int, stamp: Callable[[datetime], Any]
) -> Iterator[tuple[list[Row], list[Row]]]:
    """Chunks of (incident rows, event rows) for `n` incidents numbered 1..n.

    Each incident gets the two events the API writes when filing one (`created`, then the
    first `comment`), and `updated_at` is the time of its last event, as the API keeps it.
    Status changes are not replayed as events: the list reads only the incident table.
    Timestamps rise with the id, as they do when incidents are filed over time.

    With a skewed tenant (`tenant.skewed_account`), priorities and accounts follow the
    SKEW_* shares instead of being spread evenly over time. The even data is drawn exactly
    as without it, so the normal data set stays the same run after run.
    """
    rng = random.Random(n)  # the same data for the same size, run after run
    start = datetime.now(UTC) - timedelta(days=365 * SEED_YEARS)
    step = timedelta(days=365 * SEED_YEARS) / max(n, 1)
    statuses, status_w = list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values())
    priorities, priority_w = list(PRIORITY_WEIGHTS), list(PRIORITY_WEIGHTS.values())
    types, type_w = list(TYPE_WEIGHTS), list(TYPE_WEIGHTS.values())
    accounts, account_w = tenant.accounts, list(ACCOUNTS.values())
    late_priorities, late_w = list(LATE_PRIORITY_WEIGHTS), list(LATE_PRIORITY_WEIGHTS.values())
    skewed = tenant.skewed_account
    medium_until = int(n * SKEW_MEDIUM_UNTIL)
    skew_from = int(n * SKEW_ACCOUNT_FROM)
    staff_ids = [m.id for m in tenant.staff]
    created_data = {
        (t, p): json.dumps({"type": t.value, "priority": int(p), "status": Status.OPEN.value})
        for t in IncidentType
        for p in Priority
    }
    for first in range(0, n, CHUNK):
        size = min(CHUNK, n - first)
        chunk_status = rng.choices(statuses, status_w, k=size)
        chunk_priority = rng.choices(priorities, priority_w, k=size)
        chunk_type = rng.choices(types, type_w, k=size)
        chunk_account = rng.choices(accounts, account_w, k=size)
        if skewed is not None:
            chunk_late = rng.choices(late_priorities, late_w, k=size)
            chunk_skew = [rng.random() < SKEW_ACCOUNT_SHARE for _ in range(size)]
        incident_rows: list[Row] = []
        event_rows: list[Row] = []
        for j in range(size):
            number = first + j + 1
            status, priority, kind = chunk_status[j], chunk_priority[j], chunk_type[j]
            account = chunk_account[j]
            if skewed is not None:
                if number > medium_until:
                    priority = chunk_late[j]
                if number > skew_from and chunk_skew[j]:
                    account = skewed
            created = start + step * number
            at = stamp(created)
            scopes = tenant.telescopes[account]
            telescope = rng.choice(scopes) if rng.random() < 0.8 else None
            visit: date | None = None
            if kind is IncidentType.VISIT:
                visit = (created + timedelta(days=rng.randint(7, 40))).date()
            message = rng.choice(MESSAGES[kind])
            if rng.random() < 0.75:
                creator = rng.choice(tenant.clients[account]).id
            else:
                creator = rng.choice(staff_ids)
            assignee = None
            if status is not Status.OPEN or rng.random() < 0.3:
                assignee = rng.choice(staff_ids)
            incident_rows.append(
                (
                    number,  # ids and numbers coincide: the database is fresh
                    tenant.observatory_id,
                    number,
                    kind.value,
                    int(priority),
                    status.value,
                    telescope,
                    visit,
                    message,  # one-line messages: the summary is the message itself
                    account,
                    creator,
                    assignee,
                    at,
                    at,
                )
            )
            event_rows.append(
                (
                    2 * number - 1,
                    number,
                    EventKind.CREATED.value,
                    creator,
                    at,
                    None,
                    False,
                    None,
                    created_data[kind, priority],
                )
            )
            event_rows.append(
                (
                    2 * number,
                    number,
                    EventKind.COMMENT.value,
                    creator,
                    at,
                    message,
                    False,
                    domain.CommentSource.TEXT.value,
                    None,
                )
            )
        yield incident_rows, event_rows


def tallies(rows: Sequence[Row]) -> Counter[tuple[int, str]]:
    """Incidents per (client account, status): what the `incident_count` table must hold."""
    account = INCIDENT_COLUMNS.index("client_account_id")
    status = INCIDENT_COLUMNS.index("status")
    return Counter((row[account], row[status]) for row in rows)


def sqlite_stamp(value: datetime) -> str:
    # The text SQLAlchemy's SQLite DATETIME writes for UTCDateTime (naive UTC, microseconds).
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def seed_sqlite(path: Path, tenant: Tenant, n: int) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    try:
        # Foreign keys stay on, as in the server, so the load proves the rows reference real
        # users, accounts and telescopes. Durability is not needed for a throwaway database.
        con.execute("PRAGMA foreign_keys=ON")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA journal_mode=WAL")
        insert_incident = (
            f"INSERT INTO incident ({', '.join(INCIDENT_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(INCIDENT_COLUMNS))})"
        )
        insert_event = (
            f"INSERT INTO event ({', '.join(EVENT_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
        )
        counts: Counter[tuple[int, str]] = Counter()
        for incident_rows, event_rows in generate(tenant, n, sqlite_stamp):
            con.execute("BEGIN")
            con.executemany(insert_incident, incident_rows)
            con.executemany(insert_event, event_rows)
            con.execute("COMMIT")
            counts.update(tallies(incident_rows))
        con.execute("BEGIN")
        con.executemany(
            "INSERT INTO incident_count (client_account_id, status, observatory_id, n) "
            "VALUES (?, ?, ?, ?)",
            [(a, s, tenant.observatory_id, c) for (a, s), c in sorted(counts.items())],
        )
        con.execute(
            "UPDATE observatory SET incident_seq = ? WHERE id = ?", (n, tenant.observatory_id)
        )
        con.execute("COMMIT")
        # Fold the write-ahead log into the database so the server starts from a clean file.
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


def libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def seed_postgres(url: str, tenant: Tenant, n: int) -> None:
    with psycopg.connect(libpq_url(url)) as conn:
        counts: Counter[tuple[int, str]] = Counter()
        with conn.cursor() as cur:
            for incident_rows, event_rows in generate(tenant, n, lambda value: value):
                with cur.copy(f"COPY incident ({', '.join(INCIDENT_COLUMNS)}) FROM STDIN") as cp:
                    for row in incident_rows:
                        cp.write_row(row)
                with cur.copy(f"COPY event ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as cp:
                    for row in event_rows:
                        cp.write_row(row)
                counts.update(tallies(incident_rows))
            cur.executemany(
                "INSERT INTO incident_count (client_account_id, status, observatory_id, n) "
                "VALUES (%s, %s, %s, %s)",
                [(a, s, tenant.observatory_id, c) for (a, s), c in sorted(counts.items())],
            )
            cur.execute(
                "UPDATE observatory SET incident_seq = %s WHERE id = %s",
                (n, tenant.observatory_id),
            )
            # Explicit ids bypass the serial sequences; move them past the loaded rows so the
            # API's own inserts do not collide.
            for table in ("incident", "event"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        conn.commit()


def analyze(url: str) -> None:
    if url.startswith("sqlite"):
        con = sqlite3.connect(make_url(url).database or "")
        try:
            con.execute("ANALYZE")
        finally:
            con.close()
        return
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        # VACUUM as well: autovacuum would do it soon after a bulk load anyway, and doing it
        # now makes runs repeatable (visibility map set, so index-only scans are possible).
        conn.execute("VACUUM (ANALYZE)")


def check_seed(url: str, n: int) -> list[str]:
    """Problems with the seeded counters, if any (an empty list means consistent)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            one = conn.execute
            incidents_n = one(text("SELECT count(*) FROM incident")).scalar_one()
            counted = one(text("SELECT coalesce(sum(n), 0) FROM incident_count")).scalar_one()
            seq = one(text("SELECT incident_seq FROM observatory")).scalar_one()
            events_n = one(text("SELECT count(*) FROM event")).scalar_one()
            per_status = one(
                text(
                    "SELECT count(*) FROM (SELECT client_account_id, status, count(*) AS c "
                    "FROM incident GROUP BY client_account_id, status) AS real "
                    "LEFT JOIN incident_count AS kept "
                    "ON kept.client_account_id = real.client_account_id "
                    "AND kept.status = real.status WHERE kept.n IS NULL OR kept.n <> real.c"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    problems = []
    if incidents_n != n or counted != n or seq != n:
        problems.append(f"incidents {incidents_n}, incident_count {counted}, seq {seq}; want {n}")
    if events_n != 2 * n:
        problems.append(f"{events_n} events for {n} incidents; want {2 * n}")
    if per_status:
        problems.append(f"{per_status} (account, status) counters disagree with the incidents")
    return problems


# ---------------------------------------------------------------------------------------------
# Databases and the server process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def fresh_database(postgres: str | None, workdir: Path) -> Iterator[str]:
    """A new, empty database URL for one size, removed afterwards."""
    if postgres is None:
        yield f"sqlite:///{workdir / 'bench.sqlite3'}"  # the caller removes `workdir`
        return
    name = f"obs_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def running_server(url: str, workdir: Path, workers: int = 1) -> Iterator[str]:
    """`obs-support server run` in its own process, so it never shares a GIL with the load."""
    port = free_port()
    env = dict(os.environ, OBS_SUPPORT_DATABASE_URL=url, OBS_SUPPORT_DATA_DIR=str(workdir))
    command = [str(Path(sys.executable).parent / "obs-support"), "server", "run"]
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        workers_option = ["--workers", str(workers)] if workers > 1 else []
        proc = subprocess.Popen(
            [*command, "--port", str(port), *workers_option], env=env, stdout=log, stderr=log
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start within 60 s")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def api(base: str, member: Member) -> httpx.Client:
    return httpx.Client(
        base_url=f"{base}/api/v1",
        headers={"Authorization": f"Bearer {member.token}"},
        timeout=60,
    )


# ---------------------------------------------------------------------------------------------
# Pages of the default list


@dataclass(frozen=True)
class PageAt:
    """The page that starts at `position` (0-based) of a user's default list."""

    label: str
    position: int
    cursor: str | None
    numbers: list[int]  # incident numbers SQL says the page holds, to check the API's answer


def scope_sql(tenant: Tenant, member: Member) -> tuple[str, dict[str, int]]:
    # The same rows incident_scope() lets this user see, in plain SQL.
    if member.account_id is None:
        return "observatory_id = :obs", {"obs": tenant.observatory_id}
    where = "observatory_id = :obs AND client_account_id = :acct"
    return where, {"obs": tenant.observatory_id, "acct": member.account_id}


def scope_size(url: str, tenant: Tenant, member: Member, extra: str = "") -> int:
    """How many incidents this user's default list holds (optionally, that also match `extra`)."""
    where, params = scope_sql(tenant, member)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = text(f"SELECT count(*) FROM incident WHERE {where} {extra}")
            return int(conn.execute(query, params).scalar() or 0)
    finally:
        engine.dispose()


def pages_at(
    url: str, tenant: Tenant, member: Member, wanted: dict[str, int], limit: int = PAGE
) -> dict[str, PageAt]:
    """The cursor and expected contents of the page at each position, found with SQL.

    Walking the API to position 500,000 would take 10,000 requests; instead the row just
    before the position is read with OFFSET and turned into the cursor the API would have
    handed out after it (`encode_cursor`).
    """
    where, params = scope_sql(tenant, member)
    query = text(
        f"SELECT id, number FROM incident WHERE {where} "
        "ORDER BY priority DESC, id ASC LIMIT :lim OFFSET :off"
    )
    out: dict[str, PageAt] = {}
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            for label, position in wanted.items():
                before = 1 if position > 0 else 0
                rows = session.execute(
                    query, {**params, "lim": limit + before, "off": position - before}
                ).all()
                cursor = None
                if before:
                    last = session.get(Incident, rows[0].id)
                    assert last is not None
                    cursor = encode_cursor(SORT, last)
                numbers = [r.number for r in rows[before:]]
                out[label] = PageAt(label, position, cursor, numbers)
    finally:
        engine.dispose()
    return out


def list_params(cursor: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": PAGE}
    if cursor is not None:
        params["cursor"] = cursor
    return params


def check_pages(client: httpx.Client, pages: Sequence[PageAt]) -> list[str]:
    """Problems where the API's page differs from what SQL says is at that position."""
    problems = []
    for p in pages:
        got = client.get("/incidents", params=list_params(p.cursor))
        got.raise_for_status()
        numbers = [item["number"] for item in got.json()["items"]]
        if numbers != p.numbers:
            problems.append(
                f"page at {p.position}: API {numbers[:5]}... but SQL {p.numbers[:5]}..."
            )
    return problems


def walk_all(client: httpx.Client, expected: int) -> list[int]:
    """Follow next_cursor from the first page to the end; the incident numbers, in order."""
    seen: list[int] = []
    cursor, pages = None, 0
    while True:
        got = client.get("/incidents", params=list_params(cursor))
        got.raise_for_status()
        body = got.json()
        seen += [item["number"] for item in body["items"]]
        cursor, pages = body["next_cursor"], pages + 1
        if cursor is None or pages > expected // PAGE + 2:  # a cursor loop must still end
            return seen


@dataclass(frozen=True)
class Latency:
    median_ms: float
    p95_ms: float


def summarise(samples: list[float]) -> Latency:
    ms = [s * 1000 for s in samples]
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0]
    return Latency(statistics.median(ms), p95)


@dataclass(frozen=True)
class Probe:
    """One request to time repeatedly: `key` is (size, who, what)."""

    key: tuple[int, str, str]
    client: httpx.Client
    path: str
    params: dict[str, Any]


def time_probes(probes: Sequence[Probe], reps: int) -> dict[tuple[int, str, str], Latency]:
    """Median and p95 latency of each probe, one request at a time.

    The probes take turns, round after round, across every size's server: load from
    elsewhere on the machine then falls on all sizes alike instead of on whichever size
    happened to be measured during it, and the ratios between sizes stay meaningful.
    """
    samples: dict[tuple[int, str, str], list[float]] = {p.key: [] for p in probes}
    for rep in range(WARMUP + reps):
        for p in probes:
            started = time.perf_counter()
            got = p.client.get(p.path, params=p.params)
            elapsed = time.perf_counter() - started
            got.raise_for_status()
            if rep >= WARMUP:
                samples[p.key].append(elapsed)
    return {key: summarise(s) for key, s in samples.items()}


# ---------------------------------------------------------------------------------------------
# Filing incidents through the API


def create_body(rng: random.Random, tenant: Tenant, member: Member, account: int) -> dict[str, Any]:
    kind = rng.choices(list(TYPE_WEIGHTS), list(TYPE_WEIGHTS.values()))[0]
    priority = rng.choices(list(PRIORITY_WEIGHTS), list(PRIORITY_WEIGHTS.values()))[0]
    body: dict[str, Any] = {
        "type": kind.value,
        "priority": priority.key,
        "message": rng.choice(MESSAGES[kind]) + "\nDetalles en el registro de la noche.",
    }
    if rng.random() < 0.8:
        body["telescope_id"] = rng.choice(tenant.telescopes[account])
    if member.account_id is None:
        body["client_account_id"] = account
    return body


def file_incidents(
    base: str, tenant: Tenant, members: Sequence[Member], each: int, seed: int
) -> float:
    """Seconds for one thread per member to file `each` incidents apiece, all at once.

    The clock starts when every thread has connected and authenticated, so it counts only
    the POSTs.
    """
    marks: list[float] = []
    barrier = threading.Barrier(len(members), action=lambda: marks.append(time.perf_counter()))

    def work(index: int) -> None:
        member = members[index]
        account = member.account_id or tenant.accounts[index % len(tenant.accounts)]
        rng = random.Random(seed * 100 + index)
        with api(base, member) as client:
            client.get("/incidents/counts").raise_for_status()
            barrier.wait()
            for _ in range(each):
                got = client.post("/incidents", json=create_body(rng, tenant, member, account))
                if got.status_code != 201:
                    raise RuntimeError(f"create failed: {got.status_code} {got.text[:300]}")

    with ThreadPoolExecutor(len(members)) as pool:
        for future in [pool.submit(work, i) for i in range(len(members))]:
            future.result()
    return time.perf_counter() - marks[0]


# ---------------------------------------------------------------------------------------------
# Query plans (--explain)


def generic_plan(conn: Any, statement: str, parameters: dict[str, Any]) -> list[str]:
    """EXPLAIN ANALYZE of `statement` as a prepared statement with a generic plan.

    The server's driver (psycopg) prepares a statement it has run 5 times on a connection,
    and PostgreSQL may then switch to a generic plan, made without the parameter values.
    `force_generic_plan` shows that plan, run with this page's values.
    """
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    body = re.sub(r"%\((\w+)\)s", number, statement).replace("%%", "%")
    raw = conn.connection.dbapi_connection
    args = ", ".join(psycopg.sql.Literal(parameters[n]).as_string(raw) for n in names)
    with raw.cursor() as cur:
        cur.execute("SET plan_cache_mode = force_generic_plan")
        cur.execute(f"PREPARE bench_generic AS {body}")
        try:
            cur.execute(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_generic({args})")
            return [str(r[-1]) for r in cur.fetchall()]
        finally:
            cur.execute("DEALLOCATE bench_generic")
            cur.execute("RESET plan_cache_mode")


def explain_list(url: str, member: Member, cursor: str | None) -> list[str]:
    """The plan of each incident query the server runs for this page, via the real code.

    The statements are captured as `listing.page` issues them, then explained with the same
    parameters: EXPLAIN QUERY PLAN on SQLite (with the query's own median time over 5 runs,
    as SQLite has no EXPLAIN ANALYZE); on PostgreSQL EXPLAIN (ANALYZE, BUFFERS) with the
    values (the plan of the first executions) and as a generic prepared plan (what the
    server may use once psycopg has prepared the statement).
    """
    db = connect(url)
    captured: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cur: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if "FROM incident" in statement and "incident_count" not in statement:
            captured.append((statement, parameters))

    event.listen(db.reader, "before_cursor_execute", grab)
    out: list[str] = []
    try:
        with db.read() as session:
            user = session.get(User, member.id)
            assert user is not None
            incidents.list_page(session, user, incidents.ListFilters(), SORT, cursor, PAGE)
        event.remove(db.reader, "before_cursor_execute", grab)
        prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN (ANALYZE, BUFFERS) "
        with db.reader.connect() as conn:
            for statement, parameters in captured:
                where = statement[statement.find("WHERE") :].replace("\n", " ")
                out.append(f"  {where}\n  parameters: {parameters}")
                rows = conn.exec_driver_sql(prefix + statement, parameters).all()
                plan = [str(r[-1]) for r in rows]
                if db.is_sqlite:
                    took = []
                    for _ in range(5):
                        started = time.perf_counter()
                        conn.exec_driver_sql(statement, parameters).all()
                        took.append(time.perf_counter() - started)
                    plan.append(f"(query alone: {statistics.median(took) * 1000:.2f} ms)")
                out.append("\n".join(f"    {line}" for line in plan))
                if not db.is_sqlite:
                    out.append("    generic plan (prepared statement):")
                    plan = generic_plan(conn, statement, parameters)
                    out.append("\n".join(f"      {line}" for line in plan))
    finally:
        db.dispose()
    return out


# ---------------------------------------------------------------------------------------------
# The run


@dataclass(frozen=True)
class Options:
    sizes: list[int]
    postgres: str | None
    reps: int
    creates: int
    threads: int
    rounds: int
    explain: bool
    skewed: bool


@dataclass
class SizeRun:
    """One size: its database, server, users, and what was measured on it."""

    size: int
    url: str
    workdir: Path
    tenant: Tenant
    # "staff" (whole observatory), "client" (one account) and, with --skewed, "skewed client"
    users: dict[str, Member]
    seed_s: float
    analyze_s: float
    base: str = ""
    scope_rows: dict[str, int] = field(default_factory=dict)
    positions: dict[tuple[str, str], int] = field(default_factory=dict)
    latency: dict[tuple[str, str], Latency] = field(default_factory=dict)
    one_s: float = 0.0  # seconds spent filing from one thread
    many_s: float = 0.0  # seconds spent filing from several threads at once
    filed: int = 0
    problems: list[str] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)
    skew: str = ""  # with --skewed, what the seeded data looks like

    def crowd(self, threads: int) -> list[Member]:
        tenant = self.tenant
        return ([tenant.clients[a][0] for a in tenant.accounts] + tenant.staff)[:threads]


def prepare(opts: Options, size: int, url: str, workdir: Path) -> SizeRun:
    """Migrate, create the observatory, bulk-load `size` incidents and ANALYZE."""
    upgrade(url)
    tenant = setup_tenant(url, opts.skewed)
    started = time.perf_counter()
    if opts.postgres is None:
        seed_sqlite(Path(make_url(url).database or ""), tenant, size)
    else:
        seed_postgres(url, tenant, size)
    seed_s = time.perf_counter() - started
    started = time.perf_counter()
    analyze(url)
    analyze_s = time.perf_counter() - started
    print(
        f"  seeded {size:,} incidents + {2 * size:,} events in {seed_s:.1f} s "
        f"({size / seed_s:,.0f} incidents/s), then ANALYZE in {analyze_s:.1f} s",
        flush=True,
    )
    users = {"staff": tenant.staff[1], "client": tenant.clients[tenant.accounts[0]][0]}
    if tenant.skewed_account is not None:
        users["skewed client"] = tenant.clients[tenant.skewed_account][0]
    run = SizeRun(size, url, workdir, tenant, users, seed_s, analyze_s)
    run.problems += check_seed(url, size)
    if tenant.skewed_account is not None:
        run.skew = describe_skew(url, tenant.skewed_account)
    return run


def describe_skew(url: str, account: int) -> str:
    """Where the skewed data's medium incidents and skewed account actually lie."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            total = conn.execute(text("SELECT count(*) FROM incident")).scalar_one()
            medium = conn.execute(
                text("SELECT count(*), max(id) FROM incident WHERE priority = :p"),
                {"p": int(Priority.MEDIUM)},
            ).one()
            held = conn.execute(
                text(
                    "SELECT count(*), min(id), max(id) FROM incident WHERE client_account_id = :a"
                ),
                {"a": account},
            ).one()
    finally:
        engine.dispose()
    return (
        f"medium priority: {medium[0]:,} incidents, the last at id {medium[1]:,}; "
        f"skewed account: {held[0]:,} incidents ({held[0] / total:.0%}), ids {held[1]:,} "
        f"to {held[2]:,}"
    )


def crossing(url: str, tenant: Tenant, member: Member) -> dict[str, int]:
    """Positions of the pages that cross from one priority to the next: 10 incidents of the
    higher priority, then 40 of the lower one. These are the pages where `listing.page`
    finishes one priority (its first query runs out of rows) and runs its second query."""
    high = scope_size(url, tenant, member, f"AND priority = {int(Priority.HIGH)}")
    medium = scope_size(url, tenant, member, f"AND priority = {int(Priority.MEDIUM)}")
    return {"high→medium": max(high - 10, 0), "medium→low": max(high + medium - 10, 0)}


def probes_for(runs: list[SizeRun], stack: ExitStack) -> list[Probe]:
    """The pages to time on every size, checked against SQL first.

    Pages: the first; the one at the position of the smallest size's last full page (the
    same page at every size); the middle; the last full page; the page that crosses from
    medium to low priority. Plus a floor: the smallest authenticated request, whose cost is
    all HTTP, authentication and framework.
    """
    reference: dict[str, int] = {}
    probes: list[Probe] = []
    for run in runs:
        for who, member in run.users.items():
            rows = scope_size(run.url, run.tenant, member)
            run.scope_rows[who] = rows
            last = max(rows - PAGE, 0)  # the last *full* page: every timed page has 50 rows
            reference.setdefault(who, last)
            wanted = {"first": 0, "deep": reference[who], "middle": rows // 2, "last": last}
            wanted["cross"] = crossing(run.url, run.tenant, member)["medium→low"]
            pages = pages_at(run.url, run.tenant, member, wanted)
            client = stack.enter_context(api(run.base, member))
            run.problems += check_pages(client, list(pages.values()))
            if rows <= 5000:  # small enough to walk page by page, as a client would
                walked = walk_all(client, rows)
                whole = pages_at(run.url, run.tenant, member, {"all": 0}, limit=rows)["all"]
                if walked != whole.numbers:
                    run.problems.append(
                        f"{who}: following next_cursor gave {len(walked)} incidents, "
                        f"{len(set(walked))} distinct, not the {rows} in SQL order"
                    )
            probes.append(Probe((run.size, who, "floor"), client, "/incidents/counts", {}))
            for label, page in pages.items():
                run.positions[who, label] = page.position
                probes.append(
                    Probe((run.size, who, label), client, "/incidents", list_params(page.cursor))
                )
    return probes


def file_new_medium(run: SizeRun) -> None:
    """--skewed: the skewed account files one medium incident, the first medium one after
    the older half of the history, so its medium incidents now have a gap of half the ids."""
    assert run.tenant.skewed_account is not None
    member = run.users["skewed client"]
    body = {
        "type": IncidentType.REPAIR.value,
        "priority": Priority.MEDIUM.key,
        "message": MESSAGES[IncidentType.REPAIR][1],
    }
    with api(run.base, member) as client:
        got = client.post("/incidents", json=body)
    if got.status_code != 201:
        raise RuntimeError(f"create failed: {got.status_code} {got.text[:300]}")
    run.filed += 1


def gap_probes(runs: list[SizeRun], stack: ExitStack) -> list[Probe]:
    """--skewed, after `file_new_medium`: the page that crosses from medium to low priority
    again, for the users who see the new incident. Its first query now has medium rows to
    find beyond the gap, at the other end of the history."""
    probes: list[Probe] = []
    for run in runs:
        for who in ("staff", "skewed client"):
            member = run.users[who]
            position = crossing(run.url, run.tenant, member)["medium→low"]
            page = pages_at(run.url, run.tenant, member, {"gap": position})["gap"]
            client = stack.enter_context(api(run.base, member))
            run.problems += check_pages(client, [page])
            run.positions[who, "gap"] = page.position
            probes.append(
                Probe((run.size, who, "gap"), client, "/incidents", list_params(page.cursor))
            )
    return probes


def file_everywhere(runs: list[SizeRun], opts: Options) -> None:
    """Time filing on every size, alternating sizes in rounds for the same reason as reads."""
    for round_ in range(opts.rounds):
        for run in runs:
            each = opts.creates // opts.rounds
            run.one_s += file_incidents(run.base, run.tenant, [run.users["client"]], each, round_)
            run.filed += each
        for run in runs:
            crowd = run.crowd(opts.threads)
            each = opts.creates // opts.rounds // len(crowd)
            run.many_s += file_incidents(run.base, run.tenant, crowd, each, round_ + 1000)
            run.filed += each * len(crowd)


def check_seeded_detail(run: SizeRun) -> None:
    """Bulk-loaded incidents must read back through the API like filed ones: the first and
    the last, with their `created` and `comment` events, timestamps and JSON intact."""
    with api(run.base, run.tenant.staff[0]) as client:
        for number in (1, run.size):
            got = client.get(f"/incidents/{number}")
            if got.status_code != 200:
                run.problems.append(f"GET /incidents/{number}: {got.status_code} {got.text[:200]}")
                continue
            body = got.json()
            kinds = [e["kind"] for e in body["events"]]
            created = body["events"][0].get("data") or {}
            if kinds != ["created", "comment"] or created.get("status") != "open":
                run.problems.append(f"incident {number} reads back with events {kinds}")


def check_filed(run: SizeRun) -> None:
    """The counters and the reference numbers must have moved by exactly what was filed."""
    want = run.size + run.filed
    with api(run.base, run.tenant.staff[0]) as client:
        total = client.get("/incidents/counts").json()["total"]
        newest = client.get("/incidents", params={"sort": "-created", "limit": 1})
        number = newest.json()["items"][0]["number"]
    if total != want or number != want:
        run.problems.append(
            f"after filing: counts total {total}, newest number {number}; want {want}"
        )


def explain_run(run: SizeRun, gap: bool = False) -> None:
    """Plans for the first page, the middle page, and the pages that cross from high to
    medium and from medium to low priority (where `listing.page` runs its second query).
    With `gap`, only the page timed by `gap_probes`."""
    for who, member in run.users.items():
        if gap:
            if (who, "gap") not in run.positions:
                continue
            wanted = {"medium→low, after one new medium incident,": run.positions[who, "gap"]}
        else:
            wanted = {"first": 0, "middle": run.positions[who, "middle"]}
            wanted |= crossing(run.url, run.tenant, member)
        for label, page in pages_at(run.url, run.tenant, member, wanted).items():
            run.plans.append(f"{who}, {label} page (at {page.position:,}):")
            run.plans += explain_list(run.url, member, page.cursor)


def run_all(opts: Options) -> list[SizeRun]:
    with ExitStack() as stack:
        runs = []
        for size in opts.sizes:
            print(f"size {size:,}:", flush=True)
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="obs-bench-")))
            url = stack.enter_context(fresh_database(opts.postgres, workdir))
            runs.append(prepare(opts, size, url, workdir))
        # Every size's server runs at once so that reads and writes can alternate between them.
        for run in runs:
            run.base = stack.enter_context(running_server(run.url, run.workdir))
        for run in runs:
            check_seeded_detail(run)
        probes = probes_for(runs, stack)
        print(f"timing {len(probes)} requests x {opts.reps}, sizes taking turns", flush=True)
        for (size, who, label), latency in time_probes(probes, opts.reps).items():
            next(r for r in runs if r.size == size).latency[who, label] = latency
        if opts.explain:
            for run in runs:
                explain_run(run)
        if opts.skewed:
            for run in runs:
                file_new_medium(run)
            probes = gap_probes(runs, stack)
            print(f"one new medium incident; timing {len(probes)} requests x {opts.reps}")
            for (size, who, label), latency in time_probes(probes, opts.reps).items():
                next(r for r in runs if r.size == size).latency[who, label] = latency
            if opts.explain:
                for run in runs:
                    explain_run(run, gap=True)
        # Filing comes after the reads, so the reads before it saw exactly `size` incidents
        # (`size` + 1 for the pages timed after the new medium incident with --skewed).
        print(f"filing {opts.creates} incidents per size and mode", flush=True)
        file_everywhere(runs, opts)
        for run in runs:
            check_filed(run)
    return runs


# ---------------------------------------------------------------------------------------------
# The report


def fmt_latency(value: Latency | None, position: int | None) -> str:
    if value is None:
        return "—"
    where = "" if position is None else f" @{position:,}"
    return f"{value.median_ms:.2f} / {value.p95_ms:.2f}{where}"


def report(runs: list[SizeRun], opts: Options) -> bool:
    """Print the figures as a Markdown table; True if every deep page met the 2x target."""
    small, large = runs[0], runs[-1]
    compare = len(runs) > 1
    head = ["", *(f"{r.size:,} incidents" for r in runs)]
    if compare:
        head.append(f"ratio {large.size:,} / {small.size:,}")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def row(label: str, cells: list[str], ratio: str = "") -> None:
        lines.append("| " + " | ".join([label, *cells, *([ratio] if compare else [])]) + " |")

    def ratio_of(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b else "—"

    one = [opts.creates / r.one_s for r in runs]
    many = [(r.filed - opts.creates) / r.many_s for r in runs]
    row("create, 1 thread, incidents/s", [f"{v:.0f}" for v in one], ratio_of(one[-1], one[0]))
    row(
        f"create, {opts.threads} threads at once, incidents/s",
        [f"{v:.0f}" for v in many],
        ratio_of(many[-1], many[0]),
    )
    met = True
    titles = {
        "floor": "floor: GET /incidents/counts",
        "first": "first page",
        "deep": f"page at the position of {small.size:,}'s last full page",
        "middle": "page in the middle",
        "last": "last full page",
        "cross": "page crossing from medium to low priority",
        "gap": "the same, after one new medium incident",
    }
    for who in small.users:
        for label, title in titles.items():
            if (who, label) not in small.latency:
                continue
            cells = [
                fmt_latency(r.latency.get((who, label)), r.positions.get((who, label)))
                for r in runs
            ]
            ratio = ""
            if compare:
                a, b = large.latency[who, label], small.latency[who, label]
                ratio = ratio_of(a.median_ms, b.median_ms)
                if label in ("deep", "middle", "last", "cross", "gap"):
                    ok = a.median_ms <= 2 * b.median_ms
                    met = met and ok
                    ratio += " ✓" if ok else " ✗ over 2x"
            row(f"{who}: {title}, ms median / p95", cells, ratio)
    print("\n".join(lines))
    for r in runs:
        sizes = ", ".join(f"the {who}'s list {n:,}" for who, n in r.scope_rows.items())
        print(f"- {r.size:,}: seeded in {r.seed_s:.1f} s + ANALYZE {r.analyze_s:.1f} s; {sizes}")
        if r.skew:
            print(f"  {r.skew}")
    return met


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,1000000", help="comma-separated incident counts")
    parser.add_argument("--quick", action="store_true", help="sizes 1000,100000 (a fast check)")
    parser.add_argument("--postgres", metavar="URL", help="run on PostgreSQL (a fresh database)")
    parser.add_argument("--reps", type=int, default=50, help="timed requests per page")
    parser.add_argument("--creates", type=int, default=500, help="incidents filed per mode")
    parser.add_argument("--threads", type=int, default=4, help="client threads filing at once")
    parser.add_argument("--rounds", type=int, default=5, help="turns the sizes take at filing")
    parser.add_argument("--explain", action="store_true", help="print the list queries' plans")
    parser.add_argument(
        "--skewed",
        action="store_true",
        help="skewed data: medium priority only in the older half, and a fourth account "
        "with about 40%% of the incidents, all recent",
    )
    args = parser.parse_args(argv)
    sizes = [1000, 100_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    if any(s < 2 * PAGE for s in sizes):
        parser.error(f"each size must be at least {2 * PAGE}")
    if not 1 <= args.threads <= 6:
        parser.error("--threads must be 1 to 6 (one per seeded user who files)")
    if args.creates % (args.rounds * args.threads):
        parser.error("--creates must be a multiple of --rounds times --threads")
    return Options(
        sorted(set(sizes)),
        args.postgres,
        args.reps,
        args.creates,
        args.threads,
        args.rounds,
        args.explain,
        args.skewed,
    )


def describe_backend(opts: Options) -> str:
    if opts.postgres is None:
        return f"SQLite {sqlite3.sqlite_version} (a file in a temporary directory)"
    engine = create_engine(opts.postgres)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar()
    finally:
        engine.dispose()
    return f"PostgreSQL {version}"


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    print(
        f"obs-support {__version__} on {describe_backend(opts)}; "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}"
    )
    print(
        f"pages of {PAGE}; {opts.reps} timed requests per page; "
        f"{opts.creates} incidents filed per size and mode\n",
        flush=True,
    )
    runs = run_all(opts)
    print()
    met = report(runs, opts)
    for r in runs:
        for problem in r.problems:
            print(f"PROBLEM at {r.size:,}: {problem}")
        if r.plans:
            print(f"\nquery plans at {r.size:,}:")
            print("\n".join(r.plans))
    if len(runs) > 1:
        print("\ndeep pages within 2x of the smaller size: " + ("yes" if met else "NO"))
    return 1 if any(r.problems for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
