"""Running `obs-support …` in-process with Typer's runner, for the CLI tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from obs_support.cli.main import app
from tests.support import LiveServer

PLAIN_KEYRING = "keyrings.alt.file.PlaintextKeyring"


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Cli:
    """The command with its own config dir and environment (overridable per call)."""

    config: Path
    env: dict[str, str]

    def __call__(self, *args: str | Path, input: str | None = None, **env: str) -> Run:
        result = CliRunner().invoke(
            app,
            [str(a) for a in args],
            input=input,
            env={**self.env, **env},
            catch_exceptions=False,
        )
        return Run(result.exit_code, result.stdout, result.stderr)

    def login(self, server: LiveServer, token: str, profile: str = "default") -> None:
        r = self("--profile", profile, "login", server.url, "--token", token)
        assert r.code == 0, r.err


def cli_env(config: Path, **extra: str) -> dict[str, str]:
    """A predictable environment: English, no colour, wide, a file-backed keyring."""
    return {
        "OBS_SUPPORT_CONFIG_DIR": str(config),
        "PYTHON_KEYRING_BACKEND": PLAIN_KEYRING,
        "LANG": "en_US.UTF-8",
        "LC_ALL": "",
        "LC_MESSAGES": "",
        "OBS_SUPPORT_URL": "",
        "OBS_SUPPORT_TOKEN": "",
        "NO_COLOR": "1",
        "COLUMNS": "200",
        **extra,
    }
