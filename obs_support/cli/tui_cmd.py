"""`obs-support tui` — the full-screen terminal app for triage."""

from __future__ import annotations

import typer

from obs_support.cli.context import state


def tui(ctx: typer.Context) -> None:
    """Open the terminal app: the live queue, incidents, replies and status changes.

    It uses the saved login (obs-support login) or OBS_SUPPORT_URL + OBS_SUPPORT_TOKEN.

    Example: obs-support tui
    """
    import os

    from obs_support.client.config import Profile
    from obs_support.tui.app import ObsSupportApp
    from obs_support.tui.login import LoginScreen

    st = state(ctx)
    saved = st.saved_profile()
    has_token = bool(os.environ.get("OBS_SUPPORT_TOKEN")) or (
        saved is not None and st.tokens.get(st.profile) is not None
    )

    def remember(url: str, token: str, email: str, slug: str) -> None:
        st.tokens.set(st.profile, token)
        st.config.save(Profile(name=st.profile, url=url, email=email, observatory=slug))

    url = os.environ.get("OBS_SUPPORT_URL") or (saved.url if saved else None)
    # Also offered when a saved token turns out to be revoked or expired.
    login = LoginScreen(
        url, saved.email if saved else None, remember, saved.observatory if saved else None
    )
    ObsSupportApp(st.client() if has_token else None, st.t, login=login).run()
