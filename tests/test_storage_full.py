"""A full disk: the attachment store, then the SQLite database, on a size-limited tmpfs.

Every request that needs room the disk does not have answers 507 `insufficient_storage`
in one clear sentence, and leaves nothing half-stored: no attachment without its bytes, no
incident without its history. What an interrupted upload had safely written stays, so it
resumes once space is freed. Mounting a tmpfs needs root (CI runs as root).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from obs_support.client import transfer
from tests.cli_support import Cli, cli_env
from tests.support import Api, LiveServer, Tenant, make_tenant, start_server

MIB = 1024 * 1024
OCTETS = {"Content-Type": "application/offset+octet-stream"}


@pytest.fixture(autouse=True)
def upload_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBS_SUPPORT_CACHE_DIR", str(tmp_path / "cache"))


@contextmanager
def small_disk(where: Path, size: int) -> Iterator[Path]:
    """A tmpfs of `size` bytes mounted at `where`: a disk that really fills up."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root (run the tests as root, as CI does)")
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "--lazy", str(where)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Take all the room on `disk` but `leave` bytes, as another program would."""
    filler = disk / "filler"
    left = shutil.disk_usage(disk).free - leave
    block = b"\0" * 65536
    with filler.open("wb", buffering=0) as handle:
        try:
            while left > 0:
                left -= handle.write(block[: min(left, len(block))]) or 0
        except OSError as exc:  # asked for all of it: the last block did not fit
            if exc.errno != errno.ENOSPC or leave:
                raise
    return filler


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[LiveServer, Api, Tenant, Path]]:
    """A server whose attachment store is a 4 MiB disk (the database lives elsewhere)."""
    data = tmp_path / "data"
    with small_disk(data / "attachments", 4 * MIB) as disk:
        url = f"sqlite:///{tmp_path / 'obs.sqlite3'}"
        with start_server(url, data, storage_reserve_bytes=0) as server, Api(server.url) as api:
            yield server, api, make_tenant(server, api), disk


def attachments(api: Api, tenant: Tenant, ref: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = api.as_(tenant.staff).ok(
        "GET", f"/incidents/{ref}/attachments"
    )
    return found


def history(api: Api, tenant: Tenant, ref: str) -> list[str]:
    detail = api.as_(tenant.staff).ok("GET", f"/incidents/{ref}")
    return [e["kind"] for e in detail["events"]]


def test_a_file_bigger_than_the_room_left_is_refused_before_any_byte_is_sent(
    site: tuple[LiveServer, Api, Tenant, Path],
) -> None:
    _server, api, tenant, disk = site
    ref = tenant.incident(api)["ref"]
    client = api.as_(tenant.client)
    fill(disk, leave=MIB)

    r = client.post(f"/incidents/{ref}/uploads", json={"filename": "dome.mp4", "size": 2 * MIB})
    assert r.status_code == 507, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "insufficient_storage"
    assert r.json()["detail"] == (
        "the server has no room for a file this size right now; "
        "tell the observatory's staff, then send it again"
    )
    assert not list((disk / "uploads").glob("*.part")) if (disk / "uploads").exists() else True
    # Nothing was announced: the incident's slots for files are all still free.
    r = client.post(f"/incidents/{ref}/uploads", json={"filename": "log.txt", "size": MIB // 2})
    assert r.status_code == 201, r.text
    assert len(list((disk / "uploads").glob("*.part"))) == 1


def test_the_reserve_keeps_room_for_the_rest_of_the_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with (
        small_disk(data / "attachments", 4 * MIB),
        start_server(
            f"sqlite:///{tmp_path / 'obs.sqlite3'}", data, storage_reserve_bytes=3 * MIB
        ) as server,
        Api(server.url) as api,
    ):
        tenant = make_tenant(server, api)
        ref = tenant.incident(api)["ref"]
        client = api.as_(tenant.client)
        fits = client.post(f"/incidents/{ref}/uploads", json={"filename": "a", "size": MIB // 2})
        assert fits.status_code == 201, fits.text
        eats_reserve = client.post(
            f"/incidents/{ref}/uploads", json={"filename": "b", "size": 2 * MIB}
        )
        assert eats_reserve.status_code == 507, eats_reserve.text


def test_a_disk_that_fills_up_mid_upload_keeps_nothing_half_stored_and_the_upload_resumes(
    site: tuple[LiveServer, Api, Tenant, Path],
) -> None:
    _server, api, tenant, disk = site
    ref = tenant.incident(api)["ref"]
    client = api.as_(tenant.client)
    video = os.urandom(2 * MIB + 300_000)
    r = client.post(f"/incidents/{ref}/uploads", json={"filename": "dome.webm", "size": len(video)})
    assert r.status_code == 201, r.text
    upload = r.json()["id"]
    # Someone else's files take the room after the announcement: 1 MiB and a bit is left.
    filler = fill(disk, leave=MIB + 200_000)

    r = client.patch(
        f"/uploads/{upload}",
        headers={**OCTETS, "Upload-Offset": "0", "Upload-Sha256": sha(video)},
        content=video,
    )
    assert r.status_code == 507, r.text
    problem = r.json()
    assert problem["code"] == "insufficient_storage"
    kept = int(r.headers["Upload-Offset"])
    assert problem["detail"] == (
        f"the server has no room left for attachments; it kept {kept} of {len(video)} bytes "
        "of dome.webm: send the rest once space is freed"
    )
    # What was kept is whole batches (their size follows the network's chunks), byte for
    # byte the start of the file; nothing is attached.
    assert 0 <= kept < len(video)
    part = disk / "uploads" / f"{upload}.part"
    assert part.read_bytes() == video[:kept]
    assert client.ok("GET", f"/uploads/{upload}")["offset"] == kept
    assert attachments(api, tenant, ref) == []
    assert "attachment_added" not in history(api, tenant, ref)

    filler.unlink()  # the administrator frees space
    r = client.patch(
        f"/uploads/{upload}",
        headers={**OCTETS, "Upload-Offset": str(kept), "Upload-Sha256": sha(video)},
        content=video[kept:],
    )
    assert r.status_code == 201, r.text
    attached = r.json()
    assert attached["sha256"] == sha(video) and attached["size"] == len(video)
    got = client.get(f"/incidents/{ref}/attachments/{attached['id']}")
    assert got.status_code == 200 and got.content == video
    assert history(api, tenant, ref).count("attachment_added") == 1
    assert not part.exists()  # the part's name is gone once the attachment is committed


def test_the_cli_says_the_disk_is_full_in_one_line_and_resumes_when_run_again(
    site: tuple[LiveServer, Api, Tenant, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, api, tenant, disk = site
    ref = tenant.incident(api)["ref"]
    config = tmp_path / "cfg"
    cli = Cli(
        config, cli_env(config, OBS_SUPPORT_URL=server.url, OBS_SUPPORT_TOKEN=tenant.client.token)
    )
    log = tmp_path / "guiding.log"
    log.write_bytes(os.urandom(3 * MIB))
    filler = fill(disk, leave=2 * MIB)  # room to announce it? no: 3 MiB do not fit in 2

    refused = cli("incident", "attach", ref, log)
    assert refused.code != 0
    lines = refused.err.strip().splitlines()
    assert len(lines) == 1, refused.err
    assert "no room for a file this size" in lines[0]
    assert "Traceback" not in refused.err + refused.out

    filler.unlink()
    # It fits when announced; then, before its bytes arrive, other files take the room.
    send_from = transfer._Sender.send_from
    filled = False

    def disk_fills_meanwhile(sender: transfer._Sender, offset: int) -> object:
        nonlocal filled
        if not filled:
            filled = True
            fill(disk, leave=MIB + MIB // 2)
        return send_from(sender, offset)

    monkeypatch.setattr(transfer._Sender, "send_from", disk_fills_meanwhile)
    cut = cli("incident", "attach", ref, log)
    assert cut.code != 0
    assert "no room left for attachments" in cut.err, cut.err
    assert len(cut.err.strip().splitlines()) == 1, cut.err
    assert attachments(api, tenant, ref) == []

    # Run again once there is room: it goes on from the bytes kept (a new 3 MiB upload would
    # not even be accepted next to them on this 4 MiB disk).
    (disk / "filler").unlink()
    done = cli("incident", "attach", ref, log, "--json")
    assert done.code == 0, done.err
    [attached] = attachments(api, tenant, ref)
    assert attached["sha256"] == sha(log.read_bytes())


def test_a_full_disk_under_the_sqlite_database_is_a_507_and_loses_nothing(
    tmp_path: Path,
) -> None:
    with small_disk(tmp_path / "db", 8 * MIB) as disk:
        url = f"sqlite:///{disk / 'obs.sqlite3'}"
        with start_server(url, tmp_path / "data") as server, Api(server.url) as api:
            tenant = make_tenant(server, api)
            client = api.as_(tenant.client)
            before = tenant.incident(api, summary="Filed while there is room")["ref"]
            filler = fill(disk, leave=0)
            long = "The mount stalls when slewing east. " * 2000  # ~70 KB: new pages needed

            def file(summary: str) -> httpx.Response:
                body = {"type": "repair", "priority": "high", "summary": summary, "message": long}
                return client.post("/incidents", json=body)

            r = file("Filed on a full disk")
            assert r.status_code == 507, r.text
            assert r.json()["code"] == "insufficient_storage"
            assert r.json()["detail"] == (
                "the server's disk is full; nothing was saved, tell the administrator"
            )
            listed = client.ok("GET", "/incidents")["items"]
            assert [i["ref"] for i in listed] == [before]  # reads still work

            filler.unlink()
            r = file("Filed once there is room")
            assert r.status_code == 201, r.text
            listed = client.ok("GET", "/incidents")["items"]
            assert {i["summary"] for i in listed} == {
                "Filed while there is room",
                "Filed once there is room",
            }
