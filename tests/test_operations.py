"""Running the server like production: probes, metrics, JSON logs, backups and restores.

Everything runs against real servers (in-process on a free port, or `obs-support server run`
as a subprocess), real SQLite files and the real PostgreSQL; backups and restores go through
the `obs-support server backup|restore` commands exactly as an administrator types them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.script import ScriptDirectory
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from obs_support.server.logs import JsonFormatter
from obs_support.server.migrate import alembic_config
from tests.server_process import ServerProcess
from tests.support import (
    Api,
    LiveServer,
    Tenant,
    free_port,
    make_tenant,
    png_bytes,
    start_server,
)
from tests.test_live import Subscription

CLI = [sys.executable, "-m", "obs_support"]
OCTETS = {"Content-Type": "application/offset+octet-stream"}
TOKEN = "obs_" + "Ab3" * 14 + "x9Qz7a"  # the shape of an API token: prefix, 43 + 6 base62


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=120
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def metrics(server: LiveServer) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = httpx.get(f"{server.url}/metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def attach(api: Api, who: Any, ref: str, name: str, data: bytes) -> dict[str, Any]:
    me = api.as_(who)
    sha = hashlib.sha256(data).hexdigest()
    started = me.ok(
        "POST",
        f"/incidents/{ref}/uploads",
        json={"filename": name, "size": len(data), "sha256": sha},
    )
    headers = {**OCTETS, "Upload-Offset": "0"}
    attached: dict[str, Any] = me.ok(
        "PATCH", f"/uploads/{started['id']}", content=data, headers=headers, expect=201
    )
    return attached


# --- /healthz and /readyz ---------------------------------------------------------------------


def test_health_probes_need_no_credential_and_say_ready(server: LiveServer) -> None:
    alive = httpx.get(f"{server.url}/healthz")
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    assert re.fullmatch(r"[0-9a-f]{32}", alive.headers["x-request-id"])
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "storage": "ok"}}
    # The probe leaves nothing behind in the store.
    leftovers = list((server.settings.data_dir / "attachments").glob(".readyz-*"))
    assert leftovers == []


def test_readyz_names_an_unwritable_attachment_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "attachments").write_text("a file where the store's directory should be")
    with start_server(f"sqlite:///{tmp_path / 'db.sqlite3'}", data) as live:
        ready = httpx.get(f"{live.url}/readyz")
        alive = httpx.get(f"{live.url}/healthz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["storage"].startswith(("FileExistsError", "NotADirectoryError"))
    assert "Traceback" not in ready.text and "\n" not in body["checks"]["storage"]
    assert alive.status_code == 200  # the process itself is fine: do not restart it


def test_readyz_names_a_lost_database(postgres_url: str, tmp_path: Path) -> None:
    with start_server(postgres_url, tmp_path / "data") as live:
        assert httpx.get(f"{live.url}/readyz").status_code == 200
        name = make_url(postgres_url).database
        admin = create_engine(
            os.environ["OBS_SUPPORT_TEST_POSTGRES_URL"], isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
        ready = httpx.get(f"{live.url}/readyz", timeout=30)
        alive = httpx.get(f"{live.url}/healthz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["checks"]["storage"] == "ok"
    assert body["checks"]["database"] != "ok" and "\n" not in body["checks"]["database"]
    assert "Traceback" not in ready.text
    assert alive.status_code == 200


# --- /metrics ---------------------------------------------------------------------------------


def test_metrics_count_by_route_template_and_read_the_counters(tmp_path: Path) -> None:
    with (
        start_server(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "data") as live,
        Api(live.url) as api,
    ):
        tenant = make_tenant(live, api)
        refs = [tenant.incident(api)["ref"] for _ in range(3)]
        me = api.as_(tenant.client)
        for ref in refs[:2]:
            assert me.get(f"/incidents/{ref}").status_code == 200
        assert me.get(f"/incidents/{tenant.slug}-999999").status_code == 404
        assert httpx.get(f"{live.url}/no/such/page").status_code == 404
        api.as_(tenant.staff).ok(
            "POST", f"/incidents/{refs[0]}/status", json={"status": "in_progress"}
        )

        with Subscription(live.url, tenant.staff.token) as sub:
            sub.ready()
            during = metrics(live)
        deadline = time.monotonic() + 10
        while (after := metrics(live))["obs_support_live_subscribers"] != [({}, 0.0)]:
            assert time.monotonic() < deadline, after["obs_support_live_subscribers"]
            time.sleep(0.05)

    requests = {
        (labels["method"], labels["route"], labels["status"]): value
        for labels, value in after["obs_support_http_requests_total"]
    }
    assert requests[("POST", "/api/v1/incidents", "201")] == 3
    assert requests[("GET", "/api/v1/incidents/{ref}", "200")] == 2
    assert requests[("GET", "/api/v1/incidents/{ref}", "404")] == 1
    assert requests[("GET", "unmatched", "404")] == 1
    assert requests[("GET", "/api/v1/events", "200")] == 1  # counted once the stream ended
    routes = {route for _, route, _ in requests}
    assert not any(tenant.slug in route for route in routes), routes  # never a raw path
    latency = {
        (labels["route"], labels["status"]): value
        for labels, value in after["obs_support_http_request_duration_seconds_count"]
    }
    assert latency[("/api/v1/incidents/{ref}", "200")] == 2
    incidents = {labels["status"]: value for labels, value in after["obs_support_incidents"]}
    assert incidents["open"] == 2 and incidents["in_progress"] == 1
    outbox = {labels["status"]: value for labels, value in after["obs_support_outbox_messages"]}
    assert set(outbox) == {"pending", "failed"} and outbox["failed"] == 0
    assert during["obs_support_live_subscribers"] == [({}, 1.0)]


def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    with start_server(
        f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "data", metrics=False
    ) as live:
        assert httpx.get(f"{live.url}/metrics").status_code == 404
        assert httpx.get(f"{live.url}/healthz").status_code == 200


# --- structured logs --------------------------------------------------------------------------


def _admin_token() -> str:
    made = cli("server", "init", "--observatory", "Teide", "--admin-email", "ana@teide.example")
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def _json_logging_server() -> tuple[str, str, ServerProcess]:
    """An admin's token, and `server run` in a subprocess writing JSON logs (the default)."""
    token = _admin_token()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "OBS_SUPPORT_LOG_FORMAT"}
    return token, f"http://127.0.0.1:{port}", ServerProcess(["--port", str(port)], env)


