"""Where attachments and recordings live on the user's machine, and what they are called there.

A file's name comes from whoever uploaded it, so it is never used as a path as it is: it is
cleaned of separators and hidden or unprintable characters first, and made unique so that
one download never overwrites another.
"""

from __future__ import annotations

import os
from pathlib import Path


def _user_dir(env: str, kind: str) -> Path:
    override = os.environ.get(env)
    if override:
        return Path(override)
    import platformdirs

    if kind == "data":
        return Path(platformdirs.user_data_dir("obs-support"))
    return Path(platformdirs.user_cache_dir("obs-support"))


def recordings_dir() -> Path:
    """Voice recordings, kept before anything is sent (`OBS_SUPPORT_DATA_DIR`/recordings)."""
    return _user_dir("OBS_SUPPORT_DATA_DIR", "data") / "recordings"


def viewer_dir() -> Path:
    """Copies fetched only to open or play them: the cache, which the system may clear."""
    return _user_dir("OBS_SUPPORT_CACHE_DIR", "cache") / "files"


def downloads_dir() -> Path:
    """The user's download folder (XDG_DOWNLOAD_DIR on Linux, ~/Downloads elsewhere)."""
    import platformdirs

    return Path(platformdirs.user_downloads_dir())


def safe_name(name: str, attachment_id: int) -> str:
    """A local file name from the displayed one: no separators, no hidden or empty names."""
    clean = "".join(c for c in name if c not in "/\\:\0" and c.isprintable()).strip().lstrip(".")
    return clean or f"attachment-{attachment_id}"


def unique_name(name: str, attachment_id: int, used: set[str]) -> str:
    """Two attachments may share a name; neither may overwrite the other on disk."""
    if name in used:
        name = _numbered(name, str(attachment_id))
    used.add(name)
    return name


def free_path(folder: Path, name: str, attachment_id: int) -> Path:
    """`folder/name`, or a numbered variant of it when a file of that name is already there.

    A half-finished download of the same name (`name.part`) is not in the way: it is this
    attachment's, and the download continues it.
    """
    candidates = [name, _numbered(name, str(attachment_id))]
    candidates += [_numbered(name, f"{attachment_id}-{n}") for n in range(2, 1000)]
    for candidate in candidates:
        if not (folder / candidate).exists():
            return folder / candidate
    raise FileExistsError(f"{folder}: too many files named like {name}")


def _numbered(name: str, tag: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return f"{stem} ({tag}).{ext}" if dot and stem else f"{name} ({tag})"
