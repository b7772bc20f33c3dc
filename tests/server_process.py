"""`obs-support server run …` as a real subprocess, its JSON log lines read as they come."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import httpx

WAIT = 30.0
Json = dict[str, Any]


class ServerProcess:
    """`obs-support server run …` in a subprocess, its stderr parsed line by line as it comes."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "obs_support", "server", "run", *args],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.records: list[Json] = []
        self.raw: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._lock:
                self.raw.append(line)
                with contextlib.suppress(ValueError):
                    self.records.append(json.loads(line))

    def find(self, timeout: float = WAIT, **match: Any) -> Json:
        """The first log record whose fields equal `match`, waiting for it to be written."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for record in self.records:
                    if all(record.get(k) == v for k, v in match.items()):
                        return record
            assert self.proc.poll() is None, "".join(self.raw)
            time.sleep(0.02)
        raise AssertionError(f"no log line with {match}:\n{''.join(self.raw[-40:])}")

    def worker_pids(self, count: int) -> set[int]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with self._lock:
                pids = {r["pid"] for r in self.records if "serving on" in r.get("message", "")}
            if len(pids) >= count:
                return pids
            assert self.proc.poll() is None, "".join(self.raw)
            time.sleep(0.05)
        raise AssertionError(f"{count} workers did not start:\n{''.join(self.raw)}")

    def wait_for(self, text: str, timeout: float = WAIT) -> str:
        """The first raw stderr line containing `text` (for the plain-text log format)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for line in self.raw:
                    if text in line:
                        return line
            assert self.proc.poll() is None, "".join(self.raw)
            time.sleep(0.02)
        raise AssertionError(f"no log line with {text!r}:\n{''.join(self.raw[-40:])}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(timeout=5)


def answered_by(
    server: ServerProcess, base: str, method: str, path: str, **kw: Any
) -> tuple[httpx.Response, int]:
    """One request on a new connection: the response, and the pid of the worker that served it."""
    rid = f"t-{uuid.uuid4().hex[:12]}"
    headers = {**kw.pop("headers", {}), "X-Request-ID": rid}
    with httpx.Client(base_url=base, timeout=WAIT) as http:
        response = http.request(method, path, headers=headers, **kw)
    assert response.headers["x-request-id"] == rid
    record = server.find(request_id=rid, logger="obs_support.access")
    return response, record["pid"]
