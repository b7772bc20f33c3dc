"""Creating an observatory and its first administrator (`server init`, the demo)."""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from obs_support import domain, schemas
from obs_support.server import secrets
from obs_support.server.models import Observatory, User
from obs_support.server.services.auth import issue_token

SLUG_RE = re.compile(r"^[A-Z][A-Z0-9]{1,19}$")


class SetupError(Exception):
    """A one-line reason `server init` cannot proceed."""


def slug_from_name(name: str) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", domain._fold(name).upper()) if w]
    meaningful = [
        w
        for w in words
        if w not in {"OBSERVATORIO", "OBSERVATORY", "DEL", "DE", "LA", "EL", "THE", "OF"}
    ]
    slug = (meaningful or words or ["OBS"])[-1][:20]
    return slug if slug[0].isalpha() else f"O{slug}"[:20]


def create_observatory(
    session: Session,
    *,
    name: str,
    slug: str | None,
    admin_email: str,
    admin_name: str = "Administrator",
    admin_password: str | None = None,
    language: str = "es",
) -> tuple[Observatory, User, schemas.TokenIssued]:
    slug = (slug or slug_from_name(name)).upper()
    if not SLUG_RE.match(slug):
        raise SetupError(f"slug {slug!r} must be 2-20 letters or digits, starting with a letter")
    if session.exec(select(Observatory).where(Observatory.slug == slug)).first() is not None:
        raise SetupError(f"an observatory with slug {slug} already exists")
    try:
        email = schemas.InvitationCreate(email=admin_email, role="admin").email
    except ValueError:
        raise SetupError(f"{admin_email!r} is not an e-mail address") from None
    obs = Observatory(slug=slug, name=name, default_language=language)
    session.add(obs)
    session.flush()
    assert obs.id is not None
    admin = User(
        observatory_id=obs.id,
        email=email,
        display_name=admin_name,
        role=domain.Role.ADMIN.value,
        language=language,
        password_hash=secrets.hash_password(admin_password) if admin_password else None,
    )
    session.add(admin)
    session.flush()
    return obs, admin, issue_token(session, admin, "server-init")


def list_observatories(session: Session) -> list[tuple[str, str]]:
    """(slug, name) of every observatory on this server, by slug."""
    rows = session.exec(select(Observatory).order_by(col(Observatory.slug))).all()
    return [(o.slug, o.name) for o in rows]