def test_server_run_logs_one_json_object_per_line_without_secrets(tmp_path: Path) -> None:
    token, base, server = _json_logging_server()
    try:
        server.worker_pids(1)
        listed = httpx.get(
            f"{base}/api/v1/incidents",
            params={"token": token, "limit": 5},
            headers={
                "Authorization": f"Bearer {token}",
                "Cookie": "session=cookie-secret-value",
                "X-Request-ID": "proxy-7f3a.1",
            },
        )
        assert listed.status_code == 200
        assert listed.headers["x-request-id"] == "proxy-7f3a.1"
        login = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"email": "ana@teide.example", "password": "hunter2-not-it"},
            headers={"X-Request-ID": "not a sane id; it has spaces"},
        )
        assert login.status_code == 401
        generated = login.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated)

        line = server.find(request_id="proxy-7f3a.1")
        assert line["logger"] == "obs_support.access"
        assert (line["level"], line["method"], line["route"], line["status"]) == (
            "info",
            "GET",
            "/api/v1/incidents",
            200,
        )
        assert isinstance(line["user_id"], int)
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", line["time"])
        refused = server.find(request_id=generated)
        assert (refused["route"], refused["status"]) == ("/api/v1/auth/login", 401)
        assert "user_id" not in refused
    finally:
        # Uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
        assert server.stop() in (0, -signal.SIGTERM)
    output = "".join(server.raw)
    for secret in (token, "cookie-secret-value", "hunter2-not-it", "Bearer"):
        assert secret not in output
    lines = [raw for raw in server.raw if raw.strip()]
    assert lines and all(isinstance(json.loads(raw), dict) for raw in lines)


