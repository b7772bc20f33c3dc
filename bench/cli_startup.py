"""Cold start of the CLI, against the floors set by its own libraries, measured in one run.

- `obs-support --help` vs the `--help` of a minimal two-command Typer app (target <= 1.3x).
- `obs-support incident list --json` against a running demo server vs
  `python -c "import typer, httpx"` (target <= 1.5x).

Every command runs as a fresh process with the same Python; runs are interleaved so that
background noise hits both sides alike. Usage: .venv/bin/python bench/cli_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PYTHON = sys.executable
CLI = str(Path(PYTHON).parent / "obs-support")
MINIMAL_APP = '''
import typer
app = typer.Typer()
@app.command()
def hello(name: str) -> None:
    """Say hello."""
@app.command()
def bye(name: str) -> None:
    """Say goodbye."""
app()
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def compare(
    name: str, ours: list[str], floor: list[str], env: dict[str, str], runs: int, target: float
) -> None:
    for cmd in (ours, floor):  # warm the OS file cache; not measured
        timed(cmd, env)
    a, b = [], []
    for _ in range(runs):
        a.append(timed(ours, env))
        b.append(timed(floor, env))
    ma, mb = statistics.median(a), statistics.median(b)
    verdict = "ok" if ma / mb <= target else "OVER TARGET"
    print(
        f"{name:<28} {ma * 1000:8.1f} ms  floor {mb * 1000:8.1f} ms  "
        f"ratio {ma / mb:5.2f}x  (target <= {target}x, {verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp) / "minimal.py"
        minimal.write_text(MINIMAL_APP)
        env = {
            **os.environ,
            "OBS_SUPPORT_DATA_DIR": str(Path(tmp) / "data"),
            "OBS_SUPPORT_CONFIG_DIR": str(Path(tmp) / "cfg"),
            "NO_COLOR": "1",
        }
        port = free_port()
        server = subprocess.Popen(
            [CLI, "demo", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    login = httpx.post(
                        f"{url}/api/v1/auth/login",
                        json={"email": "staff@teide.example", "password": "teide-demo-2026"},
                    )
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            token = login.json()["token"]
            cron = {**env, "OBS_SUPPORT_URL": url, "OBS_SUPPORT_TOKEN": token}
            print(
                f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.runs} runs each, "
                "median wall time per process"
            )
            compare(
                "obs-support --help",
                [CLI, "--help"],
                [PYTHON, str(minimal), "--help"],
                env,
                args.runs,
                1.3,
            )
            compare(
                "incident list --json",
                [CLI, "incident", "list", "--json"],
                [PYTHON, "-c", "import typer, httpx"],
                cron,
                args.runs,
                1.5,
            )
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
