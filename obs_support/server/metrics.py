"""Prometheus metrics: requests by route template, incidents by status, the outbox, subscribers.

Request counters live in the process that served the request. With several worker processes,
prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by `server run --workers`
before any worker starts) keeps each process's values in files there, and a scrape on any
worker adds them all up. Incidents and the outbox are read from the database at scrape time,
so they are the same whichever worker answers; live-stream subscribers are counted by each
worker's hub and summed over the workers alive.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import col, select

from obs_support.server.db import Database
from obs_support.server.models import IncidentCount, Outbox

# The classic text format: what generate_latest writes, and what every Prometheus reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
UNMATCHED = "unmatched"  # the route label of requests no route matched: keeps labels bounded
BACKLOG = ("pending", "failed")


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class DatabaseCollector(Collector):
    """Gauges read from the database when scraped: the counters the server already keeps."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        incidents = GaugeMetricFamily(
            "obs_support_incidents",
            "Incidents by status, over every observatory on this server.",
            labels=["status"],
        )
        outbox = GaugeMetricFamily(
            "obs_support_outbox_messages",
            "E-mails in the outbox not yet sent (pending) or given up on (failed).",
            labels=["status"],
        )
        with self.db.read() as session:
            by_status = session.exec(
                select(IncidentCount.status, func.sum(IncidentCount.n)).group_by(
                    col(IncidentCount.status)
                )
            ).all()
            backlog = dict(
                session.exec(
                    select(Outbox.status, func.count())
                    .where(col(Outbox.status).in_(BACKLOG))
                    .group_by(col(Outbox.status))
                ).all()
            )
        for status, n in sorted(by_status):
            incidents.add_metric([status], float(n or 0))
        for status in BACKLOG:
            outbox.add_metric([status], float(backlog.get(status, 0)))
        yield incidents
        yield outbox


class Metrics:
    """One app's metrics; `render()` is the body of GET /metrics."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.registry = CollectorRegistry()
        labels = ["method", "route", "status"]
        self.requests = Counter(
            "obs_support_http_requests",
            "HTTP requests answered, by method, route template and status.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "obs_support_http_request_duration_seconds",
            "Time to answer an HTTP request (a live stream counts until it ends).",
            labels,
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.subscribers = Gauge(
            "obs_support_live_subscribers",
            "Open live-stream (Server-Sent Events) connections.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)

    def render(self) -> bytes:
        """The exposition text: this process's values, or every worker's in multiprocess mode."""
        directory = multiprocess_dir()
        if directory is None:
            requests = generate_latest(self.registry)
        else:
            from prometheus_client import multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged, path=directory)  # type: ignore[no-untyped-call]
            requests = generate_latest(merged)
        # A registry per scrape: concurrent scrapes never share (or race on) a collector.
        database = CollectorRegistry()
        database.register(DatabaseCollector(self.db))
        return requests + generate_latest(database)

    def process_exited(self) -> None:
        """Drop this process's live gauges, so a stopped worker's subscribers stop counting."""
        directory = multiprocess_dir()
        if directory is not None:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]
