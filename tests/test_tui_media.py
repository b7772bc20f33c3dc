"""The incident screen's files and voice in the terminal app: the panel, its keys, `v` and `f`.

Driven with Pilot against a real server (tests/tui_support.py). The system's viewer is a real
program on PATH that writes down what it was asked to open; playback goes through PortAudio
into the private PulseAudio's null sink, whose monitor is listened to; the voice reply
records from the virtual microphone and transcribes with the offline model
(tests/voice_support.py). Downloads, the viewer's copies and unfinished uploads all land in
the test's own folders.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
import os
import re
import struct
import subprocess
import sys
import textwrap
import threading
import wave
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich_pixels import Pixels
from textual.widgets import DataTable, Input, Label, Static, TextArea

from obs_support.cli.i18n import Translator
from obs_support.client.api import ObsClient
from obs_support.server.models import Attachment
from obs_support.tui.app import ObsSupportApp
from obs_support.tui.attachments import AttachmentsPanel
from obs_support.tui.incident import IncidentScreen
from obs_support.tui.media import AttachModal, PreviewModal
from obs_support.tui.queue import QueueScreen
from tests.support import Api, LiveServer, Tenant, User, png_bytes
from tests.tui_support import SIZE, Run, drive, fetch, file, plain, screen_text, until
from tests.voice_support import SINK, SPANISH_WORDS, Speech, VirtualMic, missing_words

PAREC = ["parec", "--raw", "--format=s16le", "--rate=16000", "--channels=1", "--latency-msec=50"]
OCTETS = {"Content-Type": "application/offset+octet-stream"}
HOSTILE = "[b]x[/b]\x1b[31m.png"
MARKUP = "[bold]montura[red].png"
Json = dict[str, Any]


@pytest.fixture(autouse=True)
def downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's download folder (named in user-dirs.dirs, as on a desktop) and the cache."""
    monkeypatch.setenv("OBS_SUPPORT_CACHE_DIR", str(tmp_path / "cache"))
    config = Path(os.environ["XDG_CONFIG_HOME"])
    config.mkdir(parents=True, exist_ok=True)
    folder = tmp_path / "Downloads"
    (config / "user-dirs.dirs").write_text(f'XDG_DOWNLOAD_DIR="{folder}"\n', encoding="utf-8")
    return folder


# --- helpers -------------------------------------------------------------------------------


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def attach(api: Api, who: User, ref: str, name: str, data: bytes) -> Json:
    """A file attached through the API, as another program would."""
    me = api.as_(who)
    body = {"filename": name, "size": len(data), "sha256": sha(data)}
    upload_id = me.ok("POST", f"/incidents/{ref}/uploads", json=body, expect=201)["id"]
    done = me.patch(f"/uploads/{upload_id}", content=data, headers={**OCTETS, "Upload-Offset": "0"})
    assert done.status_code == 201, done.text
    attached: Json = done.json()
    return attached


def listed(api: Api, who: User, ref: str) -> list[Json]:
    found: list[Json] = api.as_(who).ok("GET", f"/incidents/{ref}/attachments")
    return found


