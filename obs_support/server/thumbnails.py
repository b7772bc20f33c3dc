"""Small previews of image attachments, for the terminal interface.

Made on first request and kept beside the store. The preview is re-encoded from pixels only,
so no metadata of the original (EXIF, GPS position, camera serial) survives into it.
"""

from __future__ import annotations

import os
from pathlib import Path

from obs_support.server.messages import Msg

MAX_SIDE = 320
# Refuse absurd pixel counts before decoding (a small file can expand to gigabytes).
MAX_PIXELS = 60_000_000
PREVIEWABLE = {"image/png", "image/jpeg", "image/gif", "image/webp"}


class NoPreview(Exception):
    """This file has no preview (not an image we decode, damaged, or too large)."""

    def __init__(self, reason: Msg) -> None:
        super().__init__(str(reason))
        self.reason = reason


def thumbnail(source: Path, cache: Path, sha256: str, mime: str) -> Path:
    if mime not in PREVIEWABLE:
        raise NoPreview(Msg("no_preview_kind"))
    target = cache / f"{sha256}.png"
    if target.exists():
        return target
    from PIL import Image, ImageOps, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(source) as image:
            image.draft("RGB", (MAX_SIDE * 2, MAX_SIDE * 2))  # cheap downscale for JPEG
            oriented = ImageOps.exif_transpose(image)
            oriented.thumbnail((MAX_SIDE, MAX_SIDE))
            pixels = oriented.convert("RGBA" if oriented.mode in ("RGBA", "LA", "P") else "RGB")
            clean = Image.new(pixels.mode, pixels.size)
            clean.paste(pixels)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise NoPreview(Msg("no_preview_broken", error=type(exc).__name__)) from None
    cache.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    clean.save(tmp, format="PNG")
    os.replace(tmp, target)
    return target
