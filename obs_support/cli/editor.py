"""Writing a message in the user's editor, like `git commit` does."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from obs_support.cli.output import fail


def edit_text(template: str) -> str:
    """Open `$VISUAL`/`$EDITOR` (else `vi`) on `template`; return what was saved."""
    command = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="obs-support-") as tmp:
        path = Path(tmp) / "MESSAGE.md"
        path.write_text(template, encoding="utf-8")
        try:
            # The user's own editor setting, run as the user: nothing untrusted.
            done = subprocess.run([*shlex.split(command), str(path)], check=False)  # noqa: S603
        except (OSError, ValueError) as exc:
            fail(f"cannot start the editor {command!r}: {exc}; set $EDITOR or use --message")
        if done.returncode != 0:
            fail(f"the editor {command!r} exited with status {done.returncode}; nothing was sent")
        return path.read_text(encoding="utf-8")
