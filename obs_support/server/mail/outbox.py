"""Writing mail into the outbox (inside the caller's transaction) and building the message.

The subject and bodies are rendered when the row is written, so what is sent is what was
true at the moment of the change, and every attempt carries the same Message-ID, subject and
text. (The sender's display name, reply-to address and logo are the observatory's at sending
time.)
"""

from __future__ import annotations

import uuid
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import urlsplit

from sqlmodel import Session

from obs_support.config import ServerSettings
from obs_support.server import signals
from obs_support.server.mail.letter import Letter, header_text, render
from obs_support.server.models import Observatory, Outbox


def message_id(settings: ServerSettings) -> str:
    domain = urlsplit(settings.public_url).hostname or "localhost"
    return f"<{uuid.uuid4().hex}@{domain}>"


def enqueue(
    session: Session,
    settings: ServerSettings,
    obs: Observatory,
    *,
    to_addr: str,
    to_name: str | None,
    user_id: int | None,
    kind: str,
    letter: Letter,
) -> Outbox:
    assert obs.id is not None
    text, html = render(letter)
    row = Outbox(
        observatory_id=obs.id,
        user_id=user_id,
        to_addr=to_addr,
        to_name=header_text(to_name, 200) if to_name else None,
        kind=kind,
        language=letter.language,
        subject=header_text(letter.subject, 400),
        body_text=text,
        body_html=html,
        message_id=message_id(settings),
    )
    session.add(row)
    signals.mark(session, signals.MAIL)
    return row


def _address(name: str | None, addr: str) -> Address:
    user, _, domain = addr.rpartition("@")
    return Address(display_name=header_text(name or "", 200), username=user, domain=domain)


def build(row: Outbox, obs: Observatory, settings: ServerSettings) -> EmailMessage:
    """The MIME message for an outbox row: text, HTML and the logo shown inline."""
    msg = EmailMessage()
    msg["From"] = _address(obs.name, settings.mail_from)
    msg["To"] = _address(row.to_name, row.to_addr)
    if obs.support_email:
        msg["Reply-To"] = _address(obs.name, obs.support_email)
    msg["Subject"] = header_text(row.subject, 400)
    msg["Message-ID"] = row.message_id
    msg["Date"] = format_datetime(row.created_at)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(row.body_text)
    msg.add_alternative(row.body_html, subtype="html")
    msg["Content-Language"] = row.language  # after set_content, which drops Content-* headers
    if obs.logo and obs.logo_content_type and "cid:logo" in row.body_html:
        html_part = msg.get_body(("html",))
        assert isinstance(html_part, EmailMessage)
        maintype, _, subtype = obs.logo_content_type.partition("/")
        html_part.add_related(obs.logo, maintype=maintype, subtype=subtype, cid="<logo>")
    return msg
