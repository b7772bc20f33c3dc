"""Attachments: resumable uploads (offset-based, like tus core) and safe downloads.

1. `POST /incidents/{ref}/uploads` announces a file (name, size, optional sha256); the size
   limit is checked here, before any byte is sent.
2. `PATCH /uploads/{id}` with `Upload-Offset: N` sends bytes from offset N, streamed to disk.
   When the last byte arrives the file is verified, stored and attached (201). The sha256 may
   come with the last bytes instead (`Upload-Sha256`), so a client reads its file only once.
   After a cut, `HEAD /uploads/{id}` tells how many bytes the server has; send the rest.
3. `GET /incidents/{ref}/attachments/{id}` downloads, always as an attachment, with Range.
"""

from __future__ import annotations

import fcntl
import os
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, Path, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from obs_support import schemas
from obs_support.server import filekinds, thumbnails
from obs_support.server.auth import CurrentUser
from obs_support.server.errors import ApiError, not_found
from obs_support.server.messages import Msg
from obs_support.server.models import Upload, User
from obs_support.server.services import attachments as service
from obs_support.server.state import AppState, StateDep
from obs_support.server.storage import PartWriter, out_of_space, running_hashes

router = APIRouter(tags=["attachments"])
IdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
UploadId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


@router.post("/incidents/{ref}/uploads", status_code=201, summary="Announce a file to attach")
def announce(
    ref: str, body: schemas.UploadCreate, state: StateDep, user: CurrentUser, response: Response
) -> schemas.UploadPublic:
    with state.db.write() as session:
        created = service.announce(session, state, user, ref, body)
    response.headers["Location"] = f"/api/v1/uploads/{created.id}"
    return created


def _load(state: AppState, user: User, upload_id: str) -> Upload:
    with state.db.read() as session:
        return service.get_upload(session, user, upload_id)


def _offset_headers(state: AppState, upload: Upload) -> dict[str, str]:
    return {
        "Upload-Offset": str(service.store(state).offset(upload.id)),
        "Upload-Length": str(upload.size),
        "Cache-Control": "no-store",
    }


@router.get("/uploads/{upload_id}", summary="How much of an upload the server has")
def upload_status(upload_id: UploadId, state: StateDep, user: CurrentUser) -> schemas.UploadPublic:
    return service.upload_public(state, _load(state, user, upload_id))


@router.head(
    "/uploads/{upload_id}",
    summary="The upload's offset, as headers",
    responses={
        200: {
            "description": "How many bytes the server has, and of how many",
            "headers": {
                "Upload-Offset": {"schema": {"type": "integer", "minimum": 0}},
                "Upload-Length": {"schema": {"type": "integer", "minimum": 1}},
            },
        }
    },
)
def upload_head(upload_id: UploadId, state: StateDep, user: CurrentUser) -> Response:
    upload = _load(state, user, upload_id)
    return Response(status_code=200, headers=_offset_headers(state, upload))


@router.delete("/uploads/{upload_id}", status_code=204, summary="Abandon an upload")
def upload_cancel(upload_id: UploadId, state: StateDep, user: CurrentUser) -> Response:
    service.drop_upload(state, _load(state, user, upload_id).id)
    return Response(status_code=204)


def _declare_sha256(state: AppState, upload: Upload, declared: str) -> None:
    """Record the sha256 a client sent with its bytes, as if it had been announced."""
    if upload.sha256 == declared:
        return
    if upload.sha256 is not None:
        # Two different sums for one file: whatever its bytes are, one of them is wrong.
        service.drop_upload(state, upload.id)
        raise ApiError(
            422,
            "checksum_mismatch",
            Msg("checksum_conflict"),
            field="sha256",
        )
    with state.db.write() as session:
        row = session.get(Upload, upload.id)
        if row is not None:
            row.sha256 = declared
    upload.sha256 = declared


