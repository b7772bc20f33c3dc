"""Schemathesis against the OpenAPI document, as each kind of caller, with every check on.

A real server (SQLite) holds two observatories. The command-line runner loads the document
from the live server and sends generated requests as: a client of account A, a client of
account B, a staff member, and the admin of the *other* observatory. Every check runs,
including `ignored_auth` (each request is also sent without the credential) and the stateful
phase, which follows the document's links (an incident's ref into its comments, status and
uploads; an upload's id into its bytes). Failures print schemathesis' report with a curl line
to reproduce them.

tests/schemathesis.toml lists the few refusals JSON Schema cannot express; the hooks module
logs in and sends file chunks. By default each role gets a few examples per operation (the
coverage phase, which walks every documented boundary, runs as staff); `--slow` runs every
phase for every role with many more.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from obs_support.server.models import User as UserRow
from obs_support.server.secrets import hash_password
from tests.support import PASSWORD, Api, LiveServer, Tenant, User, make_tenant, start_server

ROOT = Path(__file__).resolve().parent.parent
Json = dict[str, Any]
ROLES = ("client_a", "client_b", "staff", "other_admin")


@dataclass
class World:
    server: LiveServer
    workdir: Path  # schemathesis keeps its cache in the working directory: not the repository
    callers: dict[str, tuple[User, str]]  # role -> (user, observatory slug)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("schemathesis")
    with start_server(f"sqlite:///{root / 'server.sqlite3'}", root / "data") as live:
        with Api(live.url) as api:
            home, other = make_tenant(live, api), make_tenant(live, api)
            for tenant in (home, other):
                tenant.incident(api)
                tenant.incident(api, tenant.client_b)
        callers = {
            "client_a": (home.client, home.slug),
            "client_b": (home.client_b, home.slug),
            "staff": (home.staff, home.slug),
            "other_admin": (other.admin, other.slug),
        }
        # A password to log in with: the run may revoke the token it uses and must get another.
        with live.db.write() as session:
            for user, _slug in callers.values():
                row = session.get(UserRow, user.id)
                assert row is not None
                row.password_hash = hash_password(PASSWORD)
        yield World(live, root, callers)


def run_schemathesis(world: World, role: str, *args: str) -> subprocess.CompletedProcess[str]:
    user, slug = world.callers[role]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
        "PYTHONPATH": str(ROOT),
        "OBS_ST_URL": world.server.url,
        "OBS_ST_EMAIL": user.email,
        "OBS_ST_PASSWORD": PASSWORD,
        "OBS_ST_OBSERVATORY": slug,
    }
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        f"--config-file={ROOT / 'tests' / 'schemathesis.toml'}",
        "run",
        f"{world.server.url}/api/v1/openapi.json",
        "--checks=all",
        "--no-color",
        "--request-timeout=20",
        "--suppress-health-check=all",
        *args,
    ]
    return subprocess.run(
        command,
        cwd=world.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


@pytest.mark.parametrize("role", ROLES)
def test_the_api_keeps_its_document_for_every_caller(world: World, role: str, slow: bool) -> None:
    if slow:
        args = ["--max-examples=40", "--phases=examples,coverage,fuzzing,stateful"]
    elif role == "staff":
        args = ["--max-examples=3", "--phases=examples,coverage,fuzzing,stateful"]
    else:
        args = ["--max-examples=3", "--phases=examples,fuzzing,stateful"]
    result = run_schemathesis(world, role, *args)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert "Stateful" in result.stdout  # the linked workflows ran too


def test_the_document_links_created_objects_to_what_follows(world: World) -> None:
    with Api(world.server.url) as api:
        doc = api.ok("GET", "/openapi.json")
    created = doc["paths"]["/api/v1/incidents"]["post"]["responses"]["201"]["links"]
    assert created["Comment"]["parameters"] == {"ref": "$response.body#/ref"}
    upload = doc["paths"]["/api/v1/incidents/{ref}/uploads"]["post"]["responses"]["201"]
    assert upload["links"]["SendBytes"]["parameters"] == {"upload_id": "$response.body#/id"}
    operation_ids = {op["operationId"] for ops in doc["paths"].values() for op in ops.values()}
    for response in (created, upload["links"]):
        for link in response.values():
            assert link["operationId"] in operation_ids
    problem = doc["paths"]["/api/v1/incidents"]["post"]["responses"]["422"]["content"]
    assert list(problem) == ["application/problem+json"]


# --- cases schemathesis found, kept as plain tests -----------------------------------------


def test_405_names_every_method_served_at_the_path(api: Api, tenant: Tenant) -> None:
    r = api.as_(tenant.staff).http.request("OPTIONS", "/accounts")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, POST"
    r = api.as_(tenant.staff).delete("/invitations/accept")
    assert r.status_code == 405, r.text  # not taken for an invitation id
    assert r.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/incidents/bulk-status", {"refs": ["X-1"], "status": "done", "dry_run": 0}),
        ("/notifications/read", {"all": 1}),
    ],
)
def test_flags_are_json_booleans(api: Api, tenant: Tenant, path: str, body: Json) -> None:
    r = api.as_(tenant.staff).post(path, json=body)
    assert r.status_code == 422, r.text
    r = api.as_(tenant.staff).patch("/notifications/settings", json={"email": {"new_incident": 0}})
    assert r.status_code == 422, r.text


def test_times_in_queries_are_iso_8601_not_numbers(api: Api, tenant: Tenant) -> None:
    staff = api.as_(tenant.staff)
    assert staff.get("/incidents", params={"updated_before": "0.5"}).status_code == 422
    assert staff.get("/incidents", params={"created_after": "1700000000"}).status_code == 422
    ok = staff.get("/incidents", params={"created_after": "2026-01-31T12:00:00Z"})
    assert ok.status_code == 200, ok.text


def test_name_limits_count_what_was_sent(api: Api, tenant: Tenant) -> None:
    r = api.as_(tenant.staff).post("/tokens", json={"name": " 00" + " " * 100})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "name"


def test_head_on_an_upload_is_documented_and_answered_without_a_body(
    api: Api, tenant: Tenant
) -> None:
    doc = api.get("/openapi.json").json()
    ok = doc["paths"]["/api/v1/uploads/{upload_id}"]["head"]["responses"]["200"]
    assert "content" not in ok
    assert set(ok["headers"]) == {"Upload-Offset", "Upload-Length"}
    client = api.as_(tenant.client)
    ref = tenant.incident(api)["ref"]
    upload = client.ok("POST", f"/incidents/{ref}/uploads", json={"filename": "a", "size": 9})
    r = client.http.head(f"/uploads/{upload['id']}")
    assert r.status_code == 200 and r.content == b""
    assert (r.headers["upload-offset"], r.headers["upload-length"]) == ("0", "9")
