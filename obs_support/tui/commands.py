"""The command palette (Ctrl-P): every action of the screen in front, in the user's language,
and "open REF" for any incident reference typed into it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.command import Hit, Hits, Provider
from textual.screen import Screen

if TYPE_CHECKING:
    from obs_support.tui.app import ObsSupportApp

# "42", "teide-42" or "TEIDE-42": what people type to jump to an incident.
REFERENCE = re.compile(r"(?:([A-Za-z][A-Za-z0-9]{0,19})-)?(\d{1,9})")


def screen_commands(app: ObsSupportApp, screen: Screen[object]) -> Iterator[SystemCommand]:
    """The screen's own key bindings as commands, labelled as in its footer."""
    seen: set[str] = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        if not binding.description or binding.action in seen or not active.enabled:
            continue
        seen.add(binding.action)
        owner = active.node
        action = binding.action

        def run(node: object = owner, name: str = action) -> None:
            app.call_later(app.run_action, name, node)

        key = active.binding.key_display or app.get_key_display(binding)
        yield SystemCommand(binding.description, f"{app.t('tui_key')}: {key}", run)


class ReferenceProvider(Provider):
    """Typing a reference offers to open that incident."""

    @property
    def obs(self) -> ObsSupportApp:
        from obs_support.tui.app import ObsSupportApp

        assert isinstance(self.app, ObsSupportApp)
        return self.app

    async def search(self, query: str) -> Hits:
        match = REFERENCE.fullmatch(query.strip())
        if match is None or not hasattr(self.obs, "me"):
            return
        slug = (match.group(1) or self.obs.me.observatory.slug).upper()
        ref = f"{slug}-{int(match.group(2))}"
        title = self.obs.t("tui_open_ref", ref=ref)
        yield Hit(1.0, title, partial(self.obs.open_incident, ref), text=title)
