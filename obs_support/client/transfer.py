"""Sending and fetching attachment files: streamed both ways, resumed after a cut.

An upload in progress is remembered in the user's cache directory (server, incident, file
path, size and modification time → upload id), so running the same command again after a
failure continues from the last byte the server has instead of starting over.

Both ways the file is read or written once, and hashed on the way.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from obs_support import schemas
from obs_support.client.api import ObsClient, _ref
from obs_support.client.errors import ClientError, ConnectionFailed, NotFound

CHUNK = 1024 * 1024
Progress = Callable[[int, int], None]  # (bytes done, total)


def _state_file() -> Path:
    override = os.environ.get("OBS_SUPPORT_CACHE_DIR")
    if override:
        return Path(override) / "uploads.json"
    import platformdirs

    return Path(platformdirs.user_cache_dir("obs-support")) / "uploads.json"


def _load_state() -> dict[str, str]:
    try:
        data = json.loads(_state_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_state(state: dict[str, str]) -> None:
    path = _state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state), encoding="utf-8")
    tmp.replace(path)


def sha256_of(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    size, done = path.stat().st_size, 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(done, size)
    return digest.hexdigest()


def _hash_prefix(path: Path, size: int) -> hashlib._Hash:
    """The sha256 state after the first `size` bytes of `path`."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        left = size
        while left > 0 and (chunk := handle.read(min(CHUNK, left))):
            digest.update(chunk)
            left -= len(chunk)
    return digest


def _chunks(
    path: Path,
    start: int,
    end: int,
    digest: hashlib._Hash,
    progress: Progress | None,
    total: int,
) -> Iterator[bytes]:
    """Bytes `start`..`end` of the file, CHUNK at a time, hashed on the way."""
    with path.open("rb") as handle:
        handle.seek(start)
        done = start
        while done < end:
            chunk = handle.read(min(CHUNK, end - done))
            if not chunk:
                raise ClientError(f"{path.name} became shorter while it was being sent")
            digest.update(chunk)
            done += len(chunk)
            yield chunk
            if progress:
                progress(done, total)


def upload(
    client: ObsClient, ref: str, path: Path, *, progress: Progress | None = None, attempts: int = 6
) -> schemas.AttachmentPublic:
    """Attach `path` to incident `ref`, resuming an earlier attempt at the same file.

    The file's sha256 is computed while it is sent and goes with its last bytes
    (`Upload-Sha256`, see docs/api.md), so the file is read once; the server refuses the file
    if what it received does not hash to it.

    If the server finished an upload but its answer was lost, the upload is gone from the
    server; the attachment it became is found (same sha256, name and uploader) and returned,
    so a retry never attaches the same file twice.
    """
    stat = path.stat()
    key = f"{client.base_url}|{ref.upper()}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    state = _load_state()
    upload_id = state.get(key)
    digest: str | None = None

    def done(result: schemas.AttachmentPublic) -> schemas.AttachmentPublic:
        fresh = _load_state()
        fresh.pop(key, None)
        _save_state(fresh)
        return result

    def where(upload: str) -> int | None:
        """The server's offset, or None when the upload no longer exists there."""
        try:
            return int(client.request("GET", f"/uploads/{upload}")["offset"])
        except NotFound:
            return None

    offset = where(upload_id) if upload_id else None
    if upload_id and offset is None:
        digest = sha256_of(path)
        if (found := _already_attached(client, ref, path.name, digest)) is not None:
            return done(found)
    if offset is None:
        body = schemas.UploadCreate(filename=path.name, size=stat.st_size)
        created = client.request(
            "POST",
            f"/incidents/{_ref(ref)}/uploads",
            json=body.model_dump(mode="json", exclude_none=True),
        )
        upload_id, offset = created["id"], int(created["offset"])
        state[key] = upload_id
        _save_state(state)
    assert upload_id is not None
    sender = _Sender(client, upload_id, path, stat.st_size, progress)
    for attempt in range(attempts):
        try:
            result = sender.send_from(offset)
        except ConnectionFailed:
            if attempt == attempts - 1:
                raise
            time.sleep(min(0.25 * 2**attempt, 5))
            result = None
        if result is not None:
            return done(result)
        now = where(upload_id)
        if now is None:  # finished on the server; the answer was lost on the way back
            digest = digest or sender.sha256 or sha256_of(path)
            if (found := _already_attached(client, ref, path.name, digest)) is not None:
                return done(found)
            raise NotFound(f"the upload of {path.name} expired; run the command again")
        offset = now
    raise ConnectionFailed(f"the upload of {path.name} did not complete; run the command again")


def _already_attached(
    client: ObsClient, ref: str, name: str, digest: str
) -> schemas.AttachmentPublic | None:
    me = client.me().id
    for attachment in reversed(client.attachments(ref)):
        if attachment.sha256 == digest and attachment.uploader.id == me:
            return attachment
    return None


