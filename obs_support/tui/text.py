"""Showing text that came from users: always literally, never as markup or terminal control.

Rich `Text` objects are never parsed for `[bold]`-style markup; on top of that, control
characters (ESC, BEL, C1 codes, bidi overrides) are replaced by visible symbols so that a
summary or a file name cannot move the cursor, change colours, ring the bell or reorder
what staff read.
"""

from __future__ import annotations

import unicodedata

from rich.text import Text

_VISIBLE = {"\x1b": "␛", "\x07": "␇", "\x08": "␈", "\r": "␍", "\x7f": "␡"}


def clean(value: str, *, keep_newlines: bool = False) -> str:
    out = []
    for ch in value:
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch == "\t":
            out.append("    ")
        elif ch in _VISIBLE:
            out.append(_VISIBLE[ch])
        elif unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            out.append("\ufffd" if ch != "\n" else " ")
        else:
            out.append(ch)
    return "".join(out)


def literal(value: str | None, style: str = "", *, multiline: bool = False) -> Text:
    """User text as a Text that displays exactly what was typed (made visible if hidden)."""
    return Text(clean(value or "", keep_newlines=multiline), style=style)
