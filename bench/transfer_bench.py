"""Attachment throughput through the real server, against a plain file copy on the same disk.

It writes a random file (1 GiB by default), starts `obs-support server run` on SQLite as a
subprocess with its data directory next to that file, and in each run, one after another:

- copies the file with `shutil.copyfile` (the floor: what the disk and kernel can do), and
  for reference copies it again with an fsync, and hashes it once (`transfer.sha256_of`);
- uploads it with `obs_support.client.transfer.upload` (stream with the client's sha256 on
  the way, and the server's verify + fsync + commit before it answers);
- downloads it with `obs_support.client.transfer.download` (stream, hashed on the way).

Every run measures these steps twice, and the report has one table for each:

- warm page cache: the source file is read once before the steps, so every read comes from
  memory and the copy is a kernel-side copy between cached pages. Dirty pages are flushed
  (`os.sync`) before each timed step so one step's writeback is not billed to the next.
- cold cache: before each timed step, `os.sync()` and then "3" written to
  /proc/sys/vm/drop_caches, so the copy and the transfers alike read their source from the
  disk. This needs root and a writable /proc/sys; where that is missing, the cold table is
  skipped with one line saying why.

Throughput ratios are to the copy's median of the same table in the same run (target >=
0.5x); the server's peak resident memory is read from /proc/<pid>/status (VmHWM, reset
before each measured block). The load average is printed at the start and at the end: other
work on the machine shows in the figures.

    .venv/bin/python bench/transfer_bench.py --runs 3            # 1 GiB
    .venv/bin/python bench/transfer_bench.py --size 256MiB --runs 5 --dir /srv/scratch
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from obs_support.client import transfer
from obs_support.client.api import ObsClient

MIB = 1024**2
UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3}
UNITS |= {"kib": 1024, "mib": MIB, "gib": 1024**3, "kb": 1000, "mb": 1000**2, "gb": 1000**3}
TARGET = 0.5
DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def parse_size(text: str) -> int:
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not found or found[2].lower() not in UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 1GiB, 256MiB, 5000000)")
    size = int(float(found[1]) * UNITS[found[2].lower()])
    if size < 1:
        raise argparse.ArgumentTypeError("the size must be at least one byte")
    return size


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def memory(pid: int | str) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024
    return found


class PeakRss:
    """How far a process's resident memory rose above its starting level during a block."""

    def __init__(self, pid: int | str, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.before = self.peak = 0
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
        try:  # reset the kernel's high-water mark to the current size (Linux >= 4.0)
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


@dataclass
class Marks:
    """When a transfer started, saw its first and last chunk, and returned."""

    start: float = field(default_factory=time.perf_counter)
    first: float = 0.0
    last: float = 0.0
    end: float = 0.0

    def progress(self, done: int, total: int) -> None:
        now = time.perf_counter()
        self.first = self.first or now
        if done >= total:
            self.last = now

    def done(self) -> Marks:
        self.end = time.perf_counter()
        return self

    @property
    def total(self) -> float:
        return self.end - self.start

    @property
    def before(self) -> float:
        return self.first - self.start

    @property
    def streaming(self) -> float:
        return self.last - self.first

    @property
    def after(self) -> float:
        return self.end - self.last


@dataclass
class Runs:
    """The timings of one cache mode, one entry per run."""

    copy: list[float] = field(default_factory=list)
    copy_fsync: list[float] = field(default_factory=list)
    sha256: list[float] = field(default_factory=list)
    upload: list[Marks] = field(default_factory=list)
    download: list[Marks] = field(default_factory=list)


@dataclass
class Mode:
    name: str
    title: str
    prepare: Callable[[], None]  # called right before each timed step
    runs: Runs = field(default_factory=Runs)


@dataclass
class Server:
    growth: list[int] = field(default_factory=list)
    hwm: list[int] = field(default_factory=list)


def drop_caches() -> None:
    """Write dirty pages back, then empty the page cache, so the next reads go to the disk."""
    os.sync()
    DROP_CACHES.write_text("3", encoding="ascii")


def why_no_cold_cache() -> str | None:
    """None when the page cache can be dropped here (tried once), else the reason."""
    if os.geteuid() != 0:
        return "not running as root"
    try:
        drop_caches()
    except OSError as exc:
        return f"{DROP_CACHES} is not writable ({exc.strerror or exc})"
    return None


def read_through(path: Path) -> None:
    """Read a file once so its pages are in the page cache."""
    with path.open("rb", buffering=0) as handle:
        buffer = bytearray(MIB)
        while handle.readinto(buffer):
            pass


def write_random_file(path: Path, size: int) -> str:
    """`size` random bytes, written 1 MiB at a time; returns their sha256."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for start in range(0, size, MIB):
            chunk = os.urandom(min(MIB, size - start))
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def timed_copy(source: Path, dest: Path, fsync: bool, prepare: Callable[[], None]) -> float:
    prepare()
    start = time.perf_counter()
    shutil.copyfile(source, dest)
    if fsync:
        with dest.open("rb") as handle:
            os.fsync(handle.fileno())
    elapsed = time.perf_counter() - start
    dest.unlink()
    return elapsed


def obs(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "obs_support", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def start_server(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "obs_support", "server", "run", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise SystemExit(f"the server did not start:\n{log.read_text(errors='replace')}")


def measure(
    client: ObsClient, pid: int, work: Path, size: int, runs: int, modes: list[Mode]
) -> Server:
    source = work / "source.bin"
    start = time.perf_counter()
    expected = write_random_file(source, size)
    print(f"wrote {size / MIB:.0f} MiB of random bytes in {time.perf_counter() - start:.1f} s")
    account = client.request("POST", "/accounts", json={"name": "Bench"})["id"]
    incident = {
        "type": "question",
        "priority": "low",
        "message": "Throughput of attachments.",
        "client_account_id": account,
    }
    ref = client.request("POST", "/incidents", json=incident, retry="keyed")["ref"]
    server = Server()
    fetched = work / "fetched.bin"
    for run in range(1, runs + 1):
        for mode in modes:
            result, prepare = mode.runs, mode.prepare
            if mode.name == "warm":  # the previous cold steps may have dropped it
                read_through(source)
            result.copy.append(timed_copy(source, work / "copy.bin", False, prepare))
            result.copy_fsync.append(timed_copy(source, work / "copy.bin", True, prepare))
            prepare()
            start = time.perf_counter()
            transfer.sha256_of(source)
            result.sha256.append(time.perf_counter() - start)
            with PeakRss(pid) as rss:
                prepare()
                up = Marks()
                attachment = transfer.upload(client, ref, source, progress=up.progress)
                result.upload.append(up.done())
                if attachment.sha256 != expected:
                    raise SystemExit("the server stored different bytes")
                prepare()
                down = Marks()
                transfer.download(client, ref, attachment, fetched, progress=down.progress)
                result.download.append(down.done())
            fetched.unlink()
            server.growth.append(rss.growth)
            server.hwm.append(rss.peak)
            print(
                f"run {run}, {mode.name:<4}: copy {result.copy[-1]:.2f} s, "
                f"upload {up.total:.2f} s, download {down.total:.2f} s, "
                f"server RSS +{rss.growth / MIB:.1f} MiB"
            )
    return server


def report(mode: Mode, size: int) -> None:
    result = mode.runs
    floor = statistics.median(result.copy)

    def med(values: list[float]) -> float:
        return statistics.median(values)

    def row(name: str, seconds: list[float], note: str = "") -> None:
        ratio = floor / med(seconds)
        print(
            f"{name:<22} {med(seconds):7.2f} {min(seconds):7.2f} {size / MIB / med(seconds):9.0f} "
            f"{ratio:7.2f}x  {note}"
        )

    def verdict(seconds: list[float]) -> str:
        ok = floor / med(seconds) >= TARGET
        return f"(target >= {TARGET}x: {'ok' if ok else 'BELOW TARGET'})"

    up, down = result.upload, result.download
    print()
    print(f"{mode.title}:")
    print(f"{'step':<22} {'median':>7} {'best':>7} {'MiB/s':>9} {'vs copy':>8}")
    row("copy (copyfile)", result.copy, "the floor")
    row("copy + fsync", result.copy_fsync, "for reference")
    row("sha256 of the file", result.sha256, "for reference: one pass of hashing")
    row("upload", [m.total for m in up], verdict([m.total for m in up]))
    row("download", [m.total for m in down], verdict([m.total for m in down]))
    print("where the time goes (median s):")
    print(
        f"  upload:   to the first byte {med([m.before for m in up]):.2f}, "
        f"stream {med([m.streaming for m in up]):.2f} "
        f"({size / MIB / med([m.streaming for m in up]):.0f} MiB/s), "
        f"last request (last MiB, server fsync + commit) {med([m.after for m in up]):.2f}"
    )
    print(
        f"  download: to the first byte {med([m.before for m in down]):.2f}, "
        f"stream {med([m.streaming for m in down]):.2f} "
        f"({size / MIB / med([m.streaming for m in down]):.0f} MiB/s), "
        f"after the last byte {med([m.after for m in down]):.2f}"
    )


def load() -> str:
    return "load average " + ", ".join(f"{n:.2f}" for n in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=parse_size, default=1024 * MIB, help="default 1GiB")
    parser.add_argument("--runs", type=int, default=3, help="default 3")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the files go (default: the temp dir)"
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="transfer-bench-", dir=args.dir) as tmp:
        work = Path(tmp)
        env = {
            **os.environ,
            "OBS_SUPPORT_DATA_DIR": str(work / "data"),
            "OBS_SUPPORT_CACHE_DIR": str(work / "cache"),
        }
        env.pop("OBS_SUPPORT_DATABASE_URL", None)
        disk = os.stat(work).st_dev
        print(
            f"python {platform.python_version()}, {os.cpu_count()} cores, "
            f"{args.size / MIB:.0f} MiB, {args.runs} run(s), files in {work} "
            f"(device {os.major(disk)}:{os.minor(disk)}), SQLite, {load()}"
        )
        modes = [Mode("warm", "warm page cache", os.sync)]
        skipped = why_no_cold_cache()
        if skipped is None:
            modes.append(
                Mode("cold", "cold cache (page cache dropped before each step)", drop_caches)
            )
        admin = ["--observatory", "Bench", "--slug", "BENCH", "--admin-email", "a@bench.example"]
        token = obs(["server", "init", *admin], env).strip().splitlines()[-1]
        proc, url = start_server(env, work / "server.log")
        os.environ["OBS_SUPPORT_CACHE_DIR"] = env["OBS_SUPPORT_CACHE_DIR"]
        try:
            with ObsClient(url, token, timeout=600) as client:
                server = measure(client, proc.pid, work, args.size, args.runs, modes)
        finally:
            proc.terminate()
            proc.wait()
        for mode in modes:
            report(mode, args.size)
        if skipped is not None:
            print()
            print(f"cold cache: skipped, {skipped}; only the warm page cache was measured")
        print()
        print(
            f"server peak RSS: {max(server.hwm) / MIB:.1f} MiB, "
            f"at most +{max(server.growth) / MIB:.1f} MiB during a run's transfers "
            f"(VmHWM after minus VmRSS before)"
        )
        print(f"at the end: {load()}")


if __name__ == "__main__":
    main()
