"""Attachments: announce, send (resumably), verify, store once, and serve safely."""

from __future__ import annotations

import logging
import secrets as pysecrets
import unicodedata
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, col, select

from obs_support import schemas
from obs_support.domain import EventKind
from obs_support.server import filekinds, scope, signals, views
from obs_support.server.errors import ApiError, invalid, not_found
from obs_support.server.messages import Msg
from obs_support.server.models import Attachment, Incident, Upload, User
from obs_support.server.services.incidents import _event, observatory_of
from obs_support.server.state import AppState
from obs_support.server.storage import Store, running_hashes
from obs_support.server.types import utcnow

log = logging.getLogger("obs_support.server")

NAME_MAX = 255


def display_name(raw: str) -> str:
    """The name shown for a file: its last path component, printable, at most 255 characters.

    It is only ever displayed or put (encoded) in a header — never used as a path.
    """
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in unicodedata.normalize("NFC", name) if c.isprintable())
    name = name.strip().lstrip(".").strip() or "file"
    if len(name) > NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:16] if dot else ""
        name = (stem if dot else name)[: NAME_MAX - len(ext) - 1].rstrip() + (
            f".{ext}" if ext else ""
        )
    return name


def store(state: AppState) -> Store:
    return Store(state.settings.data_dir)


def public(session: Session, rows: list[Attachment]) -> list[schemas.AttachmentPublic]:
    uploaders = (
        {
            u.id: u
            for u in session.exec(
                select(User).where(col(User.id).in_({a.uploader_id for a in rows}))
            ).all()
        }
        if rows
        else {}
    )
    return [
        schemas.AttachmentPublic(
            id=a.id or 0,
            filename=a.filename,
            size=a.size,
            sha256=a.sha256,
            kind=a.kind,
            mime=a.mime,
            uploader=views.user_ref(uploaders[a.uploader_id]),
            created_at=a.created_at,
        )
        for a in rows
    ]


def announce(
    session: Session, state: AppState, user: User, ref: str, body: schemas.UploadCreate
) -> schemas.UploadPublic:
    obs = observatory_of(session, user)
    incident = scope.get_incident(session, user, ref, slug=obs.slug, lock=True)
    if body.size == 0:
        raise invalid("size", Msg("file_empty"), code="empty_file")
    if body.size > obs.attachment_size_limit:
        limit = obs.attachment_size_limit
        raise ApiError(
            413,
            "too_large",
            Msg("file_too_large", size=body.size, limit=limit),
        )
    room = store(state).free_bytes() - state.settings.storage_reserve_bytes
    if body.size > room:
        log.warning("attachment store full: %d bytes announced, %d free", body.size, room)
        raise ApiError(
            507,
            "insufficient_storage",
            Msg("no_room_for_file"),
        )
    present = session.exec(
        select(func.count()).select_from(Attachment).where(Attachment.incident_id == incident.id)
    ).one()
    pending = session.exec(
        select(func.count()).select_from(Upload).where(Upload.incident_id == incident.id)
    ).one()
    if present + pending >= state.settings.max_attachments_per_incident:
        raise ApiError(
            409,
            "too_many_attachments",
            Msg("too_many_attachments", limit=state.settings.max_attachments_per_incident),
        )
    assert incident.id is not None and user.id is not None
    upload = Upload(
        id=pysecrets.token_hex(16),
        incident_id=incident.id,
        user_id=user.id,
        filename=display_name(body.filename),
        size=body.size,
        sha256=body.sha256.lower() if body.sha256 else None,
        expires_at=utcnow() + timedelta(hours=state.settings.upload_expiry_hours),
    )
    session.add(upload)
    store(state).start(upload.id)
    return upload_public(state, upload)


def upload_public(state: AppState, upload: Upload) -> schemas.UploadPublic:
    return schemas.UploadPublic(
        id=upload.id,
        offset=store(state).offset(upload.id),
        size=upload.size,
        expires_at=upload.expires_at,
    )


def get_upload(session: Session, user: User, upload_id: str) -> Upload:
    """Only the person who started an upload may see or continue it."""
    found = session.exec(
        select(Upload).where(Upload.id == upload_id[:64], Upload.user_id == user.id)
    ).first()
    if found is None or found.expires_at <= utcnow():
        raise not_found(Msg("upload_not_found"))
    # Scope may have changed since (a deactivated account, a moved incident): check again.
    incident = session.get(Incident, found.incident_id)
    if (
        incident is None
        or session.exec(
            select(Incident.id).where(scope.incident_scope(user), Incident.id == incident.id)
        ).first()
        is None
    ):
        raise not_found(Msg("upload_not_found"))
    return found


