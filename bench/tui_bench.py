"""The terminal app: time to an interactive queue, and how fast a change elsewhere shows.

For 100 and for 100,000 incidents (bulk-loaded into SQLite as `api_bench.py` does), with the
real server in its own process, it starts the app headless (Textual's test driver, 120x40)
as a staff member and measures the time from start to the first page of the queue on screen,
five times each, and the time from pressing d to the dashboard's figures. Then, with the
queue open, a client changes the status of an incident through the API and the time until
the row shows the new status is measured 20 times.

    .venv/bin/python bench/tui_bench.py            # --sizes 100,100000 --runs 5 --changes 20
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_bench import (
    api,
    fresh_database,
    running_server,
    seed_sqlite,
    setup_tenant,
)
from textual.widgets import DataTable

from obs_support.cli.i18n import Translator
from obs_support.client.api import ObsClient
from obs_support.server.migrate import upgrade
from obs_support.tui.app import ObsSupportApp
from obs_support.tui.queue import QueueScreen


async def wait_for(pilot: object, check: object, timeout: float = 30.0) -> float:
    started = time.perf_counter()
    while not check():  # type: ignore[operator]
        if time.perf_counter() - started > timeout:
            raise TimeoutError("the screen did not show it in time")
        await asyncio.sleep(0.005)
    return time.perf_counter() - started


def queue_shown(app: ObsSupportApp) -> bool:
    """The queue screen is up with rows in its table (which mounts after the screen does)."""
    screen = app.screen
    tables = screen.query(DataTable) if isinstance(screen, QueueScreen) else []
    return any(table.row_count > 0 for table in tables)


async def time_to_queue(base: str, token: str) -> float:
    started = time.perf_counter()
    app = ObsSupportApp(ObsClient(base, token), Translator("en"), live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: queue_shown(app))
        elapsed = time.perf_counter() - started
        await pilot.pause(0.2)  # let the screen finish mounting before leaving
    return elapsed


async def time_to_dashboard(base: str, token: str) -> float:
    """From pressing d on the open queue to the dashboard's figures on screen."""
    from rich.table import Table
    from textual.widgets import Static

    from obs_support.tui.dashboard import DashboardScreen

    app = ObsSupportApp(ObsClient(base, token), Translator("en"), live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: queue_shown(app))
        started = time.perf_counter()
        await pilot.press("d")

        def shown() -> bool:
            screen = app.screen
            figures = screen.query("#unfinished") if isinstance(screen, DashboardScreen) else []
            return any(isinstance(f, Static) and isinstance(f.content, Table) for f in figures)

        await wait_for(pilot, shown)
        elapsed = time.perf_counter() - started
        await pilot.pause(0.2)  # let the screen finish mounting before leaving
    return elapsed


async def change_latency(base: str, staff_token: str, client_token: str, n: int) -> list[float]:
    import httpx

    samples: list[float] = []
    app = ObsSupportApp(ObsClient(base, staff_token), Translator("en"))
    headers = {"Authorization": f"Bearer {client_token}"}
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen) and app.connected)
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        await wait_for(pilot, lambda: queue_shown(app))
        async with httpx.AsyncClient(base_url=f"{base}/api/v1", headers=headers) as http:
            for _ in range(n):
                body = {"type": "question", "priority": "high", "message": "Latency probe"}
                created = (await http.post("/incidents", json=body)).json()
                ref = created["ref"]
                await wait_for(pilot, lambda ref=ref: ref in screen.incidents)
                started = time.perf_counter()
                await http.post(
                    f"/incidents/{ref}/status", json={"status": "cancelled", "reason": "probe"}
                )
                samples.append(
                    await wait_for(
                        pilot,
                        lambda ref=ref: screen.incidents[ref].status.value == "cancelled",
                    )
                    + 0.0
                )
                samples[-1] = time.perf_counter() - started
        app.exit()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,100000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    medians: dict[int, float] = {}
    dashboards: dict[int, float] = {}
    latency: list[float] = []
    for size in sizes:
        workdir = Path(tempfile.mkdtemp(prefix="obs-tui-bench-"))
        try:
            with fresh_database(None, workdir) as url:
                upgrade(url)
                tenant = setup_tenant(url)
                seed_sqlite(Path(url.removeprefix("sqlite:///")), tenant, size)
                with running_server(url, workdir) as base:
                    staff = tenant.staff[1]
                    with api(base, staff) as http:  # warm the server's caches once
                        http.get("/incidents", params={"limit": 100})
                    times = [
                        asyncio.run(time_to_queue(base, staff.token)) for _ in range(args.runs)
                    ]
                    medians[size] = statistics.median(times)
                    print(
                        f"{size:>7} incidents: start to queue {medians[size]:.3f} s median "
                        f"(runs: {', '.join(f'{t:.3f}' for t in times)})",
                        flush=True,
                    )
                    boards = [
                        asyncio.run(time_to_dashboard(base, staff.token)) for _ in range(args.runs)
                    ]
                    dashboards[size] = statistics.median(boards)
                    print(
                        f"{size:>7} incidents: d to dashboard {dashboards[size]:.3f} s median "
                        f"(runs: {', '.join(f'{t:.3f}' for t in boards)})",
                        flush=True,
                    )
                    if size == sizes[-1]:
                        client = random.Random(7).choice(next(iter(tenant.clients.values())))
                        latency = asyncio.run(
                            change_latency(base, staff.token, client.token, args.changes)
                        )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    if len(sizes) > 1:
        ratio = medians[sizes[-1]] / medians[sizes[0]]
        verdict = "ok" if ratio <= 1.5 else "over the 1.5 target"
        print(f"ratio {sizes[-1]} / {sizes[0]}: {ratio:.2f} (target <= 1.5: {verdict})")
        board = dashboards[sizes[-1]] / dashboards[sizes[0]]
        print(f"dashboard ratio {sizes[-1]} / {sizes[0]}: {board:.2f}")
    if latency:
        latency.sort()
        p95 = latency[max(0, int(len(latency) * 0.95) - 1)]
        print(
            f"status change by another client → on screen: median "
            f"{statistics.median(latency) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"max {latency[-1] * 1000:.0f} ms ({len(latency)} changes)"
        )


if __name__ == "__main__":
    main()