def two_colour_png() -> bytes:
    """64×32: the left half pure red, the right half pure blue."""
    from PIL import Image

    image = Image.new("RGB", (64, 32), (255, 0, 0))
    image.paste((0, 0, 255), (32, 0, 64, 32))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def tone_wav(seconds: float = 0.5, rate: int = 16_000) -> bytes:
    """A real WAV file: an A (440 Hz) at half volume."""
    frames = b"".join(
        struct.pack("<h", int(16_000 * math.sin(2 * math.pi * 440 * i / rate)))
        for i in range(int(seconds * rate))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return out.getvalue()


def panel(run: Run) -> AttachmentsPanel:
    return run.incident.query_one(AttachmentsPanel)


def table(run: Run) -> DataTable[Any]:
    return panel(run).query_one(DataTable)


def names(run: Run) -> list[str]:
    return [a.filename for a in panel(run).files]


def cells(run: Run, attachment_id: int) -> dict[str, str]:
    return {
        column: table(run).get_cell(str(attachment_id), column).plain
        for column in ("name", "size", "kind", "by", "when")
    }


async def focus_files(run: Run) -> None:
    """Tab until the file list has the focus, as a person would."""
    for _ in range(4):
        if run.focus_id() == "files":
            return
        await run.press("tab")
    assert run.focus_id() == "files", f"Tab never reached the file list ({run.focus_id()})"


async def select(run: Run, name: str) -> None:
    """With the arrow keys, put the list's cursor on the file called `name`."""
    target = names(run).index(name)
    while table(run).cursor_row != target:
        await run.press("down" if table(run).cursor_row < target else "up")


async def open_with_files(run: Run, ref: str, count: int) -> None:
    await run.open(ref)
    await run.until(lambda: len(panel(run).files) == count, f"{count} files are listed")


def shown_keys(app: ObsSupportApp) -> set[str]:
    return {b.binding.description for b in app.screen.active_bindings.values() if b.binding.show}


# --- the list ------------------------------------------------------------------------------


def test_the_panel_lists_files_literally_with_size_kind_uploader_and_voice(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    api, tenant = lite_api, lite_tenant
    ref = file(api, tenant, "Photos and a voice note")
    hostile = attach(api, tenant.client, ref, MARKUP, png_bytes(40, 20))
    assert hostile["filename"] == MARKUP
    api.as_(tenant.client).ok(
        "POST", f"/incidents/{ref}/comments", json={"body": "Escuchad", "source": "voice"}
    )
    voice = attach(api, tenant.client, ref, "voice-20250101-120000.ogg", b"OggS" + bytes(500))
    report = attach(api, tenant.staff, ref, "report.txt", b"line\n" * 615)
    # The server keeps only the last path component of a name and drops control characters,
    # so this one can only have reached the database some other way (older data, an import).
    with lite.db.write() as session:
        row = session.get(Attachment, report["id"])
        assert row is not None
        row.filename = HOSTILE

    async def scenario(run: Run) -> None:
        await open_with_files(run, ref, 3)
        first = cells(run, hostile["id"])
        assert first["name"] == MARKUP
        name_cell = table(run).get_cell(str(hostile["id"]), "name")
        assert not name_cell.spans and not name_cell.style, "no markup was applied"
        assert first["kind"] == "image" and first["by"] == "Client A"
        assert first["size"] == f"{hostile['size']} B"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", first["when"])
        assert cells(run, voice["id"])["kind"] == "♪ voice note"
        third = cells(run, report["id"])
        assert third["name"] == "[b]x[/b]␛[31m.png"  # ESC made visible, nothing else changed
        assert (third["size"], third["kind"], third["by"]) == (
            "3.0 KiB",
            "document",
            "Staff Member",
        )
        assert panel(run).border_title == "Files (3)"

        await run.until(
            lambda: MARKUP in screen_text(run.app) and "[b]x[/b]␛[31m.png" in screen_text(run.app),
            "the names show as typed",
        )
        assert "\x1b" not in run.app.export_screenshot()

        await focus_files(run)
        assert {"Download", "Open", "Preview", "Play", "Voice", "Attach"} <= shown_keys(run.app)
        await run.press("shift+tab")
        await run.until(lambda: run.focus_id() == "timeline", "Shift-Tab goes back")
        await focus_files(run)
        await run.press("escape")  # nothing is playing: Esc goes back, as anywhere else
        await run.until(lambda: isinstance(run.app.screen, QueueScreen), "back to the queue")

    drive(lite, api, tenant, tenant.staff, scenario)


def test_the_panels_keys_are_in_the_users_language(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    ref = file(lite_api, lite_tenant, "Una foto")
    attach(lite_api, lite_tenant.client, ref, "foto.png", png_bytes())

    async def main() -> None:
        app = ObsSupportApp(ObsClient(lite.url, lite_tenant.staff.token), Translator("es"))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, QueueScreen), "the queue opens")
            await until(pilot, lambda: app.screen.query_one(DataTable).row_count > 0, "rows")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, IncidentScreen), "the incident")
            files = app.screen.query_one(AttachmentsPanel)
            await until(pilot, lambda: len(files.files) == 1, "the file is listed")
            assert files.border_title == "Archivos (1)"
            assert {"Voz", "Adjuntar"} <= shown_keys(app)
            files.query_one(DataTable).focus()
            await until(pilot, lambda: "Descargar" in shown_keys(app), "the list's keys")
            assert {"Abrir", "Vista previa", "Escuchar"} <= shown_keys(app)
            app.exit()

    asyncio.run(main())


