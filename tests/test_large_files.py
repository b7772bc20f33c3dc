"""Large files: 1 GiB goes up and comes back through a real server process, byte for byte.

Neither side may hold the file in memory: the server's peak resident memory during the
transfer, and this process's, must each grow by less than `RSS_BUDGET`. The server runs as
its own process (`python -m obs_support server run`) so its memory can be read from
/proc/<pid>/status; on PostgreSQL too when OBS_SUPPORT_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
import pytest

from obs_support.client import transfer
from obs_support.client.api import ObsClient
from tests.conftest import database_url
from tests.support import free_port

MIB = 1024**2
SIZE = 1024 * MIB
RSS_BUDGET = 64 * MIB


def memory(pid: int | str) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024
    return found


class PeakRss:
    """How far a process's resident memory rose above its starting level during a block.

    The kernel's high-water mark is reset at the start (`clear_refs` 5) where allowed, so
    VmHWM at the end covers the block exactly; a sampler thread backs it up either way.
    """

    def __init__(self, pid: int | str, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.before = 0
        self.peak = 0
        self._hwm_reset = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @property
    def growth(self) -> int:
        return self.peak - self.before

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, memory(self.pid)["VmRSS"])

    def __enter__(self) -> PeakRss:
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5", encoding="ascii")
            self._hwm_reset = True
        except OSError:
            pass
        self.before = self.peak = memory(self.pid)["VmRSS"]
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        now = memory(self.pid)
        self.peak = max(self.peak, now["VmRSS"], now["VmHWM"] if self._hwm_reset else 0)


def random_chunks(size: int) -> Iterator[bytes]:
    """`size` random bytes, 1 MiB at a time.

    An AES-CTR keystream under a random key where `cryptography` is installed (it comes with
    keyring on Linux), about ten times faster than os.urandom; os.urandom otherwise.
    """
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:
        for start in range(0, size, MIB):
            yield os.urandom(min(MIB, size - start))
        return
    stream = Cipher(algorithms.AES(os.urandom(32)), modes.CTR(os.urandom(16))).encryptor()
    zeros = bytes(MIB)
    for start in range(0, size, MIB):
        yield stream.update(zeros[: min(MIB, size - start)])


def write_random_file(path: Path, size: int) -> str:
    """Write `size` random bytes without holding them in memory; return their sha256."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for chunk in random_chunks(size):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    url: str
    token: str


def _obs(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "obs_support", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """One 1 GiB file and its sha256, written once for both databases and removed after."""
    path = tmp_path_factory.mktemp("large") / "frames.bin"
    try:
        yield path, write_random_file(path, SIZE)
    finally:
        path.unlink(missing_ok=True)


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The server's data and the fetched copy; removed at the end (pytest keeps tmp_paths)."""
    root = tmp_path / "large"
    root.mkdir()
    monkeypatch.setenv("OBS_SUPPORT_CACHE_DIR", str(root / "cache"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgres"])
def server_process(request: pytest.FixtureRequest, scratch: Path) -> Iterator[ServerProcess]:
    for url in database_url(request.param, scratch):
        env = {
            **os.environ,
            "OBS_SUPPORT_DATA_DIR": str(scratch / "data"),
            "OBS_SUPPORT_DATABASE_URL": url,
        }
        init = _obs(
            [
                "server",
                "init",
                "--observatory",
                "Large Files",
                "--slug",
                "BIG",
                "--admin-email",
                "admin@big.example",
            ],
            env,
        )
        token = init.stdout.strip().splitlines()[-1]
        port = free_port()
        with (scratch / "server.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "obs_support", "server", "run", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, (scratch / "server.log").read_text(errors="replace")
                assert time.monotonic() < deadline, "the server did not start in 30 s"
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            yield ServerProcess(proc, base, token)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_one_gib_round_trip_in_bounded_memory(
    server_process: ServerProcess, scratch: Path, big_file: tuple[Path, str]
) -> None:
    source, expected = big_file
    fetched = scratch / "fetched.bin"
    with ObsClient(server_process.url, server_process.token, timeout=120) as client:
        account = client.request("POST", "/accounts", json={"name": "Account A"})["id"]
        incident = {
            "type": "repair",
            "priority": "high",
            "message": "The camera's night files, for analysis.",
            "client_account_id": account,
        }
        ref = client.request("POST", "/incidents", json=incident, retry="keyed")["ref"]
        with PeakRss("self") as client_rss, PeakRss(server_process.proc.pid) as server_rss:
            attachment = transfer.upload(client, ref, source)
            assert (attachment.size, attachment.sha256) == (SIZE, expected)
            transfer.download(client, ref, attachment, fetched)
            assert fetched.stat().st_size == SIZE
            assert sha256_file(fetched) == expected
    mib = f"{server_rss.growth / MIB:.1f} MiB"
    assert server_rss.growth < RSS_BUDGET, f"the server's memory grew by {mib} moving 1 GiB"
    mib = f"{client_rss.growth / MIB:.1f} MiB"
    assert client_rss.growth < RSS_BUDGET, f"this process's memory grew by {mib} moving 1 GiB"
