"""`server backup` and `server restore`: the database and the attachment store, verified.

A backup is a directory: `manifest.json`, the database (`obs-support.sqlite3`, or
`database.dump` from pg_dump) and `attachments/blobs/`, laid out like the live store. The
SQLite copy is taken through SQLite's online backup API, so it is one consistent snapshot even
while the server writes. The blobs are copied after it: a file is moved into the store before
the row that refers to it is committed, so every attachment the snapshot knows is already on
disk. Blobs are named by their sha256 and checked against it on every copy, both ways.
Previews (made again on demand) and unfinished uploads (resumed from zero) are left out.

Restoring builds the new data directory beside the target and swaps it in with a rename, so a
failure part-way (a damaged blob, a full disk) leaves the target as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from obs_support.config import ServerSettings

MANIFEST = "manifest.json"
SQLITE_FILE = "obs-support.sqlite3"
PG_FILE = "database.dump"
FORMAT = 1
CHUNK = 1024 * 1024


class BackupError(Exception):
    """Why a backup or restore stopped; one line for a person."""


@dataclass
class Outcome:
    path: Path
    database: str  # "sqlite" or "postgresql"
    revision: str | None
    blobs: int = 0
    bytes: int = 0
    copied: int = 0
    notes: list[str] = field(default_factory=list)  # lines for the administrator


# --- helpers ----------------------------------------------------------------------------------


def _kind(url: str) -> str:
    return "sqlite" if make_url(url).get_backend_name() == "sqlite" else "postgresql"


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("the SQLite database is in memory: there is nothing to back up")
    return Path(database)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_verified(source: Path, target: Path, sha256: str, what: str = "attachment file") -> int:
    """Copy one blob through a temporary name, hashing as it goes; refuse a mismatch."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    digest = hashlib.sha256()
    size = 0
    try:
        with source.open("rb") as src, partial.open("wb") as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        if digest.hexdigest() != sha256:
            raise BackupError(f"{what} {source} does not match its sha256 (damaged)")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return size


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _blobs(root: Path) -> Iterator[tuple[str, Path]]:
    """(sha256, path) of every stored blob under `root` (a data dir or a backup)."""
    blobs = root / "attachments" / "blobs"
    if blobs.exists():
        for path in sorted(blobs.glob("??/*")):
            if path.is_file() and len(path.name) == 64 and not path.name.startswith("."):
                yield path.name, path


def _blob_path(root: Path, sha256: str) -> Path:
    return root / "attachments" / "blobs" / sha256[:2] / sha256