class _Sender:
    """Sends a file in two requests: all but its last CHUNK, then that with `Upload-Sha256`.

    The bytes are hashed as they are read for sending, so the file's sha256 is known by the
    time its last part goes, in the same read of the file.
    """

    def __init__(
        self,
        client: ObsClient,
        upload_id: str,
        path: Path,
        total: int,
        progress: Progress | None,
    ) -> None:
        self.client = client
        self.upload_id = upload_id
        self.path = path
        self.total = total
        self.progress = progress
        self.sha256: str | None = None  # the whole file's, once every byte has been read

    def send_from(self, offset: int) -> schemas.AttachmentPublic | None:
        """The attachment, or None when the server stopped short (ask it where it is)."""
        # Resuming: the bytes the server already has are hashed here, not sent again.
        digest = _hash_prefix(self.path, offset) if offset else hashlib.sha256()
        # The last part is what the CHUNK steps from `offset` leave, so progress still comes
        # once per CHUNK; an upload that has every byte gets an empty request with the sum.
        last = offset + max(self.total - offset - 1, 0) // CHUNK * CHUNK
        if last > offset:
            chunks = _chunks(self.path, offset, last, digest, self.progress, self.total)
            if self._patch(offset, chunks, last - offset) != last:
                return None
        tail = b"".join(_chunks(self.path, last, self.total, digest, self.progress, self.total))
        self.sha256 = digest.hexdigest()
        answer = self._patch(last, tail, len(tail), {"Upload-Sha256": self.sha256})
        if not isinstance(answer, schemas.AttachmentPublic):
            return None
        if answer.sha256 != self.sha256:
            # A server that ignores Upload-Sha256 attached what it received without checking.
            raise ClientError(
                f"{self.path.name}: the server stored bytes that do not match the file "
                f"(attachment {answer.id}); send it again"
            )
        return answer

    def _patch(
        self,
        offset: int,
        content: bytes | Iterator[bytes],
        length: int,
        extra: dict[str, str] | None = None,
    ) -> schemas.AttachmentPublic | int | None:
        """The attachment (201), the server's offset (200), or None (cut, or out of step)."""
        headers = {
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            "Content-Length": str(length),
            **(extra or {}),
        }
        try:
            response = self.client.raw.patch(
                f"/uploads/{self.upload_id}", headers=headers, content=content
            )
        except httpx.TransportError as exc:
            raise ConnectionFailed(
                f"connection lost while sending {self.path.name}: {exc}"
            ) from None
        body: Any = response.json() if response.content else None
        if response.status_code == 201:
            return schemas.AttachmentPublic.model_validate(body)
        if response.status_code == 200:
            return int(body["offset"])
        if response.status_code in (400, 409):
            return None  # cut, or out of step: ask the server where it is and go on
        from obs_support.client.errors import from_response

        raise from_response(response.status_code, body, response.headers.get("Retry-After"))


def download(
    client: ObsClient,
    ref: str,
    attachment: schemas.AttachmentPublic,
    dest: Path,
    *,
    progress: Progress | None = None,
) -> Path:
    """Stream an attachment to `dest`, continuing a partial `dest.part` with a Range request."""
    partial = dest.with_name(dest.name + ".part")
    start = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={start}-"} if 0 < start < attachment.size else {}
    url = f"/incidents/{_ref(ref)}/attachments/{attachment.id}"
    try:
        with client.raw.stream("GET", url, headers=headers) as response:
            if response.status_code not in (200, 206):
                response.read()
                from obs_support.client.errors import from_response

                raise from_response(response.status_code, response.json(), None)
            resumed = response.status_code == 206
            # Hash while writing (after the bytes already here, when resuming), so the file
            # is not read a second time to verify it.
            digest = _hash_prefix(partial, start) if resumed else hashlib.sha256()
            done = reported = start if resumed else 0
            # Pieces go on as the connection hands them over (about 64 KiB each), through
            # the file's own 1 MiB buffer, reused. Asking for 1 MiB chunks instead joins them
            # into a new 1 MiB object every time, and faulting in that fresh memory made the
            # whole download up to twice as slow.
            with partial.open("ab" if resumed else "wb", buffering=CHUNK) as out:
                for piece in response.iter_bytes():
                    out.write(piece)
                    digest.update(piece)
                    done += len(piece)
                    if progress and (done - reported >= CHUNK or done >= attachment.size):
                        progress(done, attachment.size)
                        reported = done
    except httpx.TransportError as exc:
        raise ConnectionFailed(
            f"connection lost while fetching {attachment.filename}: {exc}; "
            "run the command again to continue"
        ) from None
    if digest.hexdigest() != attachment.sha256:
        partial.unlink()
        raise ClientError(f"{attachment.filename}: the bytes received do not match; try again")
    partial.replace(dest)
    return dest
