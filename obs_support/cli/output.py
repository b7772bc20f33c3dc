"""Printing for people: one-line errors on stderr, never a traceback.

The rich consoles are created on first use, so commands that print only JSON never import
rich (it costs a noticeable part of a short command's start-up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn, cast

import typer

if TYPE_CHECKING:
    from rich.console import Console


class _LazyConsole:
    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


stderr = cast("Console", _LazyConsole(stderr=True, highlight=False, soft_wrap=True))
stdout = cast("Console", _LazyConsole(highlight=False))


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `error: message` on stderr, literally (no markup), and exit with `code`."""
    stderr.print(f"error: {message}", markup=False, emoji=False, highlight=False)
    raise typer.Exit(code)