def test_a_client_sees_only_their_own_incidents_files(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    api, tenant = lite_api, lite_tenant
    own = tenant.incident(api, summary="Ours, with a photo")["ref"]
    also_own = tenant.incident(api, summary="Ours, with a log")["ref"]
    theirs = tenant.incident(api, who=tenant.client_b, summary="Account B's")["ref"]
    attach(api, tenant.client, own, "ours.png", png_bytes(note="ours"))
    attach(api, tenant.client, also_own, "other-incident.log", b"not on this one\n")
    attach(api, tenant.client_b, theirs, "theirs.png", png_bytes(note="theirs"))
    attach(api, tenant.staff, own, "from-staff.txt", b"staff wrote this\n")

    async def scenario(run: Run) -> None:
        await run.queue_shows({own, also_own}, "account A's incidents")
        await open_with_files(run, own, 2)
        assert sorted(names(run)) == ["from-staff.txt", "ours.png"]
        shown = screen_text(run.app)
        assert "theirs.png" not in shown and "other-incident.log" not in shown
        await run.press("escape")
        await run.until(lambda: isinstance(run.app.screen, QueueScreen), "back to the queue")
        await open_with_files(run, also_own, 1)
        assert names(run) == ["other-incident.log"]

    drive(lite, api, tenant, tenant.client, scenario)


# --- download and open ---------------------------------------------------------------------


def test_download_saves_the_exact_bytes_under_a_clean_unique_name(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant, downloads: Path, tmp_path: Path
) -> None:
    api, tenant = lite_api, lite_tenant
    ref = file(api, tenant, "Logs of the night")
    data = os.urandom(600_000)
    log = attach(api, tenant.client, ref, "registro montura.bin", data)
    sneaky = attach(api, tenant.client, ref, "evil.bin", b"\x00harmless bytes")
    with lite.db.write() as session:  # a name written as a path (older data, an import)
        row = session.get(Attachment, sneaky["id"])
        assert row is not None
        row.filename = "../../evil.bin"

    async def scenario(run: Run) -> None:
        await open_with_files(run, ref, 2)
        await focus_files(run)
        await select(run, "registro montura.bin")
        await run.press("d")
        await run.until(lambda: run.noted("information", "saved to"), "the download ends")
        first = downloads / "registro montura.bin"
        assert run.noted("information", "Downloading registro montura.bin")
        assert run.noted("information", f"registro montura.bin saved to {first}")
        assert sha(first.read_bytes()) == sha(data)

        await run.press("d")  # again: a second copy beside the first, never over it
        second = downloads / f"registro montura ({log['id']}).bin"
        await run.until(lambda: run.noted("information", str(second)), "the second copy")
        assert sha(second.read_bytes()) == sha(first.read_bytes()) == sha(data)

        await select(run, "../../evil.bin")
        await run.press("d")
        saved = downloads / "evil.bin"
        await run.until(lambda: run.noted("information", str(saved)), "the third download")
        assert saved.read_bytes() == b"\x00harmless bytes"
        assert sorted(p.name for p in downloads.iterdir()) == sorted(
            [first.name, second.name, saved.name]
        )
        assert not (tmp_path / "evil.bin").exists() and not (tmp_path.parent / "evil.bin").exists()
        assert not run.noted("error"), run.notes

    drive(lite, api, tenant, tenant.staff, scenario)


def test_open_hands_a_cached_copy_to_the_system_viewer(
    lite: LiveServer,
    lite_api: Api,
    lite_tenant: Tenant,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api, tenant = lite_api, lite_tenant
    ref = file(api, tenant, "A report to read")
    data = b"%PDF-1.4\n" + os.urandom(5000)
    report = attach(api, tenant.client, ref, "--help.pdf", data)  # a name like an option
    programs = tmp_path / "bin"
    programs.mkdir()
    opened = tmp_path / "opened.txt"
    viewer = programs / "xdg-open"
    viewer.write_text(f'#!/bin/sh\nprintf "%s\\n" "$#" "$@" > "{opened}"\n')
    viewer.chmod(0o755)
    monkeypatch.setenv("PATH", f"{programs}{os.pathsep}{os.environ['PATH']}")

    async def scenario(run: Run) -> None:
        await open_with_files(run, ref, 1)
        await focus_files(run)
        await run.press("o")
        await run.until(lambda: run.noted("information", "with xdg-open"), "the viewer runs")
        count, argument = opened.read_text().splitlines()
        assert count == "1", "one argument, and no shell to split it"
        path = Path(argument)
        assert path.is_absolute() and path.name == "--help.pdf"
        assert path.is_relative_to(tmp_path / "cache")
        assert sha(path.read_bytes()) == report["sha256"] == sha(data)
        assert run.noted("information", "Opened --help.pdf with xdg-open.")

        empty = tmp_path / "nothing-here"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))  # a machine without xdg-utils
        await run.press("o")
        await run.until(lambda: run.noted("warning", "No program to open files"), "told so")
        assert not run.noted("error"), run.notes

    drive(lite, api, tenant, tenant.staff, scenario)