def _write_json(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    _fsync(partial)
    os.replace(partial, path)
    _fsync(path.parent)


# --- backup -----------------------------------------------------------------------------------


def _sqlite_snapshot(source: Path, target: Path) -> tuple[str | None, set[str]]:
    """Copy the live database with the backup API; returns its revision and referenced blobs."""
    if not source.exists():
        raise BackupError(f"no database at {source}")
    partial = target.with_name(f".{target.name}.tmp")
    partial.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(source, timeout=30)
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # all pages in one step: one read transaction, one snapshot
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            checked = dst.execute("PRAGMA integrity_check").fetchone()
            if not checked or checked[0] != "ok":
                raise BackupError(f"the database copy failed its integrity check: {checked}")
            revision, referenced = _contents(dst)
        finally:
            dst.close()
            src.close()
        _fsync(partial)
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise BackupError(f"could not copy the SQLite database: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return revision, referenced


def _contents(conn: sqlite3.Connection) -> tuple[str | None, set[str]]:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        shas = {r[0] for r in conn.execute("SELECT sha256 FROM attachment")}
    except sqlite3.OperationalError as exc:
        raise BackupError(f"the database has no obs-support schema: {exc}") from exc
    return (row[0] if row else None), shas


def _pg_revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise BackupError(f"cannot reach the database: {detail}") from exc
    finally:
        engine.dispose()


def pg_command(url: str, dump: Path) -> list[str]:
    """The pg_dump command line; the password (if any) goes in PGPASSWORD, never in argv."""
    dsn = make_url(url).set(drivername="postgresql", password=None)
    return [
        "pg_dump",
        "--format=custom",
        "--no-owner",
        "--file",
        str(dump),
        "--dbname",
        dsn.render_as_string(hide_password=False),
    ]


def _pg_dump(url: str, target: Path) -> str | None:
    """Run pg_dump when it is installed; otherwise return the command to run by hand."""
    command = pg_command(url, target / PG_FILE)
    shown = " ".join(command)
    if shutil.which("pg_dump") is None:
        return f"pg_dump is not installed here; dump the database with: {shown}"
    partial = target / f".{PG_FILE}.tmp"
    command[command.index("--file") + 1] = str(partial)
    env = dict(os.environ)
    password = make_url(url).password
    if password:
        env["PGPASSWORD"] = str(password)
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            lines = (done.stderr or "").strip().splitlines()
            raise BackupError(f"pg_dump failed: {lines[0] if lines else done.returncode}")
        _fsync(partial)
        os.replace(partial, target / PG_FILE)
    finally:
        partial.unlink(missing_ok=True)
    return None


def backup(settings: ServerSettings, target: Path) -> Outcome:
    url = settings.resolved_database_url
    kind = _kind(url)
    if target.exists() and any(target.iterdir()) and not (target / MANIFEST).exists():
        raise BackupError(f"{target} is not empty and holds no backup; choose another directory")
    target.mkdir(parents=True, exist_ok=True)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    outcome = Outcome(target, kind, None)
    referenced: set[str] = set()
    database_file: str | None = None
    if kind == "sqlite":
        outcome.revision, referenced = _sqlite_snapshot(_sqlite_path(url), target / SQLITE_FILE)
        database_file = SQLITE_FILE
    else:
        outcome.revision = _pg_revision(url)
        note = _pg_dump(url, target)
        if note is None:
            database_file = PG_FILE
        else:
            outcome.notes.append(note)
    blobs: dict[str, int] = {}
    for sha256, source in _blobs(settings.data_dir):
        copy = _blob_path(target, sha256)
        if copy.exists():
            size = copy.stat().st_size  # kept from an earlier backup; restore re-verifies it
        else:
            size = _copy_verified(source, copy, sha256)
            outcome.copied += 1
        blobs[sha256] = size
    missing = referenced - blobs.keys()
    if missing:
        raise BackupError(
            f"{len(missing)} attachment file(s) the database refers to are missing from "
            f"{settings.data_dir / 'attachments'} (first: {sorted(missing)[0]})"
        )
    outcome.blobs, outcome.bytes = len(blobs), sum(blobs.values())
    database_path = target / database_file if database_file else None
    _write_json(
        target / MANIFEST,
        {
            "format": FORMAT,
            "created_at": created,
            "database": kind,
            "schema_revision": outcome.revision,
            "database_file": database_file,
            "database_sha256": _hash_file(database_path) if database_path else None,
            "database_bytes": database_path.stat().st_size if database_path else 0,
            "blob_count": outcome.blobs,
            "bytes": outcome.bytes,
            "blobs": blobs,
        },
    )
    return outcome


# --- restore ----------------------------------------------------------------------------------


def read_manifest(source: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BackupError(f"{source} holds no {MANIFEST}: not a backup") from exc
    except (OSError, ValueError) as exc:
        raise BackupError(f"{source / MANIFEST} cannot be read: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{source / MANIFEST} is not a backup manifest this version reads")
    if not isinstance(manifest.get("blobs"), dict):
        raise BackupError(f"{source / MANIFEST} lists no attachment files")
    return manifest


def _check_revision(url: str, revision: object) -> None:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from obs_support.server.migrate import alembic_config

    if revision is None:
        return
    try:
        ScriptDirectory.from_config(alembic_config(url)).get_revision(str(revision))
    except CommandError as exc:
        raise BackupError(
            f"the backup's schema ({revision}) is newer than this obs-support; upgrade it first"
        ) from exc


def restore(settings: ServerSettings, source: Path, *, force: bool = False) -> Outcome:
    manifest = read_manifest(source)
    url = settings.resolved_database_url
    kind = _kind(url)
    if manifest.get("database") != kind:
        raise BackupError(
            f"this backup holds a {manifest.get('database')} database, but the server is set "
            f"to {kind} (OBS_SUPPORT_DATABASE_URL)"
        )
    _check_revision(url, manifest.get("schema_revision"))
    data_dir = settings.data_dir.absolute()
    database_target: Path | None = None
    if kind == "sqlite":
        database_target = _sqlite_path(url).absolute()
        if not database_target.is_relative_to(data_dir):
            raise BackupError(
                f"the SQLite database {database_target} is outside the data dir {data_dir}; "
                "restore needs it inside"
            )
        if not manifest.get("database_file"):
            raise BackupError(f"{source / MANIFEST} names no database file")
    occupied = data_dir.exists() and any(data_dir.iterdir())
    if occupied and not force:
        raise BackupError(f"{data_dir} is not empty; add --force to replace it (it is kept aside)")

    outcome = Outcome(data_dir, kind, manifest.get("schema_revision"))
    staging = data_dir.parent / f".{data_dir.name}.restore-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir(parents=True)
        if database_target is not None:
            copied = staging / database_target.relative_to(data_dir)
            _copy_verified(
                source / str(manifest["database_file"]),
                copied,
                str(manifest.get("database_sha256")),
                what="database file",
            )
        for sha256, size in manifest["blobs"].items():
            blob = _blob_path(source, sha256)
            if not blob.is_file():
                raise BackupError(f"the backup lacks attachment file {sha256}")
            if blob.stat().st_size != size:
                raise BackupError(f"attachment file {blob} has the wrong size (damaged)")
            outcome.bytes += _copy_verified(blob, _blob_path(staging, sha256), sha256)
            outcome.blobs += 1
        _fsync(staging)
        kept = _swap(staging, data_dir, occupied)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if kept is not None:
        outcome.notes.append(f"the previous data is kept in {kept}; delete it when satisfied")
    if kind == "postgresql":
        dump = source / PG_FILE
        target = make_url(url).set(drivername="postgresql", password=None)
        outcome.notes.append(
            "restore the database with: pg_restore --clean --if-exists --no-owner --dbname "
            f"'{target.render_as_string(hide_password=False)}' {dump}"
            if dump.exists()
            else "this backup holds no database dump: restore the database from your pg_dump"
        )
    return outcome


def _swap(staging: Path, data_dir: Path, occupied: bool) -> Path | None:
    """Put the staged directory where the data dir is; the old one moves aside, never deleted."""
    kept: Path | None = None
    if occupied:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = data_dir.with_name(f"{data_dir.name}.before-restore-{stamp}")
        os.rename(data_dir, kept)
    elif data_dir.exists():
        data_dir.rmdir()  # empty
    try:
        os.rename(staging, data_dir)
    except OSError:
        if kept is not None:
            with contextlib.suppress(OSError):
                os.rename(kept, data_dir)
        raise
    _fsync(data_dir.parent)
    return kept
