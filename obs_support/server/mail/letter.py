"""One e-mail's content, rendered as plain text and as HTML from the same parts."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jinja2

from obs_support.domain import Language

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True)
class Letter:
    subject: str
    language: Language
    observatory: str
    accent: str
    greeting: str
    paragraphs: list[str] = field(default_factory=list)
    quote: str | None = None  # user text shown as written (a comment, a first message)
    action: tuple[str, str] | None = None  # (label, link)
    notes: list[str] = field(default_factory=list)
    footer: str = ""
    has_logo: bool = False


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(letter: Letter) -> tuple[str, str]:
    """The letter as (plain text, HTML)."""
    env = environment()
    values = {"l": letter}
    return (
        env.get_template("mail/letter.txt").render(values),
        env.get_template("mail/letter.html").render(values),
    )


def header_text(value: str, limit: int = 200) -> str:
    """A header-safe one-line version of user text: no CR/LF or other control characters.

    Names and summaries come from users; a line break in a header value would start a new
    header (e-mail header injection). Control and separator characters become spaces.
    """
    cleaned = "".join(
        " " if unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp") else c
        for c in value
    )
    one_line = " ".join(cleaned.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1].rstrip() + "…"
