"""Printing for people: one-line errors on stderr, never a traceback."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
stdout = Console(highlight=False)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `error: message` on stderr and exit with `code`."""
    stderr.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True, emoji=False)
    raise typer.Exit(code)
