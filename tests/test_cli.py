"""The client CLI, driven for real (Typer's runner and subprocesses) against a live server."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_support import Cli, cli_env
from tests.support import PASSWORD, Api, LiveServer, Tenant, invite, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The CLI runs against a real server on SQLite (the API itself is tested on both)."""
    root = tmp_path_factory.mktemp("cli-server")
    with start_server(f"sqlite:///{root / 'cli.sqlite3'}", root / "data") as live:
        yield live


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "cfg", cli_env(tmp_path / "cfg"))


def test_a_newcomers_whole_path(tmp_path: Path, cli: Cli) -> None:
    data = tmp_path / "newcomer"
    env = {**os.environ, "OBS_SUPPORT_DATA_DIR": str(data)}
    init = subprocess.run(
        [
            sys.executable,
            "-m",
            "obs_support",
            "server",
            "init",
            "--observatory",
            "Observatorio del Roque",
            "--slug",
            "ROQUE",
            "--admin-email",
            "admin@roque.example",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    admin_token = init.stdout.strip()
    url = f"sqlite:///{data / 'obs-support.sqlite3'}"
    with start_server(url, data) as live:
        cli.login(live, admin_token, profile="admin")
        assert cli("--profile", "admin", "account", "add", "Club Astronómico").code == 0
        invited = cli(
            "--profile",
            "admin",
            "invite",
            "ana@club.example",
            "--role",
            "cliente",
            "--account",
            "club astronómico",
        )
        assert invited.code == 0, invited.err
        said, link = invited.out.strip().splitlines()
        assert said == (
            "Invitation for ana@club.example (Client) sent by e-mail. "
            "The link, should you need to hand it over yourself:"
        )
        assert link.startswith(f"{live.url}/o/roque/invite/obsinv_")
        accepted = cli(
            "accept-invite", link, "--name", "Ana Pérez", "--password-stdin", input=PASSWORD + "\n"
        )
        assert accepted.code == 0, accepted.err
        assert "Logged in as Ana Pérez" in accepted.out
        assert cli("logout").code == 0
        assert cli("whoami").code == 4
        login = cli(
            "login",
            live.url,
            "--email",
            "ana@club.example",
            "--password-stdin",
            input=PASSWORD + "\n",
        )
        assert login.code == 0, login.err
        who = cli("whoami", "--json").json()
        assert (who["email"], who["role"], who["observatory"]["slug"]) == (
            "ana@club.example",
            "client",
            "ROQUE",
        )

        created = cli(
            "incident",
            "create",
            "--type",
            "reparación",
            "--priority",
            "alta",
            "-m",
            "La cúpula no gira\nDesde anoche.",
        )
        assert created.code == 0, created.err
        assert created.out.strip() == "Created incident ROQUE-1."
        listed = cli("incident", "list")
        assert "ROQUE-1" in listed.out
        assert "La cúpula no gira" in listed.out
        shown = cli("incident", "show", "1")
        assert "Desde anoche." in shown.out
        assert cli("incident", "comment", "ROQUE-1", "-m", "Foto enviada").code == 0
        staff_status = cli("--profile", "admin", "incident", "status", "ROQUE-1", "en-progreso")
        assert staff_status.out.strip() == "ROQUE-1: Open → In progress."
        history = cli("incident", "show", "ROQUE-1", "--json").json()
        assert [e["kind"] for e in history["events"]] == [
            "created",
            "comment",
            "comment",
            "status_changed",
        ]
        assert cli("logout").code == 0
        assert not (cli.config / "tokens" / "default").exists()
        assert cli("incident", "list").code == 4


@pytest.fixture
def client_cli(cli: Cli, server: LiveServer, tenant: Tenant) -> Cli:
    cli.login(server, tenant.client.token)
    cli.login(server, tenant.staff.token, profile="staff")
    return cli


def count(api: Api, tenant: Tenant) -> int:
    total: int = api.as_(tenant.staff).ok("GET", "/incidents/counts")["total"]
    return total


class TestIncidentCommands:
    def test_create_json_list_json_and_filters(
        self, client_cli: Cli, api: Api, tenant: Tenant
    ) -> None:
        made = client_cli(
            "incident",
            "create",
            "-t",
            "visita",
            "-p",
            "5",
            "--visit-date",
            "2027-02-01",
            "--telescope",
            "scope 1",
            "-m",
            "Revisión anual",
            "--json",
        ).json()
        assert made["ref"] == f"{tenant.slug}-1"
        assert made["telescope"]["name"] == "Scope 1"
        client_cli("incident", "create", "-t", "question", "-p", "low", "-m", "Horario")
        rows = client_cli("incident", "list", "--json", "--type", "consulta").json()
        assert [r["summary"] for r in rows] == ["Horario"]
        everything = client_cli("incident", "list", "--all", "--limit", "1", "--json").json()
        assert len(everything) == 2
        searched = client_cli("incident", "list", "--search", "ANUAL", "--json").json()
        assert [r["ref"] for r in searched] == [made["ref"]]

    def test_message_from_stdin_file_and_editor(self, client_cli: Cli, tmp_path: Path) -> None:
        assert (
            client_cli(
                "incident", "create", "-t", "repair", "-p", "high", "-", input="Por stdin\n"
            ).code
            == 0
        )
        note = tmp_path / "note.txt"
        note.write_text("Desde fichero", encoding="utf-8")
        assert (
            client_cli("incident", "create", "-t", "repair", "-p", "high", "-F", str(note)).code
            == 0
        )
        editor = tmp_path / "editor.sh"
        editor.write_text('#!/bin/sh\nprintf "Escrito en el editor\\n# ignored\\n" > "$1"\n')
        editor.chmod(0o755)
        assert (
            client_cli("incident", "create", "-t", "repair", "-p", "high", EDITOR=str(editor)).code
            == 0
        )
        summaries = {r["summary"] for r in client_cli("incident", "list", "--json").json()}
        assert summaries == {"Por stdin", "Desde fichero", "Escrito en el editor"}
        empty = tmp_path / "empty.sh"
        empty.write_text('#!/bin/sh\nprintf "# only a comment\\n" > "$1"\n')
        empty.chmod(0o755)
        r = client_cli("incident", "create", "-t", "repair", "-p", "high", EDITOR=str(empty))
        assert r.code == 1
        assert r.err.strip() == "error: empty message; nothing was sent"

    def test_staff_commands(self, client_cli: Cli, api: Api, tenant: Tenant) -> None:
        ref = tenant.incident(api)["ref"]
        assert client_cli("--profile", "staff", "incident", "assign", ref, "me").code == 0
        assert client_cli("--profile", "staff", "incident", "priority", ref, "alta").code == 0
        note = client_cli(
            "--profile", "staff", "incident", "comment", ref, "--internal", "-m", "secreto"
        )
        assert note.code == 0
        got = api.as_(tenant.staff).ok("GET", f"/incidents/{ref}")
        assert (got["assignee"]["id"], got["priority"]) == (tenant.staff.id, 10)
        assert "secreto" not in client_cli("incident", "show", ref).out
        assert "secreto" in client_cli("--profile", "staff", "incident", "show", ref).out
        assert client_cli("--profile", "staff", "incident", "assign", ref, "none").code == 0
        listed = client_cli(
            "--profile", "staff", "incident", "list", "--assignee", "none", "--json"
        ).json()
        assert [r["ref"] for r in listed] == [ref]

    def test_directory_commands(self, client_cli: Cli, api: Api, tenant: Tenant) -> None:
        staff = ("--profile", "staff")
        assert client_cli(*staff, "account", "add", "Observatorio Escolar").code == 0
        added = client_cli(
            *staff,
            "telescope",
            "add",
            "Dobson",
            "--account",
            "Observatorio Escolar",
            "--mount",
            "Alt-az",
            "--json",
        ).json()
        assert added["mount"] == "Alt-az"
        ref = tenant.incident(api, telescope="Scope 1")["ref"]
        shown = client_cli("telescope", "show", "Scope 1", "--json").json()
        assert [i["ref"] for i in shown["incidents"]] == [ref]
        assert {t["name"] for t in client_cli("telescope", "list", "--json").json()} == {
            "Scope 1",
            "Scope 2",
        }
        tokens = client_cli("token", "list", "--json").json()
        assert tokens
        assert all("token" not in t for t in tokens)
        users = client_cli(*staff, "user", "list", "--json").json()
        assert tenant.client.email in {u["email"] for u in users}

    def test_deactivated_user_is_locked_out_at_once(
        self, client_cli: Cli, api: Api, tenant: Tenant, server: LiveServer
    ) -> None:
        client_cli.login(server, tenant.admin.token, profile="admin")
        victim = invite(api, tenant.admin, "staff")
        r = client_cli("--profile", "admin", "user", "deactivate", victim.email)
        assert r.code == 0, r.err
        assert api.as_(victim).get("/me").status_code == 401
        assert api.as_(victim).get("/incidents").status_code == 401


class TestExitCodesAndErrors:
    def test_usage_error_is_2(self, client_cli: Cli) -> None:
        assert client_cli("incident", "create", "--nope").code == 2
        assert client_cli("incident", "create", "-p", "high").code == 2  # --type is required

    def test_not_found_is_3(self, client_cli: Cli) -> None:
        r = client_cli("incident", "show", "999")
        assert r.code == 3
        assert r.err.strip() == "error: incident not found (not_found)"

    def test_the_servers_refusals_come_in_the_users_language(
        self, client_cli: Cli, api: Api, tenant: Tenant, server: LiveServer
    ) -> None:
        r = client_cli("--lang", "es", "incident", "show", "999")
        assert (r.code, r.err.strip()) == (3, "error: incidencia no encontrada (not_found)")
        ref = tenant.incident(api)["ref"]
        api.as_(tenant.staff).ok("POST", f"/incidents/{ref}/status", json={"status": "done"})
        refused = client_cli("incident", "status", ref, "cancelled", "-r", "x", LANG="es_ES.UTF-8")
        assert refused.code == 5
        [line] = refused.err.strip().splitlines()
        assert line.startswith("error: ") and "«Finalizada»" in line, line
        english = client_cli("--lang", "en", "incident", "status", ref, "cancelled", "-r", "x")
        assert english.code == 5 and "Finalizada" not in english.err
        assert english.err.strip().split("(")[-1] == line.split("(")[-1]  # one code in both
        bad_login = client_cli(
            "--lang", "es", "login", server.url, "--email", tenant.client.email,
            "--observatory", tenant.slug, "--password-stdin", input="not the password\n",
        )  # fmt: skip
        assert bad_login.code == 4
        assert bad_login.err.strip().startswith("error: ") and "correo" in bad_login.err, (
            bad_login.err
        )

    def test_another_accounts_reference_is_not_found(
        self, client_cli: Cli, api: Api, tenant: Tenant
    ) -> None:
        theirs = tenant.incident(api, who=tenant.client_b)["ref"]
        for args in (
            ("incident", "show", theirs),
            ("incident", "comment", theirs, "-m", "hola"),
            ("incident", "status", theirs, "cancelled", "-r", "x"),
        ):
            r = client_cli(*args)
            assert r.code == 3, args
            assert len(r.err.strip().splitlines()) == 1
        events = api.as_(tenant.staff).ok("GET", f"/incidents/{theirs}")["events"]
        assert len(events) == 2

    def test_not_logged_in_and_forbidden_are_4(
        self, cli: Cli, client_cli: Cli, api: Api, tenant: Tenant
    ) -> None:
        ref = tenant.incident(api)["ref"]
        r = client_cli("incident", "assign", ref, "me")
        assert r.code == 4
        assert "(forbidden)" in r.err
        r = client_cli("--profile", "nobody", "incident", "list")
        assert r.code == 4
        assert r.err.strip() == "error: not logged in; run: obs-support login URL"

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (
                ("incident", "create", "-t", "arreglo", "-p", "high", "-m", "x"),
                "--type: unknown incident type",
            ),
            (
                ("incident", "create", "-t", "repair", "-p", "7", "-m", "x"),
                "--priority: unknown priority",
            ),
            (
                (
                    "incident",
                    "create",
                    "-t",
                    "repair",
                    "-p",
                    "low",
                    "--telescope",
                    "Hubble",
                    "-m",
                    "x",
                ),
                "no such telescope",
            ),
            (("incident", "list", "--status", "cerrada"), "--status: unknown status"),
            (("incident", "bulk-status", "done", "1", "--older-than", "ayer"), "--older-than"),
        ],
    )
    def test_bad_values_are_one_line_exit_5_and_write_nothing(
        self, client_cli: Cli, api: Api, tenant: Tenant, args: tuple[str, ...], message: str
    ) -> None:
        r = client_cli(*args)
        assert r.code == 5, r.err
        assert len(r.err.strip().splitlines()) == 1
        assert message in r.err
        assert "Traceback" not in r.err
        assert count(api, tenant) == 0

    def test_refused_transition_is_5(self, client_cli: Cli, api: Api, tenant: Tenant) -> None:
        ref = tenant.incident(api)["ref"]
        r = client_cli("incident", "status", ref, "done")
        assert (r.code, r.err.strip()) == (
            4,
            "error: clients may only cancel their incidents (forbidden)",
        )
        r = client_cli("incident", "status", ref, "cancelled")
        assert r.code == 5
        assert "(reason_required)" in r.err
        client_cli("--profile", "staff", "incident", "status", ref, "done")
        r = client_cli("--profile", "staff", "incident", "status", ref, "in_progress")
        assert r.code == 5
        assert "(transition_not_allowed)" in r.err

    def test_server_down_is_6(self, cli: Cli, server: LiveServer, tenant: Tenant) -> None:
        r = cli(
            "incident",
            "list",
            OBS_SUPPORT_URL="http://127.0.0.1:9",
            OBS_SUPPORT_TOKEN=tenant.client.token,
        )
        assert r.code == 6
        assert r.err.startswith("error: cannot reach http://127.0.0.1:9")
        assert len(r.err.strip().splitlines()) == 1

    def test_debug_shows_the_traceback(self, cli: Cli, tenant: Tenant) -> None:
        from obs_support.client.errors import ConnectionFailed

        with pytest.raises(ConnectionFailed):
            cli(
                "--debug",
                "incident",
                "list",
                OBS_SUPPORT_URL="http://127.0.0.1:9",
                OBS_SUPPORT_TOKEN=tenant.client.token,
            )

    def test_other_failures_are_1(self, client_cli: Cli, tmp_path: Path) -> None:
        r = client_cli("incident", "create", "-t", "repair", "-p", "low", "-m", "   ")
        assert r.code == 1


