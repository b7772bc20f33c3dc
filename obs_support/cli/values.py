"""Parsing command-line values (types, priorities, statuses, durations), with completion."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import typer

from obs_support import domain
from obs_support.cli.output import stderr
from obs_support.domain import IncidentType, Priority, Status

EXIT_REFUSED = 5


def parse(flag: str, fn: Callable[[str], Any], value: str) -> Any:
    """Parse one value, or refuse it in one line (exit 5, like the server's validation)."""
    try:
        return fn(value)
    except ValueError as exc:
        stderr.print(f"error: {flag}: {exc}", markup=False, emoji=False)
        raise typer.Exit(EXIT_REFUSED) from None


def incident_type(value: str, flag: str = "--type") -> IncidentType:
    result: IncidentType = parse(flag, domain.parse_type, value)
    return result


def status(value: str, flag: str = "STATUS") -> Status:
    result: Status = parse(flag, domain.parse_status, value)
    return result


def priority(value: str, flag: str = "--priority") -> Priority:
    result: Priority = parse(flag, domain.parse_priority, value)
    return result


def _complete(names: list[str]) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        return [n for n in names if n.startswith(incomplete.lower())]

    return complete


def _names(kind: Any) -> list[str]:
    out = []
    for member in kind:
        out.append(member.name.lower() if isinstance(member, Priority) else str(member.value))
        out += [domain._fold(domain.label(member, lang)) for lang in domain.LANGUAGES]
    return sorted(set(out))


complete_type = _complete(_names(IncidentType))
complete_status = _complete(_names(Status))
complete_priority = _complete([*_names(Priority), "0", "5", "10"])


def _age(text: str) -> tuple[int, str]:
    match = re.fullmatch(r"\s*(\d{1,6})\s*([mhdw])\s*", text.lower())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30d, 12h, 90m or 2w")
    return int(match.group(1)), match.group(2)


def age(text: str, flag: str = "--older-than") -> timedelta:
    """`30d`, `12h`, `90m`, `2w` → a duration."""
    n, unit = parse(flag, _age, text)
    return {
        "m": timedelta(minutes=n),
        "h": timedelta(hours=n),
        "d": timedelta(days=n),
        "w": timedelta(weeks=n),
    }[unit]


def complete_telescope(ctx: typer.Context, incomplete: str) -> list[str]:
    """Telescope names from the server, for shell completion; silent when it cannot ask."""
    from obs_support.cli.context import State
    from obs_support.client.api import ObsClient
    from obs_support.client.errors import ClientError

    root = ctx.find_root()
    profile = root.params.get("profile") or "default"
    st = State(profile=str(profile))
    try:
        saved = st.config.get(st.profile)
        token = st.tokens.get(st.profile)
        if not saved or not token:
            return []
        with ObsClient(saved.url, token, timeout=2.0, retries=0) as client:
            names = [t.name for t in client.telescopes()]
    except (ClientError, OSError, ValueError):
        return []
    return [n for n in names if n.casefold().startswith(incomplete.casefold())]
