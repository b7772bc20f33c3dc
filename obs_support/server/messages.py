"""Every refusal the API writes for people, in both languages, and the language to write it in.

`MESSAGES` maps a short id to a `str.format` pattern per language; `Msg(id, **params)` is
one message waiting for its language. Parameters that are domain values with a label
(status, type, priority, role…) are shown by their label in that language; `{status.value}`
shows the API name instead. A parameter may itself be a `Msg`, said in the same language.

Machine codes (`code`, `field`) are never translated: scripts match on those.
"""

from __future__ import annotations

import enum
import string
from typing import Any

from obs_support.domain import (
    LABELS,
    LANGUAGES,
    InvalidValue,
    Language,
    TransitionRefused,
    label,
)
from obs_support.server.catalog import MESSAGES

# The catalogue itself is data, kept apart: catalog.py.
__all__ = ["MESSAGES", "Msg", "language_of", "preferred", "refusal", "say"]


class _Formatter(string.Formatter):
    """`str.format` that says labelled domain values and nested messages in one language."""

    def __init__(self, language: Language) -> None:
        self.language = language

    def format_field(self, value: Any, format_spec: str) -> Any:
        if isinstance(value, Msg):
            value = value.render(self.language)
        elif isinstance(value, enum.Enum) and value in LABELS:
            value = label(value, self.language)
        return super().format_field(value, format_spec)


_FORMATTERS: dict[Language, _Formatter] = {lang: _Formatter(lang) for lang in LANGUAGES}


class Msg:
    """One message of the catalogue and its parameters, said in a language on demand."""

    __slots__ = ("key", "params")

    def __init__(self, key: str, /, **params: object) -> None:
        if key not in MESSAGES:
            raise KeyError(f"no message {key!r} in the catalogue")
        self.key = key
        self.params = params

    def render(self, language: Language) -> str:
        return _FORMATTERS[language].format(MESSAGES[self.key][language], **self.params)

    def __str__(self) -> str:
        return self.render("en")

    def __repr__(self) -> str:
        return f"Msg({self.key!r}, **{self.params!r})"


def refusal(reason: ValueError | TransitionRefused) -> Msg | str:
    """What a rule of ours said when it refused a value or a status change."""
    if isinstance(reason, InvalidValue | TransitionRefused):
        return Msg(reason.key, **reason.params)
    return str(reason)


def say(text: str | Msg, language: Language) -> str:
    return text.render(language) if isinstance(text, Msg) else text


def preferred(accept_language: str | None) -> Language | None:
    """The best of our languages in an Accept-Language header, by q-value; None if neither.

    Any region counts for its language (`es-ES`, `es-419`); ties go to the first listed.
    """
    best: Language | None = None
    best_q = 0.0
    for item in (accept_language or "").split(","):
        tag, *options = item.split(";")
        primary = tag.strip().lower().replace("_", "-").partition("-")[0]
        if primary not in LANGUAGES:
            continue
        q = 1.0
        for option in options:
            name, _, value = option.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if 0 < q <= 1 and q > best_q:
            best, best_q = ("es" if primary == "es" else "en"), q
    return best


def language_of(accept_language: str | None) -> Language:
    """The language of an API answer: the caller's choice of ours, else English."""
    return preferred(accept_language) or "en"