def test_an_unforeseen_failure_is_a_500_that_names_its_request_in_the_answer_and_the_log(
    tmp_path: Path,
) -> None:
    """A fault nothing handles (the previews folder replaced by a file) answers 500 with the
    request id, in the caller's language, and logs the traceback under the same id."""
    token, base, server = _json_logging_server()
    try:
        server.worker_pids(1)
        with httpx.Client(
            base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {token}"}
        ) as http:
            account = http.post("/accounts", json={"name": "Faults"}).json()["id"]
            body = {
                "type": "repair",
                "priority": "low",
                "message": "x",
                "client_account_id": account,
            }
            ref = http.post("/incidents", json=body).json()["ref"]
            picture = png_bytes(64, 48)
            upload = http.post(
                f"/incidents/{ref}/uploads", json={"filename": "a.png", "size": len(picture)}
            ).json()
            attached = http.patch(
                f"/uploads/{upload['id']}",
                content=picture,
                headers={**OCTETS, "Upload-Offset": "0"},
            )
            assert attached.status_code == 201, attached.text
            previews = Path(os.environ["OBS_SUPPORT_DATA_DIR"]) / "attachments" / "thumbnails"
            shutil.rmtree(previews, ignore_errors=True)
            previews.write_text("not a folder")
            broken = http.get(
                f"/incidents/{ref}/attachments/{attached.json()['id']}/thumbnail",
                headers={"X-Request-ID": "fault-42", "Accept-Language": "es"},
            )
        assert broken.status_code == 500
        assert broken.headers["x-request-id"] == "fault-42"
        problem = broken.json()
        assert (problem["code"], problem["title"]) == (
            "internal_error",
            "Error interno del servidor",
        )
        assert "Traceback" not in broken.text and "FileExistsError" not in broken.text
        logged = server.find(request_id="fault-42", logger="obs_support.server")
        assert logged["level"] == "error" and "FileExistsError" in json.dumps(logged)
        access = server.find(request_id="fault-42", logger="obs_support.access")
        assert access["status"] == 500
    finally:
        assert server.stop() in (0, -signal.SIGTERM)


def test_log_lines_mask_passwords_in_urls_and_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    """Whatever a library puts in a message (a connection URL, a token), the line masks it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("obs_support.test_masking")
    log.addHandler(handler)
    try:
        try:
            raise ConnectionError("smtp://obs:s3cret-pass@mail.example.org:587 refused")
        except ConnectionError:
            log.exception("mail to %s failed with token %s", "a@b.example", TOKEN)
    finally:
        log.removeHandler(handler)
    line = json.loads(capsys.readouterr().err)
    assert "s3cret-pass" not in json.dumps(line) and TOKEN[4:] not in json.dumps(line)
    assert "smtp://obs:***@mail.example.org" in line["exception"]
    assert line["message"] == "mail to a@b.example failed with token obs_***"


def test_log_format_text_is_for_people(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(["--port", str(port)], {**os.environ, "OBS_SUPPORT_LOG_FORMAT": "text"})
    try:
        server.wait_for("serving on sqlite")
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "r-1"})
        access = server.wait_for("GET /healthz 200")
    finally:
        server.stop()
    assert response.status_code == 200
    assert access.rstrip().endswith("[r-1]"), access
    assert server.records == []  # not one JSON line


def test_workers_need_postgresql(tmp_path: Path) -> None:
    result = cli("server", "run", "--workers", "2", "--port", str(free_port()))
    assert result.returncode == 2
    assert "PostgreSQL" in one_line_error(result)


# --- backup and restore -----------------------------------------------------------------------


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


class Writer(threading.Thread):
    """Files incidents through the API until stopped; `acknowledged` holds each 201's ref."""

    def __init__(self, server: LiveServer, tenant: Tenant) -> None:
        super().__init__(daemon=True)
        self.server, self.tenant = server, tenant
        self.acknowledged: list[str] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with Api(self.server.url) as api:
                while not self.stop.is_set():
                    self.acknowledged.append(self.tenant.incident(api)["ref"])
        except BaseException as exc:  # reported by the test
            self.error = exc


def test_backup_while_writing_then_restore_and_serve(tmp_path: Path) -> None:
    live_dir, restored_dir, backup_dir = tmp_path / "live", tmp_path / "restored", tmp_path / "bk"
    files = [os.urandom(150_000 + n) for n in range(3)]
    with (
        start_server(f"sqlite:///{live_dir / 'obs-support.sqlite3'}", live_dir) as live,
        Api(live.url) as api,
    ):
        tenant = make_tenant(live, api)
        ref = tenant.incident(api)["ref"]
        attached = [attach(api, tenant.client, ref, f"f{n}.bin", d) for n, d in enumerate(files)]
        writer = Writer(live, tenant)
        writer.start()
        try:
            while len(writer.acknowledged) < 5:
                assert writer.is_alive(), writer.error
                time.sleep(0.01)
            before = list(writer.acknowledged)
            made = cli("server", "backup", str(backup_dir), OBS_SUPPORT_DATA_DIR=str(live_dir))
            during = len(writer.acknowledged) - len(before)
        finally:
            writer.stop.set()
            writer.join(30)
        assert writer.error is None, writer.error
    assert made.returncode == 0, made.stderr
    assert during > 0, "no incident was filed while the backup ran"
    assert "3 attachment file(s)" in made.stderr

    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["schema_revision"] == _head()
    assert manifest["blob_count"] == 3 and manifest["bytes"] == sum(len(d) for d in files)
    assert manifest["database"] == "sqlite"
    assert sorted(manifest["blobs"]) == sorted(hashlib.sha256(d).hexdigest() for d in files)

    restored = cli("server", "restore", str(backup_dir), OBS_SUPPORT_DATA_DIR=str(restored_dir))
    assert restored.returncode == 0, restored.stderr
    again = cli("server", "restore", str(backup_dir), OBS_SUPPORT_DATA_DIR=str(restored_dir))
    assert "not empty" in one_line_error(again) and "--force" in again.stderr

    url = f"sqlite:///{restored_dir / 'obs-support.sqlite3'}"
    with start_server(url, restored_dir) as copy, Api(copy.url) as api:
        staff = api.as_(tenant.staff)
        for acknowledged in [ref, *before]:
            assert staff.get(f"/incidents/{acknowledged}").status_code == 200, acknowledged
        for item, data in zip(attached, files, strict=True):
            got = staff.get(f"/incidents/{ref}/attachments/{item['id']}")
            assert got.status_code == 200
            assert hashlib.sha256(got.content).hexdigest() == item["sha256"]
            assert got.content == data


