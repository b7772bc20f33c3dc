"""Attachment bytes on disk: partial uploads, and a content-addressed store of finished files.

A finished file lives at `blobs/<first two hex of sha256>/<sha256>`, so identical bytes are
stored once. Files arrive in `uploads/<id>.part`, are fsynced, hashed and then linked into the
store (an atomic hard link); the database row that makes them visible is committed last, and
only then is the part's name removed. A crash at any point leaves, at worst, an unreferenced
blob or part file for `gc` to remove.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024

# The disk (or the user's quota) is full: the server answers 507 and keeps nothing partial.
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT}


def out_of_space(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _NO_ROOM


class Store:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "attachments"
        self.blobs = self.root / "blobs"
        self.uploads = self.root / "uploads"
        self.thumbs = self.root / "thumbnails"

    def part(self, upload_id: str) -> Path:
        return self.uploads / f"{upload_id}.part"

    def blob(self, sha256: str) -> Path:
        return self.blobs / sha256[:2] / sha256

    def free_bytes(self) -> int:
        """Room left on the disk holding the store, for this (unprivileged) process."""
        where = self.root
        while not where.exists() and where != where.parent:
            where = where.parent
        return shutil.disk_usage(where).free

    def start(self, upload_id: str) -> None:
        self.uploads.mkdir(parents=True, exist_ok=True)
        self.part(upload_id).touch()

    def offset(self, upload_id: str) -> int:
        try:
            return self.part(upload_id).stat().st_size
        except FileNotFoundError:
            return 0

    def hash_part(self, upload_id: str) -> str:
        digest = hashlib.sha256()
        with self.part(upload_id).open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def head(self, path: Path, n: int) -> bytes:
        with path.open("rb") as handle:
            return handle.read(n)

    def commit_part(self, upload_id: str, sha256: str) -> Path:
        """fsync the finished part and link it into the store (unless already stored).

        The part keeps its name until `discard`, called once the database row is committed:
        if that commit fails (a full disk, say), the upload can still be finished later.
        """
        part = self.part(upload_id)
        with part.open("rb") as handle:
            os.fsync(handle.fileno())
        target = self.blob(sha256)
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        # A second name for the same bytes: no copy, no space. It may exist already when
        # the same bytes were finished by another upload at the same moment.
        with suppress(FileExistsError):
            os.link(part, target)
        _fsync_dir(target.parent)
        return target

    def discard(self, upload_id: str) -> None:
        self.part(upload_id).unlink(missing_ok=True)

    def all_blobs(self) -> Iterator[Path]:
        if self.blobs.exists():
            yield from (p for p in self.blobs.glob("??/*") if p.is_file())

    def all_parts(self) -> Iterator[Path]:
        if self.uploads.exists():
            yield from self.uploads.glob("*.part")


class PartWriter:
    """Appends to a part file in 1 MiB batches, hashing the bytes as they are written.

    Batching keeps the hand-offs to a worker thread few (one per MiB, not per network
    chunk); hashing on the way means a finished file is not read again to verify it.
    `handle` is unbuffered, so a failed write leaves nothing waiting in a buffer: when the
    disk fills up, the part is cut back to the last whole batch, which the hash has seen.
    """

    BATCH = CHUNK

    def __init__(
        self, handle: BinaryIO, offset: int = 0, digest: hashlib._Hash | None = None
    ) -> None:
        self.handle = handle
        self.digest = digest if digest is not None else hashlib.sha256()
        self.on_disk = offset  # bytes in the part that the digest accounts for
        self.pending: list[bytes] = []
        self.pending_size = 0

    def hash_existing(self, size: int) -> None:
        """Resuming: fold the bytes already on disk into the hash first."""
        self.handle.seek(0)
        left = size
        while left > 0 and (chunk := self.handle.read(min(CHUNK, left))):
            self.digest.update(chunk)
            left -= len(chunk)
        self.handle.seek(size)

    def add(self, chunk: bytes) -> bool:
        """Queue a chunk; True when a batch is ready for `flush`."""
        self.pending.append(chunk)
        self.pending_size += len(chunk)
        return self.pending_size >= self.BATCH

    def flush(self) -> None:
        data = b"".join(self.pending)
        self.pending, self.pending_size = [], 0
        view = memoryview(data)
        try:
            while view:
                # A raw write may take only part of the bytes (a full disk does that first).
                written = self.handle.write(view)
                if written is None:  # only a non-blocking file does that; a part never is
                    raise BlockingIOError(errno.EAGAIN, "the part file would block")
                view = view[written:]
        except OSError:
            os.ftruncate(self.handle.fileno(), self.on_disk)
            self.handle.seek(self.on_disk)
            raise
        self.digest.update(data)
        self.on_disk += len(data)

    def drop_pending(self) -> None:
        self.pending, self.pending_size = [], 0


class RunningHashes:
    """The sha256 state of unfinished uploads as of the bytes on disk, kept between requests.

    A client that sends the file's sha256 with its last bytes sends those in a request of
    their own; without the state kept from the request before, the server would read the
    whole part back to hash it. Kept per server process and only for the most recent
    uploads: on a miss (another process, a restart) the part is hashed from disk, as before.
    """

    def __init__(self, limit: int = 256) -> None:
        self.limit = limit
        self._states: OrderedDict[Path, tuple[int, hashlib._Hash]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, part: Path, offset: int) -> hashlib._Hash | None:
        """The state for the first `offset` bytes of `part`, if kept (and forget it)."""
        with self._lock:
            kept = self._states.pop(part, None)
        return kept[1] if kept is not None and kept[0] == offset else None

    def keep(self, part: Path, offset: int, digest: hashlib._Hash) -> None:
        with self._lock:
            self._states[part] = (offset, digest)
            self._states.move_to_end(part)
            while len(self._states) > self.limit:
                self._states.popitem(last=False)

    def forget(self, part: Path) -> None:
        with self._lock:
            self._states.pop(part, None)


running_hashes = RunningHashes()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
