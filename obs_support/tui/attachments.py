"""The incident's files: a list, and keys to download, open, preview and play them.

Every transfer runs in a worker thread; its progress shows under the list and its result is a
notification. File names come from users: shown through `literal()`, cleaned before they
name anything on disk (`client.localfiles`), and handed to the system's opener as one
absolute path argument, never through a shell.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from obs_support import schemas
from obs_support.cli.i18n import Translator
from obs_support.client.errors import ClientError
from obs_support.client.localfiles import downloads_dir, free_path, safe_name, viewer_dir
from obs_support.tui.handoff import deliver
from obs_support.tui.messages import RequestFailed
from obs_support.tui.text import clean, literal
from obs_support.tui.widgets import localize_bindings

if TYPE_CHECKING:
    from obs_support.audio.playback import Player
    from obs_support.client.api import ObsClient
    from obs_support.client.transfer import Progress
    from obs_support.tui.app import ObsSupportApp

KINDS = ("image", "video", "audio", "document", "binary")


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def voice_recordings(events: list[schemas.EventPublic]) -> set[int]:
    """The attachments that are the recording of a spoken comment.

    The CLI and this app both upload a voice comment's recording right after the comment, so
    an audio file whose uploader's last comment was spoken is that comment's recording.
    """
    last_source: dict[int, str | None] = {}
    found: set[int] = set()
    for e in events:
        if e.kind == "comment":
            last_source[e.actor.id] = e.source
        elif (
            e.kind == "attachment_added"
            and e.data
            and e.data.get("kind") == "audio"
            and last_source.get(e.actor.id) == "voice"
        ):
            found.add(int(e.data["attachment_id"]))
    return found


def attachment_ids(events: list[schemas.EventPublic]) -> set[int]:
    return {
        int(e.data["attachment_id"])
        for e in events
        if e.kind == "attachment_added" and e.data and "attachment_id" in e.data
    }


def progress_line(arrow: str, name: str, done: int, total: int) -> Text:
    share = done / total if total else 1.0
    filled = int(share * 20)
    return Text.assemble(
        Text(f"{arrow} ", style="bold"),
        literal(name if len(name) <= 32 else name[:31] + "…"),
        "  ",
        Text("█" * filled + "░" * (20 - filled), style="green"),
        Text(f" {share:4.0%}  {human_size(done)} / {human_size(total)}", style="dim"),
    )


class Transfers(Static):
    """One line per transfer in progress."""

    def __init__(self) -> None:
        super().__init__(id="transfers")
        self.lines: dict[int, Text] = {}

    def set_line(self, key: int, line: Text) -> None:
        self.lines[key] = line
        self._redraw()

    def drop(self, key: int) -> None:
        self.lines.pop(key, None)
        self._redraw()

    def _redraw(self) -> None:
        self.display = bool(self.lines)
        self.update(Text("\n").join(self.lines.values()))


class AttachmentsPanel(Vertical):
    """The files of the open incident. Its keys work while its list has the focus (Tab)."""

    DEFAULT_CSS = """
    AttachmentsPanel {
        height: auto;
        max-height: 14;
        border: round $accent-brand;
        padding: 0 1;
    }
    AttachmentsPanel > DataTable {
        height: auto;
        max-height: 10;
    }
    AttachmentsPanel > #transfers {
        height: auto;
        display: none;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "download", "Download"),
        Binding("o", "open", "Open"),
        Binding("i", "preview", "Preview"),
        Binding("space", "play", "Play"),
        Binding("l", "play", "Play", show=False),
        Binding("escape", "stop", "Stop", show=False),
    ]

    class Changed(Message):
        """A file was attached from here: the incident should be read again."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ref = ""
        self.files: list[schemas.AttachmentPublic] = []
        self.voice: set[int] = set()
        self.player: Player | None = None
        self._keys = itertools.count()

    @property
    def obs(self) -> ObsSupportApp:
        from obs_support.tui.app import ObsSupportApp

        assert isinstance(self.app, ObsSupportApp)
        return self.app

    @property
    def t(self) -> Translator:
        return self.obs.t

    @property
    def client(self) -> ObsClient:
        return self.obs.client

    def compose(self) -> ComposeResult:
        table: DataTable[Text] = DataTable(id="files", cursor_type="row")
        yield table
        yield Transfers()

    def on_mount(self) -> None:
        t = self.t
        labels = {"download": "key_download", "open": "key_open", "preview": "key_preview"}
        localize_bindings(self, t, labels | {"play": "key_play"})
        table = self.query_one(DataTable)
        table.add_column(t("col_name"), key="name")
        for key, label in (("size", "tui_col_size"), ("kind", "tui_col_kind")):
            table.add_column(t(label), key=key)
        table.add_column(t("col_by"), key="by")
        table.add_column(t("col_when"), key="when")
        self.border_title = t("tui_files", n=0)

    def on_unmount(self) -> None:
        if self.player is not None:
            self.player.stop()

    # --- the list --------------------------------------------------------------------------

    def needs_reload(self, events: list[schemas.EventPublic]) -> bool:
        """Whether the history names files the list does not show yet (called from workers)."""
        return attachment_ids(events) != {a.id for a in self.files}

    def show(
        self, ref: str, files: list[schemas.AttachmentPublic], events: list[schemas.EventPublic]
    ) -> None:
        t = self.t
        self.ref = ref
        self.voice = voice_recordings(events)
        table = self.query_one(DataTable)
        current = self.selected()
        self.files = files
        table.clear()
        for a in files:
            is_voice = a.id in self.voice
            kind = t("tui_kind_" + (a.kind if a.kind in KINDS else "binary"))
            table.add_row(
                literal(a.filename, "bold" if is_voice else ""),
                Text(human_size(a.size), justify="right"),
                Text(f"♪ {t('tui_kind_voice')}", style="cyan") if is_voice else Text(kind),
                literal(a.uploader.display_name),
                Text(a.created_at.astimezone().strftime("%Y-%m-%d %H:%M"), style="dim"),
                key=str(a.id),
            )
        if current is not None and any(a.id == current.id for a in files):
            table.move_cursor(row=table.get_row_index(str(current.id)))
        self.border_title = t("tui_files", n=len(files))

    def selected(self) -> schemas.AttachmentPublic | None:
        table = self.query_one(DataTable)
        if not self.files or not 0 <= table.cursor_row < len(self.files):
            return None
        return self.files[table.cursor_row]

    def _chosen(self) -> schemas.AttachmentPublic | None:
        chosen = self.selected()
        if chosen is None:
            self.notify(self.t("tui_no_files"), severity="warning")
        return chosen

    # --- keys --------------------------------------------------------------------------------

    def action_download(self) -> None:
        if (chosen := self._chosen()) is not None:
            self.download(chosen)

    def action_open(self) -> None:
        if (chosen := self._chosen()) is not None:
            self.open_file(chosen)

    def action_preview(self) -> None:
        chosen = self._chosen()
        if chosen is None:
            return
        if chosen.kind != "image":
            self.obs.say(self.t("tui_no_preview", name=clean(chosen.filename)), severity="warning")
            return
        self.preview(chosen)

    def action_play(self) -> None:
        if self.player is not None:  # a second press stops it
            self.action_stop()
            return
        chosen = self._chosen()
        if chosen is None:
            return
        if chosen.kind != "audio":
            self.obs.say(self.t("tui_not_audio", name=clean(chosen.filename)), severity="warning")
            return
        self.play(chosen)

    def action_stop(self) -> None:
        if self.player is None:
            raise SkipAction  # Esc then goes back, as everywhere else on the screen
        self.player.stop()
        self.obs.say(self.t("tui_stopped"))

    # --- workers -----------------------------------------------------------------------------

    def _ui(self, callback: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        deliver(self, callback, *args, **kwargs)

    def _say(self, message: str, **options: Any) -> None:
        # Told even when the incident screen has closed meanwhile ("downloaded to …").
        deliver(self.app, self.obs.say, message, **options)

    def _failed(self, exc: Exception) -> None:
        message = exc.message if isinstance(exc, ClientError) else str(exc)
        self.post_message(RequestFailed(message))

    @contextmanager
    def _progress(self, arrow: str, name: str) -> Iterator[Progress]:
        """A progress line under the list for as long as the transfer runs."""
        key = next(self._keys)
        transfers = self.query_one(Transfers)
        last = 0.0

        def update(done: int, total: int) -> None:
            nonlocal last
            now = time.monotonic()
            if done < total and now - last < 0.1:  # ten redraws a second are plenty
                return
            last = now
            self._ui(transfers.set_line, key, progress_line(arrow, name, done, total))

        try:
            yield update
        finally:
            self._ui(transfers.drop, key)

    def _local_copy(self, a: schemas.AttachmentPublic) -> Path:
        """A copy to open or play, fetched into the cache once (and verified on the way)."""
        from obs_support.client.transfer import download

        folder = viewer_dir().resolve() / f"{a.id}-{a.sha256[:16]}"
        path = folder / safe_name(a.filename, a.id)
        if path.is_file() and path.stat().st_size == a.size:
            return path
        folder.mkdir(parents=True, exist_ok=True)
        with self._progress("↓", a.filename) as progress:
            return download(self.client, self.ref, a, path, progress=progress)

    @work(thread=True, group="files")
    def download(self, a: schemas.AttachmentPublic) -> None:
        from obs_support.client.transfer import download

        t = self.t
        self._say(t("tui_downloading", name=clean(a.filename)))
        try:
            folder = downloads_dir()
            folder.mkdir(parents=True, exist_ok=True)
            dest = free_path(folder, safe_name(a.filename, a.id), a.id)
            with self._progress("↓", a.filename) as progress:
                download(self.client, self.ref, a, dest, progress=progress)
        except (ClientError, OSError) as exc:
            self._failed(exc)
            return
        self._say(t("tui_saved_to", name=clean(a.filename), path=clean(str(dest))))

    @work(thread=True, group="files")
    def open_file(self, a: schemas.AttachmentPublic) -> None:
        from obs_support.tui.media import open_with_system, system_opener

        t = self.t
        opener = system_opener()
        if opener is None:
            self._say(t("tui_no_opener"), severity="warning")
            return
        try:
            path = self._local_copy(a)
            code = open_with_system(opener, path)
        except (ClientError, OSError) as exc:
            self._failed(exc)
            return
        name, program = clean(a.filename), Path(opener).name
        if code:
            failed = t("tui_opener_failed", program=program, name=name, code=code)
            self._say(failed, severity="error")
        else:
            self._say(t("tui_opened", name=name, program=program))

    @work(thread=True, exclusive=True, group="preview")
    def preview(self, a: schemas.AttachmentPublic) -> None:
        from obs_support.tui.media import PreviewModal, picture

        try:
            shown = picture(self.client.thumbnail(self.ref, a.id))
        except (ClientError, OSError, ValueError) as exc:
            self._failed(exc)
            return
        self._ui(self.app.push_screen, PreviewModal(a.filename, shown, self.t("tui_preview_close")))

    @work(thread=True, exclusive=True, group="play")
    def play(self, a: schemas.AttachmentPublic) -> None:
        from obs_support.audio.errors import AudioError
        from obs_support.audio.playback import Player

        t = self.t
        try:
            player = self.player = Player(self._local_copy(a))
            player.start()
        except (ClientError, OSError) as exc:
            self.player = None
            self._failed(exc)
            return
        except AudioError as exc:
            self.player = None
            self._say(exc.say(self.t.language), severity="error")
            return
        seconds = f"{player.seconds:.0f}"
        self._say(t("tui_playing", name=clean(a.filename), seconds=seconds))
        player.wait()
        player.stop()
        self.player = None

    def send_file(self, ref: str, path: Path) -> bool:
        """Upload one file (in the calling worker thread), with progress and a confirmation."""
        from obs_support.client.transfer import upload

        try:
            with self._progress("↑", path.name) as progress:
                attached = upload(self.client, ref, path, progress=progress)
        except (ClientError, OSError) as exc:
            self._failed(exc)
            return False
        self._say(self.t("attached", name=clean(attached.filename), ref=ref))
        self.post_message(self.Changed())
        return True

    @work(thread=True, group="files")
    def upload(self, ref: str, paths: list[Path]) -> None:
        for path in paths:
            if not self.send_file(ref, path):
                return  # one line for the first failure, not one per file after it
