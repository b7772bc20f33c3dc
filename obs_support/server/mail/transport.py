"""Where delivered mail goes: an SMTP server, or `.eml` files in a folder under the data dir."""

from __future__ import annotations

import os
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

TIMEOUT_SECONDS = 20


class PermanentFailure(Exception):
    """The server refused this message for good (a 5xx answer): retrying will not help."""


class Transport(Protocol):
    def send(self, msg: EmailMessage, sender: str, recipient: str, name: str) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpConfig:
        """`smtp://user:pass@host:587?starttls=1` or `smtps://host:465`."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("the SMTP URL must look like smtp://user:pass@host:587?starttls=1")
        query = parse_qs(parts.query)
        starttls = query.get("starttls", ["0"])[-1].lower() in ("1", "true", "yes", "on")
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 587 if starttls else 25),
            implicit_tls=implicit,
            starttls=starttls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class SmtpTransport:
    """One connection reused for a batch; reopened after any failure."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if c.implicit_tls:
            smtp = smtplib.SMTP_SSL(c.host, c.port, timeout=TIMEOUT_SECONDS, context=context)
        else:
            smtp = smtplib.SMTP(c.host, c.port, timeout=TIMEOUT_SECONDS)
            if c.starttls:
                smtp.starttls(context=context)
        if c.username:
            smtp.login(c.username, c.password or "")
        return smtp

    def send(self, msg: EmailMessage, sender: str, recipient: str, name: str) -> None:
        try:
            reused = self._smtp is not None
            if self._smtp is None:
                self._smtp = self._connect()
            try:
                self._smtp.send_message(msg, from_addr=sender, to_addrs=[recipient])
            except (smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException) as exc:
                idle_drop = isinstance(exc, smtplib.SMTPServerDisconnected) or (
                    isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code == 421
                )
                if not (reused and idle_drop):
                    raise
                # The server closed an idle connection we kept: that is no failure; reconnect.
                self._smtp = self._connect()
                self._smtp.send_message(msg, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentFailure(f"recipient refused: {_first(exc.recipients)}") from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            if 500 <= exc.smtp_code < 600 and exc.smtp_code not in (530, 535):
                raise PermanentFailure(
                    f"refused: {exc.smtp_code} {_text(exc.smtp_error)}"
                ) from None
            raise
        except (OSError, smtplib.SMTPException):
            self.close()
            raise

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None


def _first(recipients: dict[str, tuple[int, bytes]]) -> str:
    for _addr, (code, text) in recipients.items():
        return f"{code} {_text(text)}"
    return "refused"


def _text(raw: bytes | str) -> str:
    value = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return " ".join(value.split())[:200]


class FileTransport:
    """Writes each message as `<folder>/<name>.eml`, atomically: nothing half-written shows."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, msg: EmailMessage, sender: str, recipient: str, name: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"{name}.eml"
        tmp = final.with_suffix(".tmp")
        with tmp.open("wb") as out:
            out.write(msg.as_bytes())
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(final)

    def close(self) -> None:
        pass
