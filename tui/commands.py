"""Command palette (ctrl+p): "Switch to site Linz" for every site, and the screens."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.core.actions import SCREENS
from tui.host import ConsoleHost


class ConsoleCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], None], str]]:
        app = cast(ConsoleHost, self.app)
        store = app.store
        commands: list[tuple[str, Callable[[], None], str]] = []
        for n, site_id in enumerate(store.site_ids, start=1):
            if site_id == store.current_site:
                continue
            help_text = f"key {n}" if n <= 9 else site_id

            def switch(site_id: str = site_id) -> None:
                app.switch_site_id(site_id)

            commands.append((f"Switch to site {store.site_name(site_id)}", switch, help_text))
        current = app.current_screen_id
        for screen_id, title in SCREENS.items():
            if screen_id == current:
                continue

            def show(screen_id: str = screen_id) -> None:
                app.action_show(screen_id)

            commands.append((f"Show {title.lower()}", show, f"screen {screen_id}"))
        return commands

    async def discover(self) -> Hits:
        for text, command, help_text in self._commands():
            yield DiscoveryHit(text, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, command, help_text in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), command, text=text, help=help_text)