def test_restore_refuses_a_damaged_blob_and_leaves_the_target_untouched(tmp_path: Path) -> None:
    live_dir, backup_dir, target = tmp_path / "live", tmp_path / "bk", tmp_path / "target"
    with (
        start_server(f"sqlite:///{live_dir / 'obs-support.sqlite3'}", live_dir) as live,
        Api(live.url) as api,
    ):
        tenant = make_tenant(live, api)
        item = attach(api, tenant.client, tenant.incident(api)["ref"], "a.bin", os.urandom(5000))
    assert (
        cli("server", "backup", str(backup_dir), OBS_SUPPORT_DATA_DIR=str(live_dir)).returncode == 0
    )
    blob = backup_dir / "attachments" / "blobs" / item["sha256"][:2] / item["sha256"]
    damaged = bytearray(blob.read_bytes())
    damaged[100] ^= 0xFF  # same size, different bytes
    blob.write_bytes(bytes(damaged))
    target.mkdir()
    (target / "keep.txt").write_text("the data that was here")
    before = sorted(p.name for p in tmp_path.iterdir())

    result = cli("server", "restore", str(backup_dir), "--force", OBS_SUPPORT_DATA_DIR=str(target))
    assert result.returncode == 1
    assert "does not match its sha256" in one_line_error(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no half-restored directory
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert (target / "keep.txt").read_text() == "the data that was here"


def test_restore_refuses_what_is_not_a_backup(tmp_path: Path) -> None:
    (tmp_path / "random").mkdir()
    result = cli("server", "restore", str(tmp_path / "random"))
    assert "not a backup" in one_line_error(result)
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "file").write_text("x")
    result = cli("server", "backup", str(tmp_path / "occupied"))
    assert "not empty" in one_line_error(result)


def test_backup_on_postgresql_dumps_the_database_and_copies_the_store(
    postgres_url: str, tmp_path: Path
) -> None:
    live_dir, backup_dir, target = tmp_path / "live", tmp_path / "bk", tmp_path / "target"
    data = os.urandom(20_000)
    with start_server(postgres_url, live_dir) as live, Api(live.url) as api:
        tenant = make_tenant(live, api)
        attach(api, tenant.client, tenant.incident(api)["ref"], "a.bin", data)
    env = {"OBS_SUPPORT_DATA_DIR": str(live_dir), "OBS_SUPPORT_DATABASE_URL": postgres_url}
    made = cli("server", "backup", str(backup_dir), **env)
    assert made.returncode == 0, made.stderr
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert (manifest["database"], manifest["database_file"]) == ("postgresql", "database.dump")
    assert manifest["blob_count"] == 1 and manifest["schema_revision"] == _head()
    listing = subprocess.run(
        ["pg_restore", "--list", str(backup_dir / "database.dump")], capture_output=True, text=True
    )
    assert listing.returncode == 0 and "TABLE public incident" in listing.stdout

    restored = cli(
        "server", "restore", str(backup_dir), **{**env, "OBS_SUPPORT_DATA_DIR": str(target)}
    )
    assert restored.returncode == 0, restored.stderr
    assert "pg_restore --clean --if-exists --no-owner" in restored.stderr
    sha = hashlib.sha256(data).hexdigest()
    assert (target / "attachments" / "blobs" / sha[:2] / sha).read_bytes() == data
