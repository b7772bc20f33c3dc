"""`obs-support tui` — the full-screen terminal app for triage."""

from __future__ import annotations

import typer

from obs_support.cli.context import state


def tui(ctx: typer.Context) -> None:
    """Open the terminal app: the live queue, incidents, replies and status changes.

    It uses the saved login (obs-support login) or OBS_SUPPORT_URL + OBS_SUPPORT_TOKEN.

    Example: obs-support tui
    """
    from obs_support.tui.app import ObsSupportApp

    st = state(ctx)
    ObsSupportApp(st.client(), st.t).run()
