"""`incident attach` and `incident download`, with a progress bar on terminals."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from obs_support.cli.context import State, die, print_json, say, state
from obs_support.cli.output import stderr_console
from obs_support.client.errors import NotFound
from obs_support.client.localfiles import safe_name, unique_name

if TYPE_CHECKING:
    from obs_support import schemas
    from obs_support.client.transfer import Progress

JsonOpt = typer.Option(False, "--json", help="Print the result as JSON (as the API returns it).")


def check_files(files: list[Path]) -> list[Path]:
    """Refuse unreadable paths before anything is sent (nothing is half-written)."""
    for f in files:
        if not f.is_file():
            die(f"{f}: no such file", code=2)
        try:
            with f.open("rb"):
                pass
        except OSError as exc:
            die(f"{f}: {exc.strerror}", code=2)
    return files


@contextmanager
def progress_bar(enabled: bool, label: str) -> Iterator[Progress | None]:
    """A rich bar (bytes, speed, ETA) on a terminal; nothing in pipes or --json mode."""
    if not (enabled and sys.stderr.isatty()):
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def send_files(
    st: State, ref: str, files: list[Path], quiet: bool
) -> list[schemas.AttachmentPublic]:
    from obs_support.client.transfer import upload

    client = st.client()
    done: list[schemas.AttachmentPublic] = []
    for f in files:
        with progress_bar(not quiet, f.name) as bar:
            attached = upload(client, ref, f, progress=bar)
        done.append(attached)
        if not quiet:
            say(st.t("attached", name=attached.filename, ref=ref.upper()))
    return done


def attach(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="TEIDE-42 or 42."),
    files: list[Path] = typer.Argument(..., help="One or more files."),
    as_json: bool = JsonOpt,
) -> None:
    """Attach files to an incident (a cut upload resumes when you run it again).

    Example: obs-support incident attach TEIDE-42 montura.jpg registro.pdf
    """
    st = state(ctx)
    done = send_files(st, ref, check_files(files), quiet=as_json)
    if as_json:
        print_json(done)


def download(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="TEIDE-42 or 42."),
    attachment: str | None = typer.Argument(None, help="Its id or file name (default: all)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File or folder to write."),
    as_json: bool = JsonOpt,
) -> None:
    """Download an incident's attachments (a cut download resumes when run again).

    Example: obs-support incident download TEIDE-42 montura.jpg -o ~/Descargas/
    """
    from obs_support.client.transfer import download as fetch

    st = state(ctx)
    client = st.client()
    files = client.attachments(ref)
    if attachment is not None:
        files = [a for a in files if attachment in (str(a.id), a.filename)]
        if not files:
            raise NotFound(f"no attachment {attachment!r} on {ref}", code="not_found")
    if output is not None and len(files) > 1 and not output.is_dir():
        die("-o must be a folder when downloading several files", code=2)
    written = []
    used: set[str] = set()
    for a in files:
        dest = (
            output
            if output is not None and not output.is_dir()
            else (output or Path.cwd()) / unique_name(safe_name(a.filename, a.id), a.id, used)
        )
        with progress_bar(not as_json, a.filename) as bar:
            written.append(fetch(client, ref, a, dest, progress=bar))
        if not as_json:
            say(str(dest))
    if as_json:
        print_json(
            [
                {"attachment": a.model_dump(mode="json"), "path": str(p)}
                for a, p in zip(files, written, strict=True)
            ]
        )