# --- preview -------------------------------------------------------------------------------


def test_preview_draws_the_servers_thumbnail_in_the_terminal(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant
) -> None:
    api, tenant = lite_api, lite_tenant
    ref = file(api, tenant, "Half red, half blue")
    attach(api, tenant.client, ref, "flag.png", two_colour_png())
    attach(api, tenant.client, ref, "notes.txt", b"not a picture\n")

    async def scenario(run: Run) -> None:
        await open_with_files(run, ref, 2)
        await focus_files(run)
        await select(run, "flag.png")
        await run.press("i")
        await run.until(lambda: isinstance(run.app.screen, PreviewModal), "the preview opens")
        modal = run.app.screen
        assert str(modal.query_one("#dialog-title", Label).render()) == "flag.png"
        console = Console(width=80, color_system="truecolor", file=io.StringIO())
        colours = set()
        drawn = modal.query_one("#picture", Static).content
        assert isinstance(drawn, Pixels)
        for segment in console.render(drawn):
            if segment.style is not None:
                for colour in (segment.style.color, segment.style.bgcolor):
                    if colour is not None and colour.triplet is not None:
                        colours.add(tuple(colour.triplet))
        assert (255, 0, 0) in colours and (0, 0, 255) in colours, colours
        await run.press("escape")
        await run.until(lambda: isinstance(run.app.screen, IncidentScreen), "it closes")

        await select(run, "notes.txt")
        await run.press("i")
        await run.until(lambda: run.noted("warning", "notes.txt is not an image"), "refused")
        assert isinstance(run.app.screen, IncidentScreen)

    drive(lite, api, tenant, tenant.staff, scenario)


# --- attach with f ---------------------------------------------------------------------------


async def attach_dialog(run: Run, value: str) -> AttachModal:
    if not isinstance(run.app.screen, AttachModal):
        await run.press("f")
        await run.until(lambda: isinstance(run.app.screen, AttachModal), "the dialog opens")
    modal = run.app.screen
    assert isinstance(modal, AttachModal)
    await run.until(lambda: isinstance(run.app.focused, Input), "the path box has focus")
    modal.query_one(Input).value = value
    await run.press("enter")
    return modal


def test_f_uploads_files_that_then_appear_in_the_panel(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant, tmp_path: Path
) -> None:
    api, tenant = lite_api, lite_tenant
    ref = file(api, tenant, "Send us the photos")
    photo = tmp_path / "montura.png"
    photo.write_bytes(png_bytes(48, 48, note="mount"))
    spaced = tmp_path / "informe final.txt"
    spaced.write_bytes(b"All axes checked.\n" * 2000)

    async def scenario(run: Run) -> None:
        await run.open(ref)
        await attach_dialog(run, f"{photo} '{spaced}'")
        await run.until(lambda: isinstance(run.app.screen, IncidentScreen), "the dialog closes")
        await run.until(
            lambda: sorted(names(run)) == ["informe final.txt", "montura.png"],
            "both files appear in the panel",
        )
        for name in ("montura.png", "informe final.txt"):
            assert run.noted("information", f"{name} attached to {ref}.")
        stored = {a["filename"]: a["sha256"] for a in listed(api, tenant.client, ref)}
        assert stored == {
            "montura.png": sha(photo.read_bytes()),
            "informe final.txt": sha(spaced.read_bytes()),
        }
        assert not run.noted("error"), run.notes

    drive(lite, api, tenant, tenant.staff, scenario)


