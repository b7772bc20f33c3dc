"""Attachments: resumable uploads, the kind read from the bytes, safe downloads, limits, scope.

The API runs against the `server` fixture (SQLite and PostgreSQL). Crash recovery runs a real
`obs-support server run` process on the same database and kills it with SIGKILL mid-upload.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from PIL import Image
from typer.testing import CliRunner

from obs_support.cli.main import app
from obs_support.client import transfer
from obs_support.client.api import ObsClient
from obs_support.client.errors import ClientError
from obs_support.server.storage import running_hashes
from tests.cli_support import Cli, cli_env
from tests.support import Api, LiveServer, Tenant, free_port, make_tenant, start_server

OCTETS = {"Content-Type": "application/offset+octet-stream"}
KIB = 1024


@pytest.fixture(autouse=True)
def upload_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The client's record of unfinished uploads lives in the test's own folder."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("OBS_SUPPORT_CACHE_DIR", str(cache))
    return cache


# --- helpers -------------------------------------------------------------------------------


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def announce(
    who: Api, ref: str, name: str, data: bytes, *, declare: bool = True, size: int | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"filename": name, "size": len(data) if size is None else size}
    if declare:
        body["sha256"] = sha(data)
    return who.post(f"/incidents/{ref}/uploads", json=body)


def start(who: Api, ref: str, name: str, data: bytes, **kw: Any) -> str:
    r = announce(who, ref, name, data, **kw)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/api/v1/uploads/{r.json()['id']}"
    upload_id: str = r.json()["id"]
    return upload_id


def send(
    who: Api, upload_id: str, data: bytes, offset: int = 0, *, sha256: str | None = None
) -> httpx.Response:
    headers = {**OCTETS, "Upload-Offset": str(offset)}
    if sha256 is not None:
        headers["Upload-Sha256"] = sha256
    return who.patch(f"/uploads/{upload_id}", content=data, headers=headers)


def attach(who: Api, ref: str, name: str, data: bytes) -> dict[str, Any]:
    r = send(who, start(who, ref, name, data), data)
    assert r.status_code == 201, r.text
    attached: dict[str, Any] = r.json()
    return attached


def offset_of(who: Api, upload_id: str) -> int:
    r = who.http.head(f"/uploads/{upload_id}")
    assert r.status_code == 200, r.status_code
    return int(r.headers["upload-offset"])


def fetch(who: Api, ref: str, attachment_id: int, **headers: str) -> httpx.Response:
    return who.get(f"/incidents/{ref}/attachments/{attachment_id}", headers=headers)


def listed(who: Api, ref: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = who.ok("GET", f"/incidents/{ref}/attachments")
    return items


def added_events(who: Api, ref: str) -> list[dict[str, Any]]:
    events = who.ok("GET", f"/incidents/{ref}")["events"]
    return [e["data"] for e in events if e["kind"] == "attachment_added"]


def code(r: httpx.Response) -> str:
    value: str = r.json()["code"]
    return value


DISPOSITION = re.compile(r"^attachment; filename=\"[^\"\\\r\n]*\"; filename\*=UTF-8''[\w%.~-]*$")


def is_active(content_type: str) -> bool:
    """A type a browser may render or run: HTML, SVG or any XML, JavaScript."""
    base = content_type.split(";")[0].strip().lower()
    return any(w in base for w in ("html", "script", "svg")) or base.endswith(("/xml", "+xml"))


def assert_served_safely(r: httpx.Response) -> None:
    assert DISPOSITION.match(r.headers["content-disposition"]), r.headers["content-disposition"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert not is_active(r.headers["content-type"]), r.headers["content-type"]
    for name, value in r.headers.raw:
        assert b"\r" not in value and b"\n" not in value, (name, value)


def disposition_name(r: httpx.Response) -> str:
    encoded = r.headers["content-disposition"].split("filename*=UTF-8''", 1)[1]
    return unquote(encoded, encoding="utf-8", errors="strict")


# --- sample files: small, but with the real signatures ---------------------------------------


def picture(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 40, 30)).save(out, format=fmt)
    return out.getvalue()


def iso_media(brand: bytes, *compatible: bytes) -> bytes:
    box = b"ftyp" + brand + b"\x00\x00\x02\x00" + b"".join(compatible)
    return struct.pack(">I", len(box) + 4) + box + struct.pack(">I", 72) + b"free" + bytes(64)


def ebml(doctype: bytes) -> bytes:
    fields = (
        b"\x42\x86\x81\x01"  # EBMLVersion 1
        + b"\x42\xf7\x81\x01"  # EBMLReadVersion 1
        + b"\x42\xf2\x81\x04"
        + b"\x42\xf3\x81\x08"
        + b"\x42\x82"
        + bytes([0x80 | len(doctype)])
        + doctype
        + b"\x42\x87\x81\x04"
        + b"\x42\x85\x81\x02"
    )
    return (
        b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(fields)]) + fields + b"\x18\x53\x80\x67" + bytes(40)
    )


def riff(form: bytes, body: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", len(body) + 4) + form + body


def zipped(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0)), content)
    return out.getvalue()


WAV_FMT = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)
LOG = "Registro de la montura\n03:14 error de seguimiento en AR\nReinicio 03:20: cúpula OK\n"
DOCX = zipped(
    {
        "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="urn:ct"/>',
        "_rels/.rels": b'<?xml version="1.0"?><Relationships/>',
        "word/document.xml": b'<?xml version="1.0"?><w:document/>',
    }
)

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# name, bytes, kind, mime as the API reports it
SAMPLES: list[tuple[str, bytes, str, str]] = [
    ("montura.png", picture("PNG"), "image", "image/png"),
    ("montura.jpg", picture("JPEG"), "image", "image/jpeg"),
    ("cupula.gif", picture("GIF"), "image", "image/gif"),
    ("espejo.webp", picture("WEBP"), "image", "image/webp"),
    ("iphone.heic", iso_media(b"heic", b"mif1", b"heic"), "image", "image/heic"),
    ("video.mp4", iso_media(b"isom", b"isom", b"iso2", b"avc1", b"mp41"), "video", "video/mp4"),
    ("video.mov", iso_media(b"qt  ", b"qt  "), "video", "video/quicktime"),
    ("clip.webm", ebml(b"webm"), "video", "video/webm"),
    ("clip.mkv", ebml(b"matroska"), "video", "video/x-matroska"),
    (
        "ruido.wav",
        riff(b"WAVE", WAV_FMT + b"data" + struct.pack("<I", 8) + bytes(8)),
        "audio",
        "audio/wav",
    ),
    ("ruido.flac", b"fLaC\x80\x00\x00\x22" + bytes(34), "audio", "audio/flac"),
    (
        "ruido.ogg",
        b"OggS\x00\x02" + bytes(20) + b"\x01\x1e\x01vorbis" + bytes(16),
        "audio",
        "audio/ogg",
    ),
    (
        "motor.mp3",
        b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x64" + bytes(200),
        "audio",
        "audio/mpeg",
    ),
    ("nota.m4a", iso_media(b"M4A ", b"M4A ", b"mp42", b"isom"), "audio", "audio/mp4"),
    ("manual.pdf", PDF, "document", "application/pdf"),
    ("montura.log", LOG.encode(), "document", "text/plain"),
    (
        "seguimiento.csv",
        b"utc,ra_deg,dec_deg\n2025-01-01T03:14:00,10.5,20.25\n2025-01-01T03:15:00,10.6,20.26\n",
        "document",
        "text/csv",
    ),
    ("informe.docx", DOCX, "document", DOCX_MIME),
    (
        "registros.zip",
        zipped({"logs/mount.log": LOG.encode() * 20, "logs/dome.log": b"dome ok\n" * 50}),
        "document",
        "application/zip",
    ),
]


# --- 1. every kind, there and back -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "kind", "mime"), SAMPLES, ids=[s[0].rsplit(".", 1)[1] for s in SAMPLES]
)
def test_round_trip_of_each_kind(
    api: Api, tenant: Tenant, name: str, data: bytes, kind: str, mime: str
) -> None:
    me = api.as_(tenant.client)
    ref = tenant.incident(api)["ref"]
    attached = attach(me, ref, name, data)
    assert (attached["filename"], attached["size"]) == (name, len(data))
    assert (attached["kind"], attached["mime"], attached["sha256"]) == (kind, mime, sha(data))
    assert attached["uploader"]["id"] == tenant.client.id
    assert listed(me, ref) == [attached]

    got = fetch(me, ref, attached["id"])
    assert got.status_code == 200
    assert got.content == data and sha(got.content) == attached["sha256"]
    assert got.headers["content-type"].split(";")[0] == mime
    assert got.headers["etag"] == f'"{sha(data)}"'
    assert disposition_name(got) == name
    assert_served_safely(got)

    assert added_events(me, ref) == [
        {
            "attachment_id": attached["id"],
            "name": name,
            "size": len(data),
            "kind": kind,
            "sha256": sha(data),
        }
    ]


def test_identical_bytes_are_stored_once(api: Api, server: LiveServer, tenant: Tenant) -> None:
    me = api.as_(tenant.client)
    data = os.urandom(3 * KIB)
    first, second = tenant.incident(api)["ref"], tenant.incident(api)["ref"]
    a, b = attach(me, first, "a.bin", data), attach(me, second, "b.bin", data)
    assert a["id"] != b["id"] and a["sha256"] == b["sha256"]
    blobs = server.settings.data_dir / "attachments" / "blobs"
    assert [p.name for p in blobs.glob(f"??/{sha(data)}*")] == [sha(data)]
    assert fetch(me, second, b["id"]).content == data


# --- 2. a cut upload resumes -----------------------------------------------------------------


def cut_after(
    server: LiveServer, token: str, upload_id: str, offset: int, total: int, sent: bytes
) -> None:
    """A PATCH from `offset` that announces `total` bytes, sends `sent`, and loses the link."""
    host, port = server.url.removeprefix("http://").split(":")
    head = (
        f"PATCH /api/v1/uploads/{upload_id} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {token}\r\nUpload-Offset: {offset}\r\n"
        "Content-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {total - offset}\r\n\r\n"
    )
    with socket.create_connection((host, int(port))) as link:
        link.sendall(head.encode() + sent)


def settled_offset(who: Api, upload_id: str) -> int:
    """The server's offset once an interrupted request is over (it has stopped moving).

    The server keeps what it had read when the link dropped; bytes still in flight may be
    lost, so this is at most what was sent, and the client resumes from here.
    """
    last, unchanged, deadline = -1, 0, time.monotonic() + 10
    while unchanged < 5:
        assert time.monotonic() < deadline, "the upload's offset never settled"
        now = offset_of(who, upload_id)
        unchanged = unchanged + 1 if now == last else 0
        last = now
        time.sleep(0.02)
    return last


def test_upload_cut_at_half_resumes_from_the_servers_offset(
    api: Api, server: LiveServer, tenant: Tenant
) -> None:
    me = api.as_(tenant.client)
    ref = tenant.incident(api)["ref"]
    data = os.urandom(600 * KIB)
    half = len(data) // 2
    upload = start(me, ref, "guiado.fits", data)
    assert offset_of(me, upload) == 0

    first = send(me, upload, data[:half])
    assert first.status_code == 200, first.text
    assert (first.json()["offset"], first.headers["upload-offset"]) == (half, str(half))
    head = me.http.head(f"/uploads/{upload}")
    assert head.status_code == 200 and not head.content
    assert (head.headers["upload-offset"], head.headers["upload-length"]) == (
        str(half),
        str(len(data)),
    )
    assert head.headers["cache-control"] == "no-store"
    status = me.ok("GET", f"/uploads/{upload}")
    assert (status["offset"], status["size"]) == (half, len(data))
    assert listed(me, ref) == []

    for wrong in (0, half - 1, half + 1):
        r = send(me, upload, data[wrong:], offset=wrong)
        assert (r.status_code, code(r)) == (409, "offset_mismatch")
        assert r.headers["upload-offset"] == str(half)
    assert offset_of(me, upload) == half

    # Now a real cut: the connection drops a quarter of the file later, mid-body.
    cut_after(server, tenant.client.token, upload, half, len(data), data[half : 3 * len(data) // 4])
    resumed = settled_offset(me, upload)
    assert half < resumed <= 3 * len(data) // 4
    r = send(me, upload, data[resumed - 1 :], offset=resumed - 1)
    assert (r.status_code, r.headers["upload-offset"]) == (409, str(resumed))

    done = send(me, upload, data[resumed:], offset=resumed)
    assert done.status_code == 201, done.text
    assert done.json()["sha256"] == sha(data)
    assert fetch(me, ref, done.json()["id"]).content == data
    assert me.http.head(f"/uploads/{upload}").status_code == 404  # finished: no longer an upload


def test_a_partial_patch_answers_with_the_offset(api: Api, tenant: Tenant) -> None:
    me = api.as_(tenant.client)
    ref = tenant.incident(api)["ref"]
    data = b"0123456789" * 100
    upload = start(me, ref, "numeros.txt", data)
    pieces = [(0, 250), (250, 600), (600, 1000)]
    for begin, end in pieces[:-1]:
        r = send(me, upload, data[begin:end], offset=begin)
        assert r.status_code == 200, r.text
        assert (r.json()["offset"], r.headers["upload-offset"]) == (end, str(end))
    last = send(me, upload, data[600:], offset=600)
    assert last.status_code == 201
    assert fetch(me, ref, last.json()["id"]).content == data


def test_bytes_on_disk_but_never_finished_complete_with_an_empty_patch(
    api: Api, server: LiveServer, tenant: Tenant
) -> None:
    """A crash after the last byte was written but before the file was attached."""
    me = api.as_(tenant.client)
    ref = tenant.incident(api)["ref"]
    data = os.urandom(2 * KIB)
    upload = start(me, ref, "tarde.bin", data)
    part = server.settings.data_dir / "attachments" / "uploads" / f"{upload}.part"
    part.write_bytes(data)
    assert offset_of(me, upload) == len(data)
    done = send(me, upload, b"", offset=len(data))
    assert done.status_code == 201, done.text
    assert fetch(me, ref, done.json()["id"]).content == data


def test_one_writer_at_a_time(api: Api, server: LiveServer, tenant: Tenant) -> None:
    me = api.as_(tenant.client)
    ref = tenant.incident(api)["ref"]
    # More than one write batch (1 MiB) before the stall, so the first writer's progress
    # shows on disk while it holds the lock.
    data = os.urandom(3 * 1024 * KIB)
    upload = start(me, ref, "doble.bin", data)
    release = threading.Event()
    outcome: list[httpx.Response] = []

    def stalled() -> Iterator[bytes]:
        yield data[: 1536 * KIB]
        release.wait(10)
        yield data[1536 * KIB :]

    def sender() -> None:
        headers = {**OCTETS, "Upload-Offset": "0", "Content-Length": str(len(data))}
        with Api(server.url, tenant.client.token) as link:
            outcome.append(link.patch(f"/uploads/{upload}", content=stalled(), headers=headers))

    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while (held := offset_of(me, upload)) == 0:  # only the lock holder writes
            assert time.monotonic() < deadline, "the first request never started writing"
            time.sleep(0.01)
        second = send(me, upload, data[held:], offset=held)
        assert (second.status_code, code(second)) == (409, "upload_busy")
    finally:
        release.set()
        thread.join(10)
    assert outcome[0].status_code == 201, outcome[0].text
    assert fetch(me, ref, outcome[0].json()["id"]).content == data


class Cut(Exception):
    """The link dropped (raised from inside the request body, as a real cut would)."""


def test_the_client_library_resumes_an_interrupted_upload(
    api: Api,
    server: LiveServer,
    tenant: Tenant,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    upload_cache: Path,
) -> None:
    monkeypatch.setattr(transfer, "CHUNK", 32 * KIB)
    data = os.urandom(1024 * KIB)
    half = len(data) // 2
    path = tmp_path / "espectro.fits"
    path.write_bytes(data)
    ref = tenant.incident(api)["ref"]

    def cut_at_half(done: int, total: int) -> None:
        if done >= half:
            raise Cut

    with ObsClient(server.url, tenant.client.token) as client:
        with pytest.raises(Cut):
            transfer.upload(client, ref, path, progress=cut_at_half)
        remembered = json.loads((upload_cache / "uploads.json").read_text())
        assert len(remembered) == 1
        (upload_id,) = remembered.values()
        me = api.as_(tenant.client)
        kept = settled_offset(me, upload_id)
        assert 0 < kept <= half
        assert listed(me, ref) == []

        progress: list[int] = []
        attached = transfer.upload(client, ref, path, progress=lambda d, t: progress.append(d))
    # The second run started where the server was: only the missing bytes were sent.
    assert progress[0] == kept + transfer.CHUNK
    assert progress[-1] == len(data)
    assert len(progress) == -(-(len(data) - kept) // transfer.CHUNK)
    assert attached.sha256 == sha(data)
    assert [a["id"] for a in listed(me, ref)] == [attached.id]
    assert fetch(me, ref, attached.id).content == data
    assert json.loads((upload_cache / "uploads.json").read_text()) == {}


class LoseFinishedAnswer(httpx.BaseTransport):
    """The server attaches the file, but its 201 never reaches the client."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "PATCH" and response.status_code == 201 and not self.lost:
            response.read()
            response.close()
            self.lost += 1
            raise httpx.ReadError("connection reset by peer", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


def test_a_lost_final_answer_neither_fails_nor_attaches_twice(
    api: Api, server: LiveServer, tenant: Tenant, tmp_path: Path
) -> None:
    data = os.urandom(40 * KIB)
    path = tmp_path / "final.bin"
    path.write_bytes(data)
    ref = tenant.incident(api)["ref"]
    lossy = LoseFinishedAnswer()
    with ObsClient(server.url, tenant.client.token, transport=lossy, backoff=0.01) as client:
        attached = transfer.upload(client, ref, path)
    assert lossy.lost == 1
    assert attached.sha256 == sha(data)
    assert [a["id"] for a in listed(api.as_(tenant.client), ref)] == [attached.id]


# --- 3. kill -9 mid-upload, restart, gc ------------------------------------------------------


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    base: str


def run_server(env: dict[str, str], port: int, log: Path) -> Process:
    with log.open("ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "obs_support", "server", "run", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return Process(proc, f"http://127.0.0.1:{port}")
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"server did not start: {log.read_text(errors='replace')}")


def gc(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, ["server", "gc", *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result.stderr.strip()


def test_kill_9_mid_upload_then_resume_and_gc(api: Api, server: LiveServer, tmp_path: Path) -> None:
    data_dir = tmp_path / "crash-data"
    env = {
        **os.environ,
        "OBS_SUPPORT_DATA_DIR": str(data_dir),
        "OBS_SUPPORT_DATABASE_URL": server.database_url,
        # The database is shared with the rest of the suite, whose deliberate bad tokens from
        # 127.0.0.1 count against the per-address limit.
        "OBS_SUPPORT_IP_MAX_FAILURES": "100000",
    }
    tenant = make_tenant(server, api)
    port = free_port()
    live = run_server(env, port, tmp_path / "server.log")
    try:
        with Api(live.base, tenant.client.token) as me:
            ref = tenant.incident(me)["ref"]
            # Large enough that the server has written whole batches (1 MiB each) to disk
            # by the time the sender stalls halfway.
            data = os.urandom(3 * 1024 * KIB)
            half = len(data) // 2
            upload = start(me, ref, "guiado.ser", data)

            half_sent, stop = threading.Event(), threading.Event()
            outcome: list[Exception | httpx.Response] = []

            def slowly() -> Iterator[bytes]:
                for at in range(0, len(data), 16 * KIB):
                    if at == half:
                        half_sent.set()
                        stop.wait(30)  # the sender stalls here until the server is gone
                    yield data[at : at + 16 * KIB]

            def sender() -> None:
                headers = {**OCTETS, "Upload-Offset": "0", "Content-Length": str(len(data))}
                try:
                    with Api(live.base, tenant.client.token) as link:
                        outcome.append(
                            link.patch(f"/uploads/{upload}", content=slowly(), headers=headers)
                        )
                except Exception as exc:  # the server died under it: any failure will do
                    outcome.append(exc)

            thread = threading.Thread(target=sender, daemon=True)
            thread.start()
            assert half_sent.wait(20)
            seen = settled_offset(me, upload)
            assert 0 < seen <= half
            os.kill(live.proc.pid, signal.SIGKILL)
            live.proc.wait()
            stop.set()
            thread.join(10)
            assert len(outcome) == 1 and isinstance(outcome[0], Exception), outcome

        live = run_server(env, port, tmp_path / "server.log")
        with Api(live.base, tenant.client.token) as me:
            assert listed(me, ref) == []
            assert added_events(me, ref) == []
            resumed = offset_of(me, upload)
            assert seen <= resumed <= half
            done = send(me, upload, data[resumed:], offset=resumed)
            assert done.status_code == 201, done.text
            kept = done.json()
            assert kept["sha256"] == sha(data)
            assert fetch(me, ref, kept["id"]).content == data

            # A crash between storing a file and committing its row leaves an unreferenced
            # blob; a crash before a row was written, a stray part file. gc removes both.
            orphan = os.urandom(KIB)
            store = data_dir / "attachments"
            orphan_blob = store / "blobs" / sha(orphan)[:2] / sha(orphan)
            orphan_blob.parent.mkdir(parents=True, exist_ok=True)
            orphan_blob.write_bytes(orphan)
            stray_part = store / "uploads" / f"{os.urandom(16).hex()}.part"
            stray_part.write_bytes(b"half a file")
            kept_blob = store / "blobs" / sha(data)[:2] / sha(data)
            assert kept_blob.read_bytes() == data

            env_gc = {"OBS_SUPPORT_DATA_DIR": str(data_dir)}
            env_gc["OBS_SUPPORT_DATABASE_URL"] = server.database_url
            assert "0 stray part file(s), 0 unreferenced file(s)" in gc(env_gc)
            assert orphan_blob.exists() and stray_part.exists()  # within the grace period
            report = gc(env_gc, "--grace-minutes", "0")
            assert "1 stray part file(s), 1 unreferenced file(s)" in report, report
            assert not orphan_blob.exists() and not stray_part.exists()
            assert kept_blob.read_bytes() == data
            assert fetch(me, ref, kept["id"]).content == data
    finally:
        live.proc.terminate()
        live.proc.wait(10)


# --- 4. hostile files and names --------------------------------------------------------------


def files_under(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()}


def test_active_content_is_served_as_inert_bytes(api: Api, tenant: Tenant) -> None:
    me = api.as_(tenant.client)
    ref = tenant.incident(api)["ref"]
    hostile = {
        "photo.png": b"<html><body><script>alert(document.cookie)</script></body></html>",
        "logo.svg": b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">'
        b"<script>alert(1)</script></svg>",
        "bare.svg": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        "notes.txt": "\ufeff  <!DOCTYPE html><p>hola</p>".encode(),
        "page.pdf": b"Not a PDF at all\n<script>alert(1)</script>\n",
        "feed.xml": b'<?xml version="1.0"?><rss><channel/></rss>',
    }
    for name, data in hostile.items():
        attached = attach(me, ref, name, data)
        assert (attached["kind"], attached["mime"]) == ("binary", "application/octet-stream"), name
        got = fetch(me, ref, attached["id"])
        assert got.status_code == 200 and got.content == data
        assert got.headers["content-type"] == "application/octet-stream", name
        assert got.headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert_served_safely(got)
    script = attach(me, ref, "app.js", b"fetch('/api/v1/me').then(r => alert(r))\n")
    got = fetch(me, ref, script["id"])
    assert got.headers["content-type"].startswith(("text/plain", "application/octet-stream"))
    assert_served_safely(got)


def test_hostile_names_are_displayed_safely_and_never_used_as_paths(
    api: Api, server: LiveServer, tenant: Tenant
) -> None:
    me = api.as_(tenant.client)
    ref = tenant.incident(api)["ref"]
    data_dir = server.settings.data_dir
    root = data_dir.parent
    before = files_under(data_dir)
    long_name = "a" * 596 + ".log"
    names = {
        "../../etc/passwd": "passwd",
        "..\\..\\windows\\win.ini": "win.ini",
        "C:\\Users\\ana\\foto.txt": "foto.txt",
        "a\r\nSet-Cookie: x=1.txt": "aSet-Cookie: x=1.txt",
        "rep\x00ort\x07\x1b[31m.txt": "report[31m.txt",
        "factura\u202etxt.exe": "facturatxt.exe",
        'say "hi"; x=1.txt': 'say "hi"; x=1.txt',
        "cúpula ñ.txt": "cúpula ñ.txt",
        "..": "file",
        ".htaccess": "htaccess",
        long_name: "a" * 251 + ".log",
    }
    for raw, shown in names.items():
        attached = attach(me, ref, raw, b"contenido inofensivo\n")
        assert attached["filename"] == shown, raw
        assert len(attached["filename"]) <= 255
        got = fetch(me, ref, attached["id"])
        assert got.status_code == 200
        assert_served_safely(got)
        assert disposition_name(got) == shown
        assert "set-cookie" not in got.headers
        assert not got.cookies
        if "Set-Cookie" in shown:
            assert got.headers["content-disposition"].startswith(
                'attachment; filename="aSet-Cookie: x=1.txt"; '
            )
    assert len(listed(me, ref)) == len(names)
    assert all(e["name"] in names.values() for e in added_events(me, ref))

    # Outgoing mail (new-incident notices) goes under mail/; files only under attachments/
    added = {p for p in files_under(data_dir) - before if p.parts[0] != "mail"}
    assert added, "the files went somewhere"
    assert all(p.parts[0] == "attachments" for p in added), sorted(map(str, added))
    assert all(re.fullmatch(r"[0-9a-f]{64}", p.name) for p in added if p.parts[1] == "blobs")
    assert not [p for p in root.rglob("*") if p.name in ("passwd", "win.ini")]
    assert not (data_dir / "etc").exists() and not (root / "etc").exists()


# --- 5. limits -------------------------------------------------------------------------------


def test_size_limit_is_checked_before_any_byte(api: Api, tenant: Tenant) -> None:
    api.as_(tenant.admin).ok("PATCH", "/observatory", json={"attachment_size_limit": 1000})
    me = api.as_(tenant.client)
    ref = tenant.incident(api)["ref"]
    over = announce(me, ref, "big.bin", b"", declare=False, size=1001)
    assert (over.status_code, code(over)) == (413, "too_large")
    assert "1000" in over.json()["detail"]
    data = os.urandom(1000)
    assert attach(me, ref, "exact.bin", data)["size"] == 1000
    assert len(listed(me, ref)) == 1


def test_empty_files_are_refused(api: Api, tenant: Tenant) -> None:
    me = api.as_(tenant.client)
    ref = tenant.incident(api)["ref"]
    r = announce(me, ref, "vacio.txt", b"")
    assert (r.status_code, code(r)) == (422, "empty_file")
    assert listed(me, ref) == []


def test_more_bytes_than_announced_are_refused_and_not_kept(
    api: Api, server: LiveServer, tenant: Tenant
) -> None:
    me = api.as_(tenant.client)
    ref = tenant.incident(api)["ref"]
    data = b"exactly20bytes......"
    upload = start(me, ref, "justo.txt", data)
    r = send(me, upload, data + b"!")
    assert (r.status_code, code(r)) == (413, "too_much_data")
    assert offset_of(me, upload) == 0
    part = server.settings.data_dir / "attachments" / "uploads" / f"{upload}.part"
    assert part.stat().st_size == 0
    assert send(me, upload, data[:8]).status_code == 200
    r = send(me, upload, data[8:] + b"extra", offset=8)
    assert (r.status_code, code(r)) == (413, "too_much_data")
    assert offset_of(me, upload) == 8
    assert listed(me, ref) == []
    done = send(me, upload, data[8:], offset=8)
    assert done.status_code == 201
    assert fetch(me, ref, done.json()["id"]).content == data


def test_per_incident_count_limit(
    api: Api, server: LiveServer, tenant: Tenant, tmp_path: Path
) -> None:
    with (
        start_server(
            server.database_url, tmp_path / "data", max_attachments_per_incident=2
        ) as limited,
        Api(limited.url, tenant.client.token) as me,
    ):
        ref = tenant.incident(me)["ref"]
        attach(me, ref, "uno.txt", b"uno\n")
        pending = start(me, ref, "dos.txt", b"dos\n")  # announced uploads count too
        r = announce(me, ref, "tres.txt", b"tres\n")
        assert (r.status_code, code(r)) == (409, "too_many_attachments")
        assert send(me, pending, b"dos\n").status_code == 201
        r = announce(me, ref, "tres.txt", b"tres\n")
        assert (r.status_code, code(r)) == (409, "too_many_attachments")
        assert [a["filename"] for a in listed(me, ref)] == ["uno.txt", "dos.txt"]
        other = tenant.incident(me)["ref"]
        attach(me, other, "tres.txt", b"tres\n")  # the limit is per incident


def test_a_wrong_checksum_attaches_nothing(api: Api, server: LiveServer, tenant: Tenant) -> None:
    me = api.as_(tenant.client)
    ref = tenant.incident(api)["ref"]
    data = os.urandom(4 * KIB)
    declared = bytearray(data)
    declared[100] ^= 0xFF
    r = me.post(
        f"/incidents/{ref}/uploads",
        json={"filename": "dañado.bin", "size": len(data), "sha256": sha(bytes(declared))},
    )
    upload = r.json()["id"]
    bad = send(me, upload, data)
    assert (bad.status_code, code(bad)) == (422, "checksum_mismatch")
    assert listed(me, ref) == []
    assert added_events(me, ref) == []
    assert me.http.head(f"/uploads/{upload}").status_code == 404
    store = server.settings.data_dir / "attachments"
    assert not (store / "uploads" / f"{upload}.part").exists()
    assert not (store / "blobs" / sha(data)[:2] / sha(data)).exists()
    unchecked = start(me, ref, "bien.bin", data, declare=False)  # no declared sum: accepted
    assert send(me, unchecked, data).json()["sha256"] == sha(data)


def test_a_sum_sent_with_the_last_bytes_is_checked(
    api: Api, server: LiveServer, tenant: Tenant
) -> None:
    """`Upload-Sha256` on the last PATCH: a client can hash while it sends, not before."""
    me = api.as_(tenant.client)
    ref = tenant.incident(api)["ref"]
    data = os.urandom(300 * KIB)
    half = len(data) // 2
    uploads = server.settings.data_dir / "attachments" / "uploads"

    good = start(me, ref, "al_final.bin", data, declare=False)
    assert send(me, good, data[:half]).status_code == 200
    done = send(me, good, data[half:], offset=half, sha256=sha(data).upper())
    assert done.status_code == 201, done.text
    assert done.json()["sha256"] == sha(data)
    assert fetch(me, ref, done.json()["id"]).content == data

    # Without the hash state kept from the first request (a restart, another server
    # process), the server reads the bytes it has back to hash them: same answer.
    again = start(me, ref, "reiniciado.bin", data, declare=False)
    assert send(me, again, data[:half]).status_code == 200
    running_hashes.forget(uploads / f"{again}.part")
    done = send(me, again, data[half:], offset=half, sha256=sha(data))
    assert (done.status_code, done.json()["sha256"]) == (201, sha(data))

    bad = start(me, ref, "dañado.bin", data, declare=False)
    assert send(me, bad, data[:half]).status_code == 200
    wrong = send(me, bad, data[half:], offset=half, sha256=sha(data[:half]))
    assert (wrong.status_code, code(wrong)) == (422, "checksum_mismatch")
    assert [a["filename"] for a in listed(me, ref)] == ["al_final.bin", "reiniciado.bin"]
    assert me.http.head(f"/uploads/{bad}").status_code == 404
    assert not (uploads / f"{bad}.part").exists()


def test_a_sum_sent_early_is_kept_and_must_agree_with_the_announced_one(
    api: Api, tenant: Tenant
) -> None:
    me = api.as_(tenant.client)
    ref = tenant.incident(api)["ref"]
    data = os.urandom(200 * KIB)
    half = len(data) // 2
    other = sha(b"otros bytes")

    early = start(me, ref, "pronto.bin", data, declare=False)
    assert send(me, early, data[:half], sha256=other).status_code == 200
    late = send(me, early, data[half:], offset=half)  # no header now: the kept one counts
    assert (late.status_code, code(late)) == (422, "checksum_mismatch")

    agreed = start(me, ref, "anunciado.bin", data)
    assert send(me, agreed, data, sha256=sha(data)).status_code == 201

    disagreed = start(me, ref, "contradictorio.bin", data)
    r = send(me, disagreed, data, sha256=other)
    assert (r.status_code, code(r)) == (422, "checksum_mismatch")
    assert me.http.head(f"/uploads/{disagreed}").status_code == 404

    malformed = start(me, ref, "mal.bin", data, declare=False)
    r = send(me, malformed, data, sha256="not-a-sha256")
    assert (r.status_code, code(r)) == (422, "invalid")
    assert offset_of(me, malformed) == 0
    assert [a["filename"] for a in listed(me, ref)] == ["anunciado.bin"]


class CorruptFirstByte(httpx.BaseTransport):
    """Flips the first byte of the first PATCH body on its way to the server."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.corrupted = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH" and not self.corrupted:
            self.corrupted += 1
            original = request.read()
            request.stream = httpx.ByteStream(bytes([original[0] ^ 0xFF]) + original[1:])
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_the_client_library_sends_the_sum_last_and_a_corrupt_file_is_refused(
    api: Api, server: LiveServer, tenant: Tenant, tmp_path: Path
) -> None:
    data = os.urandom(40 * KIB)
    path = tmp_path / "ruido.bin"
    path.write_bytes(data)
    ref = tenant.incident(api)["ref"]
    corrupting = CorruptFirstByte()
    with ObsClient(server.url, tenant.client.token, transport=corrupting) as client:
        with pytest.raises(ClientError) as refused:
            transfer.upload(client, ref, path)
        assert refused.value.code == "checksum_mismatch"
        assert listed(api.as_(tenant.client), ref) == []
        attached = transfer.upload(client, ref, path)  # the next attempt starts over
    assert corrupting.corrupted == 1
    assert attached.sha256 == sha(data)
    assert [a["id"] for a in listed(api.as_(tenant.client), ref)] == [attached.id]


# --- 6. scope --------------------------------------------------------------------------------


def test_attachments_and_uploads_stay_within_their_scope(
    api: Api, tenant: Tenant, other_tenant: Tenant
) -> None:
    me, neighbour = api.as_(tenant.client), api.as_(tenant.client_b)
    staff, admin, stranger = (
        api.as_(tenant.staff),
        api.as_(tenant.admin),
        api.as_(other_tenant.admin),
    )
    ref = tenant.incident(api)["ref"]
    mine = attach(me, ref, "montura.jpg", picture("JPEG"))

    for outsider in (neighbour, stranger):
        r = announce(outsider, ref, "intruso.txt", b"hola\n")
        assert (r.status_code, code(r)) == (404, "not_found")
        assert outsider.get(f"/incidents/{ref}/attachments").status_code == 404
        assert fetch(outsider, ref, mine["id"]).status_code == 404
    assert fetch(staff, ref, mine["id"]).content == picture("JPEG")

    data = b"solo para quien lo empez\xc3\xb3\n"
    upload = start(me, ref, "mio.txt", data)
    for other in (neighbour, staff, admin, stranger):
        assert other.http.head(f"/uploads/{upload}").status_code == 404
        assert other.get(f"/uploads/{upload}").status_code == 404
        assert send(other, upload, data).status_code == 404
        assert other.delete(f"/uploads/{upload}").status_code == 404
    assert offset_of(me, upload) == 0
    assert send(me, upload, data).status_code == 201

    their_ref = other_tenant.incident(api)["ref"]
    theirs = attach(api.as_(other_tenant.client), their_ref, "suyo.pdf", PDF)
    neighbours_ref = tenant.incident(api, who=tenant.client_b)["ref"]
    next_door = attach(neighbour, neighbours_ref, "vecino.pdf", PDF)
    for who in (me, staff, admin):
        assert fetch(who, ref, theirs["id"]).status_code == 404
    assert fetch(me, ref, next_door["id"]).status_code == 404
    assert fetch(staff, ref, next_door["id"]).status_code == 404  # not this incident's file


# --- 7. ranges -------------------------------------------------------------------------------


def test_range_requests(api: Api, tenant: Tenant) -> None:
    me = api.as_(tenant.client)
    ref = tenant.incident(api)["ref"]
    data = bytes(range(256)) * 4
    attached = attach(me, ref, "tabla.bin", data)
    size = len(data)
    whole = fetch(me, ref, attached["id"])
    assert whole.headers["accept-ranges"] == "bytes"
    cases = {
        "bytes=0-9": (data[:10], f"bytes 0-9/{size}"),
        "bytes=-5": (data[-5:], f"bytes {size - 5}-{size - 1}/{size}"),
        "bytes=1000-": (data[1000:], f"bytes 1000-{size - 1}/{size}"),
        "bytes=500-5000": (data[500:], f"bytes 500-{size - 1}/{size}"),
    }
    for header, (body, content_range) in cases.items():
        got = fetch(me, ref, attached["id"], Range=header)
        assert got.status_code == 206, header
        assert got.content == body, header
        assert got.headers["content-range"] == content_range
        assert got.headers["content-length"] == str(len(body))
        assert_served_safely(got)
    beyond = fetch(me, ref, attached["id"], Range=f"bytes={size}-")
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{size}"


# --- 8. the command line ---------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, server: LiveServer, tenant: Tenant) -> Cli:
    config = tmp_path / "cfg"
    return Cli(
        config, cli_env(config, OBS_SUPPORT_URL=server.url, OBS_SUPPORT_TOKEN=tenant.client.token)
    )


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    made = {
        "montura.jpg": picture("JPEG"),
        "manual.pdf": PDF,
        "registro.log": LOG.encode(),
    }
    folder = tmp_path / "files"
    folder.mkdir()
    for name, data in made.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in made}


def test_cli_attach_and_download(
    cli: Cli, api: Api, tenant: Tenant, files: dict[str, Path], tmp_path: Path
) -> None:
    me = api.as_(tenant.client)
    ref = tenant.incident(api)["ref"]
    human = cli("incident", "attach", ref, files["montura.jpg"], files["manual.pdf"])
    assert human.code == 0, human.err
    assert human.out.splitlines() == [
        f"montura.jpg attached to {ref}.",
        f"manual.pdf attached to {ref}.",
    ]
    as_json = cli("incident", "attach", ref.split("-")[1], files["registro.log"], "--json")
    assert as_json.code == 0, as_json.err
    (log,) = as_json.json()
    assert (log["filename"], log["kind"], log["mime"]) == ("registro.log", "document", "text/plain")
    assert log["sha256"] == sha(LOG.encode())
    assert [a["filename"] for a in listed(me, ref)] == ["montura.jpg", "manual.pdf", "registro.log"]

    by_name = tmp_path / "out" / "copia.pdf"
    by_name.parent.mkdir()
    r = cli("incident", "download", ref, "manual.pdf", "-o", by_name)
    assert r.code == 0, r.err
    assert r.out.strip() == str(by_name)
    assert by_name.read_bytes() == PDF
    r = cli("incident", "download", ref, str(log["id"]), "-o", tmp_path / "out" / "r.log")
    assert (tmp_path / "out" / "r.log").read_bytes() == LOG.encode()
    everything = tmp_path / "all"
    everything.mkdir()
    r = cli("incident", "download", ref, "-o", everything, "--json")
    assert r.code == 0, r.err
    assert sorted(p.name for p in everything.iterdir()) == sorted(files)
    for name, path in files.items():
        assert (everything / name).read_bytes() == path.read_bytes()
    assert not list(everything.glob("*.part"))
    missing = cli("incident", "download", ref, "nada.txt", "-o", tmp_path / "nada.txt")
    assert missing.code == 3
    assert len(missing.err.strip().splitlines()) == 1


def test_cli_internal_notes_take_no_files_or_recordings(
    server: LiveServer, api: Api, tenant: Tenant, files: dict[str, Path], tmp_path: Path
) -> None:
    """Files are the incident's, open to every client of the account: an internal note with
    files or a recording would leak through them, so it is refused before anything is sent."""
    config = tmp_path / "staff-cfg"
    staff = Cli(
        config, cli_env(config, OBS_SUPPORT_URL=server.url, OBS_SUPPORT_TOKEN=tenant.staff.token)
    )
    ref = tenant.incident(api)["ref"]
    before = api.as_(tenant.staff).ok("GET", f"/incidents/{ref}")["events"]
    spoken = tmp_path / "nota.wav"
    spoken.write_bytes(riff(b"WAVE", WAV_FMT + b"data" + struct.pack("<I", 8) + bytes(8)))
    for extra in (["--attach", str(files["manual.pdf"])], ["--audio", str(spoken)]):
        refused = staff("--lang", "es", "incident", "comment", ref, "--internal", "-m", "x", *extra)
        assert refused.code == 2, refused.out
        assert refused.err.strip().splitlines() == [
            "error: una nota interna no lleva archivos ni grabación: los clientes podrían "
            "abrirlos; adjúntalos sin --internal"
        ]
    assert api.as_(tenant.staff).ok("GET", f"/incidents/{ref}")["events"] == before
    assert listed(api.as_(tenant.client), ref) == []


def test_cli_create_and_comment_with_attachments(
    cli: Cli, api: Api, tenant: Tenant, files: dict[str, Path]
) -> None:
    made = cli(
        "incident",
        "create",
        "-t",
        "reparación",
        "-p",
        "alta",
        "-m",
        "La montura no sigue",
        "--attach",
        files["montura.jpg"],
        "--attach",
        files["registro.log"],
    )
    assert made.code == 0, made.err
    ref = f"{tenant.slug}-1"
    assert made.out.splitlines() == [
        f"Created incident {ref}.",
        f"montura.jpg attached to {ref}.",
        f"registro.log attached to {ref}.",
    ]
    me = api.as_(tenant.client)
    assert [a["filename"] for a in listed(me, ref)] == ["montura.jpg", "registro.log"]

    commented = cli("incident", "comment", ref, "-m", "El manual", "--attach", files["manual.pdf"])
    assert commented.code == 0, commented.err
    events = me.ok("GET", f"/incidents/{ref}")["events"]
    assert [e["kind"] for e in events] == [
        "created",
        "comment",
        "attachment_added",
        "attachment_added",
        "comment",
        "attachment_added",
    ]
    assert events[-1]["data"]["name"] == "manual.pdf"

    shown = cli(
        "incident",
        "create",
        "-t",
        "repair",
        "-p",
        "low",
        "-m",
        "x",
        "-a",
        files["manual.pdf"],
        "--json",
    )
    assert shown.code == 0, shown.err
    detail = shown.json()
    assert [e["kind"] for e in detail["events"]][-1] == "attachment_added"


def test_cli_refuses_a_missing_file_before_sending_anything(
    cli: Cli, api: Api, tenant: Tenant, files: dict[str, Path], tmp_path: Path
) -> None:
    me = api.as_(tenant.client)
    ref = tenant.incident(api)["ref"]
    events = len(me.ok("GET", f"/incidents/{ref}")["events"])
    missing = tmp_path / "no-existe.png"
    runs = [
        cli("incident", "attach", ref, files["manual.pdf"], missing),
        cli("incident", "create", "-t", "repair", "-p", "low", "-m", "x", "--attach", missing),
        cli("incident", "comment", ref, "-m", "x", "-a", files["manual.pdf"], "-a", missing),
        cli("incident", "attach", ref, tmp_path),  # a folder is not a file either
    ]
    for r in runs:
        assert r.code == 2, (r.out, r.err)
        assert len(r.err.strip().splitlines()) == 1, r.err
        assert r.err.startswith("error: ")
        assert "Traceback" not in r.err
    assert str(missing) in runs[0].err
    assert me.ok("GET", "/incidents/counts")["total"] == 1
    assert len(me.ok("GET", f"/incidents/{ref}")["events"]) == events
    assert listed(me, ref) == []


def test_cli_download_resumes_a_partial_file(
    cli: Cli, api: Api, tenant: Tenant, tmp_path: Path
) -> None:
    me = api.as_(tenant.client)
    ref = tenant.incident(api)["ref"]
    data = os.urandom(200 * KIB)
    attached = attach(me, ref, "cielo.fits", data)
    dest = tmp_path / "cielo.fits"
    partial = tmp_path / "cielo.fits.part"

    partial.write_bytes(data[: 70 * KIB])
    r = cli("incident", "download", ref, str(attached["id"]), "-o", dest)
    assert r.code == 0, r.err
    assert dest.read_bytes() == data
    assert not partial.exists()

    # Proof that the kept prefix is really reused (a Range request), not fetched again:
    # a damaged prefix makes the result differ, which is detected and thrown away.
    dest.unlink()
    partial.write_bytes(b"\x00" * (70 * KIB))
    r = cli("incident", "download", ref, "cielo.fits", "-o", dest)
    assert r.code != 0
    assert "do not match" in r.err and len(r.err.strip().splitlines()) == 1
    assert not partial.exists() and not dest.exists()
    r = cli("incident", "download", ref, "cielo.fits", "-o", dest)
    assert r.code == 0, r.err
    assert dest.read_bytes() == data


def test_cli_download_of_everything_keeps_files_that_share_a_name(
    cli: Cli, api: Api, tenant: Tenant, tmp_path: Path
) -> None:
    """Phones name every photo alike; downloading them all must not keep only the last."""
    me = api.as_(tenant.client)
    ref = tenant.incident(api)["ref"]
    first, second = picture("PNG"), picture("JPEG")
    attach(me, ref, "foto.jpg", first)
    attach(me, ref, "foto.jpg", second)
    folder = tmp_path / "todo"
    folder.mkdir()
    r = cli("incident", "download", ref, "-o", folder)
    assert r.code == 0, r.err
    assert sorted(p.read_bytes() for p in folder.iterdir()) == sorted([first, second])
