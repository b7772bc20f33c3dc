"""Profiles: which server to talk to and as whom, kept in the user's config directory.

The file holds no secrets (tokens live in the keyring, see `credentials`). Environment
variables `OBS_SUPPORT_URL` and `OBS_SUPPORT_TOKEN` override any profile, for cron jobs.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

APP = "obs-support"
DEFAULT_PROFILE = "default"


def config_dir() -> Path:
    override = os.environ.get("OBS_SUPPORT_CONFIG_DIR")
    if override:
        return Path(override)
    import platformdirs  # only when no override: cron jobs with OBS_SUPPORT_* never pay for it

    return Path(platformdirs.user_config_dir(APP))


@dataclass
class Profile:
    name: str
    url: str
    email: str | None = None
    observatory: str | None = None


class ConfigError(Exception):
    """The config file exists but cannot be read; the message says which file and why."""


class ConfigStore:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or config_dir()
        self.path = self.directory / "config.json"

    def _load(self) -> dict[str, dict[str, str | None]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {self.path}: {exc}") from None
        profiles = data.get("profiles") if isinstance(data, dict) else None
        return profiles if isinstance(profiles, dict) else {}

    def get(self, name: str) -> Profile | None:
        raw = self._load().get(name)
        if not isinstance(raw, dict) or not isinstance(raw.get("url"), str):
            return None
        return Profile(
            name=name,
            url=str(raw["url"]),
            email=raw.get("email"),
            observatory=raw.get("observatory"),
        )

    def names(self) -> list[str]:
        return sorted(self._load())

    def save(self, profile: Profile) -> None:
        profiles = self._load()
        entry = asdict(profile)
        entry.pop("name")
        profiles[profile.name] = entry
        self._write(profiles)

    def remove(self, name: str) -> None:
        profiles = self._load()
        if profiles.pop(name, None) is not None:
            self._write(profiles)

    def _write(self, profiles: dict[str, dict[str, str | None]]) -> None:
        # Write beside and rename, so a crash never leaves a half-written config.
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"profiles": profiles}, indent=2, sort_keys=True), encoding="utf-8"
        )
        tmp.replace(self.path)
