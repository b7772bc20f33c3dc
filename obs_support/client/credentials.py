"""API tokens in the OS keyring (service `obs-support`), or in a private file without one.

On a headless machine with no usable keyring backend, or one that fails, the token goes to a
file readable only by the user (0600) and the caller is told so in one line — never a
keyring traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

SERVICE = "obs-support"


def _keyring_error(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class TokenStore:
    def __init__(self, directory: Path, notice: Callable[[str], None]) -> None:
        self.directory = directory / "tokens"
        self.notice = notice

    def _file(self, profile: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in profile)
        return self.directory / safe

    def get(self, profile: str) -> str | None:
        try:
            import keyring

            token = keyring.get_password(SERVICE, profile)
        except Exception:  # any backend failure: fall back to the private file
            token = None
        if token:
            return token
        try:
            return self._file(profile).read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def set(self, profile: str, token: str) -> str:
        """Store the token; returns where it went (`keyring` or the file path)."""
        try:
            import keyring

            keyring.set_password(SERVICE, profile, token)
            if keyring.get_password(SERVICE, profile) == token:
                self._file(profile).unlink(missing_ok=True)
                return "keyring"
            reason = "the keyring did not keep the token"
        except Exception as exc:  # no backend, locked, or broken: say so in one line
            reason = _keyring_error(exc)
        path = self._write_private(profile, token)
        self.notice(f"no usable keyring ({reason}); token stored in {path} (readable only by you)")
        return str(path)

    def delete(self, profile: str) -> None:
        try:
            import keyring

            keyring.delete_password(SERVICE, profile)
        except Exception:  # noqa: S110 - nothing stored there, or no backend: nothing to remove
            pass
        self._file(profile).unlink(missing_ok=True)

    def _write_private(self, profile: str, token: str) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        path = self._file(profile)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token)
        os.replace(tmp, path)
        return path
