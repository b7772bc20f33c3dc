"""One error type for everything voice: its message is one line a person can act on."""

from __future__ import annotations


class AudioError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