def test_bad_paths_are_refused_with_one_line_and_nothing_is_uploaded(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant, tmp_path: Path
) -> None:
    api, tenant = lite_api, lite_tenant
    ref = file(api, tenant, "Nothing should arrive")
    good = tmp_path / "good.txt"
    good.write_text("fine\n")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    cases = {
        "/nonexistent/x.png": "/nonexistent/x.png: no such file.",
        str(tmp_path): f"{tmp_path}: not a file.",
        str(empty): f"{empty}: the file is empty.",
        f"{good} /nonexistent/y.pdf": "/nonexistent/y.pdf: no such file.",
        f"'{good}": "A quotation mark is not closed.",
        "   ": "Type at least one path.",
    }

    async def scenario(run: Run) -> None:
        await run.open(ref)
        for value, line in cases.items():
            modal = await attach_dialog(run, value)
            error = modal.query_one("#path-error", Label)
            await run.until(lambda e=error: e.display, f"{value!r} is refused")  # type: ignore[misc]
            shown = str(error.render())
            assert shown == line and "\n" not in shown
            assert isinstance(run.app.screen, AttachModal), "the dialog stays, to correct it"
        await run.press("escape")
        await run.until(lambda: isinstance(run.app.screen, IncidentScreen), "Esc cancels")
        await run.pilot.pause(0.3)
        assert listed(api, tenant.staff, ref) == []
        assert not run.noted("information", "attached")

    drive(lite, api, tenant, tenant.staff, scenario)


# --- sound ---------------------------------------------------------------------------------


