"""Load: many people at once, then a check that nothing acknowledged was lost.

50 simulated users (clients and staff of 3 observatories) work for 60 s against the real server
(`obs-support server run`, in its own processes): they file incidents, list and read them,
comment, change statuses and attach small files, as fast as the server answers. Each
operation's throughput and p50/p95/p99 latency are printed. Then every write the server
acknowledged (a 2xx) is looked for: each filed incident must be readable, each comment,
status change and attachment must be in its incident's history, and no answer may have been
a 5xx. A Jepsen-style set check: the set of acknowledged writes must be a subset of what is
stored.

    .venv/bin/python bench/load.py                         # SQLite, 1 worker
    .venv/bin/python bench/load.py --postgres postgresql+psycopg://postgres@127.0.0.1/test \\
        --workers 4                                        # PostgreSQL, 4 workers

Exit status 1 if a write was lost or any answer was a 5xx.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_bench import Member, Tenant, fresh_database, running_server, setup_tenant

from obs_support.server.migrate import upgrade

OPERATIONS = ("create", "list", "show", "comment", "status", "upload")
# What a client and a staff member do, by weight.
CLIENT_MIX = {"create": 3, "list": 5, "show": 5, "comment": 4, "upload": 2}
STAFF_MIX = {"list": 5, "show": 5, "comment": 3, "status": 4, "upload": 1}
STATUS_MOVES = {
    "open": [("in_progress", None), ("blocked", "waiting for parts")],
    "in_progress": [("done", None), ("blocked", "waiting for the client")],
    "blocked": [("in_progress", None)],
    "done": [("open", "it came back")],
    "cancelled": [("open", "it came back")],
}


@dataclass
class Acknowledged:
    """Every write the server said yes to, to be found afterwards."""

    incidents: dict[str, Member] = field(default_factory=dict)  # ref -> who filed it
    events: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    attachments: dict[str, set[tuple[int, str]]] = field(default_factory=lambda: defaultdict(set))


@dataclass
class Tally:
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    transport_errors: Counter[str] = field(default_factory=Counter)

    def record(self, op: str, started: float, response: httpx.Response) -> None:
        self.latency[op].append(time.perf_counter() - started)
        self.statuses[op][response.status_code] += 1


@dataclass
class Person:
    member: Member
    tenant: Tenant
    staff: bool
    known: list[str] = field(default_factory=list)  # references this person has seen


def people(tenants: list[Tenant], n: int) -> list[Person]:
    """`n` users spread over the observatories: about two clients for each staff member."""
    pool: list[Person] = []
    for tenant in tenants:
        pool += [Person(m, tenant, True) for m in tenant.staff]
        pool += [Person(m, tenant, False) for ms in tenant.clients.values() for m in ms]
    rng = random.Random(5)
    rng.shuffle(pool)
    staff = [p for p in pool if p.staff]
    clients = [p for p in pool if not p.staff]
    chosen: list[Person] = []
    while len(chosen) < n:  # people are reused (several sessions each) when n is large
        chosen.append(
            clients[len(chosen) % len(clients)]
            if len(chosen) % 3
            else staff[(len(chosen) // 3) % len(staff)]
        )
    return [Person(p.member, p.tenant, p.staff) for p in chosen]


async def act(
    person: Person, http: httpx.AsyncClient, rng: random.Random, acked: Acknowledged, tally: Tally
) -> None:
    mix = STAFF_MIX if person.staff else CLIENT_MIX
    op = rng.choices(list(mix), weights=list(mix.values()))[0]
    if op != "create" and op != "list" and not person.known:
        op = "list" if person.staff else "create"
    started = time.perf_counter()
    if op == "create":
        account = person.member.account_id
        body: dict[str, Any] = {
            "type": rng.choice(["question", "repair", "installation", "upgrade"]),
            "priority": rng.choice(["low", "medium", "high"]),
            "message": f"Load test {rng.getrandbits(32):08x}: the mount stalls at dusk.",
        }
        if account is not None:
            body["telescope_id"] = rng.choice(person.tenant.telescopes[account])
        r = await http.post("/incidents", json=body)
        tally.record(op, started, r)
        if r.status_code == 201:
            ref = r.json()["ref"]
            acked.incidents[ref] = person.member
            person.known.append(ref)
    elif op == "list":
        r = await http.get("/incidents", params={"limit": 50})
        tally.record(op, started, r)
        if r.status_code == 200:
            person.known[:] = [i["ref"] for i in r.json()["items"]][:50] or person.known
    elif op == "show":
        r = await http.get(f"/incidents/{rng.choice(person.known)}")
        tally.record(op, started, r)
    elif op == "comment":
        ref = rng.choice(person.known)
        text = f"Comment {rng.getrandbits(32):08x} from {person.member.id}"
        r = await http.post(f"/incidents/{ref}/comments", json={"body": text})
        tally.record(op, started, r)
        if r.status_code == 201:
            acked.events[ref].add(r.json()["id"])
    elif op == "status":
        ref = rng.choice(person.known)
        current = await http.get(f"/incidents/{ref}")
        if current.status_code != 200:
            tally.record("show", started, current)
            return
        target, reason = rng.choice(STATUS_MOVES[current.json()["status"]])
        started = time.perf_counter()
        body = {"status": target} | ({"reason": reason} if reason else {})
        r = await http.post(f"/incidents/{ref}/status", json=body)
        tally.record(op, started, r)
        if r.status_code == 200:
            changes = [e for e in r.json()["events"] if e["kind"] == "status_changed"]
            if changes:
                acked.events[ref].add(changes[-1]["id"])
    elif op == "upload":
        ref = rng.choice(person.known)
        data = os.urandom(rng.randint(4, 64) * 1024)
        digest = hashlib.sha256(data).hexdigest()
        r = await http.post(
            f"/incidents/{ref}/uploads",
            json={"filename": f"log-{digest[:8]}.bin", "size": len(data), "sha256": digest},
        )
        if r.status_code != 201:
            tally.record(op, started, r)
            return
        r = await http.patch(
            f"/uploads/{r.json()['id']}",
            content=data,
            headers={"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        )
        tally.record(op, started, r)
        if r.status_code == 201:
            acked.attachments[ref].add((r.json()["id"], digest))


async def user(
    person: Person, base: str, until: float, seed: int, acked: Acknowledged, tally: Tally
) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {person.member.token}"}
    async with httpx.AsyncClient(base_url=f"{base}/api/v1", headers=headers, timeout=60) as http:
        while time.monotonic() < until:
            try:
                await act(person, http, rng, acked, tally)
            except httpx.TransportError as exc:
                tally.transport_errors[type(exc).__name__] += 1


async def load(base: str, crowd: list[Person], seconds: float) -> tuple[Acknowledged, Tally]:
    acked, tally = Acknowledged(), Tally()
    until = time.monotonic() + seconds
    await asyncio.gather(*(user(p, base, until, i, acked, tally) for i, p in enumerate(crowd)))
    return acked, tally


def verify(base: str, tenants: list[Tenant], acked: Acknowledged) -> list[str]:
    """What was acknowledged but is not there (read back as each observatory's admin)."""
    admin = {t.observatory_id: t.staff[0] for t in tenants}
    owner = {m.id: t.observatory_id for t in tenants for ms in t.clients.values() for m in ms}
    owner |= {m.id: t.observatory_id for t in tenants for m in t.staff}
    lost: list[str] = []
    refs = set(acked.incidents) | set(acked.events) | set(acked.attachments)
    clients: dict[int, httpx.Client] = {}
    try:
        for ref in sorted(refs):
            filer = acked.incidents.get(ref)
            obs = owner[filer.id] if filer else None
            if obs is None:  # an incident seen in a list: find its observatory by trying
                obs = next(
                    o
                    for o, m in admin.items()
                    if _client(clients, base, m).get(f"/incidents/{ref}").status_code == 200
                )
            http = _client(clients, base, admin[obs])
            r = http.get(f"/incidents/{ref}")
            if r.status_code != 200:
                lost.append(f"{ref}: filed (201) but answers {r.status_code}")
                continue
            ids = {e["id"] for e in r.json()["events"]}
            lost += [
                f"{ref}: event {e} acknowledged, not in the history"
                for e in sorted(acked.events.get(ref, set()) - ids)
            ]
            if acked.attachments.get(ref):
                stored = {
                    (a["id"], a["sha256"]) for a in http.get(f"/incidents/{ref}/attachments").json()
                }
                lost += [
                    f"{ref}: attachment {a} acknowledged, not stored"
                    for a in sorted(acked.attachments[ref] - stored)
                ]
    finally:
        for c in clients.values():
            c.close()
    return lost


def _client(cache: dict[int, httpx.Client], base: str, member: Member) -> httpx.Client:
    if member.id not in cache:
        cache[member.id] = httpx.Client(
            base_url=f"{base}/api/v1",
            headers={"Authorization": f"Bearer {member.token}"},
            timeout=60,
        )
    return cache[member.id]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(tally: Tally, seconds: float) -> int:
    """Print the table; return the number of 5xx answers."""
    print(
        f"{'operation':<10}{'count':>8}{'per s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  answers"
    )
    fivexx = 0
    for op in OPERATIONS:
        times = tally.latency.get(op, [])
        if not times:
            continue
        codes = tally.statuses[op]
        fivexx += sum(n for code, n in codes.items() if code >= 500)
        answers = ", ".join(f"{code}×{n}" for code, n in sorted(codes.items()))
        print(
            f"{op:<10}{len(times):>8}{len(times) / seconds:>8.1f}"
            f"{statistics.median(times) * 1000:>9.0f}{percentile(times, 95) * 1000:>9.0f}"
            f"{percentile(times, 99) * 1000:>9.0f}  {answers}"
        )
    total = sum(len(v) for v in tally.latency.values())
    print(f"{'all':<10}{total:>8}{total / seconds:>8.1f}")
    if tally.transport_errors:
        print(f"connection errors: {dict(tally.transport_errors)}")
    return fivexx


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", help="a PostgreSQL URL (a fresh database is made in it)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--observatories", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="obs-load-"))
    try:
        with fresh_database(args.postgres, workdir) as url:
            upgrade(url)
            tenants = [
                setup_tenant(url, slug=f"OBS{i}", name=f"Observatory {i}")
                for i in range(args.observatories)
            ]
            crowd = people(tenants, args.users)
            with running_server(url, workdir, workers=args.workers) as base:
                where = "PostgreSQL" if args.postgres else "SQLite"
                print(
                    f"{where}, {args.workers} worker(s), {len(crowd)} users "
                    f"({sum(p.staff for p in crowd)} staff) over {len(tenants)} observatories, "
                    f"{args.seconds:.0f} s; load average {os.getloadavg()[0]:.1f} before",
                    flush=True,
                )
                acked, tally = asyncio.run(load(base, crowd, args.seconds))
                fivexx = report(tally, args.seconds)
                lost = verify(base, tenants, acked)
        writes = (
            len(acked.incidents)
            + sum(map(len, acked.events.values()))
            + sum(map(len, acked.attachments.values()))
        )
        print(f"acknowledged writes checked: {writes}; lost: {len(lost)}; 5xx answers: {fivexx}")
        for line in lost[:20]:
            print(f"  LOST {line}")
        if lost or fivexx:
            sys.exit(1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
