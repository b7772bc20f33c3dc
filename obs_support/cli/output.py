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

    @property
    def real(self) -> Console:
        """The console itself, for APIs that need the object (rich's Live, `with console`)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


_stderr = _LazyConsole(stderr=True, highlight=False, soft_wrap=True)
stderr = cast("Console", _stderr)
stdout = cast("Console", _LazyConsole(highlight=False))


def stderr_console() -> Console:
    return _stderr.real


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `error: message` on stderr, literally (no markup), and exit with `code`."""
    stderr.print(f"error: {message}", markup=False, emoji=False, highlight=False)
    raise typer.Exit(code)