class TestLanguages:
    def test_spanish_from_the_locale_and_english_by_flag(
        self, client_cli: Cli, api: Api, tenant: Tenant
    ) -> None:
        es = client_cli(
            "incident", "create", "-t", "repair", "-p", "high", "-m", "x", LANG="es_ES.UTF-8"
        )
        assert es.out.strip() == f"Incidencia {tenant.slug}-1 creada."
        listed = client_cli("incident", "list", LANG="es_ES.UTF-8")
        assert "Reparación" in listed.out
        assert "Abierta" in listed.out
        en = client_cli("--lang", "en", "incident", "list", LANG="es_ES.UTF-8")
        assert "Repair" in en.out
        assert "Open" in en.out
        as_json = client_cli("incident", "list", "--json", LANG="es_ES.UTF-8").json()
        assert as_json[0]["type"] == "repair"
        assert as_json[0]["status"] == "open"


class TestCredentials:
    def test_token_goes_to_the_keyring(self, cli: Cli, server: LiveServer, tenant: Tenant) -> None:
        r = cli("login", server.url, "--token", tenant.client.token)
        assert r.code == 0
        assert "note:" not in r.err
        assert not (cli.config / "tokens" / "default").exists()
        assert tenant.client.token not in (cli.config / "config.json").read_text()
        assert cli("whoami").code == 0

    @pytest.mark.parametrize(
        "backend", ["keyring.backends.fail.Keyring", "tests.broken_keyring.BrokenKeyring"]
    )
    def test_without_a_usable_keyring_a_private_file(
        self, cli: Cli, server: LiveServer, tenant: Tenant, backend: str
    ) -> None:
        # A fresh process per command: keyring picks its backend once per process.
        env = {**os.environ, **cli.env, "PYTHON_KEYRING_BACKEND": backend}
        r = run_cli("login", server.url, "--token", tenant.client.token, env=env)
        assert r.returncode == 0, r.stderr
        notes = [line for line in r.stderr.splitlines() if line.strip()]
        assert len(notes) == 1
        assert notes[0].startswith("note: no usable keyring")
        assert "Traceback" not in r.stderr
        path = cli.config / "tokens" / "default"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert path.read_text() == tenant.client.token
        who = run_cli("whoami", "--json", env=env)
        assert json.loads(who.stdout)["id"] == tenant.client.id
        assert run_cli("logout", env=env).returncode == 0
        assert not path.exists()

    def test_environment_overrides_profiles(
        self, cli: Cli, server: LiveServer, tenant: Tenant
    ) -> None:
        cli.login(server, tenant.client.token)
        who = cli(
            "whoami", "--json", OBS_SUPPORT_URL=server.url, OBS_SUPPORT_TOKEN=tenant.staff.token
        ).json()
        assert who["id"] == tenant.staff.id

    def test_a_saved_token_never_goes_to_another_server(
        self, cli: Cli, server: LiveServer, tenant: Tenant
    ) -> None:
        cli.login(server, tenant.client.token)
        r = cli("whoami", OBS_SUPPORT_URL="http://127.0.0.1:9")
        assert r.code == 4  # refused before any request: nothing was sent anywhere
        assert "not logged in" in r.err
        same = cli("whoami", "--json", OBS_SUPPORT_URL=server.url).json()
        assert same["id"] == tenant.client.id

    def test_aborting_a_prompt_is_an_interruption(self, cli: Cli, server: LiveServer) -> None:
        r = cli("login", server.url, input="")
        assert r.code == 130
        assert "nothing more was sent" in r.err

    def test_profiles_are_independent(self, cli: Cli, server: LiveServer, tenant: Tenant) -> None:
        cli.login(server, tenant.client.token, profile="a")
        cli.login(server, tenant.client_b.token, profile="b")
        assert cli("--profile", "a", "whoami", "--json").json()["id"] == tenant.client.id
        assert cli("--profile", "b", "whoami", "--json").json()["id"] == tenant.client_b.id


