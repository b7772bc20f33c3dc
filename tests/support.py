"""Helpers for the tests: a live server, an API client, and tenant factories."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from obs_support.config import ServerSettings
from obs_support.server.app import create_app
from obs_support.server.db import Database, connect
from obs_support.server.migrate import upgrade
from obs_support.server.models import ClientAccount, Telescope
from obs_support.server.models import User as UserRow
from obs_support.server.runner import Server, config
from obs_support.server.services.auth import issue_token
from obs_support.server.services.setup import create_observatory

PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    database_url: str
    settings: ServerSettings
    db: Database

    @property
    def kind(self) -> str:
        return "sqlite" if self.database_url.startswith("sqlite") else "postgres"


def server_settings(database_url: str, data_dir: Path, **overrides: Any) -> ServerSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "ip_max_failures": 100_000,  # tests share 127.0.0.1; the per-address limit has its own test
        "login_max_failures": 5,
    }
    values.update(overrides)
    return ServerSettings(**values)


@contextmanager
def start_server(database_url: str, data_dir: Path, **overrides: Any) -> Iterator[LiveServer]:
    upgrade(database_url)
    port = free_port()
    overrides.setdefault("public_url", f"http://127.0.0.1:{port}")
    settings = server_settings(database_url, data_dir, **overrides)
    db = connect(database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    server = Server(
        config(create_app(settings, db), "127.0.0.1", port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", database_url, settings, db)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def postgres_database(base_url: str, name: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test run, dropped afterwards."""
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Api:
    """A thin httpx wrapper: `api.as_(user).post(...)` sends that user's token."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=f"{base_url}/api/v1", headers=headers, timeout=30)

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def as_(self, who: User | str) -> Api:
        return Api(self.base_url, who if isinstance(who, str) else who.token)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(path, **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.patch(path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.put(path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.delete(path, **kw)

    def ok(self, method: str, path: str, expect: int | None = None, **kw: Any) -> Any:
        response = self.http.request(method, path, **kw)
        good = response.status_code == expect if expect else response.is_success
        assert good, f"{method} {path} -> {response.status_code} {response.text}"
        return response.json() if response.content else None


@dataclass
class User:
    id: int
    email: str
    token: str
    role: str
    account_id: int | None = None


@dataclass
class Tenant:
    slug: str
    admin: User
    staff: User
    client: User  # member of account_a
    client_b: User  # member of account_b
    account_a: int
    account_b: int
    telescopes: dict[int, list[int]] = field(default_factory=dict)

    def incident(self, api: Api, who: User | None = None, **body: Any) -> dict[str, Any]:
        who = who or self.client
        payload = {"type": "repair", "priority": "medium", "message": "The mount does not track."}
        if who.role != "client":
            payload["client_account_id"] = self.account_a
        payload.update(body)
        result: dict[str, Any] = api.as_(who).ok("POST", "/incidents", json=payload, expect=201)
        return result


def invite(
    api: Api, inviter: User, role: str, account_id: int | None = None, name: str = "Someone"
) -> User:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.org"
    body: dict[str, Any] = {"email": email, "role": role}
    if account_id is not None:
        body["client_account_id"] = account_id
    inv = api.as_(inviter).ok("POST", "/invitations", json=body, expect=201)
    issued = api.ok(
        "POST",
        "/invitations/accept",
        json={"token": inv["token"], "display_name": name, "password": PASSWORD},
    )
    return User(issued["user"]["id"], email, issued["token"], role, account_id)


def make_tenant(server: LiveServer, api: Api, slug: str | None = None) -> Tenant:
    """Arrange a tenant straight in the database (fast); tests then act through the API.

    The invitation flow that creates users in production has tests of its own. Without a
    `slug`, a random one keeps tenants on a shared server apart.
    """
    slug = slug or "T" + uuid.uuid4().hex[:10].upper()
    with server.db.write() as session:
        obs, admin_row, issued = create_observatory(
            session,
            name=f"Observatory {slug}",
            slug=slug,
            admin_email=f"admin@{slug.lower()}.example",
        )
        assert obs.id is not None
        admin = User(admin_row.id or 0, admin_row.email, issued.token, "admin")
        accounts = []
        for name in ("Account A", "Account B"):
            account = ClientAccount(observatory_id=obs.id, name=name)
            session.add(account)
            session.flush()
            accounts.append(account.id or 0)
        telescopes: dict[int, list[int]] = {}
        for acc in accounts:
            rows = [
                Telescope(observatory_id=obs.id, client_account_id=acc, name=f"Scope {i}")
                for i in (1, 2)
            ]
            session.add_all(rows)
            session.flush()
            telescopes[acc] = [t.id or 0 for t in rows]

        def person(role: str, account_id: int | None, name: str) -> User:
            email = f"{role}-{uuid.uuid4().hex[:8]}@{slug.lower()}.example"
            row = UserRow(
                observatory_id=obs.id or 0,
                email=email,
                display_name=name,
                role=role,
                client_account_id=account_id,
            )
            session.add(row)
            session.flush()
            return User(
                row.id or 0, email, issue_token(session, row, "test").token, role, account_id
            )

        staff = person("staff", None, "Staff Member")
        client = person("client", accounts[0], "Client A")
        client_b = person("client", accounts[1], "Client B")
    return Tenant(slug, admin, staff, client, client_b, accounts[0], accounts[1], telescopes)


def png_bytes(width: int = 32, height: int = 32, color: str = "#0b5394", note: str = "") -> bytes:
    """A real PNG image (Pillow), optionally carrying `note` as a text chunk to make it unique."""
    import io

    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    if note:
        info.add_text("Comment", note)
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG", pnginfo=info)
    return out.getvalue()