def drop_upload(state: AppState, upload_id: str) -> None:
    """Forget an unfinished upload: its row, its part file and its running hash."""
    with state.db.write() as session:
        row = session.get(Upload, upload_id)
        if row is not None:
            session.delete(row)
    files = store(state)
    files.discard(upload_id)
    running_hashes.forget(files.part(upload_id))


def finish(
    state: AppState, user: User, upload: Upload, digest: str | None = None
) -> schemas.AttachmentPublic:
    """Verify the complete file, link it into the store, then make it visible (DB last).

    `digest` is the sha256 computed while the bytes were written; without it the file is
    read once more to hash it.
    """
    files = store(state)
    digest = digest or files.hash_part(upload.id)
    if upload.sha256 and digest != upload.sha256:
        drop_upload(state, upload.id)
        raise ApiError(
            422,
            "checksum_mismatch",
            Msg("checksum_mismatch"),
            field="sha256",
        )
    part = files.part(upload.id)
    kind = filekinds.detect(files.head(part, filekinds.SNIFF_BYTES), part)
    files.commit_part(upload.id, digest)
    with state.db.write() as session:
        signals.serialize_events(session, user.observatory_id)
        current = session.get(Upload, upload.id)
        if current is None:
            raise not_found(Msg("upload_not_found"))
        incident = session.exec(
            select(Incident).where(Incident.id == current.incident_id).with_for_update()
        ).one()
        attachment = Attachment(
            incident_id=current.incident_id,
            uploader_id=current.user_id,
            filename=current.filename,
            size=current.size,
            sha256=digest,
            kind=kind.kind,
            mime=kind.mime,
        )
        session.add(attachment)
        session.flush()
        _event(
            session,
            incident,
            user,
            EventKind.ATTACHMENT_ADDED,
            data={
                "attachment_id": attachment.id,
                "name": attachment.filename,
                "size": attachment.size,
                "kind": attachment.kind,
                "sha256": digest,
            },
        )
        session.delete(current)
        shown = public(session, [attachment])[0]
    files.discard(upload.id)  # the bytes stay in the store under their sha256
    return shown


def list_for(session: Session, user: User, ref: str) -> list[schemas.AttachmentPublic]:
    obs = observatory_of(session, user)
    incident = scope.get_incident(session, user, ref, slug=obs.slug)
    rows = session.exec(
        select(Attachment).where(Attachment.incident_id == incident.id).order_by(col(Attachment.id))
    ).all()
    return public(session, list(rows))


def get_file(
    session: Session, state: AppState, user: User, ref: str, attachment_id: int
) -> tuple[Attachment, Path]:
    obs = observatory_of(session, user)
    incident = scope.get_incident(session, user, ref, slug=obs.slug)
    found = session.exec(
        select(Attachment).where(
            Attachment.id == attachment_id, Attachment.incident_id == incident.id
        )
    ).first()
    if found is None:
        raise not_found(Msg("attachment_not_found"))
    path = store(state).blob(found.sha256)
    if not path.exists():
        raise ApiError(503, "file_unavailable", Msg("file_unavailable"))
    return found, path


def gc(state: AppState, grace: timedelta) -> dict[str, int]:
    """Remove expired uploads, parts without an upload, and blobs no attachment refers to."""
    files = store(state)
    now = utcnow()
    removed = {"uploads": 0, "parts": 0, "blobs": 0}
    with state.db.write() as session:
        for upload in session.exec(select(Upload).where(Upload.expires_at <= now)).all():
            files.discard(upload.id)
            session.delete(upload)
            removed["uploads"] += 1
    with state.db.read() as session:
        live_uploads = set(session.exec(select(Upload.id)).all())
        referenced = set(session.exec(select(Attachment.sha256).distinct()).all())
    cutoff = (now - grace).timestamp()
    for part in files.all_parts():
        if part.stem not in live_uploads and part.stat().st_mtime <= cutoff:
            part.unlink(missing_ok=True)
            removed["parts"] += 1
    if files.thumbs.exists():
        for thumb in files.thumbs.glob("*.png"):
            if thumb.stem not in referenced:
                thumb.unlink(missing_ok=True)
    for blob in files.all_blobs():
        # The grace period protects a file just moved into the store whose row is about
        # to commit.
        if blob.name not in referenced and blob.stat().st_mtime <= cutoff:
            blob.unlink(missing_ok=True)
            removed["blobs"] += 1
    return removed
