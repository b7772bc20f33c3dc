"""`obs-support server run --workers N` on PostgreSQL: a real multi-process server.

The server runs as a subprocess with two workers. Which worker answered a request is read
from its JSON log lines (each carries the request id the test sent and the worker's pid), so
the test can prove that both workers serve, that an event written through one worker reaches
a live stream held by the other, and that /metrics adds up every worker's counts.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from obs_support.server.db import connect
from obs_support.server.migrate import upgrade
from tests.server_process import ServerProcess, answered_by
from tests.support import (
    Api,
    LiveServer,
    Tenant,
    free_port,
    make_tenant,
    server_settings,
)
from tests.test_live import Subscription

WAIT = 30.0


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


def _tenant(url: str, base: str, data_dir: Path) -> Tenant:
    upgrade(url)
    db = connect(url)
    try:
        with Api(base) as api:
            return make_tenant(LiveServer(base, url, server_settings(url, data_dir), db), api)
    finally:
        db.dispose()


def test_two_workers_share_the_work_the_live_stream_and_the_metrics(
    postgres_url: str, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    tenant = _tenant(postgres_url, base, data_dir)
    env = {
        **os.environ,
        "OBS_SUPPORT_DATABASE_URL": postgres_url,
        "OBS_SUPPORT_DATA_DIR": str(data_dir),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop("OBS_SUPPORT_LOG_FORMAT", None)
    server = ServerProcess(["--workers", "2", "--port", str(port)], env)
    try:
        workers = server.worker_pids(2)
        assert len(workers) == 2

        # Both workers answer; every answer is logged as one JSON line with its request id.
        seen: set[int] = set()
        healthz = 0
        while seen != workers and healthz < 400:
            response, pid = answered_by(server, base, "GET", "/healthz")
            assert (response.status_code, response.json()) == (200, {"status": "ok"})
            healthz += 1
            seen.add(pid)
        assert seen == workers, f"only {seen} answered in {healthz} requests"
        ready, _ = answered_by(server, base, "GET", "/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready", "checks": {"database": "ok", "storage": "ok"}}

        # A live stream held by one worker gets an incident filed through the other.
        with Subscription(base, tenant.staff.token, headers={"X-Request-ID": "live-sub"}) as sub:
            sub.ready()
            holder = server.find(request_id="live-sub", logger="obs_support.live")["pid"]
            filed: list[str] = []
            ref = None
            for attempt in range(200):
                response, pid = answered_by(
                    server,
                    base,
                    "POST",
                    "/api/v1/incidents",
                    json={
                        "type": "repair",
                        "priority": "high",
                        "message": f"Dome stuck, attempt {attempt}",
                    },
                    headers={"Authorization": f"Bearer {tenant.client.token}"},
                )
                assert response.status_code == 201, response.text
                filed.append(response.json()["ref"])
                if pid != holder:
                    ref = filed[-1]
                    break
            assert ref is not None, "every incident was filed through the stream's own worker"
            deadline = time.monotonic() + WAIT
            while True:
                message = sub.next(deadline)
                if message.json()["incident"]["ref"] == ref:
                    break

            # Any worker's /metrics reports the whole server.
            scraped: dict[int, str] = {}
            for _ in range(200):
                response, pid = answered_by(server, base, "GET", "/metrics")
                assert response.status_code == 200
                scraped[pid] = response.text
                if set(scraped) == workers:
                    break
            assert set(scraped) == workers
            for text in scraped.values():
                counts = samples(text, "obs_support_http_requests_total")
                assert sum(v for labels, v in counts if labels["route"] == "/healthz") == healthz, (
                    counts
                )
                assert sum(
                    v
                    for labels, v in counts
                    if (labels["method"], labels["route"], labels["status"])
                    == ("POST", "/api/v1/incidents", "201")
                ) == len(filed)
                assert not any(r in text for r in filed)  # templates, never raw paths
                assert ({"status": "open"}, float(len(filed))) in samples(
                    text, "obs_support_incidents"
                )
                assert samples(text, "obs_support_live_subscribers") == [({}, 1.0)]
                outbox = {
                    labels["status"]: v
                    for labels, v in samples(text, "obs_support_outbox_messages")
                }
                assert set(outbox) == {"pending", "failed"} and outbox["failed"] == 0

            # Stopping ends the stream at once instead of waiting out the graceful timeout.
            server.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while sub.messages.get(timeout=max(deadline - time.monotonic(), 0)) is not None:
                pass  # events still queued from before the stop; None marks the end
        assert server.stop() == 0
        assert not any("graceful shutdown exceeded" in line for line in server.raw), server.raw
    finally:
        server.stop()