def loudest_db(raw: bytes, window: int = 1600) -> float:
    """The loudest 100 ms of 16 kHz 16-bit mono audio, in dBFS (-90 for silence)."""
    samples = struct.unpack(f"<{len(raw) // 2}h", raw[: len(raw) // 2 * 2])
    loudest = 0.0
    for start in range(0, len(samples), window):
        chunk = samples[start : start + window]
        loudest = max(loudest, math.sqrt(sum(x * x for x in chunk) / len(chunk)) / 32768)
    return 20 * math.log10(loudest) if loudest > 0 else -90.0


class Monitor:
    """`parec` on the null sink's monitor: what anything played to the default output sounds
    like, collected by a thread as it arrives."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [*PAREC, "-d", f"{SINK}.monitor"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.heard = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        while chunk := os.read(self.process.stdout.fileno(), 4096):
            self.heard.extend(chunk)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self._reader.join(timeout=10)


def test_space_plays_a_recording_into_the_default_output_and_stops_it(
    lite: LiveServer,
    lite_api: Api,
    lite_tenant: Tenant,
    voice_env: VirtualMic,
    speech: Speech,
) -> None:
    """The default output is the private PulseAudio's null sink: its monitor hears the file."""
    api, tenant = lite_api, lite_tenant
    ref = file(api, tenant, "Listen to the dome")
    attach(api, tenant.client, ref, "dome.wav", speech.english.read_bytes())

    def sink_inputs() -> int:
        listed = voice_env.pactl("list", "short", "sink-inputs")
        return len([line for line in listed.stdout.splitlines() if line.strip()])

    async def scenario(run: Run) -> None:
        await open_with_files(run, ref, 1)
        await focus_files(run)
        monitor = Monitor()
        try:
            await run.until(lambda: voice_env.recording_streams() == 1, "the monitor listens", 20)
            quiet = len(monitor.heard)
            await run.press("space")
            await run.until(lambda: run.noted("information", "Playing dome.wav"), "it plays", 20)
            await run.until(lambda: sink_inputs() == 1, "a stream plays into the sink")
            await run.until(
                lambda: loudest_db(bytes(monitor.heard[quiet:])) > -45.0,
                "the sink's monitor hears the recording",
                15,
            )
        finally:
            monitor.stop()

        await run.press("space")  # a second press stops it, long before its end
        await run.until(lambda: run.noted("information", "Playback stopped."), "stopped")
        await run.until(lambda: panel(run).player is None and sink_inputs() == 0, "silence")
        assert not run.noted("error"), run.notes

    drive(lite, api, tenant, tenant.staff, scenario)


PLAY_SCRIPT = """
import asyncio, sys, time
from obs_support.cli.i18n import Translator
from obs_support.client.api import ObsClient
from obs_support.tui.app import ObsSupportApp
from obs_support.tui.attachments import AttachmentsPanel
from obs_support.tui.queue import QueueScreen

async def main():
    app = ObsSupportApp(ObsClient(sys.argv[1], sys.argv[2]), Translator("en"), live=False)
    notes = []
    notify = app.notify
    def record(message, **options):
        notes.append((str(options.get("severity", "information")), message))
        notify(message, **options)
    app.notify = record
    async with app.run_test(size=(120, 40)) as pilot:
        async def until(condition, what):
            deadline = time.monotonic() + 30
            while not condition():
                assert time.monotonic() < deadline, what
                await pilot.pause(0.05)
        await until(lambda: isinstance(app.screen, QueueScreen), "the queue")
        app.open_incident(sys.argv[3])
        await until(lambda: app.screen.query(AttachmentsPanel), "the incident")
        files = app.screen.query_one(AttachmentsPanel)
        await until(lambda: files.files, "its file")
        files.query_one("#files").focus()
        await pilot.press("space")
        await until(lambda: any(s == "error" for s, _ in notes), "an error notice")
    for severity, message in notes:
        print(severity, message, sep="\\t")

asyncio.run(main())
"""


@pytest.mark.parametrize("missing", ["output", "portaudio"])
def test_playing_without_a_sound_output_or_portaudio_says_so_in_one_line(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant, tmp_path: Path, missing: str
) -> None:
    """In its own process: PortAudio reads the list of devices once, when it is loaded."""
    api, tenant = lite_api, lite_tenant
    ref = file(api, tenant, "A recording nobody can hear")
    attach(api, tenant.client, ref, "note.wav", tone_wav())
    gone = tmp_path / "no-pulse"
    gone.mkdir(mode=0o700)
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).parent.parent),
        "XDG_RUNTIME_DIR": str(gone),
        "PULSE_SERVER": f"unix:{gone}/pulse/native",
    }
    if missing == "portaudio":
        hide = tmp_path / "hide-portaudio"
        hide.mkdir()
        (hide / "sitecustomize.py").write_text(
            textwrap.dedent(
                """
                import ctypes.util
                _find = ctypes.util.find_library
                ctypes.util.find_library = lambda n: None if "portaudio" in n else _find(n)
                """
            )
        )
        env["PYTHONPATH"] = f"{hide}{os.pathsep}{env['PYTHONPATH']}"
    done = subprocess.run(
        [sys.executable, "-c", PLAY_SCRIPT, lite.url, tenant.staff.token, ref],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    errors = [
        m for s, m in (line.split("\t", 1) for line in done.stdout.splitlines()) if s == "error"
    ]
    assert len(errors) == 1 and "\n" not in errors[0], errors
    if missing == "output":
        assert errors[0].startswith("no sound output found: connect speakers or headphones")
    else:
        assert "PortAudio library is missing" in errors[0] and "libportaudio2" in errors[0]


def test_v_records_a_spoken_reply_that_is_sent_with_its_recording(
    lite: LiveServer,
    lite_api: Api,
    lite_tenant: Tenant,
    voice_env: VirtualMic,
    speech: Speech,
) -> None:
    from obs_support.tui.voice import VoiceModal

    api, tenant = lite_api, lite_tenant
    ref = file(api, tenant, "The mount does not track")
    recordings = Path(os.environ["OBS_SUPPORT_DATA_DIR"]) / "recordings"

    async def scenario(run: Run) -> None:
        await run.open(ref)
        await run.press("v")
        await run.until(lambda: isinstance(run.app.screen, VoiceModal), "the voice dialog")
        modal = run.app.screen
        assert isinstance(modal, VoiceModal)
        await run.until(lambda: modal.phase == "recording", "the recording starts", 30)
        await asyncio.to_thread(voice_env.play, speech.spanish)
        meter = modal.query_one("#meter", Static)
        await run.until(
            lambda: re.search(r"● REC \d\d:\d\d", plain(meter.content)), "the meter and clock"
        )
        assert modal.dictation is not None
        await run.until(
            lambda: bool(
                modal.dictation and (modal.dictation.committed or modal.dictation.tentative)
            ),
            "words appear while recording",
            90,  # a loaded machine is slow, but still shows words before the speaker stops
        )
        await run.press("enter")
        await run.until(lambda: modal.phase == "editing", "the transcript is ready", 180)
        area = modal.query_one(TextArea)
        await run.until(lambda: run.app.focused is area, "the text box has the focus")
        missing = missing_words(area.text, SPANISH_WORDS)
        assert len(missing) <= 1, f"missing {missing} in {area.text!r}"
        await run.type(" Gracias")
        await run.until(lambda: area.text.endswith(" Gracias"), "the correction is typed")
        sent = area.text.strip()
        await run.press("ctrl+s")
        await run.until(lambda: isinstance(run.app.screen, IncidentScreen), "the dialog closes")

        def spoken() -> list[Json]:
            return [
                e
                for e in fetch(api, tenant.staff, ref)["events"]
                if e["kind"] == "comment" and e["source"] == "voice"
            ]

        await run.until(lambda: spoken(), "the comment is posted", 30)
        assert spoken()[0]["body"] == sent and not spoken()[0]["internal"]
        await run.until(lambda: len(panel(run).files) == 1, "its recording is listed", 30)
        kept = sorted(recordings.glob("voice-*.ogg"))
        assert len(kept) == 1
        recording = panel(run).files[0]
        assert (recording.filename, recording.kind) == (kept[0].name, "audio")
        assert recording.sha256 == sha(kept[0].read_bytes())
        assert cells(run, recording.id)["kind"] == "♪ voice note"
        events = fetch(api, tenant.staff, ref)["events"]
        kinds = [e["kind"] for e in events]
        assert kinds.index("attachment_added") > max(
            i for i, e in enumerate(events) if e["kind"] == "comment"
        ), "the recording follows its comment"
        assert run.noted("information", f"{kept[0].name} attached to {ref}.")

    drive(lite, api, tenant, tenant.staff, scenario)


def test_v_without_a_model_is_one_line_and_sends_nothing(
    lite: LiveServer,
    lite_api: Api,
    lite_tenant: Tenant,
    voice_env: VirtualMic,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The model loads as the recording starts; when it cannot, the dialog closes at once
    with one line, and the microphone is released (as for no microphone or no PortAudio)."""
    from obs_support.tui.voice import VoiceModal

    api, tenant = lite_api, lite_tenant
    ref = file(api, tenant, "Nobody can dictate")
    monkeypatch.setenv("OBS_SUPPORT_WHISPER_MODEL", "/nonexistent/model")

    async def scenario(run: Run) -> None:
        before = fetch(api, tenant.staff, ref)["events"]
        await run.open(ref)
        await run.press("v")
        await run.until(lambda: run.noted("error"), "an error notice", 30)
        await run.until(lambda: isinstance(run.app.screen, IncidentScreen), "the dialog closes")
        (note,) = run.noted("error")
        assert note.message.startswith("/nonexistent/model is not a Whisper model directory")
        assert "\n" not in note.message
        assert not isinstance(run.app.screen, VoiceModal)
        await asyncio.to_thread(voice_env.wait_until_nobody_records)
        assert fetch(api, tenant.staff, ref)["events"] == before

    drive(lite, api, tenant, tenant.staff, scenario)


def test_the_incident_screen_loads_no_audio_or_image_stack_until_used() -> None:
    """The files panel, its dialogs and the voice reply import numpy, PortAudio, Whisper and
    Pillow only inside the functions that record, play or draw."""
    code = textwrap.dedent(
        """
        import sys
        import obs_support.tui.app, obs_support.tui.incident, obs_support.tui.attachments
        import obs_support.tui.media, obs_support.tui.voice
        heavy = {"numpy", "sounddevice", "soundfile", "faster_whisper", "ctranslate2", "av",
                 "PIL", "rich_pixels"}
        print(sorted(m for m in sys.modules if m.split(".")[0] in heavy
                     or m.startswith("obs_support.audio")))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


def test_a_new_incident_is_dictated_and_filed_with_its_recording_and_files(
    lite: LiveServer,
    lite_api: Api,
    lite_tenant: Tenant,
    voice_env: VirtualMic,
    speech: Speech,
    tmp_path: Path,
) -> None:
    """c, then Ctrl-F for a photo and Ctrl-R to say what happens: one voice incident, two files."""
    from obs_support.tui.new_incident import NewIncidentScreen
    from obs_support.tui.voice import VoiceModal

    api, tenant = lite_api, lite_tenant
    photo = tmp_path / "cupula.png"
    photo.write_bytes(png_bytes(40, 40, note="dome"))
    recordings = Path(os.environ["OBS_SUPPORT_DATA_DIR"]) / "recordings"

    async def scenario(run: Run) -> None:
        await run.press("c")
        await run.until(lambda: isinstance(run.app.screen, NewIncidentScreen), "the form")
        form = run.app.screen
        assert isinstance(form, NewIncidentScreen)
        await run.press("ctrl+f")
        await attach_dialog(run, str(photo))
        await run.until(lambda: run.app.screen is form, "back in the form")
        assert "cupula.png" in plain(form.query_one("#new-files", Static).content)

        await run.press("ctrl+r")
        await run.until(lambda: isinstance(run.app.screen, VoiceModal), "the voice dialog")
        modal = run.app.screen
        assert isinstance(modal, VoiceModal)
        await run.until(lambda: modal.phase == "recording", "the recording starts", 30)
        await asyncio.to_thread(voice_env.play, speech.spanish)
        await run.until(
            lambda: bool(modal.dictation and modal.dictation.committed), "words arrive", 90
        )
        await run.press("enter")
        await run.until(lambda: modal.phase == "editing", "the transcript is ready", 180)
        await run.press("ctrl+s")
        await run.until(lambda: run.app.screen is form, "back in the form")
        message = form.query_one("#message", TextArea).text
        assert len(missing_words(message, SPANISH_WORDS)) <= 1, message
        kept = sorted(recordings.glob("voice-*.ogg"))
        assert len(kept) == 1 and f"♪ {kept[0].name}" in plain(
            form.query_one("#new-files", Static).content
        )

        before = {r["ref"] for r in api.as_(tenant.client).ok("GET", "/incidents")["items"]}
        await run.press("ctrl+s")
        await run.until(lambda: isinstance(run.app.screen, QueueScreen), "filed", 60)
        [ref] = {r["ref"] for r in api.as_(tenant.client).ok("GET", "/incidents")["items"]} - before
        first = fetch(api, tenant.client, ref)["events"][1]
        assert (first["kind"], first["source"], first["body"]) == ("comment", "voice", message)
        stored = {a["filename"]: a["sha256"] for a in listed(api, tenant.client, ref)}
        assert stored == {
            kept[0].name: sha(kept[0].read_bytes()),
            "cupula.png": sha(photo.read_bytes()),
        }
        assert not run.noted("error"), run.notes

    drive(lite, api, tenant, tenant.client, scenario)


def test_a_file_that_cannot_be_sent_still_files_the_incident_and_says_so(
    lite: LiveServer, lite_api: Api, lite_tenant: Tenant, tmp_path: Path
) -> None:
    from obs_support.tui.new_incident import NewIncidentScreen

    api, tenant = lite_api, lite_tenant
    doomed = tmp_path / "gone.txt"
    doomed.write_bytes(b"soon deleted\n")

    async def scenario(run: Run) -> None:
        await run.press("c")
        await run.until(lambda: isinstance(run.app.screen, NewIncidentScreen), "the form")
        form = run.app.screen
        assert isinstance(form, NewIncidentScreen)
        await run.press("ctrl+f")
        await attach_dialog(run, str(doomed))
        await run.until(lambda: run.app.screen is form, "back in the form")
        doomed.unlink()  # between choosing it and sending it
        form.query_one("#message", TextArea).text = "The log I meant to send is gone"
        await run.press("ctrl+s")
        await run.until(lambda: isinstance(run.app.screen, QueueScreen), "filed", 30)
        [note] = run.noted("error")
        ref = note.message.split(" ", 1)[0]
        assert f"{ref} filed, but gone.txt was not attached" in note.message
        assert fetch(api, tenant.client, ref)["summary"] == "The log I meant to send is gone"
        assert listed(api, tenant.client, ref) == []

    drive(lite, api, tenant, tenant.client, scenario)