@router.patch(
    "/uploads/{upload_id}",
    summary="Send bytes from Upload-Offset; the last ones complete the attachment (201)",
    responses={201: {"model": schemas.AttachmentPublic}, 200: {"model": schemas.UploadPublic}},
    openapi_extra={"requestBody": {"content": {"application/offset+octet-stream": {}}}},
)
async def upload_bytes(
    upload_id: UploadId,
    request: Request,
    state: StateDep,
    user: CurrentUser,
    upload_offset: Annotated[int, Header(alias="Upload-Offset", ge=0, le=2**50)],
    upload_sha256: Annotated[
        str | None, Header(alias="Upload-Sha256", pattern=r"^[0-9a-fA-F]{64}$")
    ] = None,
) -> Response:
    upload = await run_in_threadpool(_load, state, user, upload_id)
    path = service.store(state).part(upload.id)
    try:
        # Unbuffered: the writer batches by itself, and a full disk must not leave bytes
        # sitting in a buffer (see PartWriter).
        handle = await run_in_threadpool(open, path, "r+b", 0)
    except FileNotFoundError:
        raise not_found(Msg("upload_not_found")) from None
    with handle:
        try:
            # One writer per upload, across server processes.
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ApiError(409, "upload_busy", Msg("upload_busy")) from None
        start = os.fstat(handle.fileno()).st_size
        if upload_offset != start:
            raise ApiError(
                409,
                "offset_mismatch",
                Msg("offset_mismatch", have=start),
                headers=_offset_headers(state, upload),
            )
        kept = running_hashes.take(path, start) if start else None
        if upload_sha256 is not None:
            await run_in_threadpool(_declare_sha256, state, upload, upload_sha256.lower())
        writer = PartWriter(handle, start, kept)
        if start:
            if kept is None:
                await run_in_threadpool(writer.hash_existing, start)
            else:
                handle.seek(start)
        try:
            cut = await _receive(request, writer, upload, start)
        except OSError as exc:
            if not out_of_space(exc):
                raise
            # What reached the disk before it filled up stays, to resume once there is room.
            running_hashes.keep(path, writer.on_disk, writer.digest)
            raise ApiError(
                507,
                "insufficient_storage",
                Msg(
                    "upload_disk_full",
                    kept=writer.on_disk,
                    size=upload.size,
                    filename=upload.filename,
                ),
                headers=_offset_headers(state, upload),
            ) from None
        written = writer.on_disk
        if cut or written < upload.size:
            # The next request for this upload goes on from here without reading it back.
            running_hashes.keep(path, written, writer.digest)
        if cut:
            # The link dropped: keep what arrived; the client resumes from HEAD's offset.
            return Response(status_code=400)
        if written < upload.size:
            return JSONResponse(
                service.upload_public(state, upload).model_dump(mode="json"),
                headers=_offset_headers(state, upload),
            )
        # Still holding the lock: a concurrent request cannot finish the same upload twice.
        attachment = await run_in_threadpool(
            service.finish, state, user, upload, writer.digest.hexdigest()
        )
    return JSONResponse(attachment.model_dump(mode="json"), status_code=201)


@router.get("/incidents/{ref}/attachments", summary="Files attached to an incident")
def list_attachments(
    ref: str, state: StateDep, user: CurrentUser
) -> list[schemas.AttachmentPublic]:
    with state.db.read() as session:
        return service.list_for(session, user, ref)


async def _receive(request: Request, writer: PartWriter, upload: Upload, start: int) -> bool:
    """Stream the request's bytes into the part; True when the client hung up midway."""
    written = start
    try:
        async for chunk in request.stream():
            if written + len(chunk) > upload.size:
                writer.drop_pending()
                await run_in_threadpool(os.ftruncate, writer.handle.fileno(), start)
                raise ApiError(413, "too_much_data", Msg("too_much_data"))
            written += len(chunk)
            if writer.add(chunk):
                await run_in_threadpool(writer.flush)
    except ClientDisconnect:
        return True
    finally:
        await run_in_threadpool(writer.flush)
    return False


class BigChunkFileResponse(FileResponse):
    """Reads files in 1 MiB pieces: 16 times fewer worker-thread hand-offs than the default."""

    chunk_size = 1024 * 1024


def content_disposition(name: str) -> str:
    """`attachment` always; an ASCII fallback plus the exact UTF-8 name (RFC 6266)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get(
    "/incidents/{ref}/attachments/{attachment_id}",
    summary="Download a file (always as an attachment; Range supported)",
    response_class=FileResponse,
)
def download(ref: str, attachment_id: IdPath, state: StateDep, user: CurrentUser) -> FileResponse:
    with state.db.read() as session:
        found, path = service.get_file(session, state, user, ref, attachment_id)
    return BigChunkFileResponse(
        path,
        media_type=filekinds.served_type(found.kind, found.mime),
        headers={
            "Content-Disposition": content_disposition(found.filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=3600",
            "ETag": f'"{found.sha256}"',
        },
    )


@router.get(
    "/incidents/{ref}/attachments/{attachment_id}/thumbnail",
    summary="A small PNG preview of an image attachment (no metadata kept)",
    response_class=FileResponse,
)
def thumbnail(ref: str, attachment_id: IdPath, state: StateDep, user: CurrentUser) -> FileResponse:
    with state.db.read() as session:
        found, path = service.get_file(session, state, user, ref, attachment_id)
    try:
        preview = thumbnails.thumbnail(path, service.store(state).thumbs, found.sha256, found.mime)
    except thumbnails.NoPreview as exc:
        raise ApiError(404, "no_preview", exc.reason) from None
    return FileResponse(
        preview,
        media_type="image/png",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=86400",
        },
    )
