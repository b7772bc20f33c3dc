"""One error type for everything voice: its message is one line a person can act on."""

from __future__ import annotations

from typing import Literal


class AudioError(Exception):
    """`message` is the English line; `es` the same line in Spanish, written beside it where
    the error is raised. `say` picks the one for the reader."""

    def __init__(self, message: str, *, es: str) -> None:
        super().__init__(message)
        self.message = message
        self.es = es

    def say(self, language: Literal["es", "en"]) -> str:
        return self.es if language == "es" else self.message