def run_cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "obs_support", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def cron_env(server: LiveServer, tenant: Tenant, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "OBS_SUPPORT_URL": server.url,
        "OBS_SUPPORT_TOKEN": tenant.staff.token,
        "OBS_SUPPORT_CONFIG_DIR": str(tmp_path / "no-config"),
        "LANG": "C.UTF-8",
    }


class TestCron:
    def test_bulk_status_from_stdin_twice(
        self, api: Api, tenant: Tenant, cron_env: dict[str, str]
    ) -> None:
        refs = [tenant.incident(api)["ref"] for _ in range(3)]
        stdin = "\n".join(refs) + "\n# a comment line\n"
        first = run_cli("incident", "bulk-status", "in_progress", "-", env=cron_env, stdin=stdin)
        assert first.returncode == 0, first.stderr
        assert first.stdout.splitlines() == [f"{r}\tchanged" for r in refs]
        again = run_cli("incident", "bulk-status", "in_progress", "-", env=cron_env, stdin=stdin)
        assert again.returncode == 0
        assert again.stdout.splitlines() == [f"{r}\tunchanged" for r in refs]
        for ref in refs:
            events = api.as_(tenant.staff).ok("GET", f"/incidents/{ref}")["events"]
            assert sum(e["kind"] == "status_changed" for e in events) == 1

    def test_bulk_status_refusals_exit_5_with_why(
        self, api: Api, tenant: Tenant, cron_env: dict[str, str]
    ) -> None:
        ok, final = tenant.incident(api)["ref"], tenant.incident(api)["ref"]
        api.as_(tenant.staff).ok(
            "POST", f"/incidents/{final}/status", json={"status": "cancelled", "reason": "x"}
        )
        r = run_cli("incident", "bulk-status", "done", ok, final, "NOPE-1", "--json", env=cron_env)
        assert r.returncode == 5
        body = json.loads(r.stdout)
        assert [x["result"] for x in body["results"]] == ["changed", "refused", "not_found"]
        assert body["results"][1]["code"] == "transition_not_allowed"

    def test_bulk_status_by_filter_with_dry_run(
        self, api: Api, tenant: Tenant, cron_env: dict[str, str]
    ) -> None:
        blocked = tenant.incident(api)["ref"]
        tenant.incident(api)
        api.as_(tenant.staff).ok(
            "POST", f"/incidents/{blocked}/status", json={"status": "blocked", "reason": "r"}
        )
        dry = run_cli(
            "incident",
            "bulk-status",
            "cancelled",
            "--filter-status",
            "bloqueada",
            "--older-than",
            "0d",
            "--reason",
            "stale",
            "--dry-run",
            env=cron_env,
        )
        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.splitlines() == [f"{blocked}\tchanged"]
        assert "dry run" in dry.stderr
        assert api.as_(tenant.staff).ok("GET", f"/incidents/{blocked}")["status"] == "blocked"
        none_old = run_cli(
            "incident",
            "bulk-status",
            "cancelled",
            "--filter-status",
            "blocked",
            "--older-than",
            "30d",
            "--reason",
            "stale",
            env=cron_env,
        )
        assert none_old.returncode == 0, none_old.stderr  # a quiet night is not an error
        assert none_old.stdout == ""
        assert "0 changed" in none_old.stderr

    def test_commands_never_load_heavy_modules(self, cron_env: dict[str, str]) -> None:
        code = (
            "import sys\n"
            "from obs_support.cli.main import app\n"
            "for args in (['incident', 'list', '--json'], ['whoami'], ['incident', 'show', '1'],\n"
            "             ['telescope', 'list']):\n"
            "    try:\n"
            "        app(args)\n"
            "    except SystemExit:\n"
            "        pass\n"
            "heavy = {'sqlalchemy', 'sqlmodel', 'fastapi', 'uvicorn', 'textual', 'numpy',\n"
            "         'sounddevice', 'faster_whisper', 'alembic'}\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy"
            " or m.startswith('obs_support.server')), file=sys.stderr)\n"
        )
        r = subprocess.run(
            [sys.executable, "-c", code], env=cron_env, capture_output=True, text=True, check=True
        )
        assert r.stderr.strip().splitlines()[-1] == "[]"


class TestCompletion:
    def complete(self, cli: Cli, words: str) -> list[str]:
        script = str(Path(sys.executable).parent / "obs-support")
        env = {
            **os.environ,
            **cli.env,
            "_OBS_SUPPORT_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - 1),
        }
        done = subprocess.run([script], env=env, capture_output=True, text=True, timeout=60)
        return done.stdout.splitlines()

    def test_values_and_telescope_names_complete(self, client_cli: Cli) -> None:
        assert self.complete(client_cli, "obs-support incident create --type rep") == [
            "repair",
            "reparacion",
        ]
        assert "en_progreso" in self.complete(client_cli, "obs-support incident list --status en")
        assert self.complete(client_cli, "obs-support incident create --telescope Sc") == [
            "Scope 1",
            "Scope 2",
        ]
