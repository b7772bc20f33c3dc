"""Files on this machine: choosing ones to attach, previewing an image, the system's viewer."""

from __future__ import annotations

import io
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from obs_support.cli.i18n import Translator
from obs_support.tui.modals import SendCancelModal
from obs_support.tui.text import literal

if TYPE_CHECKING:
    from rich_pixels import Pixels

PICTURE_COLUMNS = 64  # the dialog's inner width
PICTURE_ROWS = 24  # two pixels a row: the half-block renderer stacks them


# --- the system's viewer -----------------------------------------------------------------------


def system_opener() -> str | None:
    """The desktop's "open this file" program: `open` on macOS, `xdg-open` elsewhere."""
    return shutil.which("open" if sys.platform == "darwin" else "xdg-open")


def open_with_system(opener: str, path: Path) -> int:
    """Hand `path` to the opener; its exit code (0 also when it is still running after 10 s).

    No shell, and the path is absolute: a file name can neither run a command nor pass
    itself off as an option.
    """
    process = subprocess.Popen(  # noqa: S603 - a fixed program and one absolute path
        [opener, str(path.resolve())],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C in the app's terminal must not close the viewer
    )
    try:
        return process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        # Some openers stay until the viewer closes: reap them then, off this thread.
        threading.Thread(target=process.wait, daemon=True).start()
        return 0


# --- preview ---------------------------------------------------------------------------------


def picture(png: bytes) -> Pixels:
    """The server's thumbnail as coloured half-blocks, scaled to fit the dialog."""
    from PIL import Image
    from rich_pixels import HalfcellRenderer, Pixels

    with Image.open(io.BytesIO(png)) as image:
        rgba = image.convert("RGBA")
    scale = min(PICTURE_COLUMNS / rgba.width, 2 * PICTURE_ROWS / rgba.height)
    size = (max(1, round(rgba.width * scale)), max(1, round(rgba.height * scale)))
    fitted = rgba.resize(size, Image.Resampling.LANCZOS)
    return Pixels.from_segments(HalfcellRenderer().render(fitted, None))


class PreviewModal(ModalScreen[None]):
    """An image attachment, drawn in the terminal. Esc (or i, q) closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("i", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, name: str, shown: Pixels, hint: str) -> None:
        super().__init__()
        self.name_text = name
        self.shown = shown
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(literal(self.name_text), id="dialog-title")
            yield Static(self.shown, id="picture")
            yield Label(self.hint, classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)


# --- attach ----------------------------------------------------------------------------------


def check_paths(value: str, t: Translator) -> tuple[list[Path], str | None]:
    """The files named in `value`, or the one line that says why they cannot be sent.

    Paths are separated by spaces, shell-style: quote one that contains spaces (terminals
    quote a dragged-in file that way). A whole value that names a file is that one file.
    """
    value = value.strip()
    if value and Path(value).expanduser().is_file():
        words = [value]
    else:
        try:
            words = shlex.split(value)
        except ValueError:
            return [], t("tui_path_quote")
    if not words:
        return [], t("tui_path_none")
    found: list[Path] = []
    for word in words:
        path = Path(word).expanduser()
        if not path.exists():
            return [], t("tui_path_missing", path=word)
        if not path.is_file():
            return [], t("tui_path_not_file", path=word)
        try:
            with path.open("rb") as handle:
                empty = not handle.read(1)
        except OSError as exc:
            return [], t("tui_path_unreadable", path=word, reason=exc.strerror or exc)
        if empty:
            return [], t("tui_path_empty", path=word)
        if path.absolute() not in found:
            found.append(path.absolute())
    return found, None


class AttachModal(SendCancelModal[list[Path]]):
    """Paths of files to attach. Enter checks them all and sends; Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, t: Translator, title: str) -> None:
        super().__init__()
        self.t = t
        self.title = title

    def compose(self) -> ComposeResult:
        t = self.t
        with Vertical(id="dialog"):
            yield Label(literal(self.title), id="dialog-title")
            yield Label(t("tui_attach_hint"), classes="hint")
            yield Input(id="paths", placeholder="~/montura.jpg 'informe final.pdf'")
            yield Label("", id="path-error")
            yield from self.buttons(t("tui_attach_send"), t("tui_cancel"))

    def on_mount(self) -> None:
        self.query_one("#path-error", Label).display = False
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_send()

    def action_send(self) -> None:
        paths, problem = check_paths(self.query_one(Input).value, self.t)
        error = self.query_one("#path-error", Label)
        if problem is not None:
            error.update(literal(problem, "bold red"))
            error.display = True
            self.query_one(Input).focus()
            return
        self.dismiss(paths)
