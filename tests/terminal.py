"""A real terminal for tests: a private tmux server, one session, its screen as text."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest


class Tmux:
    """One detached tmux session on a private socket; the pane stays after its command ends."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        found = shutil.which("tmux")
        if found is None:
            pytest.skip("tmux is not installed: the real-terminal tests need it")
        self.tmux = found
        self.env = env
        self.socket = tmp_path / "tmux.sock"
        self.session = f"obs-{uuid.uuid4().hex[:8]}"
        self.config = tmp_path / "tmux.conf"
        self.config.write_text("set -g remain-on-exit on\n")  # keep the pane to read if it fails

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.tmux, "-S", str(self.socket), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=10,
        )

    def start(self, command: str, width: int = 140, height: int = 40) -> None:
        self.run(
            "-f", str(self.config), "new-session", "-d", "-s", self.session,
            "-x", str(width), "-y", str(height), command,
        )  # fmt: skip

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def pane(self) -> str:
        """The screen and what scrolled off it, wrapped lines joined."""
        return self.run(
            "capture-pane", "-p", "-J", "-S", "-", "-t", self.session, check=False
        ).stdout

    def alive(self) -> bool:
        return self.run("has-session", "-t", self.session, check=False).returncode == 0

    def ended(self) -> bool:
        """The command in the pane has exited (or the session is gone)."""
        shown = self.run("display-message", "-p", "-t", self.session, "#{pane_dead}", check=False)
        return shown.returncode != 0 or shown.stdout.strip() == "1"

    def close(self) -> None:
        self.run("kill-server", check=False)


def wait(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
