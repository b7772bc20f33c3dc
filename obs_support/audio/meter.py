"""The level meter and elapsed time shown while recording: `recording_view` for rich, and
`level_fraction`/`format_elapsed` for any other view that shows a recording."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

FLOOR_DB = -60.0
BLOCKS = " ▏▎▍▌▋▊▉█"


def level_fraction(db: float) -> float:
    """0.0 (silence, -60 dBFS or less) to 1.0 (full scale)."""
    return min(max((db - FLOOR_DB) / -FLOOR_DB, 0.0), 1.0)


def format_elapsed(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60:02d}:{whole % 60:02d}"


def bar(db: float, width: int = 24) -> str:
    filled = level_fraction(db) * width
    full = int(filled)
    part = BLOCKS[int((filled - full) * (len(BLOCKS) - 1))] if full < width else ""
    return ("█" * full + part).ljust(width)


def recording_view(
    *,
    elapsed: float,
    level_db: float,
    committed: str,
    tentative: str,
    hint: str,
    limit: float | None = None,
) -> RenderableType:
    """`● REC 00:07  ███████▍        -23 dB` and the words heard so far (tentative ones dim)."""
    fraction = level_fraction(level_db)
    colour = "red" if fraction > 0.9 else "yellow" if fraction > 0.7 else "green"
    clock = format_elapsed(elapsed) + (f" / {format_elapsed(limit)}" if limit else "")
    status = Text.assemble(
        Text("● REC ", style="bold red"),
        Text(clock, style="bold"),
        "  ",
        Text(bar(level_db), style=colour),
        Text(f" {level_db:5.0f} dB  ", style="dim"),
        Text(hint, style="dim"),
    )
    words = Text(committed)
    if tentative:
        words.append((" " if committed else "") + tentative, style="dim italic")
    return Group(status, words) if committed or tentative else status
