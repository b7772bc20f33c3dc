"""What a file really is, from its first bytes — never from its name or the uploader's claim.

Each recognised format maps to a kind (image, video, audio, document) and the Content-Type
it is served with. Anything unrecognised, and anything a browser could render as active
content (HTML, SVG, XML, JavaScript), is generic binary served as application/octet-stream.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

SNIFF_BYTES = 4096


@dataclass(frozen=True)
class FileKind:
    kind: str  # image | video | audio | document | binary
    mime: str


BINARY = FileKind("binary", "application/octet-stream")

_PREFIXES: tuple[tuple[bytes, FileKind], ...] = (
    (b"\x89PNG\r\n\x1a\n", FileKind("image", "image/png")),
    (b"\xff\xd8\xff", FileKind("image", "image/jpeg")),
    (b"GIF87a", FileKind("image", "image/gif")),
    (b"GIF89a", FileKind("image", "image/gif")),
    (b"%PDF-", FileKind("document", "application/pdf")),
    (b"fLaC", FileKind("audio", "audio/flac")),
    (b"ID3", FileKind("audio", "audio/mpeg")),
    (b"\x1a\x45\xdf\xa3", FileKind("video", "video/webm")),  # Matroska/WebM, refined below
)
_OFFICE = {
    b"word/": FileKind(
        "document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    ),
    b"xl/": FileKind(
        "document", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ),
    b"ppt/": FileKind(
        "document", "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    ),
}
_ODF = b"mimetypeapplication/vnd.oasis.opendocument."


def detect(head: bytes, path: Path | None = None) -> FileKind:
    """The kind of a file whose first bytes (up to SNIFF_BYTES) are `head`.

    `path`, when given, lets zip-based formats be recognised from their table of contents.
    """
    for prefix, kind in _PREFIXES:
        if head.startswith(prefix):
            if kind.mime == "video/webm" and b"matroska" in head[:64]:
                return FileKind("video", "video/x-matroska")
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return FileKind("image", "image/webp")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return FileKind("audio", "audio/wav")
    if head[:4] == b"OggS":
        return FileKind("audio", "audio/ogg")
    if len(head) > 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return FileKind("audio", "audio/mpeg")
    if head[4:8] == b"ftyp":
        return _iso_media(head[8:12])
    if head.startswith(b"PK\x03\x04"):
        return _zip(head, path)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return FileKind("document", "application/vnd.ms-office")
    return _text(head)


def _iso_media(brand: bytes) -> FileKind:
    if brand in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis"):
        return FileKind("image", "image/heic")
    if brand == b"qt  ":
        return FileKind("video", "video/quicktime")
    if brand in (b"M4A ", b"M4B "):
        return FileKind("audio", "audio/mp4")
    return FileKind("video", "video/mp4")


def _zip(head: bytes, path: Path | None) -> FileKind:
    """Office and OpenDocument files are zips; tell them apart by their entries' names."""
    names: list[str] = []
    if path is not None:
        try:
            with zipfile.ZipFile(path) as archive:  # reads only the central directory
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            names = []
    if head[30:].startswith(_ODF) or "mimetype" in names[:1]:
        return FileKind("document", "application/vnd.oasis.opendocument")
    for prefix, kind in _OFFICE.items():
        folder = prefix.decode()
        if "[Content_Types].xml" in names and any(n.startswith(folder) for n in names):
            return kind
        if head[30:].startswith(prefix):
            return kind
    return FileKind("document", "application/zip")


def _text(head: bytes) -> FileKind:
    """Plain text (logs, CSV) is a document; markup a browser would run is binary."""
    if not head or b"\x00" in head:
        return BINARY
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not merely a multi-byte character cut at the end
            return BINARY
        text = head[: exc.start].decode("utf-8")
    lowered = text.lstrip("\ufeff \t\r\n").lower()
    if (
        lowered.startswith(("<", "<?xml"))
        or "<script" in lowered
        or "<svg" in lowered
        or "<html" in lowered
    ):
        return BINARY
    if any(ord(c) < 32 and c not in "\t\r\n\f" for c in text):
        return BINARY
    first = text.splitlines()[0] if text else ""
    if first.count(",") >= 1 and all(
        line.count(",") == first.count(",") for line in text.splitlines()[1:4] if line
    ):
        return FileKind("document", "text/csv")
    return FileKind("document", "text/plain")


def served_type(kind: str, mime: str) -> str:
    """The Content-Type a stored file is served with: its own only when it is inert."""
    if kind == BINARY.kind or any(word in mime for word in ("html", "svg", "script")):
        return BINARY.mime
    if mime.endswith(("/xml", "+xml")):
        return BINARY.mime
    return "text/plain; charset=utf-8" if mime == "text/plain" else mime
